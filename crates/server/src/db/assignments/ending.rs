//! Ending leases: a skip (after locking its item), the expiry sweep, and
//! releases (at sign-out, or a lead's in one project); and whether a sweep
//! would give an annotator work.

use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::AssignmentState;

/// Locks the item of the annotator's assignment in the project (waiting for
/// it) and returns its id: the first statement of a skip, so that it takes
/// an item lock before anything else and holds no other lock while it
/// waits (a submit does the same inside `submit_annotation`). None: no such
/// assignment of theirs. `item_id` of an assignment never changes, so
/// reading it without a lock is safe.
pub async fn lock_item(
    db: impl PgExecutor<'_>,
    assignment_id: Uuid,
    annotator: Uuid,
    project_id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "select i.id from items i
          where i.id = (select a.item_id from assignments a
                         where a.id = $1 and a.annotator_id = $2 and a.project_id = $3)
            for no key update",
    )
    .bind(assignment_id)
    .bind(annotator)
    .bind(project_id)
    .fetch_optional(db)
    .await
}

/// Marks the assignment skipped (from leased: its slot is freed; from
/// expired: it only records the skip, so the item never comes back to this
/// annotator). Returns the state it had. Call after [`lock_item`], in the
/// same transaction, for the reason given at [`super::submit()`].
pub async fn skip(
    db: impl PgExecutor<'_>,
    assignment_id: Uuid,
    reason: &str,
    note: Option<&str>,
) -> Result<AssignmentState, sqlx::Error> {
    sqlx::query_scalar(
        "with cur as (
             select id, state, item_id from assignments where id = $1
         ),
         skipped as (
             update assignments a
                set state = 'skipped', skip_reason = $2::skip_reason, skip_note = $3, ended_at = now()
               from cur where a.id = cur.id and cur.state in ('leased', 'expired')
         ),
         freed as (
             update items i set leased = i.leased - 1
               from cur where i.id = cur.item_id and cur.state = 'leased'
         )
         select state from cur",
    )
    .bind(assignment_id)
    .bind(reason)
    .bind(note)
    .fetch_one(db)
    .await
}

/// Whether a lease in the project is past its time but not yet swept, on
/// an item the annotator may still take: a sweep would give them work (one
/// that another process was running, or that passed the item because it
/// was locked for a moment). Read from `assignments_expiry_idx`.
pub async fn overdue_for(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    annotator: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (
             select 1 from assignments a
              where a.state = 'leased' and a.expires_at < now() and a.project_id = $1
                and a.annotator_id <> $2
                and not exists (select 1 from assignments mine
                                 where mine.item_id = a.item_id and mine.annotator_id = $2
                                   and mine.state <> 'expired'))",
    )
    .bind(project_id)
    .bind(annotator)
    .fetch_one(db)
    .await
}

/// The advisory lock key of the expiry sweep ("safepref sweep").
const SWEEP_LOCK: i64 = 0x7361_6665_7377_6570;

/// One pass of the expiry sweep, in the caller's transaction: marks up to
/// `limit` leases past their time `expired` and frees their slots. Returns
/// how many, or None when another sweep holds the sweep's lock.
///
/// It never waits for an item: it locks them in id order with `skip locked`
/// (an item busy right now is swept next time), so it takes part in no
/// lock cycle. A lease renewed meanwhile is left alone: PostgreSQL re-checks
/// `expires_at` on the newest row version before updating it.
pub async fn sweep(conn: &mut PgConnection, limit: i64) -> Result<Option<u64>, sqlx::Error> {
    let mine: bool = sqlx::query_scalar("select pg_try_advisory_xact_lock($1)")
        .bind(SWEEP_LOCK)
        .fetch_one(&mut *conn)
        .await?;
    if !mine {
        return Ok(None);
    }
    let ended: i64 = sqlx::query_scalar(
        "with due as (
             select a.item_id from assignments a
              where a.state = 'leased' and a.expires_at < now()
              order by a.expires_at
              limit $1
         ),
         locked as (
             select i.id from items i
              where i.id in (select item_id from due)
              order by i.id
                for no key update skip locked
         ),
         ended as (
             update assignments a set state = 'expired', ended_at = now()
               from locked
              where a.item_id = locked.id and a.state = 'leased' and a.expires_at < now()
          returning a.item_id
         ),
         freed as (
             update items i set leased = i.leased - e.n
               from (select item_id, count(*)::int as n from ended group by item_id) e
              where i.id = e.item_id
         )
         select count(*) from ended",
    )
    .bind(limit)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Some(ended as u64))
}

/// Ends all of an annotator's live leases (at sign-out) and frees their
/// slots; returns how many. Items are locked in id order, like every
/// statement that holds more than one item lock.
pub async fn release_all(db: impl PgExecutor<'_>, annotator: Uuid) -> Result<u64, sqlx::Error> {
    release(db, annotator, None).await
}

/// [`release_all`], limited to one project when `project` is given (a
/// lead releasing an annotator's leases there).
pub async fn release(
    db: impl PgExecutor<'_>,
    annotator: Uuid,
    project: Option<Uuid>,
) -> Result<u64, sqlx::Error> {
    let ended: i64 = sqlx::query_scalar(
        "with locked as (
             select i.id from items i
              where i.id in (select item_id from assignments where annotator_id = $1 and state = 'leased'
                                and ($2::uuid is null or project_id = $2))
              order by i.id
                for no key update
         ),
         ended as (
             update assignments a set state = 'expired', ended_at = now()
               from locked
              where a.item_id = locked.id and a.annotator_id = $1 and a.state = 'leased'
          returning a.item_id
         ),
         freed as (
             update items i set leased = i.leased - 1 from ended where i.id = ended.item_id
         )
         select count(*) from ended",
    )
    .bind(annotator)
    .bind(project)
    .fetch_one(db)
    .await?;
    Ok(ended as u64)
}
