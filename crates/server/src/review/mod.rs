//! The lead's review rules, shared by the review pages: requeue an
//! annotator's work, pause / resume / release / disable an annotator,
//! adjudicate an item, send it back for one more annotation, and the review
//! queue; and what the lead's pages read (the team, an annotator's work,
//! one item). Handlers call these; the SQL is in `db::review` and
//! `db::adjudications`; the locks follow `crate::queue`'s rules. Every
//! failure is a [`ReviewError`].
//!
//! The parts: `annotators` (a lead's actions on one annotator, and their
//! work), `flags` (consolidation, the reasons an item needs review, the
//! stored flags and the queue), `summary` (each queued item's reasons in
//! one line), `query` (the queue's filters as sent), `item` (one item: its
//! page, adjudicate, send back) and `team` (the lead's start page).

mod annotators;
mod error;
mod flags;
mod item;
mod query;
mod summary;
mod team;

use uuid::Uuid;

pub use annotators::*;
pub use error::ReviewError;
pub use flags::*;
pub use item::*;
pub use query::{QueueQuery, given, whole_number};
pub use team::*;

pub use crate::db::adjudications::Adjudication;
pub use crate::db::items::ItemState;
pub use crate::db::review::{
    ItemAnnotation, ItemDetail, QueueEntry, QueueFilter, Skip, Work, WorkBatch, WorkCounts,
};
use crate::db::users::{Role, User};

/// The longest reason a lead may give, in characters (the tables' limit).
pub const MAX_REASON_CHARS: usize = 2_000;

fn subject_user(id: Uuid) -> String {
    format!("user:{id}")
}

/// The audit subject of an item (the audit page filters on it).
pub fn subject_item(id: Uuid) -> String {
    format!("item:{id}")
}

/// A reason must say something and fit the table.
fn check_reason(reason: &str) -> Result<&str, ReviewError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ReviewError::NoReason);
    }
    let chars = reason.chars().count();
    if chars > MAX_REASON_CHARS {
        return Err(ReviewError::ReasonTooLong { chars });
    }
    if reason.contains('\0') {
        return Err(ReviewError::ReasonHasNul);
    }
    Ok(reason)
}

/// Leads act on annotators only; admins on anyone but themselves.
fn check_may_act_on(actor: &User, target: &User) -> Result<(), ReviewError> {
    if actor.id == target.id {
        return Err(ReviewError::OwnAccount);
    }
    if actor.role < Role::Admin && target.role != Role::Annotator {
        return Err(ReviewError::NotAnAnnotator {
            username: target.username.clone(),
            role: target.role,
        });
    }
    Ok(())
}
