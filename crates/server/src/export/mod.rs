//! The exporter: one streaming pipeline behind `safepref export`, the admin
//! page's export jobs and `GET /api/v1/projects/{id}/export`.
//!
//! It reads the scope's items in batch order, a range of keys at a time on
//! two connections sharing one snapshot (`db::export::items`), consolidates
//! each range's chunk (majority vote per item, or a Dawid–Skene model
//! fitted in a first pass over the scope's votes), turns
//! each item into the format's rows (`safepref_core::export`), encodes them
//! (`encode`) and hands the bytes to a [`Sink`]: files with a manifest
//! (`files`), or an HTTP body. Memory stays bounded by the chunk size, not the
//! project's size.
//!
//! Machine suggestions stay apart from the people's labels unless an option
//! says otherwise: `ds_source` counts one source as one more annotator in
//! Dawid–Skene, `with_suggestions` adds them in a column after a record's
//! own, and `raw-suggestions` lists them. They are read with the items, in
//! the same query.

pub mod encode;
pub mod files;
pub mod manifest;
pub mod options;

use std::collections::HashMap;
use std::io;

use futures_util::TryStreamExt;
use safepref_core::consolidation::{
    Consolidated, Fitter, ItemAnnotations, Model, TieRule, add_source_vote,
};
use safepref_core::export::{self as rows, Column, Dimension, ExportItem, RawAnnotation};
use safepref_core::labels::Labels;
use safepref_core::report;
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor, PgPool};
use time::format_description::well_known::Rfc3339;

use safepref_core::consolidation::Method;

use tokio::sync::mpsc;

use crate::db::{
    self,
    export::{Detail, ItemRow, Key, Reads, Scope},
    projects::Project,
};
use crate::error::AppError;
pub use encode::{Encoder, Encoding};
pub use options::{Format, Options};

/// Items consolidated and encoded together: the unit of memory and of
/// progress reports.
const CHUNK_ITEMS: usize = 500;
/// Chunks per range of keys read by one query: planning and starting a
/// query cost about a twentieth of running it over one chunk.
const RANGE_CHUNKS: usize = 4;
/// Chunks each database reader may be ahead of the encoder.
const CHUNKS_AHEAD: usize = 2;
/// Connections reading at once (see [`run`]).
const READERS: usize = 2;

