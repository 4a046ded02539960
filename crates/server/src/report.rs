//! The agreement report (`safepref report` and GET /api/v1/projects/{id}/report):
//! reads a scope's annotations and annotator activity, and hands them to
//! `safepref_core::report`, which computes the figures. Every failure is a
//! [`ReportError`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use futures_util::TryStreamExt;

use safepref_core::labels::{Decoded, Labels};
use safepref_core::machine::Comparison;
use safepref_core::report::{self, Activity};
use safepref_core::suggestions::Display;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;

pub use crate::db::report::ReportScope;
use crate::db::report::{AnnotationRow, ItemRange};
use crate::db::{self, projects::Project};
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

pub use safepref_core::report::text;

/// What can go wrong with a report: a scope parameter it cannot read, or a
/// failure reading the scope. `impl From<ReportError> for AppError` (in
/// `crate::error`) gives each its status.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A scope parameter with a value it cannot take; `want` says what it
    /// takes.
    #[error("{name}: {value:?} is not {want}")]
    BadValue {
        name: String,
        value: String,
        want: &'static str,
    },
    /// A parameter the scope does not have (named).
    #[error("{0} is not a report parameter (batch, since, until, annotator, suggestion_mode)")]
    UnknownParameter(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A reader task panicked.
    #[error("a report reader failed: {0}")]
    ReaderFailed(tokio::task::JoinError),
}

