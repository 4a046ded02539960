//! The `adjudications` table: a lead's final labels for an item (the
//! newest wins in consolidation and export).

use safepref_core::labels::Labels;
use sqlx::PgExecutor;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

pub async fn insert(
    db: impl PgExecutor<'_>,
    id: Uuid,
    item_id: Uuid,
    lead_id: Uuid,
    labels: &serde_json::Value,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into adjudications (id, item_id, lead_id, labels, reason) values ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(item_id)
    .bind(lead_id)
    .bind(labels)
    .bind(reason)
    .execute(db)
    .await
    .map(drop)
}

/// One adjudication with the lead's name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Adjudication {
    pub lead: String,
    pub labels: Json<Labels>,
    pub reason: String,
    pub created_at: OffsetDateTime,
}

/// The item's adjudications, newest (the one that counts) first.
pub async fn for_item(
    db: impl PgExecutor<'_>,
    item_id: Uuid,
) -> Result<Vec<Adjudication>, sqlx::Error> {
    sqlx::query_as(
        "select u.username as lead, d.labels, d.reason, d.created_at
           from adjudications d join users u on u.id = d.lead_id
          where d.item_id = $1
          order by d.created_at desc, d.id desc",
    )
    .bind(item_id)
    .fetch_all(db)
    .await
}

/// Every adjudicated item of a project (or one batch) with the labels that
/// count: the newest adjudication's, as `for_item` orders them.
pub async fn newest(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    batch_seq: Option<i32>,
) -> Result<Vec<(Uuid, Json<Labels>)>, sqlx::Error> {
    sqlx::query_as(
        "select distinct on (d.item_id) d.item_id, d.labels
           from adjudications d join items i on i.id = d.item_id
          where i.project_id = $1 and ($2::int is null or i.batch_seq = $2)
          order by d.item_id, d.created_at desc, d.id desc",
    )
    .bind(project_id)
    .bind(batch_seq)
    .fetch_all(db)
    .await
}
