//! Machine suggestions coming in: one at a time through the API, or a side
//! file keyed by item (besides the `suggestions` column an import reads,
//! see `import`). Each is checked against the item's project (K, taxonomy,
//! questions) and replaces an earlier suggestion of the same source.

use std::collections::HashMap;
use std::path::Path;

use safepref_core::suggestions::{self, ItemKey, Suggestion};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::import::{ImportError, MAX_LISTED_ERRORS, read};
use crate::projects::{self, Project, ProjectError};
use crate::queue::BrokenRules;

/// Rows of a side file sent to the database per statement.
const CHUNK_ROWS: usize = 2_000;

/// What went wrong with a suggestion sent for one item (a side file's
/// problems are an [`ImportError`], as an import's are).
#[derive(Debug, thiserror::Error)]
pub enum SuggestionError {
    #[error("there is no such item")]
    NoSuchItem,
    /// The suggestion breaks the item's project's label rules.
    #[error(transparent)]
    BrokenRules(#[from] BrokenRules),
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Checks a suggestion against the project's K, taxonomy and questions.
fn check(project: &Project, suggestion: &Suggestion) -> Result<(), SuggestionError> {
    suggestions::validate(
        suggestion,
        project.responses_per_item,
        &project.taxonomy,
        &project.questions,
    )
    .map_err(|errors| BrokenRules::listing(&errors).into())
}

/// The project of the item, which must exist.
async fn project_of_item(pool: &PgPool, item_id: Uuid) -> Result<Uuid, SuggestionError> {
    db::suggestions::project_of_item(pool, item_id)
        .await?
        .ok_or(SuggestionError::NoSuchItem)
}

/// Every source's suggestion for an item, by source name.
pub async fn of_item(pool: &PgPool, item_id: Uuid) -> Result<Vec<Suggestion>, SuggestionError> {
    project_of_item(pool, item_id).await?;
    Ok(db::suggestions::of_item(pool, item_id).await?)
}

/// Stores one source's suggestion for an item (replacing its earlier one)
/// and audits it. Returns the item's project and whether one was replaced.
pub async fn add(
    pool: &PgPool,
    actor: Uuid,
    item_id: Uuid,
    suggestion: &Suggestion,
) -> Result<(Project, bool), SuggestionError> {
    let project = projects::find(pool, project_of_item(pool, item_id).await?).await?;
    check(&project, suggestion)?;
    let mut tx = pool.begin().await?;
    let replaced = db::suggestions::upsert(&mut *tx, item_id, suggestion).await?;
    db::audit::record(
        &mut *tx,
        Some(actor),
        if replaced {
            "suggestion replaced"
        } else {
            "suggestion added"
        },
        &format!("item:{item_id}"),
        None,
        Some(json!({"source": suggestion.source})),
    )
    .await?;
    tx.commit().await?;
    Ok((project, replaced))
}

/// What a side file did.
#[derive(Debug, Clone, Copy, Default)]
pub struct SideFileReport {
    pub rows: u64,
    /// Suggestions that replaced one the source had made before.
    pub replaced: i64,
}

/// A row read and checked, waiting for its item to be looked up.
struct Pending {
    place: String,
    key: ItemKey,
    suggestion: Suggestion,
}

/// Imports a side file of suggestions (JSONL, CSV or Parquet, optionally
/// gzip-compressed; rows as `suggestions::parse_side_row` reads them) into
/// the project, all or nothing: every problem is listed with its line and
/// field, and nothing is stored unless there is none.
pub async fn import_side_file(
    pool: &PgPool,
    project: &Project,
    actor: Option<Uuid>,
    path: &Path,
) -> Result<SideFileReport, ImportError> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    let detected =
        read::detect(path).map_err(|e| ImportError::Unreadable(format!("{name}: {e}")))?;
    let rows = read::rows(path).map_err(|e| ImportError::Unreadable(format!("{name}: {e}")))?;
    let mut errors = Errors::default();
    let mut report = SideFileReport::default();
    // (item, source) -> where it was first given, so a file cannot give two.
    let mut seen: HashMap<(Uuid, String), String> = HashMap::new();
    let mut tx = pool.begin().await?;
    let mut chunk = Vec::with_capacity(CHUNK_ROWS);
    for row in rows {
        report.rows += 1;
        let row = match row {
            Ok(row) => row,
            Err(e) if e.is_fatal() => return Err(ImportError::Unreadable(format!("{name} {e}"))),
            Err(e) => {
                errors.note(format!("{name} {e}"));
                continue;
            }
        };
        let place = format!("{name} {}", read::place(detected.format, row.number));
        match suggestions::parse_side_row(
            &row.fields,
            project.responses_per_item,
            &project.taxonomy,
            &project.questions,
        ) {
            Ok((key, suggestion)) => chunk.push(Pending {
                place,
                key,
                suggestion,
            }),
            Err(problems) => problems
                .iter()
                .for_each(|p| errors.note(format!("{place}: {p}"))),
        }
        if chunk.len() >= CHUNK_ROWS {
            report.replaced += store(&mut tx, project, &chunk, &mut seen, &mut errors).await?;
            chunk.clear();
        }
    }
    report.replaced += store(&mut tx, project, &chunk, &mut seen, &mut errors).await?;
    if errors.total > 0 {
        return Err(ImportError::Invalid {
            errors: errors.listed,
            total: errors.total,
        });
    }
    db::audit::record(
        &mut *tx,
        actor,
        "suggestions imported",
        &projects::subject(project.id),
        None,
        Some(json!({"file": name, "rows": report.rows, "replaced": report.replaced})),
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

#[derive(Default)]
struct Errors {
    listed: Vec<String>,
    total: usize,
}

impl Errors {
    fn note(&mut self, message: String) {
        self.total += 1;
        if self.listed.len() < MAX_LISTED_ERRORS {
            self.listed.push(message);
        }
    }
}

/// Looks the chunk's items up and, while the file has no problem yet,
/// stores its suggestions. Returns how many replaced an earlier one.
async fn store(
    tx: &mut sqlx::PgConnection,
    project: &Project,
    chunk: &[Pending],
    seen: &mut HashMap<(Uuid, String), String>,
    errors: &mut Errors,
) -> Result<i64, ImportError> {
    if chunk.is_empty() {
        return Ok(0);
    }
    let mut by_id = Vec::with_capacity(chunk.len());
    let mut by_external = Vec::with_capacity(chunk.len());
    for p in chunk {
        let (id, external) = match &p.key {
            ItemKey::ItemId(text) => match text.parse::<Uuid>() {
                Ok(id) => (Some(id), None),
                Err(_) => {
                    errors.note(format!("{}: item_id: {text:?} is not an item id", p.place));
                    (None, None)
                }
            },
            ItemKey::External(id) => (None, Some(id.clone())),
        };
        by_id.push(id);
        by_external.push(external);
    }
    let found = db::suggestions::resolve(&mut *tx, project.id, &by_id, &by_external).await?;
    let mut item_ids = Vec::with_capacity(chunk.len());
    let mut keep = Vec::with_capacity(chunk.len());
    for (p, item) in chunk.iter().zip(found) {
        let Some(item) = item else {
            if !malformed_item_id(&p.key) {
                errors.note(format!(
                    "{}: {} is not an item of project {:?}",
                    p.place,
                    describe_key(&p.key),
                    project.name
                ));
            }
            continue;
        };
        let pair = (item, p.suggestion.source.clone());
        if let Some(first) = seen.get(&pair) {
            errors.note(format!(
                "{}: source: {:?} already suggested for this item at {first}; give one suggestion per item and source",
                p.place, p.suggestion.source
            ));
            continue;
        }
        seen.insert(pair, p.place.clone());
        item_ids.push(item);
        keep.push(&p.suggestion);
    }
    if errors.total > 0 {
        return Ok(0);
    }
    Ok(db::suggestions::upsert_many(&mut *tx, &item_ids, &keep).await?)
}

/// An `item_id` that is no id at all (reported as such already).
fn malformed_item_id(key: &ItemKey) -> bool {
    matches!(key, ItemKey::ItemId(text) if text.parse::<Uuid>().is_err())
}

fn describe_key(key: &ItemKey) -> String {
    match key {
        ItemKey::ItemId(id) => format!("item_id {id:?}"),
        ItemKey::External(id) => format!("id {id:?}"),
    }
}
