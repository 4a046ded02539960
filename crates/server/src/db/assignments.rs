//! The `assignments` table (leases) and the queue counters on `items`.
//!
//! The locking rules these statements follow, and why they cannot deadlock,
//! are set out in `crate::queue`; each function says which rule it relies on.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{FromRow, PgConnection, PgExecutor, Postgres, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::items::ItemState;
use super::projects::{Project, ProjectRow};

/// Where a lease stands (the `assignment_state` type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "assignment_state", rename_all = "snake_case")]
pub enum AssignmentState {
    Leased,
    Submitted,
    Skipped,
    Expired,
}

/// For a column that holds the state as text (`submit_annotation`'s).
impl TryFrom<String> for AssignmentState {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "leased" => Ok(Self::Leased),
            "submitted" => Ok(Self::Submitted),
            "skipped" => Ok(Self::Skipped),
            "expired" => Ok(Self::Expired),
            _ => Err(format!("no assignment state {s:?}")),
        }
    }
}

/// The columns of an item as an annotator sees it, for `ItemContent`; `i`
/// is the item. A macro, so statements stay `&'static str`.
macro_rules! item_content {
    () => {
        // Responses as arrays in key order: no JSON to build and parse, no
        // sort. `severe` is stored (migration 0021).
        "i.id as item_id, i.prompt, i.prompt_source,
         array(select r.position from responses r where r.item_id = i.id order by r.position) as positions,
         array(select r.text from responses r where r.item_id = i.id order by r.position) as texts,
         i.severe"
    };
}
pub(crate) use item_content;

/// An item with its responses, as an annotator sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemContent {
    pub item_id: Uuid,
    pub prompt: String,
    pub prompt_source: Option<String>,
    /// The responses' positions and texts, in position order.
    pub positions: Vec<i16>,
    pub texts: Vec<String>,
    /// The source labels say severity 3 for some response.
    pub severe: bool,
}

/// A live lease with its item.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LeaseRow {
    pub assignment_id: Uuid,
    pub expires_at: OffsetDateTime,
    #[sqlx(flatten)]
    pub item: ItemContent,
}

/// How a lease treats gold items.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoldMode {
    /// The project mixes gold items in at a rate: they are leased only by
    /// the gold draw, not as regular items (with no rate, they are
    /// ordinary items).
    pub mixed: bool,
    /// This lease should be a gold item if one is left for the annotator.
    pub draw: bool,
}

/// What one lease statement found.
#[derive(Debug)]
pub enum LeaseOutcome {
    /// The annotator's lease: the live one (renewed) or a new one.
    Leased(LeaseRow),
    /// No item is free for this annotator.
    Empty,
    /// An item was locked but the lease could not be written, because the
    /// same annotator leased it at the same moment; or a free item exists
    /// but other transactions held every such row for a moment: try again.
    Raced,
    /// A lead paused this annotator in the project: nothing was leased or
    /// renewed.
    Paused,
}

/// The lease's columns as `lease_item` returns them; `submit_and_lease`
/// returns the same with the prefix `next_`.
struct LeaseResult {
    paused: bool,
    found: i64,
    assignment_id: Option<Uuid>,
    expires_at: Option<OffsetDateTime>,
    item_id: Option<Uuid>,
    prompt: Option<String>,
    prompt_source: Option<String>,
    positions: Option<Vec<i16>>,
    texts: Option<Vec<String>>,
    severe: Option<bool>,
}

impl LeaseResult {
    /// Reads the lease from `row`'s columns of these names
    /// ([`LEASE_COLUMNS`] or [`NEXT_LEASE_COLUMNS`]).
    fn read(row: &PgRow, names: &[&str; 10]) -> Result<Self, sqlx::Error> {
        Ok(Self {
            paused: row.try_get(names[0])?,
            found: row.try_get(names[1])?,
            assignment_id: row.try_get(names[2])?,
            expires_at: row.try_get(names[3])?,
            item_id: row.try_get(names[4])?,
            prompt: row.try_get(names[5])?,
            prompt_source: row.try_get(names[6])?,
            positions: row.try_get(names[7])?,
            texts: row.try_get(names[8])?,
            severe: row.try_get(names[9])?,
        })
    }

    fn outcome(self) -> LeaseOutcome {
        match (
            self.assignment_id,
            self.expires_at,
            self.item_id,
            self.prompt,
            self.positions,
            self.texts,
        ) {
            (
                Some(assignment_id),
                Some(expires_at),
                Some(item_id),
                Some(prompt),
                Some(positions),
                Some(texts),
            ) => LeaseOutcome::Leased(LeaseRow {
                assignment_id,
                expires_at,
                item: ItemContent {
                    item_id,
                    prompt,
                    prompt_source: self.prompt_source,
                    positions,
                    texts,
                    severe: self.severe.unwrap_or(false),
                },
            }),
            _ if self.paused => LeaseOutcome::Paused,
            _ if self.found > 0 => LeaseOutcome::Raced,
            _ => LeaseOutcome::Empty,
        }
    }
}

