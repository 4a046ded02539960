//! One item under review: its lock and queue state (for adjudication and
//! send-back), and what its review page shows (the item, every annotation,
//! its skips).

use safepref_core::labels::Labels;
use serde_json::Value;
use sqlx::PgExecutor;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::items::ItemState;

/// An item's queue state, read under its lock.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LockedItem {
    pub id: Uuid,
    pub project_id: Uuid,
    pub state: ItemState,
    pub done: i32,
    pub leased: i32,
    pub extra_annotations: i32,
    /// The routing rule completed it at one annotation.
    pub routed: bool,
}

/// Locks one item (waiting for it): the first lock of an adjudication or
/// a send-back.
pub async fn lock_item(
    db: impl PgExecutor<'_>,
    item_id: Uuid,
) -> Result<Option<LockedItem>, sqlx::Error> {
    sqlx::query_as(
        "select id, project_id, state, done, leased, extra_annotations, routed
           from items where id = $1 for no key update",
    )
    .bind(item_id)
    .fetch_optional(db)
    .await
}

/// Sets an item's state and asks for `extra` more annotations. An item
/// back to pending no longer stands on a routing decision (`routed` is
/// cleared); an adjudicated one keeps the record of it.
pub async fn set_item_state(
    db: impl PgExecutor<'_>,
    item_id: Uuid,
    state: ItemState,
    extra: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update items set state = $2, extra_annotations = extra_annotations + $3,
                routed = routed and $2 <> 'pending'
          where id = $1",
    )
    .bind(item_id)
    .bind(state)
    .bind(extra)
    .execute(db)
    .await
    .map(drop)
}

/// Adds `delta` to the project's count of items no longer pending. Take it
/// last in a transaction (queue rule 4).
pub async fn add_progress(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    shard: i16,
    delta: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into project_progress as p (project_id, shard, complete) values ($1, $2, $3)
         on conflict (project_id, shard) do update set complete = p.complete + excluded.complete",
    )
    .bind(project_id)
    .bind(shard)
    .bind(delta)
    .execute(db)
    .await
    .map(drop)
}

/// An item as the review page shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemDetail {
    pub id: Uuid,
    pub project_id: Uuid,
    pub batch_seq: i32,
    pub external_id: Option<String>,
    pub prompt: String,
    pub prompt_source: Option<String>,
    pub state: ItemState,
    pub done: i32,
    pub leased: i32,
    pub extra_annotations: i32,
    pub source_labels: Option<Json<Value>>,
    pub gold: Option<Json<Labels>>,
    /// (position, text), in position order.
    pub responses: Json<Vec<(i16, String)>>,
}

pub async fn item(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<ItemDetail>, sqlx::Error> {
    sqlx::query_as(
        "select i.id, i.project_id, i.batch_seq, i.external_id, i.prompt, i.prompt_source,
                i.state, i.done, i.leased, i.extra_annotations,
                i.source_labels, i.gold,
                coalesce((select json_agg(json_build_array(r.position, r.text) order by r.position)
                          from responses r where r.item_id = i.id), '[]') as responses
           from items i where i.id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// One annotation of an item, valid or not, with who made it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemAnnotation {
    pub id: Uuid,
    pub annotator_id: Uuid,
    pub annotator: String,
    pub labels: Json<Labels>,
    pub seconds_spent: Option<f64>,
    pub submitted_at: OffsetDateTime,
    pub revisions: i32,
    pub invalidated_at: Option<OffsetDateTime>,
    pub invalid_reason: Option<String>,
    pub invalidated_by: Option<String>,
}

/// Every annotation of the item (invalid ones too), oldest first.
pub async fn item_annotations(
    db: impl PgExecutor<'_>,
    item_id: Uuid,
) -> Result<Vec<ItemAnnotation>, sqlx::Error> {
    sqlx::query_as(
        "select a.id, a.annotator_id, u.username as annotator, a.labels, a.seconds_spent, a.submitted_at,
                a.revisions, a.invalidated_at, a.invalid_reason, v.username as invalidated_by
           from annotations a join users u on u.id = a.annotator_id
           left join users v on v.id = a.invalidated_by
          where a.item_id = $1
          order by a.submitted_at, a.id",
    )
    .bind(item_id)
    .fetch_all(db)
    .await
}

/// A skip of the item, with its reason.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Skip {
    pub annotator: String,
    pub reason: String,
    pub note: Option<String>,
}

pub async fn item_skips(db: impl PgExecutor<'_>, item_id: Uuid) -> Result<Vec<Skip>, sqlx::Error> {
    sqlx::query_as(
        "select u.username as annotator, s.skip_reason::text as reason, s.skip_note as note
           from assignments s join users u on u.id = s.annotator_id
          where s.item_id = $1 and s.state = 'skipped'
          order by s.ended_at",
    )
    .bind(item_id)
    .fetch_all(db)
    .await
}
