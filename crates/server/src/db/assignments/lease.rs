//! Leasing: the annotator's live lease renewed or a new one taken, in one
//! call of the `lease_item` function; the lease's columns read back (also
//! for the lease `submit_and_lease` makes).

use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{ItemContent, LeaseRow};

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
pub(super) struct LeaseResult {
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
    pub(super) fn read(row: &PgRow, names: &[&str; 10]) -> Result<Self, sqlx::Error> {
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

    pub(super) fn outcome(self) -> LeaseOutcome {
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

pub(super) const LEASE_COLUMNS: [&str; 10] = [
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
pub(super) const NEXT_LEASE_COLUMNS: [&str; 10] = [
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
/// function (sql/functions/lease_item.sql), one round trip, one transaction.
/// Its first read says which path the lease takes (a pause, a live lease, the
/// cursor). Renewing and drawing gold are statements of their own, run only
/// when needed; the rest is one statement, and the last stage (below) a
/// second, run only when that found nothing. Nothing happens while a lead
/// has paused the annotator in the project (read first, with no lock):
///
/// 1. `renewed`: their live lease, if any, gets a fresh expiry (coming back
///    gives the same item; a lease past its time but not yet swept still
///    holds its slot, so it is simply taken up again).
/// 2. otherwise `candidate`: when `gold.draw` (the caller drew a gold item), a
///    gold item this annotator has not had (`drawn`; gold items are not bounded
///    by k: every annotator may get each once); else, or if none is left, the
///    first free regular item in queue order (gold items are regular items
///    unless `gold.mixed`) — pending, `done + leased < k + extra_annotations`
///    (a lead's send-back asks for more), not one this annotator holds,
///    submitted or skipped: among the first 100 started items with room
///    (`started_candidate`, most annotations first), else the first new one
///    (`new_candidate`, batch order; `done < 1` is `done = 0` written as a
///    range, which only the queue's index serves in this order). The window
///    bounds the work: an annotator who runs ahead of the others has labelled
///    most started items, and looking at all of them on every lease made each
///    lease dearer the further ahead they were. Only when the window and the
///    new items give nothing, every pending item below its wanted number (the
///    function's last statement: batch and file order, no window; gold items
///    too), from the annotator's cursor (`lease_cursors`: before it, nothing is
///    pending that they have not finished; a reopened item makes every cursor
///    of the project stale through `queue_epochs`), so the lease never strands
///    work: "nothing left" means no pending item exists that this annotator may
///    take. Each is locked `for no key update skip locked`, so concurrent
///    leases (in any process) never wait for each other and never get the same
///    row. PostgreSQL re-checks the counters on the newest row version before
///    it hands the row over.
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
