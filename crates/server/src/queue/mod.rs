//! The task queue: leasing the next item, submitting, skipping, expiry,
//! revisions, and an annotator's progress. Pages and the JSON API share it.
//!
//! # State
//!
//! - `assignments`: one row per item and annotator — a lease and what became
//!   of it: `leased` → `submitted` | `skipped` | `expired` (and `expired` →
//!   `leased` again, same row and id, if the same annotator gets the item
//!   back, or → `submitted` by a late submit while a slot is free). At most
//!   one `leased` row per annotator and project (a partial unique index).
//! - `items.done` (submitted annotations) and `items.leased` (live leases),
//!   kept by the statements below, so the next item is found by one scan of
//!   `items_queue_idx` (pending items of the project by `done desc,
//!   batch_seq, seq`: closest to k first, then batch and file order), or,
//!   when that finds nothing, by one walk in batch order from the
//!   annotator's cursor (`db::assignments::lease`): the lease never
//!   answers "nothing left" while an item this annotator may take exists.
//!   `state` becomes `complete` when `done` reaches k, and that completion
//!   is counted in `project_progress` (sharded), so progress bars never
//!   count items.
//!
//! # Invariants (docs/ARCHITECTURE.md, "The task queue")
//!
//! The counters and assignment states change only together and only under
//! the item's row lock, and every change keeps `done + leased <= k`: a lease
//! is taken only while `done + leased < k`; a submit either consumes its own
//! lease (`leased - 1, done + 1`) or, for a lease that expired, needs a free
//! slot. Unique `(item_id, annotator_id)` on both `assignments` and
//! `annotations` makes "never two from one annotator" structural, and
//! `annotations.submission_id` is unique, so a repeated submit finds the
//! annotation it made before and answers with it. Nothing is kept in process
//! memory: any number of `safepref serve` processes share the queue.
//!
//! Gold items, in a project with a gold rate, are the one exception to the
//! k bound (with no rate they are ordinary items): each annotator may get
//! every gold item once (so the gold rate can hold for everyone), and a
//! submit on a gold item is taken whatever `done` is. The lease's gold
//! candidate is locked `skip locked` like the regular one, so the lock
//! argument below is unchanged.
//!
//! # Locks, and why there are no deadlocks
//!
//! Rules every statement here follows:
//!
//! 1. A transaction that *waits* for an item lock holds no other item lock
//!    and no assignment row lock at that moment — except `release_all` (and
//!    a lead's release) and `review::requeue`, which take several item locks
//!    in item id order and wait for nothing but item locks (and, last, one
//!    `project_progress` shard).
//! 2. Item locks that are taken while another one is held are taken with
//!    `skip locked` (the lease's candidate; the sweep), i.e. without waiting.
//! 3. An assignment's `state` is changed only by a transaction holding its
//!    item's lock. The one change made without it — renewing the expiry of a
//!    live lease — holds nothing else and waits for nothing after it.
//! 4. After its item lock, a transaction waits at most on unique-index
//!    checks against a concurrent insert of the *same* annotator's lease
//!    (whose transaction holds no lock we hold and waits for nothing) or
//!    of the same submission id (likewise), and — a submit completing its
//!    item — on one `project_progress` shard row, the last lock it takes
//!    (so its holder waits for nothing more).
//!
//! Who waits for whom, then. Lease (one statement) first renews the
//! caller's live lease, before it holds any item lock; that update may wait
//! for a sweep or a sign-out ending the same lease, neither of which waits
//! for the lease. Its candidate item is `skip locked`, so it never waits for
//! an item, and after it it may only wait for a twin lease of the same
//! annotator (rule 4). Submit and skip first wait for their one item, then
//! touch only rows that item's lock guards. A submit that takes the next
//! lease in its transaction (`submit_then_lease`) does so after its last
//! lock, and only when the annotator holds no live lease in the project, so
//! its lease renews nothing: it waits for no item and no lease row, only
//! for a twin lease (rule 4). Revise waits for one item (`for
//! share`), then updates its own annotation. The sweep never waits for an
//! item (`skip locked`); it may wait for a renewal of a lease it is
//! expiring, and a renewal waits for nothing. `release_all` (sign-out) waits
//! for item locks in id order, and every holder of one of those is a
//! transaction of the kinds above, none of which waits for a second item or
//! for anything `release_all` holds. The lead's actions (`crate::review`)
//! follow the same rules: adjudicate and send-back wait for one item (first
//! lock of their transaction) and then touch only that item's rows and,
//! last, one `project_progress` shard; requeue is ordered like
//! `release_all`. Invalidated annotations give their slot back (`done - 1`),
//! so `done` counts valid annotations and `done + leased <= k +
//! extra_annotations` holds throughout. A wait-for cycle would need a
//! transaction that holds an item lock and waits, out of id order, for
//! another; none exists.

