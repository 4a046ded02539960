//! Leasing: the live lease renewed, a gold item drawn, or the next item by the queue's rules (`lease_item`).

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use super::background::release_expired;
use super::{LEASE_ATTEMPTS, LONGEST_PAUSE_SHIFT, Lease, QueueError};
use crate::db::{
    self,
    assignments::{GoldMode, LeaseOutcome},
    projects::Project,
};

/// The caller's live lease in the project if it has one (coming back within
/// the lease gives the same item, and its time starts again), else a new
/// one; None when nothing is left for this annotator. The daily cap's
/// refusal once the annotator has done it today.
pub async fn lease(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
) -> Result<Option<Lease>, QueueError> {
    // The daily cap: "come back tomorrow".
    crate::wellbeing::check_daily_cap(pool, project, annotator).await?;
    let gold = GoldMode {
        mixed: project.gold_rate > 0.0,
        draw: draw_gold(pool, project, annotator).await?,
    };
    let mut swept = false;
    for attempt in 0..LEASE_ATTEMPTS {
        let outcome = db::assignments::lease(
            pool,
            project.id,
            annotator,
            project.annotations_per_item,
            project.lease_seconds,
            Uuid::now_v7(),
            gold,
        )
        .await;
        match outcome {
            Ok(LeaseOutcome::Leased(row)) => return Ok(Some(row.into())),
            // A lead paused this annotator here: no lease, not even the
            // live one.
            Ok(LeaseOutcome::Paused) => return Err(QueueError::Paused),
            // Another request of this annotator leased at the same moment
            // (the next attempt finds its lease), or the only free items
            // were locked for a moment by other transactions (a submit, a
            // lease): try again rather than say nothing is left.
            Ok(LeaseOutcome::Raced) => {
                tokio::time::sleep(pause(attempt)).await;
            }
            // Twin leases of one annotator saving their first cursor at
            // once can deadlock (PostgreSQL ends one): the next attempt
            // finds the other's lease.
            Err(e) if db::unique_violation(&e).is_some() || db::deadlock(&e) => {}
            Ok(LeaseOutcome::Empty) => {
                // Leases past their time may hold the last free slots.
                if !swept {
                    swept = true;
                    if release_expired(pool).await? > 0 {
                        continue;
                    }
                }
                // A sweep running elsewhere, or one that passed an item
                // locked for a moment, may still free a slot this annotator
                // may take: wait for it rather than say nothing is left.
                if attempt + 1 < LEASE_ATTEMPTS
                    && db::assignments::overdue_for(pool, project.id, annotator).await?
                {
                    swept = false;
                    tokio::time::sleep(pause(attempt)).await;
                    continue;
                }
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(QueueError::Busy)
}

/// Whether the annotator's next new item should be a gold item: a
/// Bernoulli draw at the project's gold rate, seeded by the project, the
/// annotator and how many items they have submitted there. So a reload
/// draws the same, annotators differ, and there is no pattern to spot
/// (a fixed "every tenth item" would give gold items away). When no gold
/// item is left for the annotator, the lease falls back to a regular one.
pub(super) async fn draw_gold(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
) -> Result<bool, QueueError> {
    if project.gold_rate <= 0.0 {
        return Ok(false);
    }
    let n = db::annotations::submitted_count(pool, project.id, annotator).await?;
    Ok(gold_draw(project.id, annotator, n) < project.gold_rate)
}

/// A number in [0, 1), uniform and fixed for (project, annotator, n).
pub fn gold_draw(project: Uuid, annotator: Uuid, n: i64) -> f64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(project.as_bytes())
        .chain_update(annotator.as_bytes())
        .chain_update(n.to_le_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_le_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

/// The pause before lease attempt `attempt + 1`: 1, 2, 4 … 64 ms.
fn pause(attempt: usize) -> Duration {
    Duration::from_millis(1 << attempt.min(LONGEST_PAUSE_SHIFT))
}