impl ReportScope {
    /// Reads `batch`, `since`, `until` (RFC 3339), `annotator`
    /// (repeatable) and `suggestion_mode` from name=value pairs; a bad value
    /// names its parameter.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Self, ReportError> {
        let bad = |name: &str, value: &str, want: &'static str| ReportError::BadValue {
            name: name.to_string(),
            value: value.to_string(),
            want,
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
                other => return Err(ReportError::UnknownParameter(other.to_string())),
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
/// `report::Builder`; no row is kept. The scope's two halves are read at
/// once (see [`Reader::halves`]).
pub async fn build(
    pool: &PgPool,
    project: &Project,
    scope: &ReportScope,
) -> Result<Value, ReportError> {
    let mut reader = Reader::new(pool, project, scope).await?;
    let reads: Vec<_> = reader
        .halves(pool, project, scope)
        .await?
        .into_iter()
        .map(|(mut tx, range)| {
            let (mut part, project_id, scope) = (reader.part(), project.id, scope.clone());
            Reading(tokio::spawn(async move {
                let mut rows = db::report::annotations(
                    &mut *tx,
                    project_id,
                    &scope,
                    range,
                    db::report::Batches::Unnamed,
                );
                while let Some(row) = rows.try_next().await? {
                    part.add(&AnnotationRow::read(&row)?)?;
                }
                Ok::<_, ReportError>(part)
            }))
        })
        .collect();
    for mut read in reads {
        let part = (&mut read.0).await.map_err(ReportError::ReaderFailed)?;
        reader.merge(part?);
    }
    reader.finish(pool).await
}

/// A reader task that stops when the report is no longer wanted: when the
/// request asking for it times out or its client leaves, `build`'s future
/// is dropped, and a bare spawned task would read on to the end.
struct Reading<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Reading<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A spawned task's result; a panic in it is an internal error.
pub async fn joined<T>(task: tokio::task::JoinHandle<T>) -> Result<T, ReportError> {
    task.await.map_err(ReportError::ReaderFailed)
}

/// The report of one scope: [`Part`]s, each fed the annotations of a range
/// of items in item order (`db::report::annotations`' order; the bootstrap
/// draws items by their index, so the order is part of the result),
/// merged in item order. `build` reads the scope so; the dashboard feeds
/// the parts from its own pass.
///
/// Each annotator's activity (submissions, median time) is counted from
/// the same rows, so the only other reads are small: skips, gold items,
/// suggestions, the item count, and at the end the annotators' names.
pub struct Reader {
    described: Value,
    items: i64,
    /// The annotators met, numbered as met.
    met: Vec<Met>,
    annotator_index: HashMap<Uuid, usize>,
    skips: Vec<(Uuid, i64)>,
    /// The scope's gold items' expected labels (values that are not a
    /// labels object left out).
    gold: Arc<HashMap<Uuid, Labels>>,
    builder: report::Builder,
    /// The taxonomy's category names, which number the bits of labels
    /// decoded for counting.
    names: Arc<[String]>,
    /// Items merged so far.
    items_met: usize,
    machine: Machine,
    /// The items that have suggestions.
    suggested: Arc<HashSet<Uuid>>,
    /// Annotations by what the annotator saw of the suggestions.
    modes: BTreeMap<String, i64>,
}

/// What a [`Reader`] counts from the annotations of one range of items,
/// items and annotators numbered from 0 as met.
pub struct Part {
    met: Vec<Met>,
    annotator_index: HashMap<Uuid, usize>,
    gold: Arc<HashMap<Uuid, Labels>>,
    builder: report::Builder,
    names: Arc<[String]>,
    /// Items met, and the last one's id (rows come in item order).
    items: usize,
    last_item: Option<Uuid>,
    suggested: Arc<HashSet<Uuid>>,
    /// The votes on items with suggestions, for the model-vs-people
    /// figures: (item id, item index, labels).
    votes: Vec<(Uuid, usize, Labels)>,
    modes: BTreeMap<String, i64>,
}

/// One annotator's work in the scope, as read.
struct Met {
    id: Uuid,
    submitted: i64,
    seconds: Vec<f64>,
    gold_answered: i64,
    gold_correct: i64,
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
    ) -> Result<Machine, ReportError> {
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
                project.responses_per_item,
                &project.category_names(),
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

impl Reader {
    /// Reads the scope's item count, skips, gold labels and suggestions
    /// (at once, on several connections).
    pub async fn new(
        pool: &PgPool,
        project: &Project,
        scope: &ReportScope,
    ) -> Result<Reader, ReportError> {
        let (items, skips, gold, machine) = tokio::try_join!(
            async {
                Ok::<_, ReportError>(db::report::item_count(pool, project.id, scope.batch).await?)
            },
            async { Ok(db::report::skips(pool, project.id, scope).await?) },
            async { Ok(db::report::gold(pool, project.id, scope.batch).await?) },
            Machine::read(pool, project, scope),
        )?;
        let gold = gold
            .into_iter()
            .filter_map(|(id, g)| Some((id, Labels::deserialize(&g.0).ok()?)))
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
                "suggestion_mode": scope.suggestion_mode.map(|m| m.as_str()),
            }),
            items,
            met: Vec::new(),
            annotator_index: HashMap::new(),
            skips,
            gold: Arc::new(gold),
            builder: report::Builder::new(project.responses_per_item, &project.category_names()),
            names: project.category_names().into(),
            items_met: 0,
            suggested: Arc::new(machine.suggestions.keys().copied().collect()),
            machine,
            modes: Display::ALL
                .iter()
                .map(|d| (d.as_str().to_string(), 0))
                .collect(),
        })
    }

    /// The scope's items split in two at the middle item, each half with
    /// its own read-only transaction, both in one snapshot: two tasks read
    /// the halves at once (both PostgreSQL backends and the row decoding
    /// run side by side), and their [`Part`]s are merged in order, first
    /// half first, so the report is that of one pass in item order. A scope
    /// without items is one (empty) range.
    pub async fn halves(
        &self,
        pool: &PgPool,
        project: &Project,
        scope: &ReportScope,
    ) -> Result<Vec<(sqlx::Transaction<'static, sqlx::Postgres>, ItemRange)>, ReportError> {
        let mut first = db::snapshot::read_only(pool, None).await?;
        let middle = db::report::item_at(&mut *first, project.id, scope.batch, self.items / 2);
        let Some(middle) = middle.await? else {
            return Ok(vec![(first, ItemRange::default())]);
        };
        let snapshot = db::snapshot::export(&mut first).await?;
        let second = db::snapshot::read_only(pool, Some(&snapshot)).await?;
        let (from, to) = (Some(middle), Some(middle));
        Ok(vec![
            (first, ItemRange { from: None, to }),
            (second, ItemRange { from, to: None }),
        ])
    }

    /// An empty part for a range of this scope's items.
    pub fn part(&self) -> Part {
        Part {
            met: Vec::new(),
            annotator_index: HashMap::new(),
            gold: Arc::clone(&self.gold),
            builder: self.builder.clone(),
            names: Arc::clone(&self.names),
            items: 0,
            last_item: None,
            suggested: Arc::clone(&self.suggested),
            votes: Vec::new(),
            modes: BTreeMap::new(),
        }
    }

    /// Merges the part of the next range of items. Returns where each of
    /// the part's annotators is numbered here.
    pub fn merge(&mut self, part: Part) -> Vec<usize> {
        let annotators: Vec<usize> = part
            .met
            .into_iter()
            .map(|met| {
                let next = self.met.len();
                let index = *self.annotator_index.entry(met.id).or_insert(next);
                if index == next {
                    self.met.push(met);
                } else {
                    let mine = &mut self.met[index];
                    mine.submitted += met.submitted;
                    mine.seconds.extend(met.seconds);
                    mine.gold_answered += met.gold_answered;
                    mine.gold_correct += met.gold_correct;
                }
                index
            })
            .collect();
        self.builder
            .append(part.builder, &annotators, self.items_met);
        for (id, item, labels) in &part.votes {
            self.machine.add(*id, self.items_met + item, labels);
        }
        self.items_met += part.items;
        for (mode, n) in part.modes {
            *self.modes.entry(mode).or_default() += n;
        }
        annotators
    }
}