/// Where encoded bytes go: one stream per output file of the format.
#[allow(async_fn_in_trait)]
pub trait Sink {
    async fn write(&mut self, output: usize, bytes: Vec<u8>) -> io::Result<()>;
    /// Whether this sink keeps `output` at all: rows of outputs it drops
    /// are never built or encoded.
    fn wants(&self, _output: usize) -> bool {
        true
    }
    /// Items read so far out of the scope's total.
    async fn progress(&mut self, _done: u64, _total: u64) {}
    /// Called once every byte is written, while the exporter finishes the
    /// agreement figures on another thread: a sink that syncs files to
    /// disk does it here, in the meantime.
    async fn close(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What an export produced, for the manifest.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Counts {
    pub items_read: u64,
    pub annotations_read: u64,
    /// Rows written, per output file.
    pub rows: Vec<u64>,
    /// Items left out because their labels could not be consolidated (a
    /// tie, a rule conflict, no votes): they wait for a lead's review.
    pub items_needing_review: u64,
    /// Items left out by the `min_support` filter.
    pub items_below_min_support: u64,
    /// Items on which the `ds_source` source voted beside the people.
    pub items_with_source_vote: u64,
    /// The agreement report over the items read (for the manifest).
    #[serde(skip)]
    pub agreement: Value,
}

/// Runs an export of `project` into `sink`. Every read sees one snapshot
/// of the database (read-only repeatable-read transactions sharing it), so
/// the ranges, Dawid–Skene's fitting pass and the export pass agree even
/// while annotators keep working.
pub async fn run(
    pool: &PgPool,
    project: &Project,
    options: &Options,
    sink: &mut impl Sink,
) -> Result<Counts, AppError> {
    run_in_chunks(pool, project, options, sink, CHUNK_ITEMS, RANGE_CHUNKS).await
}

/// [`run`] with chunks of `chunk_items` items and key ranges of
/// `range_chunks` chunks: tests take small ones to cross many ranges, both
/// readers and chunks within a range.
pub async fn run_in_chunks(
    pool: &PgPool,
    project: &Project,
    options: &Options,
    sink: &mut impl Sink,
    chunk_items: usize,
    range_chunks: usize,
) -> Result<Counts, AppError> {
    let chunk_items = chunk_items.max(1);
    let range_items = chunk_items * range_chunks.max(1);
    let scope = options.scope(project.id);
    let mut tx = read_only(pool, None).await?;
    check(&mut *tx, project, options).await?;
    let snapshot: String = sqlx::query_scalar("select pg_export_snapshot()")
        .fetch_one(&mut *tx)
        .await?;
    let (starts, total) = db::export::ranges(&mut tx, &scope, range_items as i64).await?;
    let mut pipeline = Pipeline::new(project, options)?;
    pipeline.wanted = (0..pipeline.encoders.len())
        .map(|n| sink.wants(n))
        .collect();
    if options.format.is_consolidated() {
        pipeline.model = Some(pipeline.fit(&mut tx, &scope).await?);
    }
    let mut counts = Counts {
        rows: vec![0; pipeline.encoders.len()],
        ..Counts::default()
    };
    // Two readers, each on its own connection, take turns range by range
    // (each range a few chunks) a few chunks ahead: both PostgreSQL backends
    // and the row decoding run while this task consolidates and encodes.
    let ranges: Vec<(Key, Key)> = starts
        .iter()
        .copied()
        .zip(starts.iter().skip(1).copied().chain([db::export::END]))
        .collect();
    let reads = Reads {
        detail: if options.format == Format::Raw {
            Detail::Raw
        } else {
            Detail::Labels
        },
        suggestions: options.with_suggestions
            || options.ds_source.is_some()
            || options.format == Format::RawSuggestions,
        adjudications: db::export::any_adjudication(&mut tx, &scope).await?,
    };
    let k = project.responses_per_item as usize;
    let second = read_only(pool, Some(&snapshot)).await?;
    let mut readers = Vec::new();
    for (n, tx) in [tx, second].into_iter().enumerate() {
        let (chunks_tx, chunks) = mpsc::channel(CHUNKS_AHEAD);
        let mine: Vec<(Key, Key)> = ranges.iter().copied().skip(n).step_by(READERS).collect();
        let reader = Reader {
            scope: scope.clone(),
            k,
            reads,
            chunk_items,
            range_items: range_items as i64,
        };
        let task = tokio::spawn(reader.read(tx, mine, chunks_tx));
        readers.push((task, chunks));
    }
    for n in 0..ranges.len() {
        loop {
            // A reader sends its error before it stops: stopping silently
            // means it panicked.
            let Some(chunk) = readers[n % READERS].1.recv().await else {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "an export reader stopped early"
                )));
            };
            let chunk = chunk?;
            pipeline.chunk(chunk.items, &mut counts)?;
            for (n, encoder) in pipeline.encoders.iter_mut().enumerate() {
                sink.write(n, encoder.take()?).await?;
            }
            sink.progress(counts.items_read, total as u64).await;
            if chunk.ends_range {
                break;
            }
        }
    }
    for (task, _) in readers {
        task.await.map_err(|e| {
            AppError::Internal(anyhow::anyhow!("the export's reader stopped: {e}"))
        })??;
    }
    let agreement = pipeline.agreement_report(counts.items_read);
    for (n, encoder) in std::mem::take(&mut pipeline.encoders)
        .into_iter()
        .enumerate()
    {
        sink.write(n, encoder.finish()?).await?;
    }
    sink.close().await?;
    counts.agreement = agreement.await.map_err(|e| {
        AppError::Internal(anyhow::anyhow!("the export's agreement report failed: {e}"))
    })?;
    Ok(counts)
}

