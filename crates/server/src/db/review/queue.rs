//! The review queue's pages: the flagged items matching a lead's filters,
//! lowest support first.

use safepref_core::labels::Labels;
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres};
use uuid::Uuid;

use crate::db::items::ItemState;

/// The review queue's filters (all optional).
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub batch: Option<i32>,
    /// None = not adjudicated.
    pub status: Option<ItemState>,
    /// An item where any valid annotation ticked this category.
    pub category: Option<String>,
    /// An item where any valid annotation's highest severity is this.
    pub severity: Option<i32>,
    /// An item this annotator (username) annotated.
    pub annotator: Option<String>,
    /// An item with a reason that starts so (`review::REASON_KINDS`).
    pub reason: Option<String>,
}

/// One row of the review queue's page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueueEntry {
    pub item_id: Uuid,
    pub batch_seq: i32,
    pub state: ItemState,
    pub prompt_start: String,
    pub annotations: i32,
    pub min_support: f64,
    pub reasons: Vec<String>,
    /// Why, in parts of one line ("A: safe? 2 of 3 unsafe", "helpful: tie"),
    /// written by `review::queue_page` from the reasons and the votes.
    #[sqlx(skip)]
    pub summary: Vec<String>,
}

/// The filter's conditions on `f` (review_flags) and `i` (items), after
/// $1 = project: $2 batch, $3 status, $4 category, $5 severity, $6
/// annotator, $7 the start of a reason.
const QUEUE_WHERE: &str = "f.project_id = $1
    and ($2::int is null or f.batch_seq = $2)
    and (($3::item_state is null and i.state <> 'adjudicated') or i.state = $3)
    and ($4::text is null or exists (
           select 1 from annotations a, jsonb_array_elements(a.labels::jsonb->'responses') r
            where a.item_id = i.id and a.invalidated_at is null and r->'categories' ? $4))
    and ($5::int is null or exists (
           select 1 from annotations a
            where a.item_id = i.id and a.invalidated_at is null
              and (select max((r->>'severity')::int) from json_array_elements(a.labels->'responses') r) = $5))
    and ($6::text is null or exists (
           select 1 from annotations a join users u on u.id = a.annotator_id
            where a.item_id = i.id and a.invalidated_at is null and u.username = $6))
    and ($7::text is null or exists (select 1 from unnest(f.reasons) r where starts_with(r, $7)))";

/// One page of the flagged items matching the filter, lowest minimum
/// support first (then batch and file order), and how many match.
pub async fn queue_page(
    db: &mut PgConnection,
    project_id: Uuid,
    filter: &QueueFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<QueueEntry>, i64), sqlx::Error> {
    let rows_sql = format!(
        "select f.item_id, f.batch_seq, i.state, left(i.prompt, 160) as prompt_start,
                f.annotations, f.min_support, f.reasons
           from review_flags f join items i on i.id = f.item_id
          where {QUEUE_WHERE}
          order by f.min_support, f.batch_seq, f.seq
          limit $8 offset $9"
    );
    let rows = bind_filter(
        sqlx::query_as(sqlx::AssertSqlSafe(rows_sql)),
        project_id,
        filter,
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *db)
    .await?;
    let count_sql = format!(
        "select count(*) from review_flags f join items i on i.id = f.item_id where {QUEUE_WHERE}"
    );
    let (total,) = bind_filter(
        sqlx::query_as(sqlx::AssertSqlSafe(count_sql)),
        project_id,
        filter,
    )
    .fetch_one(db)
    .await?;
    Ok((rows, total))
}

/// The valid votes on these items (a page of the queue), by item; an item
/// with none is left out.
pub async fn votes(
    db: &mut PgConnection,
    items: &[Uuid],
) -> Result<Vec<(Uuid, Vec<Json<Labels>>)>, sqlx::Error> {
    sqlx::query_as(
        "select item_id, array_agg(labels) from annotations
          where item_id = any($1) and invalidated_at is null
          group by item_id",
    )
    .bind(items)
    .fetch_all(db)
    .await
}

/// Binds $1 to $7 of [`QUEUE_WHERE`].
fn bind_filter<'q, O>(
    query: QueryAs<'q, Postgres, O, PgArguments>,
    project_id: Uuid,
    filter: &'q QueueFilter,
) -> QueryAs<'q, Postgres, O, PgArguments> {
    query
        .bind(project_id)
        .bind(filter.batch)
        .bind(filter.status)
        .bind(filter.category.as_deref())
        .bind(filter.severity)
        .bind(filter.annotator.as_deref())
        .bind(filter.reason.as_deref())
}
