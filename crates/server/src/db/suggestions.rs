//! The `suggestions` table: machine labels per item and source, kept apart
//! from human annotations.

use futures_util::stream::BoxStream;
use safepref_core::labels::Labels;
use safepref_core::suggestions::{Scores, Suggestion};
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

/// The columns, in order, of the rows `copy` takes (binary COPY format;
/// `labels` and `scores` as jsonb: a version byte, then the JSON text).
pub const COPY_COLUMNS: &str = "item_id, source, labels, scores";

/// Bulk-loads suggestions from a complete binary COPY stream.
pub async fn copy(conn: &mut PgConnection, rows: &[u8]) -> Result<u64, sqlx::Error> {
    let statement = format!("copy suggestions ({COPY_COLUMNS}) from stdin (format binary)");
    let mut copy = conn.copy_in_raw(&statement).await?;
    copy.send(rows).await?;
    copy.finish().await
}

/// Stores a source's suggestion for an item, replacing the one it made
/// before. Returns whether one was replaced.
pub async fn upsert(
    db: impl PgExecutor<'_>,
    item_id: Uuid,
    suggestion: &Suggestion,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "insert into suggestions as s (item_id, source, labels, scores) values ($1, $2, $3, $4)
         on conflict (item_id, source) do update
            set labels = excluded.labels, scores = excluded.scores, created_at = now()
         returning (xmax <> 0)",
    )
    .bind(item_id)
    .bind(&suggestion.source)
    .bind(Json(&suggestion.labels))
    .bind(Json(&suggestion.scores))
    .fetch_one(db)
    .await
}

#[derive(sqlx::FromRow)]
struct Row {
    source: String,
    labels: Json<safepref_core::labels::Labels>,
    scores: Json<Scores>,
}

impl From<Row> for Suggestion {
    fn from(row: Row) -> Self {
        Suggestion {
            source: row.source,
            labels: row.labels.0,
            scores: row.scores.0,
        }
    }
}

/// Every suggestion for an item, by source name.
pub async fn of_item(
    db: impl PgExecutor<'_>,
    item_id: Uuid,
) -> Result<Vec<Suggestion>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "select source, labels, scores from suggestions where item_id = $1 order by source",
    )
    .bind(item_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Suggestion::from).collect())
}

/// One source's suggestion for an item.
pub async fn from_source(
    db: impl PgExecutor<'_>,
    item_id: Uuid,
    source: &str,
) -> Result<Option<Suggestion>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "select source, labels, scores from suggestions where item_id = $1 and source = $2",
    )
    .bind(item_id)
    .bind(source)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Suggestion::from))
}

/// What the routing rule saved in a project.
#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
pub struct RoutingSavings {
    /// Items the rule finished with one human annotation.
    pub routed_items: i64,
    /// Human annotations not asked for: k − 1 per routed item (items a lead
    /// sent back for more are not counted).
    pub annotations_saved: i64,
}

pub async fn routing_savings(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    k: i32,
) -> Result<RoutingSavings, sqlx::Error> {
    sqlx::query_as(
        "select count(*) as routed_items, coalesce(sum(greatest($2 - i.done, 0)), 0)::bigint as annotations_saved
           from items i
          where i.project_id = $1 and i.routed and i.state <> 'pending' and i.extra_annotations = 0",
    )
    .bind(project_id)
    .bind(k)
    .fetch_one(db)
    .await
}

/// The sources that have suggested for a project's items, with how many
/// items each covers.
pub async fn sources(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select s.source, count(*) from suggestions s join items i on i.id = s.item_id
          where i.project_id = $1 group by s.source order by s.source",
    )
    .bind(project_id)
    .fetch_all(db)
    .await
}

/// The project's item ids for keys of a side file: `item_ids` are checked
/// to be the project's, `external_ids` looked up; None where there is no
/// such item. Both lists are answered in order.
pub async fn resolve(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    item_ids: &[Option<Uuid>],
    external_ids: &[Option<String>],
) -> Result<Vec<Option<Uuid>>, sqlx::Error> {
    sqlx::query_scalar(
        "select coalesce(
                    (select i.id from items i where k.item_id is not null and i.id = k.item_id
                                                and i.project_id = $1),
                    (select i.id from items i where k.external_id is not null and i.project_id = $1
                                                and i.external_id = k.external_id order by i.seq limit 1))
           from unnest($2::uuid[], $3::text[]) with ordinality k(item_id, external_id, n)
          order by k.n",
    )
    .bind(project_id)
    .bind(item_ids)
    .bind(external_ids)
    .fetch_all(db)
    .await
}

/// Stores many suggestions at once, each replacing its source's earlier one
/// for the item (the pairs must be distinct). Returns how many replaced one.
pub async fn upsert_many(
    db: impl PgExecutor<'_>,
    item_ids: &[Uuid],
    suggestions: &[&Suggestion],
) -> Result<i64, sqlx::Error> {
    let sources: Vec<&str> = suggestions.iter().map(|s| s.source.as_str()).collect();
    let labels: Vec<Json<&safepref_core::labels::Labels>> =
        suggestions.iter().map(|s| Json(&s.labels)).collect();
    let scores: Vec<Json<&Scores>> = suggestions.iter().map(|s| Json(&s.scores)).collect();
    sqlx::query_scalar(
        "with stored as (
             insert into suggestions as s (item_id, source, labels, scores)
             select * from unnest($1::uuid[], $2::text[], $3::jsonb[], $4::jsonb[])
             on conflict (item_id, source) do update
                set labels = excluded.labels, scores = excluded.scores, created_at = now()
             returning (xmax <> 0) as replaced
         )
         select count(*) filter (where replaced) from stored",
    )
    .bind(item_ids)
    .bind(&sources)
    .bind(&labels)
    .bind(&scores)
    .fetch_one(db)
    .await
}

/// The project of an item, if there is such an item.
pub async fn project_of_item(
    db: impl PgExecutor<'_>,
    item_id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("select project_id from items where id = $1")
        .bind(item_id)
        .fetch_optional(db)
        .await
}

/// One suggestion's labels, for the report's model-vs-people figures.
#[derive(Debug, sqlx::FromRow)]
pub struct ScopeRow {
    pub item_id: Uuid,
    pub source: String,
    pub labels: Json<Labels>,
}

/// The suggestions for a project's items (one batch's, or all), streamed
/// in item order, so the report holds them compactly rather than as rows.
pub fn in_scope<'e, E>(
    db: E,
    project_id: Uuid,
    batch: Option<i32>,
) -> BoxStream<'e, Result<ScopeRow, sqlx::Error>>
where
    E: PgExecutor<'e> + 'e,
{
    sqlx::query_as(
        "select s.item_id, s.source, s.labels from suggestions s join items i on i.id = s.item_id
          where i.project_id = $1 and ($2::int is null or i.batch_seq = $2)
          order by s.item_id, s.source",
    )
    .bind(project_id)
    .bind(batch)
    .fetch(db)
}
