//! Import: files -> validated records -> batches of items, all or nothing.
//!
//! One code path serves `safepref import` and the admin upload page:
//!
//! 1. Each file's sha256 is taken; a file the project already has is refused,
//!    naming the earlier batch.
//! 2. One transaction for the whole import, under a per-project advisory lock
//!    (two imports into one project take turns, so duplicates are seen).
//! 3. A blocking thread streams each file (`read`), parses and validates every
//!    row (`safepref_core::records`), drops duplicates, and hands chunks of
//!    COPY rows (`copy`) to the async side, which sends them to PostgreSQL.
//!    Memory stays bounded whatever the file's size.
//! 4. After the first invalid row nothing more is sent, but validation goes on
//!    so the report lists every problem (the first 100, then a count); then
//!    the transaction is rolled back. A crash or kill at any point leaves the
//!    database as it was, since nothing commits until the end.

pub mod copy;
mod parquet_pages;
pub mod read;

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use safepref_core::records::{self, RecordRules};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::db::{self, projects::Project};
use copy::{Chunk, ItemKeys};

/// Errors listed in full; past this, only counted.
pub const MAX_LISTED_ERRORS: usize = 100;
/// Items per COPY statement, and the most bytes a chunk holds.
const CHUNK_ITEMS: usize = 2_000;
const CHUNK_BYTES: usize = 8 << 20;

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Accept empty prompts and responses.
    pub allow_empty: bool,
    /// Import records whose stored response_N_sha256 does not match their text.
    pub accept_hash_mismatch: bool,
    /// Keep items that repeat one already in the project (or earlier in the file).
    pub allow_duplicates: bool,
}

/// A file to import and the name to show for it.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub name: String,
}

impl Source {
    pub fn from_path(path: &Path) -> Self {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Source {
            path: path.to_path_buf(),
            name,
        }
    }
}

