//! What the lead's review reads and writes: paused annotators, requeue
//! (invalidating an annotator's annotations), send-back, the review queue's
//! candidate items, an item's annotations for the review page, and an
//! annotator's recent work. The locking rules are those of `crate::queue`.
//!
//! The parts: `annotators` (pause, resume, requeue, an annotator's work),
//! `item` (one item: its lock and state, and what its review page shows),
//! `flags` (the stored review flags and the candidates they are computed
//! from) and `queue` (the review queue's filtered pages).

mod annotators;
mod flags;
mod item;
mod queue;

use uuid::Uuid;

pub use annotators::{
    Requeued, Work, WorkBatch, WorkCounts, pause, requeue, resume, work, work_batches, work_counts,
};
pub use flags::{
    Candidate, Flag, FlagsState, candidates, changed_items, clear_flags, flags_state, insert_flags,
    lock_flags, save_flags_state,
};
pub use item::{
    ItemAnnotation, ItemDetail, LockedItem, Skip, add_progress, item, item_annotations, item_skips,
    lock_item, set_item_state,
};
pub use queue::{QueueEntry, QueueFilter, queue_page, votes};

/// Shards of `project_progress` (migration 0003); every statement that
/// counts progress picks one with [`shard_of`].
const PROGRESS_SHARDS: u8 = 16;

/// A shard for a progress change, picked from a random id.
pub fn shard_of(id: Uuid) -> i16 {
    i16::from(id.as_bytes()[15] % PROGRESS_SHARDS)
}