mod background;
mod error;
mod lease;
mod skip_revise;
mod submit;

pub use background::*;
pub use error::{BrokenRules, QueueError};
pub use lease::*;
pub use skip_revise::*;
pub use submit::*;

use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::{
    self,
    annotations::ProjectListing,
    assignments::{ItemContent, LeaseRow},
    projects::Project,
    users::User,
};

/// How often `safepref serve` sweeps expired leases.
pub const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// Leases expired per sweep transaction.
const SWEEP_BATCH: i64 = 5_000;
/// Attempts of a lease racing other transactions for the same items. Under
/// leases expiring and swept every few milliseconds beside twenty
/// annotators, five attempts (31 ms in all) were once not enough; ten, with
/// pauses growing to 64 ms, wait up to about a third of a second.
const LEASE_ATTEMPTS: usize = 10;
/// The longest pause between two lease attempts, as a power of two in ms.
const LONGEST_PAUSE_SHIFT: usize = 6;
/// The longest skip note, in characters.
pub const MAX_SKIP_NOTE_CHARS: usize = 2_000;

/// An item as the annotator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeasedItem {
    pub id: Uuid,
    pub prompt: String,
    pub prompt_source: Option<String>,
    pub responses: Vec<LeasedResponse>,
    /// The item's source labels say severity 3 (severe) for some response:
    /// for the content note.
    pub severe: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeasedResponse {
    pub position: i16,
    pub text: String,
}

impl From<ItemContent> for LeasedItem {
    fn from(c: ItemContent) -> Self {
        LeasedItem {
            id: c.item_id,
            prompt: c.prompt,
            prompt_source: c.prompt_source,
            responses: c
                .positions
                .into_iter()
                .zip(c.texts)
                .map(|(position, text)| LeasedResponse { position, text })
                .collect(),
            severe: c.severe,
        }
    }
}

/// An annotator's hold on one item until `expires_at`.
#[derive(Debug, Clone)]
pub struct Lease {
    pub assignment_id: Uuid,
    pub item: LeasedItem,
    pub expires_at: OffsetDateTime,
}

impl From<LeaseRow> for Lease {
    fn from(row: LeaseRow) -> Self {
        Lease {
            assignment_id: row.assignment_id,
            item: row.item.into(),
            expires_at: row.expires_at,
        }
    }
}

/// The item of one of the annotator's assignments, whatever became of it
/// (to show the form again after a refused submit);
/// [`QueueError::NoSuchAssignment`] unless it is theirs.
pub async fn assigned_item(
    pool: &PgPool,
    annotator: Uuid,
    assignment_id: Uuid,
) -> Result<LeasedItem, QueueError> {
    db::assignments::item_of(pool, assignment_id, annotator)
        .await?
        .map(LeasedItem::from)
        .ok_or(QueueError::NoSuchAssignment)
}

/// The project of one of the annotator's assignments;
/// [`QueueError::NoSuchAssignment`] unless it is theirs and they may still
/// see its project (a member removed, or a project made members only, after
/// the lease): a hidden project's assignment answers as a random id does.
pub async fn project_of_assignment(
    pool: &PgPool,
    annotator: Uuid,
    assignment_id: Uuid,
) -> Result<Project, QueueError> {
    db::assignments::project_of(pool, assignment_id, annotator)
        .await?
        .ok_or(QueueError::NoSuchAssignment)
}

/// A project in an annotator's list.
pub type ProjectSummary = ProjectListing;

/// A project as the start page lists it: its items, and how many are
/// complete.
pub use crate::db::projects::Summary as ProjectCounts;

/// The projects on the start page, by name: those the user may see, as in
/// [`projects_for`] (an admin: every project).
pub async fn start_page(pool: &PgPool, user: &User) -> Result<Vec<ProjectCounts>, QueueError> {
    Ok(db::projects::summaries(pool, crate::projects::seen_by(user)).await?)
}

/// The projects the user may work in (`project_visible`), by name.
pub async fn projects_for(pool: &PgPool, user: &User) -> Result<Vec<ProjectSummary>, QueueError> {
    Ok(db::annotations::project_listings(pool, user.id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gold_draw_is_fixed_and_near_uniform() {
        let (project, annotator) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            gold_draw(project, annotator, 7),
            gold_draw(project, annotator, 7)
        );
        let below = (0..10_000)
            .filter(|n| gold_draw(project, annotator, *n) < 0.1)
            .count();
        // Binomial(10000, 0.1): sd 30; five sd either side.
        assert!((850..=1150).contains(&below), "{below}");
    }
}