/// What one file became.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub batch_id: Uuid,
    pub batch_seq: i32,
    pub file_name: String,
    pub rows_read: u64,
    pub imported: u64,
    pub duplicates_skipped: u64,
    pub hash_mismatches: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}", invalid_message(errors, *total))]
    Invalid { errors: Vec<String>, total: usize },
    #[error(
        "{file} was imported already into this project as batch {batch_seq} ({earlier_name}); nothing was imported"
    )]
    AlreadyImported {
        file: String,
        batch_seq: i32,
        earlier_name: String,
    },
    #[error("{0}")]
    Unreadable(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn invalid_message(errors: &[String], total: usize) -> String {
    let mut text = format!(
        "nothing was imported: {total} problem{} found",
        if total == 1 { "" } else { "s" }
    );
    for error in errors {
        text.push('\n');
        text.push_str(error);
    }
    if total > errors.len() {
        text.push_str(&format!("\n… and {} more", total - errors.len()));
    }
    text
}

/// Imports `sources` into `project`, each file as one batch, all in one
/// transaction: either every file is imported or nothing is.
pub async fn import_files(
    pool: &PgPool,
    project: &Project,
    sources: &[Source],
    actor: Option<Uuid>,
    options: Options,
) -> Result<Vec<FileReport>, ImportError> {
    let mut hashed: Vec<(&Source, String)> = Vec::new();
    for source in sources {
        let path = source.path.clone();
        let sha = tokio::task::spawn_blocking(move || file_sha256(&path))
            .await
            .map_err(|e| ImportError::Unreadable(e.to_string()))?
            .map_err(|e| ImportError::Unreadable(format!("{}: {e}", source.name)))?;
        if let Some((earlier, _)) = hashed.iter().find(|(_, s)| *s == sha) {
            return Err(ImportError::Unreadable(format!(
                "{} and {} are the same file; nothing was imported",
                earlier.name, source.name
            )));
        }
        hashed.push((source, sha));
    }

    let mut tx = pool.begin().await?;
    db::batches::begin_import(&mut tx, project.id).await?;
    for (source, sha) in &hashed {
        if let Some(earlier) = db::batches::find_by_sha256(&mut *tx, project.id, sha).await? {
            return Err(ImportError::AlreadyImported {
                file: source.name.clone(),
                batch_seq: earlier.seq,
                earlier_name: format!(
                    "{}, imported {}",
                    earlier.file_name,
                    earlier.imported_at.date()
                ),
            });
        }
    }
    let mut seen: HashSet<[u8; 32]> = HashSet::new();
    if !options.allow_duplicates {
        for hash in db::items::content_hashes(&mut *tx, project.id).await? {
            if let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) {
                seen.insert(hash);
            }
        }
    }

    let mut reports = Vec::new();
    let mut errors = Vec::new();
    let mut total_errors = 0;
    for (source, sha) in &hashed {
        let batch_id = Uuid::now_v7();
        let new = db::batches::NewBatch {
            id: batch_id,
            project_id: project.id,
            file_name: &source.name,
            sha256: sha,
            imported_by: actor,
        };
        let batch_seq = db::batches::insert(&mut *tx, &new).await?;
        let keys = ItemKeys {
            id: Uuid::nil(),
            project_id: project.id,
            batch_id,
            batch_seq,
            seq: 0,
        };
        let parsed = load_file(
            &mut tx,
            project,
            source,
            keys,
            seen,
            options,
            total_errors == 0,
        )
        .await?;
        seen = parsed.seen;
        total_errors += parsed.total_errors;
        errors.extend(
            parsed
                .errors
                .into_iter()
                .take(MAX_LISTED_ERRORS.saturating_sub(errors.len())),
        );
        let c = parsed.counts;
        db::batches::set_counts(
            &mut *tx,
            batch_id,
            c.rows as i64,
            c.imported as i64,
            c.duplicates as i64,
            c.hash_mismatches as i64,
        )
        .await?;
        reports.push(FileReport {
            batch_id,
            batch_seq,
            file_name: source.name.clone(),
            rows_read: c.rows,
            imported: c.imported,
            duplicates_skipped: c.duplicates,
            hash_mismatches: c.hash_mismatches,
        });
    }
    if total_errors > 0 {
        tx.rollback().await?;
        return Err(ImportError::Invalid {
            errors,
            total: total_errors,
        });
    }
    for report in &reports {
        let after = json!({
            "batch": report.batch_seq, "file": report.file_name, "rows_read": report.rows_read,
            "imported": report.imported, "duplicates_skipped": report.duplicates_skipped,
            "hash_mismatches": report.hash_mismatches,
        });
        let subject = crate::projects::subject(project.id);
        db::audit::record(
            &mut *tx,
            actor,
            "batch imported",
            &subject,
            None,
            Some(after),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(reports)
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    rows: u64,
    imported: u64,
    duplicates: u64,
    hash_mismatches: u64,
}

struct Parsed {
    counts: Counts,
    errors: Vec<String>,
    total_errors: usize,
    seen: HashSet<[u8; 32]>,
}

enum Message {
    Chunk(Chunk),
    Done(Parsed),
}

/// Streams one file through the parser thread into COPY statements.
async fn load_file(
    tx: &mut sqlx::PgConnection,
    project: &Project,
    source: &Source,
    keys: ItemKeys,
    seen: HashSet<[u8; 32]>,
    options: Options,
    send_rows: bool,
) -> Result<Parsed, ImportError> {
    // Two chunks in flight at most: the parser waits for the database.
    let (sender, mut receiver) = mpsc::channel::<Message>(2);
    let path = source.path.clone();
    let name = source.name.clone();
    let k = project.responses_per_item;
    let taxonomy = project.taxonomy.clone();
    let questions = project.questions;
    let parser = tokio::task::spawn_blocking(move || {
        let rules = RecordRules {
            k,
            taxonomy: &taxonomy,
            questions: &questions,
            allow_empty: options.allow_empty,
            accept_hash_mismatch: options.accept_hash_mismatch,
        };
        parse_file(
            &path, &name, &rules, keys, seen, options, send_rows, &sender,
        )
    });
    let mut failed = None;
    while let Some(message) = receiver.recv().await {
        match message {
            Message::Chunk(chunk) if failed.is_none() => {
                let streams = chunk.finish();
                let sent = async {
                    db::items::copy_items(&mut *tx, &streams.items).await?;
                    db::items::copy_responses(&mut *tx, &streams.responses).await?;
                    if let Some(rows) = &streams.suggestions {
                        db::suggestions::copy(&mut *tx, rows).await?;
                    }
                    Ok::<_, sqlx::Error>(())
                };
                if let Err(e) = sent.await {
                    failed = Some(e);
                }
            }
            Message::Chunk(_) => {}
            Message::Done(parsed) => {
                parser
                    .await
                    .map_err(|e| ImportError::Unreadable(e.to_string()))?
                    .map_err(ImportError::Unreadable)?;
                if let Some(e) = failed {
                    return Err(e.into());
                }
                return Ok(parsed);
            }
        }
    }
    // The parser ended without a report: it could not open the file.
    match parser.await {
        Ok(Err(message)) => Err(ImportError::Unreadable(message)),
        Ok(Ok(())) => Err(ImportError::Unreadable(format!(
            "{}: the reader stopped early",
            source.name
        ))),
        Err(e) => Err(ImportError::Unreadable(e.to_string())),
    }
}

#[allow(clippy::too_many_arguments)]
fn parse_file(
    path: &Path,
    name: &str,
    rules: &RecordRules<'_>,
    keys: ItemKeys,
    seen: HashSet<[u8; 32]>,
    options: Options,
    send_rows: bool,
    sender: &mpsc::Sender<Message>,
) -> Result<(), String> {
    let detected = read::detect(path).map_err(|e| format!("{name}: {e}"))?;
    let rows = read::rows(path).map_err(|e| format!("{name}: {e}"))?;
    let file = FileRows {
        rows,
        format: detected.format,
        name,
    };
    parse_rows(file, rules, keys, seen, options, send_rows, sender);
    Ok(())
}

/// A file's rows as the reader yields them, and how to name their places.
struct FileRows<'a, I> {
    rows: I,
    format: read::Format,
    name: &'a str,
}

/// Validates every row and sends them in chunks; stops early when nobody
/// waits for the result any more.
fn parse_rows<I: Iterator<Item = Result<read::Row, read::ReadError>>>(
    file: FileRows<'_, I>,
    rules: &RecordRules<'_>,
    keys: ItemKeys,
    mut seen: HashSet<[u8; 32]>,
    options: Options,
    mut send_rows: bool,
    sender: &mpsc::Sender<Message>,
) {
    let FileRows { rows, format, name } = file;
    let mut counts = Counts::default();
    let mut errors = Vec::new();
    let mut total_errors = 0;
    let mut chunk = Chunk::default();
    let mut note = |message: String, errors: &mut Vec<String>| {
        total_errors += 1;
        if errors.len() < MAX_LISTED_ERRORS {
            errors.push(message);
        }
    };
    for row in rows {
        // The import's future was dropped (the client left, or the request
        // timed out), taking the receiver: nothing will read what follows.
        // Checked per row, since after an invalid row nothing is sent and a
        // failed send would never tell.
        if sender.is_closed() {
            return;
        }
        counts.rows += 1;
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                note(format!("{name} {e}"), &mut errors);
                send_rows = false;
                continue;
            }
        };
        let place = read::place(format, row.number);
        let record = match records::parse_record(&row.fields, rules) {
            Ok(record) => record,
            Err(problems) => {
                for problem in problems {
                    note(format!("{name} {place}: {problem}"), &mut errors);
                }
                send_rows = false;
                continue;
            }
        };
        let texts: Vec<&str> = record.responses.iter().map(|r| r.text.as_str()).collect();
        let hash = records::content_hash(&record.prompt, &texts);
        if !options.allow_duplicates && !seen.insert(hash) {
            counts.duplicates += 1;
            continue;
        }
        counts.hash_mismatches += u64::from(record.hash_mismatch);
        counts.imported += 1;
        if send_rows {
            let item = ItemKeys {
                id: Uuid::now_v7(),
                seq: counts.imported as i32,
                ..keys
            };
            chunk.push(item, &record, &hash);
            let full = chunk.len >= CHUNK_ITEMS || chunk.size() >= CHUNK_BYTES;
            // A closed channel: the database side gave up; it reports why.
            if full
                && sender
                    .blocking_send(Message::Chunk(std::mem::take(&mut chunk)))
                    .is_err()
            {
                return;
            }
        }
    }
    if send_rows && !chunk.is_empty() {
        let _ = sender.blocking_send(Message::Chunk(chunk));
    }
    let parsed = Parsed {
        counts,
        errors,
        total_errors,
        seen,
    };
    let _ = sender.blocking_send(Message::Done(parsed));
}

