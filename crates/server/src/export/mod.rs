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
pub mod jobs;
pub mod manifest;
pub mod options;
mod pipeline;
mod read;
mod rows;

use std::io;
use std::path::PathBuf;

use serde_json::Value;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::db::{
    self,
    export::{Detail, Key, Reads},
    projects::Project,
};
pub use encode::{Encoder, Encoding};
pub use options::{Format, Options};
use pipeline::Pipeline;
use read::{Reader, Readers};

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

/// What went wrong with an export, its options or its jobs.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Options not understood, or that make no sense for the project.
    #[error("{0}")]
    BadOptions(String),
    #[error("no such project")]
    NoSuchProject,
    #[error("{} already exists; choose another path or remove it first", .0.display())]
    Exists(PathBuf),
    /// A directory format (train and test files) given a file to write.
    #[error(
        "format {} writes a directory (train and test files): give a directory path",
        .0.name()
    )]
    NeedsDirectory(Format),
    /// The staging directory beside the destination could not be made.
    #[error("cannot create {}: {error}", path.display())]
    CannotCreate { path: PathBuf, error: io::Error },
    #[error("no finished export with this id")]
    NoFinishedJob,
    /// A file name a finished job's manifest does not list.
    #[error("this export has no file {0:?}")]
    NoSuchFile(String),
    /// Writing the files, or sending the bytes on.
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Something that cannot happen did (a reader task stopped, ...).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The project to export, for the export pages and the API.
pub async fn find_project(pool: &PgPool, id: Uuid) -> Result<Project, ExportError> {
    db::projects::find(pool, id)
        .await?
        .ok_or(ExportError::NoSuchProject)
}

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
) -> Result<Counts, ExportError> {
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
) -> Result<Counts, ExportError> {
    let chunk_items = chunk_items.max(1);
    let range_items = chunk_items * range_chunks.max(1);
    let scope = options.scope(project.id);
    let mut tx = db::snapshot::read_only(pool, None).await?;
    check(&mut *tx, project, options).await?;
    let snapshot = db::snapshot::export(&mut tx).await?;
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
    let ranges = key_ranges(&starts);
    let adjudications = db::export::any_adjudication(&mut tx, &scope).await?;
    let reader = Reader {
        scope,
        k: project.responses_per_item,
        reads: reads_for(options, adjudications),
        chunk_items,
        range_items: range_items as i64,
    };
    // Two readers, each on its own connection, take turns range by range
    // (each range a few chunks) a few chunks ahead: both PostgreSQL backends
    // and the row decoding run while this task consolidates and encodes.
    let second = db::snapshot::read_only(pool, Some(&snapshot)).await?;
    let mut readers = Readers::start(reader, [tx, second], &ranges);
    for n in 0..ranges.len() {
        loop {
            let chunk = readers.next(n).await?;
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
    readers.finish().await?;
    let agreement = pipeline.agreement_report(counts.items_read);
    for (n, encoder) in std::mem::take(&mut pipeline.encoders)
        .into_iter()
        .enumerate()
    {
        sink.write(n, encoder.finish()?).await?;
    }
    sink.close().await?;
    counts.agreement = agreement
        .await
        .map_err(|e| anyhow::anyhow!("the export's agreement report failed: {e}"))?;
    Ok(counts)
}

/// The ranges of keys between consecutive starts, the last one open-ended.
fn key_ranges(starts: &[Key]) -> Vec<(Key, Key)> {
    starts
        .iter()
        .copied()
        .zip(starts.iter().skip(1).copied().chain([db::export::END]))
        .collect()
}

/// What the format needs read beside each item's labels.
fn reads_for(options: &Options, adjudications: bool) -> Reads {
    Reads {
        detail: if options.format == Format::Raw {
            Detail::Raw
        } else {
            Detail::Labels
        },
        suggestions: options.with_suggestions
            || options.ds_source.is_some()
            || options.format == Format::RawSuggestions,
        adjudications,
    }
}

/// Checks the options against the project: [`Options::check`], and that a
/// `ds_source` has suggested for the project (a misspelt source would
/// otherwise count for nothing, silently).
pub async fn check(
    db: impl PgExecutor<'_>,
    project: &Project,
    options: &Options,
) -> Result<(), ExportError> {
    options.check(project)?;
    let Some(source) = &options.ds_source else {
        return Ok(());
    };
    let sources = db::suggestions::sources(db, project.id).await?;
    if sources.iter().any(|(name, _)| name == source) {
        return Ok(());
    }
    let known: Vec<&str> = sources.iter().map(|(name, _)| name.as_str()).collect();
    Err(ExportError::BadOptions(format!(
        "ds_source: project {:?} has no suggestions from {source:?} ({})",
        project.name,
        if known.is_empty() {
            "it has none at all".to_string()
        } else {
            format!("its sources: {}", known.join(", "))
        }
    )))
}
