//! The agreement report (`safepref report` and GET /api/v1/projects/{id}/report):
//! reads a scope's annotations and annotator activity, and hands them to
//! `safepref_core::report`, which computes the figures.

use std::collections::{BTreeMap, HashMap};

use futures_util::TryStreamExt;

use safepref_core::labels::{Labels, matches_gold};
use safepref_core::machine::Comparison;
use safepref_core::report::{self, Activity};
use safepref_core::suggestions::Display;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::db::report::AnnotationRow;
pub use crate::db::report::ReportScope;
use crate::db::{self, projects::Project};
use crate::error::AppError;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

pub use safepref_core::report::text;

impl ReportScope {
    /// Reads `batch`, `since`, `until` (RFC 3339), `annotator`
    /// (repeatable) and `suggestion_mode` from name=value pairs; a bad value
    /// names its parameter.
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
                "suggestion_mode" => {
                    scope.suggestion_mode = Some(
                        Display::parse(value)
                            .ok_or_else(|| bad(name, value, "blind, hint or prefill"))?,
                    )
                }
                other => {
                    return Err(AppError::BadRequest(format!(
                        "{other} is not a report parameter (batch, since, until, annotator, suggestion_mode)"
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
        reader.add(&row);
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
    machine: Machine,
    /// Annotations by what the annotator saw of the suggestions.
    modes: BTreeMap<String, i64>,
}

/// The model-vs-people figures of the scope: the scope's suggestions, held
/// by item (source names once), and the current item's human votes; an
/// item is compared when the (item-ordered) annotations move past it.
struct Machine {
    comparison: Comparison,
    sources: Vec<String>,
    suggestions: HashMap<Uuid, Vec<(usize, Labels)>>,
    current: Option<(Uuid, usize)>,
    votes: Vec<Labels>,
}

impl Machine {
    async fn read(
        pool: &PgPool,
        project: &Project,
        scope: &ReportScope,
    ) -> Result<Machine, AppError> {
        let mut sources: Vec<String> = Vec::new();
        let mut suggestions: HashMap<Uuid, Vec<(usize, Labels)>> = HashMap::new();
        let mut rows = db::suggestions::in_scope(pool, project.id, scope.batch);
        while let Some(row) = rows.try_next().await? {
            let source = match sources.iter().position(|s| *s == row.source) {
                Some(i) => i,
                None => {
                    sources.push(row.source);
                    sources.len() - 1
                }
            };
            suggestions
                .entry(row.item_id)
                .or_default()
                .push((source, row.labels.0));
        }
        Ok(Machine {
            comparison: Comparison::new(
                project.responses_per_item as usize,
                &categories(project),
                project.review_min_support,
            ),
            sources,
            suggestions,
            current: None,
            votes: Vec::new(),
        })
    }

    fn add(&mut self, item_id: Uuid, item: usize, labels: &Labels) {
        if self.current.is_some_and(|(id, _)| id != item_id) {
            self.compare();
        }
        if self.suggestions.contains_key(&item_id) {
            self.current = Some((item_id, item));
            self.votes.push(labels.clone());
        }
    }

    /// Compares the current item's votes with its suggestions (which are
    /// then dropped: the item's annotations are all read).
    fn compare(&mut self) {
        if let Some((id, item)) = self.current.take()
            && let Some(suggestions) = self.suggestions.remove(&id)
        {
            let votes: Vec<&Labels> = self.votes.iter().collect();
            let suggested: Vec<(&str, &Labels)> = suggestions
                .iter()
                .map(|(s, l)| (self.sources[*s].as_str(), l))
                .collect();
            self.comparison.add_item(item, &votes, &suggested);
        }
        self.votes.clear();
    }

    fn finish(mut self) -> Value {
        self.compare();
        self.comparison.finish()
    }
}

/// The project's taxonomy's category names.
fn categories(project: &Project) -> Vec<String> {
    project
        .taxonomy
        .0
        .names()
        .into_iter()
        .map(String::from)
        .collect()
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
        let machine = Machine::read(pool, project, scope).await?;
        let rfc3339 = |t: Option<time::OffsetDateTime>| t.and_then(|t| t.format(&Rfc3339).ok());
        Ok(Reader {
            described: json!({
                "project": project.name,
                "project_id": project.id,
                "batch": scope.batch,
                "since": rfc3339(scope.since),
                "until": rfc3339(scope.until),
                "annotators": scope.annotators,
                "suggestion_mode": scope.suggestion_mode.map(|m| m.as_str()),
            }),
            items,
            names,
            annotator_index,
            activity,
            builder: report::Builder::new(
                project.responses_per_item as usize,
                &categories(project),
            ),
            item_index: HashMap::new(),
            machine,
            modes: Display::ALL
                .iter()
                .map(|d| (d.as_str().to_string(), 0))
                .collect(),
        })
    }

    /// Adds one annotation; the item's stored gold value that is not a
    /// labels object is skipped rather than failing. Returns the annotator's
    /// index.
    pub fn add(&mut self, row: &AnnotationRow) -> usize {
        let (item_id, annotator, labels) = (row.item_id, row.annotator.as_str(), &row.labels.0);
        let gold = row.gold.as_ref().map(|g| &g.0);
        *self.modes.entry(row.suggestion_mode.clone()).or_default() += 1;
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
        self.machine.add(item_id, item, labels);
        if let Some(gold) = gold.and_then(|g| Labels::deserialize(g).ok()) {
            let act = self.activity.entry(annotator.to_string()).or_default();
            act.gold_answered += 1;
            act.gold_correct += i64::from(matches_gold(labels, &gold));
        }
        index
    }

    /// The report, with the annotations counted by suggestion mode and the
    /// model-vs-people figures of each source (never mixed into the
    /// people's agreement figures).
    pub fn finish(self) -> Value {
        let mut report =
            self.builder
                .finish(self.described, self.items, &self.names, &self.activity);
        report["suggestion_modes"] = json!(self.modes);
        report["machine"] = self.machine.finish();
        report
    }
}
