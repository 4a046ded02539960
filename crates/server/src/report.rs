//! The agreement report (`safepref report` and GET /api/v1/projects/{id}/report):
//! reads a scope's annotations and annotator activity, and hands them to
//! `safepref_core::report`, which computes the figures.

use std::collections::HashMap;

use futures_util::TryStreamExt;

use safepref_core::labels::{Labels, matches_gold};
use safepref_core::report::{self, Activity};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;

pub use crate::db::report::ReportScope;
use crate::db::{self, projects::Project};
use crate::error::AppError;
use time::format_description::well_known::Rfc3339;

pub use safepref_core::report::text;

impl ReportScope {
    /// Reads `batch`, `since`, `until` (RFC 3339) and `annotator`
    /// (repeatable) from name=value pairs; a bad value names its parameter.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, AppError> {
        let bad = |name: &str, value: &str, want: &str| {
            AppError::BadRequest(format!("{name}: {value:?} is not {want}"))
        };
        let when = |name: &str, value: &str| {
            time::OffsetDateTime::parse(value, &Rfc3339)
                .map(Some)
                .map_err(|_| bad(name, value, "an RFC 3339 time such as 2026-11-28T09:00:00Z"))
        };
        let mut scope = ReportScope::default();
        for (name, value) in pairs {
            match name.as_str() {
                "batch" => {
                    scope.batch = Some(
                        value
                            .parse()
                            .map_err(|_| bad(name, value, "a batch number"))?,
                    )
                }
                "since" => scope.since = when(name, value)?,
                "until" => scope.until = when(name, value)?,
                "annotator" => scope.annotators.push(value.clone()),
                other => {
                    return Err(AppError::BadRequest(format!(
                        "{other} is not a report parameter (batch, since, until, annotator)"
                    )));
                }
            }
        }
        scope.annotators.sort();
        scope.annotators.dedup();
        Ok(scope)
    }
}

/// Builds the report for a scope of a project (see [`ReportScope`]; the
/// item count is the batch's, or the project's).
/// Annotations stream from the database into the core's compact
/// `report::Builder`; no row is kept.
pub async fn build(
    pool: &PgPool,
    project: &Project,
    scope: &ReportScope,
) -> Result<Value, AppError> {
    let batch = scope.batch;
    let activity_rows = db::report::activity(pool, project.id, scope).await?;
    // Annotators are numbered in name order (the activity query's), so the
    // report lists them alphabetically; anyone else follows as met.
    let mut names: Vec<String> = activity_rows.iter().map(|a| a.annotator.clone()).collect();
    let mut annotator_index: HashMap<String, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i))
        .collect();
    let mut activity: HashMap<String, Activity> = activity_rows
        .into_iter()
        .map(|a| {
            (
                a.annotator,
                Activity {
                    submitted: a.submitted,
                    skipped: a.skipped,
                    median_seconds: a.median_seconds,
                    ..Activity::default()
                },
            )
        })
        .collect();
    let items = db::report::item_count(pool, project.id, batch).await?;
    let categories: Vec<String> = project
        .taxonomy
        .0
        .names()
        .into_iter()
        .map(String::from)
        .collect();
    let mut builder = report::Builder::new(project.responses_per_item as usize, &categories);
    let mut item_index: HashMap<uuid::Uuid, usize> = HashMap::new();
    let mut rows = db::report::annotations(pool, project.id, scope);
    while let Some(row) = rows.try_next().await? {
        let next = item_index.len();
        let item = *item_index.entry(row.item_id).or_insert(next);
        let annotator = match annotator_index.get(&row.annotator) {
            Some(&i) => i,
            None => {
                names.push(row.annotator.clone());
                annotator_index.insert(row.annotator.clone(), names.len() - 1);
                names.len() - 1
            }
        };
        builder.add(item, annotator, &row.labels.0);
        let gold = row
            .gold
            .as_ref()
            .and_then(|g| Labels::deserialize(&g.0).ok());
        if let Some(gold) = gold {
            let act = activity.entry(row.annotator).or_default();
            act.gold_answered += 1;
            act.gold_correct += i64::from(matches_gold(&row.labels.0, &gold));
        }
    }
    let rfc3339 = |t: Option<time::OffsetDateTime>| t.and_then(|t| t.format(&Rfc3339).ok());
    let described = json!({
        "project": project.name,
        "project_id": project.id,
        "batch": batch,
        "since": rfc3339(scope.since),
        "until": rfc3339(scope.until),
        "annotators": scope.annotators,
    });
    Ok(builder.finish(described, items, &names, &activity))
}