impl Part {
    /// Adds one annotation (rows in item order). Returns the annotator's
    /// index in this part (as met) and the labels, decoded for counting
    /// (against the taxonomy's names; see `labels::compact`).
    pub fn add(&mut self, row: &AnnotationRow) -> Result<(usize, Decoded), ReportError> {
        let item_id = row.item_id;
        let labels = Decoded::from_json(row.labels, &self.names)
            .map_err(|e| db::report::labels_error(e.into()))?;
        match self.modes.get_mut(row.suggestion_mode) {
            Some(n) => *n += 1,
            None => {
                self.modes.insert(row.suggestion_mode.to_string(), 1);
            }
        }
        if self.last_item != Some(item_id) {
            self.last_item = Some(item_id);
            self.items += 1;
        }
        let item = self.items - 1;
        let next = self.met.len();
        let index = *self.annotator_index.entry(row.annotator_id).or_insert(next);
        if index == next {
            self.met.push(Met {
                id: row.annotator_id,
                submitted: 0,
                seconds: Vec::new(),
                gold_answered: 0,
                gold_correct: 0,
            });
        }
        self.builder.add_decoded(item, index, &labels);
        if self.suggested.contains(&item_id) {
            self.votes.push((item_id, item, row.full_labels()?));
        }
        let met = &mut self.met[index];
        met.submitted += 1;
        met.seconds.extend(row.seconds_spent);
        if let Some(gold) = self.gold.get(&item_id) {
            met.gold_answered += 1;
            met.gold_correct += i64::from(labels.matches_gold(gold));
        }
        Ok((index, labels))
    }
}

impl Reader {
    /// The report, with the annotations counted by suggestion mode and the
    /// model-vs-people figures of each source (never mixed into the
    /// people's agreement figures). Annotators (everyone who submitted or
    /// skipped in the scope) are listed in the order of their names.
    pub async fn finish(mut self, pool: &PgPool) -> Result<Value, ReportError> {
        let mut ids: Vec<Uuid> = self.met.iter().map(|m| m.id).collect();
        ids.extend(self.skips.iter().map(|(id, _)| *id));
        let mut named = db::report::names(pool, &ids).await?;
        // Accounts are never deleted; should one be missing, its id names it.
        let known: std::collections::HashSet<Uuid> = named.iter().map(|(id, _)| *id).collect();
        for id in ids.iter().filter(|id| !known.contains(id)) {
            if !named.iter().any(|(seen, _)| seen == id) {
                named.push((*id, id.to_string()));
            }
        }
        let position: HashMap<Uuid, usize> = named
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (*id, i))
            .collect();
        let renumbered: Vec<usize> = self.met.iter().map(|m| position[&m.id]).collect();
        self.builder.renumber_annotators(&renumbered);
        let mut activity: HashMap<String, Activity> = HashMap::new();
        for met in self.met {
            activity.insert(
                named[position[&met.id]].1.clone(),
                Activity {
                    submitted: met.submitted,
                    median_seconds: median(met.seconds),
                    gold_answered: met.gold_answered,
                    gold_correct: met.gold_correct,
                    ..Activity::default()
                },
            );
        }
        for (id, skipped) in self.skips {
            let name = named[position[&id]].1.clone();
            activity.entry(name).or_default().skipped = skipped;
        }
        let names: Vec<String> = named.into_iter().map(|(_, name)| name).collect();
        let mut report = self
            .builder
            .finish(self.described, self.items, &names, &activity);
        report["suggestion_modes"] = json!(self.modes);
        report["machine"] = self.machine.finish();
        Ok(report)
    }
}

/// The median as PostgreSQL's `percentile_cont(0.5)` computes it (the
/// same interpolation, so the figure does not move by a rounding step).
fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let position = (values.len() - 1) as f64 * 0.5;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    let first = values[low];
    Some(if low == high {
        first
    } else {
        first + (values[high] - first) * (position - low as f64)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::Reading;

    /// `build` holds its readers as `Reading`s: dropping `build`'s future
    /// (the request timed out, the client left) must stop them.
    #[tokio::test]
    async fn a_reader_nobody_waits_for_stops() {
        let finished = Arc::new(AtomicBool::new(false));
        let flag = finished.clone();
        let reading = Reading(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            flag.store(true, Ordering::SeqCst);
        }));
        drop(reading);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!finished.load(Ordering::SeqCst), "the reader ran on");
    }
}