const LEASE_COLUMNS: [&str; 10] = [
    "paused",
    "found",
    "assignment_id",
    "expires_at",
    "item_id",
    "prompt",
    "prompt_source",
    "positions",
    "texts",
    "severe",
];
const NEXT_LEASE_COLUMNS: [&str; 10] = [
    "next_paused",
    "next_found",
    "next_assignment_id",
    "next_expires_at",
    "next_item_id",
    "next_prompt",
    "next_prompt_source",
    "next_positions",
    "next_texts",
    "next_severe",
];

/// The annotator's lease in the project: one call of the `lease_item`
/// function (sql/functions/lease_item.sql), one round trip, one transaction; one
/// statement in it, and a second (the last stage below) only when the
/// first found nothing. Nothing happens while a lead has paused the annotator
/// in the project (`paused`, read first, with no lock):
///
/// 1. `renewed`: their live lease, if any, gets a fresh expiry (coming back
///    gives the same item; a lease past its time but not yet swept still
///    holds its slot, so it is simply taken up again).
/// 2. otherwise `candidate`: when `gold.draw` (the caller drew a gold item), a
///    gold item this annotator has not had (`gold_candidate`; gold items
///    are not bounded by k: every annotator may get each once); else, or
///    if none is left, the first free regular item in queue order (gold
///    items are regular items unless `gold.mixed`) —
///    pending, `done + leased < k + extra_annotations` (a lead's send-back
///    asks for more), not one this annotator holds, submitted or
///    skipped: among the first 100 started items (`started_candidate`,
///    most annotations first), else the first new one (`new_candidate`,
///    batch order; `done < 1` is `done = 0` written as a range, which
///    only the queue's index serves in this order). The window bounds the
///    work: an annotator who runs ahead of the others has labelled most
///    started items, and looking at all of them on every lease made each
///    lease dearer the further ahead they were. Only when the window and
///    the new items give nothing, every pending item below its wanted
///    number (the function's second statement: batch and file order, no window; gold
///    items too), from the annotator's cursor (`lease_cursors`: before it,
///    nothing is pending that they have not finished; a reopened item
///    makes every cursor of the project stale through `queue_epochs`), so
///    the lease never strands work: "nothing left" means no pending item
///    exists that this annotator may take. Each is
///    locked `for no key update skip locked`, so
///    concurrent leases (in any process) never wait for each other and
///    never get the same row. PostgreSQL re-checks the counters on the
///    newest row version before it hands the row over.
/// 3. `leased`: the assignment row — new, or the annotator's own expired row
///    for this item taken up again (same id, so a page holding it still works).
/// 4. `counted`: `leased + 1` on the item, whose lock we hold.
///
/// A concurrent lease by the same annotator ends in a unique violation
/// (`assignments_live_idx`) or in [`LeaseOutcome::Raced`]; the caller retries.
pub async fn lease(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    annotator: Uuid,
    k: i32,
    lease_seconds: i32,
    new_id: Uuid,
    gold: GoldMode,
) -> Result<LeaseOutcome, sqlx::Error> {
    let row = sqlx::query("select * from lease_item($1, $2, $3, $4, $5, $6, $7)")
        .bind(project_id)
        .bind(annotator)
        .bind(k)
        .bind(lease_seconds)
        .bind(new_id)
        .bind(gold.draw)
        .bind(gold.mixed)
        .fetch_one(db)
        .await?;
    Ok(LeaseResult::read(&row, &LEASE_COLUMNS)?.outcome())
}

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

/// Shards of `project_progress` (see the migration).
const PROGRESS_SHARDS: u8 = 16;

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
/// annotator's next lease in the project ([`lease`] with no gold draw) when
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
        .bind(i16::from(new.id.as_bytes()[15] % PROGRESS_SHARDS))
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
    .bind(super::review::shard_of(shard_seed))
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks the assignment skipped (from leased: its slot is freed; from
/// expired: it only records the skip, so the item never comes back to this
/// annotator). Returns the state it had. Call after [`lock_item`], in the
/// same transaction, for the reason given at [`submit`].
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

/// The item of one of the annotator's assignments (whatever its state).
pub async fn item_of(
    db: impl PgExecutor<'_>,
    assignment_id: Uuid,
    annotator: Uuid,
) -> Result<Option<ItemContent>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        item_content!(),
        " from assignments a join items i on i.id = a.item_id
          where a.id = $1 and a.annotator_id = $2"
    ))
    .bind(assignment_id)
    .bind(annotator)
    .fetch_optional(db)
    .await
}

/// The project an assignment belongs to, if the assignment is the annotator's.
pub async fn project_of(
    db: impl PgExecutor<'_>,
    assignment_id: Uuid,
    annotator: Uuid,
) -> Result<Option<Project>, sqlx::Error> {
    // `p.*`: `ProjectRow` reads the columns it knows by name.
    sqlx::query_as::<_, ProjectRow>(
        "select p.* from projects p join assignments a on a.project_id = p.id
          where a.id = $1 and a.annotator_id = $2",
    )
    .bind(assignment_id)
    .bind(annotator)
    .fetch_optional(db)
    .await?
    .map(Project::try_from)
    .transpose()
}