/// Checks the options against the project: [`Options::check`], and that a
/// `ds_source` has suggested for the project (a misspelt source would
/// otherwise count for nothing, silently).
pub async fn check(
    db: impl PgExecutor<'_>,
    project: &Project,
    options: &Options,
) -> Result<(), AppError> {
    options.check(project)?;
    let Some(source) = &options.ds_source else {
        return Ok(());
    };
    let sources = db::suggestions::sources(db, project.id).await?;
    if sources.iter().any(|(name, _)| name == source) {
        return Ok(());
    }
    let known: Vec<&str> = sources.iter().map(|(name, _)| name.as_str()).collect();
    Err(AppError::BadRequest(format!(
        "ds_source: project {:?} has no suggestions from {source:?} ({})",
        project.name,
        if known.is_empty() {
            "it has none at all".to_string()
        } else {
            format!("its sources: {}", known.join(", "))
        }
    )))
}

/// A read-only repeatable-read transaction: a new snapshot, or the one
/// another transaction exported (`pg_export_snapshot()`).
pub(crate) async fn read_only(
    pool: &PgPool,
    snapshot: Option<&str>,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, AppError> {
    let mut tx = pool.begin().await?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await?;
    if let Some(id) = snapshot {
        // SET takes no parameters; a snapshot id is hex digits and dashes.
        if !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(AppError::Internal(anyhow::anyhow!(
                "unexpected snapshot id {id:?}"
            )));
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "set transaction snapshot '{id}'"
        )))
        .execute(&mut *tx)
        .await?;
    }
    // Compiling these long-running queries with JIT costs more than it
    // saves; and each range query is planned for its own keys (a generic
    // plan cannot see that a range is small, and may sort the project).
    sqlx::query("set local jit = off").execute(&mut *tx).await?;
    sqlx::query("set local plan_cache_mode = force_custom_plan")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// What a reader task reads (see [`run_in_chunks`]).
struct Reader {
    scope: Scope,
    k: usize,
    reads: Reads,
    chunk_items: usize,
    /// The most items a range holds.
    range_items: i64,
}

/// Consecutive items of one range.
struct Chunk {
    items: Vec<ItemRow>,
    /// Whether the range has no more items (this chunk may be empty).
    ends_range: bool,
}

impl Reader {
    /// Reads the given ranges of the scope's items, each as chunks for
    /// [`run_in_chunks`], then ends the transaction. Stops early when that
    /// has given up (the channel is closed).
    async fn read(
        self,
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
        ranges: Vec<(Key, Key)>,
        out: mpsc::Sender<Result<Chunk, sqlx::Error>>,
    ) -> Result<(), sqlx::Error> {
        for range in ranges {
            let mut rows = db::export::items(
                &mut tx,
                &self.scope,
                self.k,
                self.reads,
                range,
                self.range_items,
            );
            let mut items = Vec::with_capacity(self.chunk_items);
            loop {
                let (item, ends_range) = match rows.try_next().await {
                    Ok(Some(item)) => (Some(item), false),
                    Ok(None) => (None, true),
                    Err(e) => {
                        // The error ends the export; nothing to wait for.
                        let _ = out.send(Err(e)).await;
                        return Ok(());
                    }
                };
                items.extend(item);
                if ends_range || items.len() == self.chunk_items {
                    let items = std::mem::replace(&mut items, Vec::with_capacity(self.chunk_items));
                    if out.send(Ok(Chunk { items, ends_range })).await.is_err() {
                        return Ok(());
                    }
                }
                if ends_range {
                    break;
                }
            }
        }
        tx.commit().await
    }
}

/// The per-chunk work: consolidation, rows, encoding.
struct Pipeline<'a> {
    project: &'a Project,
    options: &'a Options,
    encoders: Vec<Encoder>,
    /// Raw exports: username → pseudonym, numbered in order of appearance.
    pseudonyms: HashMap<String, String>,
    /// Dense annotator indices for consolidation, shared by the fitting
    /// pass and the export pass.
    annotators: HashMap<uuid::Uuid, usize>,
    /// The consolidation model (fitted over the whole scope first for
    /// Dawid–Skene); `None` for raw exports.
    model: Option<Model>,
    /// The agreement figures of the items read, built as they pass.
    agreement: report::Builder,
    items_seen: usize,
    /// Per output: whether the sink keeps it.
    wanted: Vec<bool>,
}

