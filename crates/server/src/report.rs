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
    let mut reader = Reader::new(pool, project, scope).await?;
    let mut rows = db::report::annotations(pool, project.id, scope);
    while let Some(row) = rows.try_next().await? {
        let gold = row.gold.as_ref().map(|g| &g.0);
        reader.add(row.item_id, &row.annotator, &row.labels.0, gold);
    }
    Ok(reader.finish())
}

/// The report of one scope, fed one annotation at a time in item order
/// (`db::report::annotations`' order; the bootstrap draws items by their
/// index, so the order is part of the result). `build` streams the rows
/// through it; the dashboard feeds it from its own single pass.
pub struct Reader {
    described: Value,
    items: i64,
    names: Vec<String>,
    annotator_index: HashMap<String, usize>,
    activity: HashMap<String, Activity>,
    builder: report::Builder,
    item_index: HashMap<uuid::Uuid, usize>,
}

impl Reader {
    /// Reads the scope's annotator activity and item count.
    pub async fn new(
        pool: &PgPool,
        project: &Project,
        scope: &ReportScope,
    ) -> Result<Reader, AppError> {
        let activity_rows = db::report::activity(pool, project.id, scope).await?;
        // Annotators are numbered in name order (the activity query's), so
        // the report lists them alphabetically; anyone else follows as met.
        let names: Vec<String> = activity_rows.iter().map(|a| a.annotator.clone()).collect();
        let annotator_index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        let activity = activity_rows
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
        let items = db::report::item_count(pool, project.id, scope.batch).await?;
        let categories: Vec<String> = project
            .taxonomy
            .0
            .names()
            .into_iter()
            .map(String::from)
            .collect();
        let rfc3339 = |t: Option<time::OffsetDateTime>| t.and_then(|t| t.format(&Rfc3339).ok());
        Ok(Reader {
            described: json!({
                "project": project.name,
                "project_id": project.id,
                "batch": scope.batch,
                "since": rfc3339(scope.since),
                "until": rfc3339(scope.until),
                "annotators": scope.annotators,
            }),
            items,
            names,
            annotator_index,
            activity,
            builder: report::Builder::new(project.responses_per_item as usize, &categories),
            item_index: HashMap::new(),
        })
    }

    /// Adds one annotation; `gold` is the item's stored gold value (a value
    /// that is not a labels object is skipped rather than failing). Returns
    /// the annotator's index.
    pub fn add(
        &mut self,
        item_id: uuid::Uuid,
        annotator: &str,
        labels: &Labels,
        gold: Option<&Value>,
    ) -> usize {
        let next = self.item_index.len();
        let item = *self.item_index.entry(item_id).or_insert(next);
        let index = match self.annotator_index.get(annotator) {
            Some(&i) => i,
            None => {
                self.names.push(annotator.to_string());
                self.annotator_index
                    .insert(annotator.to_string(), self.names.len() - 1);
                self.names.len() - 1
            }
        };
        self.builder.add(item, index, labels);
        if let Some(gold) = gold.and_then(|g| Labels::deserialize(g).ok()) {
            let act = self.activity.entry(annotator.to_string()).or_default();
            act.gold_answered += 1;
            act.gold_correct += i64::from(matches_gold(labels, &gold));
        }
        index
    }

    pub fn finish(self) -> Value {
        self.builder
            .finish(self.described, self.items, &self.names, &self.activity)
    }
}