/// Hex sha256 of a file, read in pieces.
fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use safepref_core::labels::Questions;
    use safepref_core::taxonomy::Taxonomy;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Rows with no prompt (each one invalid, so none is ever sent),
    /// counting how many the parser takes.
    fn invalid_rows(taken: &AtomicU64) -> impl Iterator<Item = Result<read::Row, read::ReadError>> {
        (1..=10_000u64).map(move |number| {
            taken.fetch_add(1, Ordering::Relaxed);
            Ok(read::Row {
                number,
                fields: serde_json::Map::new(),
            })
        })
    }

    fn parse(taken: &AtomicU64, sender: &mpsc::Sender<Message>) {
        let taxonomy = Taxonomy::pku19();
        let questions = Questions::default();
        let rules = RecordRules {
            k: 2,
            taxonomy: &taxonomy,
            questions: &questions,
            allow_empty: false,
            accept_hash_mismatch: false,
        };
        let file = FileRows {
            rows: invalid_rows(taken),
            format: read::Format::Jsonl,
            name: "a.jsonl",
        };
        let keys = ItemKeys {
            id: Uuid::nil(),
            project_id: Uuid::nil(),
            batch_id: Uuid::nil(),
            batch_seq: 1,
            seq: 0,
        };
        parse_rows(
            file,
            &rules,
            keys,
            HashSet::new(),
            Options::default(),
            true,
            sender,
        );
    }

    #[test]
    fn the_parser_stops_when_nobody_waits_for_it() {
        let taken = AtomicU64::new(0);
        let (sender, receiver) = mpsc::channel::<Message>(2);
        drop(receiver);
        parse(&taken, &sender);
        // The row taken when the loop first looks.
        assert_eq!(taken.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn the_parser_reads_every_row_while_someone_waits() {
        let taken = AtomicU64::new(0);
        let (sender, mut receiver) = mpsc::channel::<Message>(2);
        parse(&taken, &sender);
        assert_eq!(taken.load(Ordering::Relaxed), 10_000);
        let Ok(Message::Done(parsed)) = receiver.try_recv() else {
            panic!("no report");
        };
        assert_eq!(parsed.counts.rows, 10_000);
        assert!(
            parsed.errors[0].starts_with("a.jsonl line 1: "),
            "{}",
            parsed.errors[0]
        );
    }
}
