//! Submitting: an annotation stored (and, with `submit_and_lease`, the next
//! lease taken) in one call of the SQL function, and an item the routing
//! rule settles completed.

use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{FromRow, PgConnection, PgExecutor, Postgres, Row};
use uuid::Uuid;

use super::AssignmentState;
use super::lease::{LeaseOutcome, LeaseResult, NEXT_LEASE_COLUMNS};
use crate::db::items::ItemState;
use crate::db::review::shard_of;

/// What a submit found and did (see [`submit`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubmitResult {
    pub item_id: Uuid,
    /// The assignment's state before the call.
    #[sqlx(try_from = "String")]
    pub state: AssignmentState,
    pub expired: bool,
    pub done: i32,
    pub leased: i32,
    #[sqlx(try_from = "String")]
    pub item_state: ItemState,
    /// Annotations the item asks for (k + extra).
    pub wanted: i32,
    /// A gold item of a project that mixes gold in.
    pub gold: bool,
    /// A lead has adjudicated the item.
    pub adjudicated: bool,
    /// The new annotation, when it was stored.
    pub annotation_id: Option<Uuid>,
    /// The annotation this assignment had already, and its submission id.
    pub existing_id: Option<Uuid>,
    pub existing_submission: Option<Uuid>,
}

/// What a new annotation records.
#[derive(Debug, Clone)]
pub struct NewAnnotation<'a> {
    pub id: Uuid,
    pub project_id: Uuid,
    pub annotator: Uuid,
    pub assignment_id: Uuid,
    pub submission_id: Uuid,
    /// The labels as JSON text.
    pub labels: &'a str,
    pub seconds_spent: Option<f64>,
    pub k: i32,
    /// The project mixes gold items in: they take any annotator's submit.
    pub gold_mixed: bool,
    /// What the project shows annotators (`queue::shown_policy`): the
    /// display mode (`Display::as_str`), recorded as the annotation's
    /// `suggestion_mode` if the item has a suggestion from `source` (None:
    /// from any source), else blind.
    pub display: &'static str,
    pub source: Option<&'a str>,
}

/// Stores the annotation if the assignment may still be submitted: one
/// call of the `submit_annotation` function (sql/functions/submit_annotation.sql), so one round
/// trip — and, on the pool, one transaction. None: the assignment is not
/// the annotator's in the project.
///
/// The function first locks the item of the assignment (waiting for it,
/// holding nothing else), then reads and changes the assignment and the
/// item in a statement whose snapshot is taken under that lock; every change
/// of an assignment's state happens under its item's lock, so what it reads
/// is current and stays so until commit.
///
/// Accepted: a lease (live, or past its time but not yet swept: its slot is
/// still held), or an expired lease while the item has a free slot (a late
/// submit). A gold item, in a project that mixes gold in, has a place for
/// every annotator: it takes any submission of a lease on it (it still
/// completes at k, once, for progress). The item's counters move with it:
/// `done + 1`, `leased - 1` for a lease, `complete` at k (counted in
/// `project_progress`, in a shard picked by the annotation id's random last
/// byte; that row's lock is the last lock the transaction takes). Refused
/// on a live lease (the item was completed or adjudicated under it): the
/// lease is ended and its slot freed. Refused on an expired lease: the
/// submission id is remembered, so a retry of it is refused too.
pub async fn submit(
    db: impl PgExecutor<'_>,
    new: &NewAnnotation<'_>,
) -> Result<Option<SubmitResult>, sqlx::Error> {
    let sql =
        "select * from submit_annotation($1, $2, $3, $4, $5, $6::json, $7, $8, $9, $10, $11, $12)";
    match bind_submit(sqlx::query(sql), new)
        .fetch_optional(db)
        .await?
    {
        Some(row) => Ok(Some(SubmitResult::from_row(&row)?)),
        None => Ok(None),
    }
}

/// [`submit`], then, in the same transaction and round trip, the
/// annotator's next lease in the project ([`super::lease()`] with no gold draw) when
/// the submit stored the annotation or finds the same submission stored
/// (`submit_and_lease`, sql/functions/submit_and_lease.sql). The lease comes after the submit's
/// last lock and takes its item `skip locked`, so the lock rules in
/// `crate::queue` hold. None: the assignment is not the annotator's in the
/// project; the outcome is None when no lease was tried.
pub async fn submit_and_lease(
    db: impl PgExecutor<'_>,
    new: &NewAnnotation<'_>,
    lease_seconds: i32,
    next_id: Uuid,
) -> Result<Option<(SubmitResult, Option<LeaseOutcome>)>, sqlx::Error> {
    let sql = "select * from submit_and_lease($1, $2, $3, $4, $5, $6::json, $7, $8, $9, $10, $11, $12, $13, $14)";
    let Some(row) = bind_submit(sqlx::query(sql), new)
        .bind(lease_seconds)
        .bind(next_id)
        .fetch_optional(db)
        .await?
    else {
        return Ok(None);
    };
    let tried = row
        .try_get::<Option<i64>, _>(NEXT_LEASE_COLUMNS[1])?
        .is_some();
    let next = if tried {
        Some(LeaseResult::read(&row, &NEXT_LEASE_COLUMNS)?.outcome())
    } else {
        None
    };
    Ok(Some((SubmitResult::from_row(&row)?, next)))
}

/// The submit's twelve arguments, in `submit_annotation`'s order.
fn bind_submit<'q>(
    query: Query<'q, Postgres, PgArguments>,
    new: &'q NewAnnotation<'_>,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(new.assignment_id)
        .bind(new.id)
        .bind(new.project_id)
        .bind(new.annotator)
        .bind(new.submission_id)
        .bind(new.labels)
        .bind(new.seconds_spent)
        .bind(new.k)
        .bind(shard_of(new.id))
        .bind(new.gold_mixed)
        .bind(new.display)
        .bind(new.source)
}

/// Completes a pending item that the routing rule settled with its first
/// annotation (marked `routed`), counting it in `project_progress` like a
/// submit that reaches k. Call it holding the item's lock, in the submit's
/// transaction, after [`submit`].
pub async fn complete_routed(
    conn: &mut PgConnection,
    item_id: Uuid,
    project_id: Uuid,
    shard_seed: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "with routed as (
             update items set state = 'complete', routed = true
              where id = $1 and state = 'pending'
          returning id
         )
         insert into project_progress as p (project_id, shard, complete)
         select $2, $3, 1 from routed
         on conflict (project_id, shard) do update set complete = p.complete + 1",
    )
    .bind(item_id)
    .bind(project_id)
    .bind(shard_of(shard_seed))
    .execute(conn)
    .await?;
    Ok(())
}
