//! What can go wrong in the lead's review: a refused decision (no reason,
//! the wrong person, nothing to requeue, an adjudicated item), an item that
//! is not there, or a failure below (the queue, accounts, the database).
//! `impl From<ReviewError> for AppError` (in `crate::error`) gives each its
//! status.

use super::MAX_REASON_CHARS;
use crate::accounts::AccountsError;
use crate::db::users::Role;
use crate::queue::{BrokenRules, QueueError};

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("give a reason: it goes to the audit log for whoever reads this decision later")]
    NoReason,
    #[error("the reason is {chars} characters long; the limit is {MAX_REASON_CHARS}")]
    ReasonTooLong { chars: usize },
    #[error("the reason contains a NUL character, which cannot be stored")]
    ReasonHasNul,
    #[error("you cannot take this action on your own account")]
    OwnAccount,
    /// A lead acting on a lead or an admin.
    #[error("{username} is a {role}; a lead may act on annotators only. Ask an admin.")]
    NotAnAnnotator { username: String, role: Role },
    /// A filter or page number of the queue that cannot be read; the
    /// message names it.
    #[error("{0}")]
    BadQuery(String),
    #[error("choose at least one batch whose work should be requeued")]
    NoBatchChosen,
    /// The annotator (named) has no valid annotation in the chosen batches.
    #[error("{0} has no valid annotations in the chosen batches; nothing was changed")]
    NothingToRequeue(String),
    /// No such item, or not in the project acted on.
    #[error("there is no such item")]
    NoSuchItem,
    /// Sending back an adjudicated item.
    #[error(
        "This item is adjudicated, and an adjudication wins over any new annotation. \
         To change its labels, adjudicate it again."
    )]
    Adjudicated,
    /// Labels that break one of the project's rules.
    #[error(transparent)]
    BrokenRules(#[from] BrokenRules),
    /// The queue's answer, as it gave it (a failed release).
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The accounts' answer, as they gave it (disabling the last admin).
    #[error(transparent)]
    Accounts(#[from] AccountsError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The adjudicated labels could not be turned into JSON.
    #[error(transparent)]
    Encode(#[from] serde_json::Error),
}
