//! The `items` and `responses` tables.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// Where an item stands (the `item_state` type): wanting annotations, with
/// all it wants, or decided by a lead. Shown and recorded in the audit log
/// as the lowercase word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, Serialize)]
#[sqlx(type_name = "item_state", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    Pending,
    Complete,
    Adjudicated,
}

impl ItemState {
    pub const ALL: [ItemState; 3] = [Self::Pending, Self::Complete, Self::Adjudicated];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Complete => "complete",
            Self::Adjudicated => "adjudicated",
        }
    }
}

impl fmt::Display for ItemState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ItemState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("no item state {s:?}"))
    }
}

/// For a column that holds the state as text (`submit_annotation`'s).
impl TryFrom<String> for ItemState {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// The columns, in order, of the rows `copy_items` takes (binary COPY format).
pub const ITEM_COPY_COLUMNS: &str = "id, project_id, batch_id, batch_seq, seq, external_id, prompt, prompt_source, content_hash, source_labels, gold, severe";
/// The columns, in order, of the rows `copy_responses` takes.
pub const RESPONSE_COPY_COLUMNS: &str = "item_id, position, text, source";

/// Bulk-loads items from a complete binary COPY stream.
pub async fn copy_items(conn: &mut PgConnection, rows: &[u8]) -> Result<u64, sqlx::Error> {
    copy(conn, "items", ITEM_COPY_COLUMNS, rows).await
}

/// Bulk-loads responses from a complete binary COPY stream.
pub async fn copy_responses(conn: &mut PgConnection, rows: &[u8]) -> Result<u64, sqlx::Error> {
    copy(conn, "responses", RESPONSE_COPY_COLUMNS, rows).await
}

async fn copy(
    conn: &mut PgConnection,
    table: &str,
    columns: &str,
    rows: &[u8],
) -> Result<u64, sqlx::Error> {
    let statement = format!("copy {table} ({columns}) from stdin (format binary)");
    let mut copy = conn.copy_in_raw(&statement).await?;
    copy.send(rows).await?;
    copy.finish().await
}

/// The content hashes of a project's items, for duplicate detection.
pub async fn content_hashes(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
) -> Result<Vec<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar("select content_hash from items where project_id = $1")
        .bind(project_id)
        .fetch_all(db)
        .await
}

/// One item with its responses, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredItem {
    pub id: Uuid,
    pub seq: i32,
    pub external_id: Option<String>,
    pub prompt: String,
    pub prompt_source: Option<String>,
    pub source_labels: Option<serde_json::Value>,
    pub gold: Option<serde_json::Value>,
    /// (text, source) by position.
    pub responses: sqlx::types::Json<Vec<(String, Option<String>)>>,
}

/// A batch's items in file order, responses included.
pub async fn of_batch(
    db: impl PgExecutor<'_>,
    batch_id: Uuid,
) -> Result<Vec<StoredItem>, sqlx::Error> {
    sqlx::query_as(
        "select i.id, i.seq, i.external_id, i.prompt, i.prompt_source, i.source_labels, i.gold,
                (select jsonb_agg(jsonb_build_array(r.text, r.source) order by r.position)
                 from responses r where r.item_id = i.id) as responses
         from items i where i.batch_id = $1 order by i.seq",
    )
    .bind(batch_id)
    .fetch_all(db)
    .await
}

/// How many items a project has.
pub async fn count(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from items where project_id = $1")
        .bind(project_id)
        .fetch_one(db)
        .await
}

/// Where a batch's items stand. `in_progress`: pending items with at least
/// one submission; `annotations`: submissions (the items' `done` counters,
/// which the queue keeps under each item's lock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct StateCounts {
    pub total: i64,
    pub pending: i64,
    pub in_progress: i64,
    pub complete: i64,
    pub adjudicated: i64,
    pub annotations: i64,
}

impl StateCounts {
    /// Both counts together (a project's from its batches').
    pub fn plus(self, other: &StateCounts) -> StateCounts {
        StateCounts {
            total: self.total + other.total,
            pending: self.pending + other.pending,
            in_progress: self.in_progress + other.in_progress,
            complete: self.complete + other.complete,
            adjudicated: self.adjudicated + other.adjudicated,
            annotations: self.annotations + other.annotations,
        }
    }
}

/// A batch (by number) and its item counts.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BatchStates {
    pub batch_id: Uuid,
    pub seq: i32,
    #[sqlx(flatten)]
    pub counts: StateCounts,
}

/// Item states per batch of a project, in batch order (batches with no
/// items included).
pub async fn states_by_batch(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
) -> Result<Vec<BatchStates>, sqlx::Error> {
    sqlx::query_as(
        "select b.id as batch_id, b.seq,
                count(i.id) as total,
                count(*) filter (where i.state = 'pending' and i.done = 0) as pending,
                count(*) filter (where i.state = 'pending' and i.done > 0) as in_progress,
                count(*) filter (where i.state = 'complete') as complete,
                count(*) filter (where i.state = 'adjudicated') as adjudicated,
                coalesce(sum(i.done), 0)::int8 as annotations
         from batches b left join items i on i.batch_id = b.id
         where b.project_id = $1
         group by b.id order by b.seq",
    )
    .bind(project_id)
    .fetch_all(db)
    .await
}