impl<'a> Pipeline<'a> {
    fn new(project: &'a Project, options: &'a Options) -> Result<Self, AppError> {
        let categories: Vec<String> = project
            .taxonomy
            .0
            .names()
            .into_iter()
            .map(String::from)
            .collect();
        let columns = options.columns();
        let encoders = options
            .format
            .outputs()
            .iter()
            .map(|_| {
                Encoder::new(options.encoding, columns.clone(), categories.clone())
                    .map(|encoder| encoder.csv_safe(options.csv_safe))
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Pipeline {
            project,
            options,
            encoders,
            pseudonyms: HashMap::new(),
            annotators: HashMap::new(),
            model: None,
            agreement: report::Builder::new(project.responses_per_item as usize, &categories),
            items_seen: 0,
            wanted: Vec::new(),
        })
    }

    /// The agreement report of everything read; annotators are named by
    /// their index (the manifest shows the questions' figures only). It is
    /// made on a thread of its own: it takes a few tenths of a second for a
    /// large export, which the sink spends syncing its files meanwhile.
    fn agreement_report(&mut self, items: u64) -> tokio::task::JoinHandle<Value> {
        let builder = std::mem::replace(&mut self.agreement, report::Builder::new(0, &[]));
        let names: Vec<String> = (0..self.annotators.len().max(self.pseudonyms.len()))
            .map(|n| format!("annotator-{n}"))
            .collect();
        tokio::task::spawn_blocking(move || {
            builder.finish(Value::Null, items as i64, &names, &HashMap::new())
        })
    }

    /// Adds one item's annotations to the agreement figures.
    fn count_agreement(&mut self, votes: &[(usize, Labels)]) {
        let item = self.items_seen;
        self.items_seen += 1;
        for (annotator, labels) in votes {
            self.agreement.add(item, *annotator, labels);
        }
    }

    fn annotator(&mut self, id: uuid::Uuid) -> usize {
        let next = self.annotators.len();
        *self.annotators.entry(id).or_insert(next)
    }

    /// The consolidation model. Dawid–Skene learns each annotator's
    /// reliability from all their work in the scope, so it first streams the
    /// scope's votes into a compact fitter (a few dozen bytes per vote);
    /// majority vote needs no pass.
    async fn fit(&mut self, conn: &mut PgConnection, scope: &Scope) -> Result<Model, AppError> {
        let project = self.project;
        let mut fitter = Fitter::new(
            project.responses_per_item as usize,
            &project.taxonomy.0,
            &project.questions.0,
            self.options.method,
        );
        if self.options.method == Method::Majority {
            return Ok(fitter.finish());
        }
        let mut votes = db::export::votes(conn, scope, self.options.ds_source.as_deref());
        let mut item: Option<uuid::Uuid> = None;
        let mut labels: Vec<(usize, Labels)> = Vec::new();
        let mut source: Option<Labels> = None;
        let mut items = 0;
        let add = |fitter: &mut Fitter,
                   labels: &mut Vec<(usize, Labels)>,
                   source: Option<Labels>,
                   n: usize| {
            add_source_vote(labels, source);
            fitter.add(&ItemAnnotations {
                item: n,
                votes: labels.iter().map(|(a, l)| (*a, l)).collect(),
            })
        };
        while let Some(vote) = votes.try_next().await? {
            if item != Some(vote.item_id) {
                if !labels.is_empty() {
                    add(&mut fitter, &mut labels, source.take(), items);
                    items += 1;
                }
                labels.clear();
                item = Some(vote.item_id);
                source = vote.source_labels.map(|l| l.0);
            }
            let annotator = self.annotator(vote.annotator_id);
            labels.push((annotator, vote.labels.0));
        }
        if !labels.is_empty() {
            add(&mut fitter, &mut labels, source, items);
        }
        Ok(fitter.finish())
    }

    fn chunk(&mut self, mut items: Vec<ItemRow>, counts: &mut Counts) -> Result<(), AppError> {
        counts.items_read += items.len() as u64;
        counts.annotations_read += items
            .iter()
            .map(|i| i.annotator_ids.as_ref().map_or(0, Vec::len) as u64)
            .sum::<u64>();
        match self.options.format {
            Format::Raw => {
                for item in items {
                    self.raw_rows(item, counts)?;
                }
                return Ok(());
            }
            Format::RawSuggestions => {
                for item in items {
                    self.suggestion_rows(item, counts)?;
                }
                return Ok(());
            }
            _ => {}
        }
        let records = self.consolidate(&mut items, counts)?;
        for (item, record) in items.into_iter().zip(records) {
            self.item_rows(item, &record, counts)?;
        }
        Ok(())
    }

    /// One consolidated record per item of the chunk (takes the labels
    /// out of the rows: nothing after consolidation needs them).
    fn consolidate(
        &mut self,
        items: &mut [ItemRow],
        counts: &mut Counts,
    ) -> Result<Vec<Consolidated>, AppError> {
        let mut labels: Vec<Vec<(usize, Labels)>> = Vec::with_capacity(items.len());
        let mut adjudicated: HashMap<usize, Labels> = HashMap::new();
        for (n, item) in items.iter_mut().enumerate() {
            let ids = item.annotator_ids.take().unwrap_or_default();
            let given = item.labels.take().unwrap_or_default();
            labels.push(
                ids.into_iter()
                    .zip(given)
                    .map(|(id, l)| (self.annotator(id), l.0))
                    .collect(),
            );
            if let Some(verdict) = item.adjudication.take() {
                adjudicated.insert(n, verdict.0);
            }
        }
        // The agreement figures are the people's; then the source joins.
        for votes in &labels {
            self.count_agreement(votes);
        }
        if let Some(source) = &self.options.ds_source {
            for (votes, item) in labels.iter_mut().zip(items.iter()) {
                let before = votes.len();
                let suggested = item.suggestions.iter().find(|s| &s.source == source);
                add_source_vote(votes, suggested.map(|s| s.labels.clone()));
                counts.items_with_source_vote += (votes.len() - before) as u64;
            }
        }
        let grouped: Vec<ItemAnnotations> = labels
            .iter()
            .enumerate()
            .map(|(n, votes)| ItemAnnotations {
                item: n,
                votes: votes.iter().map(|(a, l)| (*a, l)).collect(),
            })
            .collect();
        let model = self
            .model
            .as_ref()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no consolidation model")))?;
        // Only the `min_support` filter looks at each category's support.
        Ok(if self.options.min_support.is_some() {
            model.consolidate(&grouped, TieRule::Review, 0.0, &adjudicated)
        } else {
            model.consolidate_without_category_support(&grouped, TieRule::Review, 0.0, &adjudicated)
        })
    }

    fn item_rows(
        &mut self,
        item: ItemRow,
        record: &Consolidated,
        counts: &mut Counts,
    ) -> Result<(), AppError> {
        let Some(labels) = &record.labels else {
            counts.items_needing_review += 1;
            return Ok(());
        };
        if self
            .options
            .min_support
            .is_some_and(|min| !record.adjudicated && rows::min_support(record) < min)
        {
            counts.items_below_min_support += 1;
            return Ok(());
        }
        let suggestions = self
            .options
            .with_suggestions
            .then(|| rows::suggestions_value(&item.suggestions));
        let item = export_item(item);
        let taxonomy = &self.project.taxonomy.0;
        let (output, mut new_rows) = match self.options.format {
            Format::Pku => (
                0,
                rows::pku_row(item, labels, taxonomy).into_iter().collect(),
            ),
            Format::SafeRlhf => {
                let side = usize::from(rows::in_test_split(&item.prompt, self.options.test_ratio));
                if !self.wanted[side] {
                    return Ok(());
                }
                (
                    side,
                    rows::pku_row(item, labels, taxonomy).into_iter().collect(),
                )
            }
            Format::DpoHelpful => (0, rows::dpo_rows(&item, record, Dimension::Helpful)),
            Format::DpoHarmless => (0, rows::dpo_rows(&item, record, Dimension::Harmless)),
            Format::Raw | Format::RawSuggestions => {
                unreachable!("raw rows are not consolidated")
            }
        };
        if let Some(value) = suggestions {
            for row in &mut new_rows {
                row.push(value.clone());
            }
        }
        self.emit(output, new_rows, counts)
    }

    /// An item's `raw-suggestions` rows. Its annotations still feed the
    /// manifest's agreement figures, as for `raw`.
    fn suggestion_rows(&mut self, mut item: ItemRow, counts: &mut Counts) -> Result<(), AppError> {
        let ids = item.annotator_ids.take().unwrap_or_default();
        let labels = item.labels.take().unwrap_or_default();
        let votes: Vec<(usize, Labels)> = ids
            .into_iter()
            .zip(labels)
            .map(|(id, l)| (self.annotator(id), l.0))
            .collect();
        self.count_agreement(&votes);
        let suggestions = std::mem::take(&mut item.suggestions);
        let rows = rows::raw_suggestion_rows(&export_item(item), &suggestions);
        self.emit(0, rows, counts)
    }

    fn raw_rows(&mut self, mut item: ItemRow, counts: &mut Counts) -> Result<(), AppError> {
        let names = item.annotators.take().unwrap_or_default();
        let labels = item.labels.take().unwrap_or_default();
        let ids = item.annotator_ids.take().unwrap_or_default();
        let votes: Vec<(usize, Labels)> = ids
            .into_iter()
            .zip(&labels)
            .map(|(id, l)| (self.annotator(id), l.0.clone()))
            .collect();
        self.count_agreement(&votes);
        let seconds = item.seconds.take().unwrap_or_default();
        let submitted = item.submitted.take().unwrap_or_default();
        let revisions = item.revisions.take().unwrap_or_default();
        let modes = item.modes.take().unwrap_or_default();
        let export = export_item(item);
        let mut rows = Vec::with_capacity(names.len());
        for (n, name) in names.into_iter().enumerate() {
            let annotator = if self.options.with_usernames {
                name
            } else {
                let next = self.pseudonyms.len() + 1;
                self.pseudonyms
                    .entry(name)
                    .or_insert_with(|| format!("annotator-{next:04}"))
                    .clone()
            };
            let labels = serde_json::to_value(&labels[n].0).map_err(anyhow::Error::from)?;
            rows.push(rows::raw_row(
                &export,
                &RawAnnotation {
                    annotator,
                    labels,
                    seconds_spent: seconds.get(n).copied().flatten(),
                    submitted_at: submitted
                        .get(n)
                        .and_then(|t| t.format(&Rfc3339).ok())
                        .unwrap_or_default(),
                    revisions: revisions.get(n).copied().map_or(0, i64::from),
                    suggestion_mode: modes.get(n).cloned().unwrap_or_default(),
                },
            ));
        }
        self.emit(0, rows, counts)
    }

    fn emit(
        &mut self,
        output: usize,
        rows: Vec<Vec<Value>>,
        counts: &mut Counts,
    ) -> Result<(), AppError> {
        counts.rows[output] += rows.len() as u64;
        for row in rows {
            self.encoders[output].write_row(row)?;
        }
        Ok(())
    }
}

fn export_item(row: ItemRow) -> ExportItem {
    ExportItem {
        id: row.id.to_string(),
        external_id: row.external_id,
        batch: row.batch_seq,
        prompt: row.prompt,
        prompt_source: row.prompt_source,
        responses: row.texts.into_iter().zip(row.sources).collect(),
        gold: row.gold,
    }
}

/// The columns of a format.
impl Format {
    pub fn columns(self) -> Vec<Column> {
        match self {
            Format::Pku | Format::SafeRlhf => rows::pku_columns(),
            Format::DpoHelpful | Format::DpoHarmless => rows::dpo_columns(),
            Format::Raw => rows::raw_columns(),
            Format::RawSuggestions => rows::raw_suggestion_columns(),
        }
    }
}
