//! The `batches` table: one per import.

use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Batch {
    pub id: Uuid,
    pub project_id: Uuid,
    pub seq: i32,
    pub file_name: String,
    pub sha256: String,
    pub rows_read: i32,
    pub items_imported: i32,
    pub duplicates_skipped: i32,
    pub hash_mismatches: i32,
    pub imported_by: Option<String>,
    pub imported_at: OffsetDateTime,
}

const SELECT: &str =
    "select b.id, b.project_id, b.seq, b.file_name, b.sha256, b.rows_read, b.items_imported,
        b.duplicates_skipped, b.hash_mismatches, u.username as imported_by, b.imported_at
     from batches b left join users u on u.id = b.imported_by";

/// What a new batch records.
#[derive(Debug, Clone)]
pub struct NewBatch<'a> {
    pub id: Uuid,
    pub project_id: Uuid,
    pub file_name: &'a str,
    pub sha256: &'a str,
    pub imported_by: Option<Uuid>,
}

/// Inserts a batch (counts filled in by `set_counts`), numbered after the
/// project's last. Call inside the import's transaction, under its lock.
pub async fn insert(db: impl PgExecutor<'_>, batch: &NewBatch<'_>) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "insert into batches (id, project_id, seq, file_name, sha256, rows_read, items_imported, duplicates_skipped, imported_by)
         select $1, $2, coalesce(max(seq), 0) + 1, $3, $4, 0, 0, 0, $5 from batches where project_id = $2
         returning seq",
    )
    .bind(batch.id)
    .bind(batch.project_id)
    .bind(batch.file_name)
    .bind(batch.sha256)
    .bind(batch.imported_by)
    .fetch_one(db)
    .await
}

pub async fn set_counts(
    db: impl PgExecutor<'_>,
    id: Uuid,
    rows_read: i64,
    imported: i64,
    duplicates: i64,
    hash_mismatches: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update batches set rows_read = $2, items_imported = $3, duplicates_skipped = $4, hash_mismatches = $5 where id = $1",
    )
    .bind(id)
    .bind(rows_read as i32)
    .bind(imported as i32)
    .bind(duplicates as i32)
    .bind(hash_mismatches as i32)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Batch>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} where b.id = $1")))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The batch of `project_id` made from a file with this sha256, if any.
pub async fn find_by_sha256(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    sha256: &str,
) -> Result<Option<Batch>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} where b.project_id = $1 and b.sha256 = $2"
    )))
    .bind(project_id)
    .bind(sha256)
    .fetch_optional(db)
    .await
}

/// A batch with its items' progress.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Progress {
    #[sqlx(flatten)]
    pub batch: Batch,
    /// Items nobody has annotated yet.
    pub pending: i64,
    /// Items with some annotations, not yet complete.
    pub in_progress: i64,
    /// Items complete or adjudicated.
    pub complete: i64,
    pub annotations: i64,
}

/// All of a project's batches with their progress, in batch order.
pub async fn with_progress(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
) -> Result<Vec<Progress>, sqlx::Error> {
    page_with_progress(db, project_id, None, 0).await
}

/// A page of a project's batches with their progress, in batch order
/// (`limit` None: all from `offset` on). Only the page's items are counted.
pub async fn page_with_progress(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    limit: Option<i64>,
    offset: i64,
) -> Result<Vec<Progress>, sqlx::Error> {
    sqlx::query_as(
        "with page as (
             select id from batches where project_id = $1 order by seq limit $2 offset $3
         ), per_item as (
             select i.batch_id, i.state, count(a.id) as annotations
             from items i left join annotations a on a.item_id = i.id
             where i.batch_id in (select id from page)
             group by i.id
         ), per_batch as (
             select batch_id,
                    count(*) filter (where state = 'pending' and annotations = 0) as pending,
                    count(*) filter (where state = 'pending' and annotations > 0) as in_progress,
                    count(*) filter (where state <> 'pending') as complete,
                    coalesce(sum(annotations), 0)::bigint as annotations
             from per_item group by batch_id
         )
         select b.id, b.project_id, b.seq, b.file_name, b.sha256, b.rows_read, b.items_imported,
                b.duplicates_skipped, b.hash_mismatches, u.username as imported_by, b.imported_at,
                coalesce(p.pending, 0) as pending, coalesce(p.in_progress, 0) as in_progress,
                coalesce(p.complete, 0) as complete, coalesce(p.annotations, 0) as annotations
         from batches b
         left join users u on u.id = b.imported_by
         left join per_batch p on p.batch_id = b.id
         where b.id in (select id from page)
         order by b.seq",
    )
    .bind(project_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

/// How many batches a project has.
pub async fn count(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from batches where project_id = $1")
        .bind(project_id)
        .fetch_one(db)
        .await
}

pub async fn has_annotations(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from annotations a join items i on i.id = a.item_id where i.batch_id = $1)",
    )
    .bind(id)
    .fetch_one(db)
    .await
}

/// Deletes a batch with its items and responses. The annotations foreign key
/// (on delete restrict) refuses if anything was annotated meanwhile.
pub async fn delete(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("delete from batches where id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Readies an import's transaction: the project can be neither deleted nor
/// imported into by anyone else until it ends (imports into one project
/// take turns), and bulk loading is made cheap.
pub async fn begin_import(tx: &mut PgConnection, project_id: Uuid) -> Result<(), sqlx::Error> {
    super::projects::lock_against_deletion(&mut *tx, project_id).await?;
    prefer_fast_loading(&mut *tx).await?;
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('import:' || $1::text, 0))")
        .bind(project_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Two settings that make bulk loading much cheaper for the server, which
/// is the import's bottleneck; each is skipped where the server refuses it
/// (a savepoint undoes the refusal without aborting the import):
/// - lz4 for compressing long texts, several times faster than pglz;
/// - `session_replication_role = replica` (superusers only, as with the
///   embedded database), which skips the foreign-key check of every row. The
///   rows reference only the batch made in this transaction and a project
///   locked by it, so the checks could never fail. Constraints still hold.
async fn prefer_fast_loading(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    for setting in [
        "default_toast_compression = 'lz4'",
        "session_replication_role = replica",
    ] {
        sqlx::query("savepoint setting").execute(&mut *tx).await?;
        let sql = sqlx::AssertSqlSafe(format!("set local {setting}"));
        match sqlx::query(sql).execute(&mut *tx).await {
            Ok(_) => {
                sqlx::query("release savepoint setting")
                    .execute(&mut *tx)
                    .await?
            }
            Err(_) => {
                sqlx::query("rollback to savepoint setting")
                    .execute(&mut *tx)
                    .await?
            }
        };
    }
    Ok(())
}
