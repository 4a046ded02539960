//! A lead's actions on one annotator in a project — pause, resume, requeue
//! (invalidating their annotations in chosen batches) — and the list of
//! their work the annotator's page shows.

use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::items::ItemState;

// Whether an annotator is paused is read by the lease statement itself
// (`db::assignments::lease`).

/// Pauses the annotator in the project; false if they were paused already.
pub async fn pause(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    annotator: Uuid,
    by: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "insert into paused_annotators (project_id, annotator_id, paused_by) values ($1, $2, $3)
         on conflict do nothing",
    )
    .bind(project_id)
    .bind(annotator)
    .bind(by)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Lets the annotator work again; false if they were not paused.
pub async fn resume(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    annotator: Uuid,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("delete from paused_annotators where project_id = $1 and annotator_id = $2")
            .bind(project_id)
            .bind(annotator)
            .execute(db)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// A batch in which the annotator has valid annotations.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkBatch {
    pub batch_seq: i32,
    pub file_name: String,
    pub annotations: i64,
}

pub async fn work_batches(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    annotator: Uuid,
) -> Result<Vec<WorkBatch>, sqlx::Error> {
    sqlx::query_as(
        "select i.batch_seq, b.file_name, count(*) as annotations
           from annotations a join items i on i.id = a.item_id join batches b on b.id = i.batch_id
          where a.project_id = $1 and a.annotator_id = $2 and a.invalidated_at is null
          group by i.batch_seq, b.file_name
          order by i.batch_seq",
    )
    .bind(project_id)
    .bind(annotator)
    .fetch_all(db)
    .await
}

/// What a requeue did.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Requeued {
    /// The annotations marked invalid.
    pub annotations: Vec<Uuid>,
    /// Items that were complete and are pending again.
    pub reopened: i64,
}

/// Marks the annotator's valid annotations on items of `batches` invalid,
/// gives their slots back (`done - 1`; a complete item is pending again
/// and `project_progress` loses it), in ONE statement. Items are locked in
/// id order first, like `db::assignments::release` (queue rule 1); the
/// progress shard is the last lock. The annotator's assignments stay
/// `submitted`, so the queue never gives them these items again.
pub async fn requeue(
    conn: &mut PgConnection,
    project_id: Uuid,
    annotator: Uuid,
    batches: &[i32],
    by: Uuid,
    reason: &str,
    shard: i16,
) -> Result<Requeued, sqlx::Error> {
    sqlx::query_as(
        "with locked as (
             select i.id, i.state from items i
              where i.id in (select a.item_id from annotations a join items j on j.id = a.item_id
                              where a.project_id = $1 and a.annotator_id = $2
                                and a.invalidated_at is null and j.batch_seq = any($3))
              order by i.id
                for no key update
         ),
         invalid as (
             update annotations a set invalidated_at = now(), invalidated_by = $4, invalid_reason = $5
               from locked
              where a.item_id = locked.id and a.annotator_id = $2 and a.invalidated_at is null
          returning a.id, a.item_id
         ),
         -- A complete item goes back to pending only if it now has fewer
         -- valid annotations than it wants: a gold item (which takes every
         -- annotator's submit) can have more, and a pending item that no
         -- one may take would never complete.
         counted as (
             update items i
                set done = i.done - 1,
                    state = case when i.state = 'complete'
                                  and i.done - 1 < (select p.annotations_per_item from projects p where p.id = $1)
                                                   + i.extra_annotations
                                 then 'pending'::item_state else i.state end
               from invalid where i.id = invalid.item_id
          returning i.id, i.state
         ),
         reopened as (
             select count(*) as n from counted join locked on locked.id = counted.id
              where locked.state = 'complete' and counted.state = 'pending'
         ),
         progress as (
             insert into project_progress as p (project_id, shard, complete)
             select $1, $6, -n from reopened where n > 0
             on conflict (project_id, shard) do update set complete = p.complete + excluded.complete
         )
         select coalesce((select array_agg(id order by id) from invalid), '{}') as annotations,
                (select n from reopened) as reopened",
    )
    .bind(project_id)
    .bind(annotator)
    .bind(batches)
    .bind(by)
    .bind(reason)
    .bind(shard)
    .fetch_one(conn)
    .await
}

/// One of an annotator's annotations in a project.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Work {
    pub annotation_id: Uuid,
    pub item_id: Uuid,
    pub prompt_start: String,
    pub item_state: ItemState,
    pub submitted_at: OffsetDateTime,
    pub seconds_spent: Option<f64>,
    pub invalidated_at: Option<OffsetDateTime>,
    pub invalid_reason: Option<String>,
}

/// The annotator's annotations in the project (invalid ones too), newest
/// first; uses `annotations_annotator_idx`.
pub async fn work(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    annotator: Uuid,
    limit: i64,
    offset: i64,
) -> Result<Vec<Work>, sqlx::Error> {
    sqlx::query_as(
        "select a.id as annotation_id, a.item_id, left(i.prompt, 120) as prompt_start,
                i.state as item_state, a.submitted_at, a.seconds_spent, a.invalidated_at,
                a.invalid_reason
           from annotations a join items i on i.id = a.item_id
          where a.project_id = $1 and a.annotator_id = $2
          order by a.submitted_at desc, a.id desc
          limit $3 offset $4",
    )
    .bind(project_id)
    .bind(annotator)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

/// The annotator's counts in the project.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct WorkCounts {
    pub total: i64,
    pub invalid: i64,
    pub live_leases: i64,
    pub paused: bool,
}

pub async fn work_counts(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    annotator: Uuid,
) -> Result<WorkCounts, sqlx::Error> {
    sqlx::query_as(
        "select (select count(*) from annotations where project_id = $1 and annotator_id = $2) as total,
                (select count(*) from annotations
                  where project_id = $1 and annotator_id = $2 and invalidated_at is not null) as invalid,
                (select count(*) from assignments
                  where project_id = $1 and annotator_id = $2 and state = 'leased') as live_leases,
                exists (select 1 from paused_annotators where project_id = $1 and annotator_id = $2) as paused",
    )
    .bind(project_id)
    .bind(annotator)
    .fetch_one(db)
    .await
}
