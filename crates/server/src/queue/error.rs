//! What the queue refuses and why, in the annotator's words; `crate::error`
//! turns each into its HTTP answer (not found, conflict, bad request …).

use safepref_core::labels::LabelError;

use super::MAX_SKIP_NOTE_CHARS;
use crate::wellbeing::WellbeingError;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The assignment does not exist, or is another annotator's, or of
    /// another project.
    #[error("there is no such assignment of yours in this project")]
    NoSuchAssignment,
    /// Likewise for an annotation (to revise).
    #[error("there is no such annotation of yours in this project")]
    NoSuchAnnotation,
    /// A lead paused this annotator in the project: no lease, not even the
    /// live one.
    #[error(
        "A lead has paused your work in this project, so no items are given to you for now. \
         Ask your lead when you can continue."
    )]
    Paused,
    /// The daily cap (or the database, while counting today's work).
    #[error(transparent)]
    Wellbeing(#[from] WellbeingError),
    /// Every lease attempt lost a race with other transactions.
    #[error("the queue was busy with other requests for your next item; please try again")]
    Busy,
    #[error(transparent)]
    BrokenRules(#[from] BrokenRules),
    #[error("the note is {chars} characters long; the limit is {MAX_SKIP_NOTE_CHARS}")]
    NoteTooLong { chars: usize },
    #[error("the note contains a NUL character, which cannot be stored")]
    NoteHasNul,
    /// A submission id met again, on another item.
    #[error(
        "this submission id was already used for another item; reload the page and submit again"
    )]
    SubmissionIdReused,
    /// A second submission (another id) for an item already submitted.
    #[error(
        "You have already submitted this item (perhaps from another tab); your labels are saved. \
         To change them, revise it from your recent submissions."
    )]
    AlreadySubmitted,
    #[error("You skipped this item, so it went back to the queue; it can no longer be submitted.")]
    SubmitAfterSkip,
    /// A lead adjudicated the item under the annotator's live lease.
    #[error(
        "A lead has adjudicated this item in the meantime, so these labels could not be saved. \
         Load the next item to continue."
    )]
    AdjudicatedMeanwhile,
    /// The item reached its number under the annotator's live lease (k
    /// was lowered).
    #[error(
        "This item already has all the annotations it needs, so these labels could not be saved. \
         Load the next item to continue."
    )]
    ItemComplete,
    /// A late submit found no free slot.
    #[error(
        "Your time on this item ran out ({minutes} minutes) and other annotators have since taken all of \
         its places, so these labels could not be saved. Load the next item to continue."
    )]
    TimeRanOut { minutes: i32 },
    #[error("You have already submitted this item; there is nothing to skip.")]
    SkipAfterSubmit,
    #[error("A lead has adjudicated this item, so its annotations can no longer be revised.")]
    RevisionAdjudicated,
    /// A gold item's expected answer was shown after the submit: a changed
    /// answer would measure nothing.
    #[error("This was a check item whose expected answer you have seen, so your answer is final.")]
    GoldAnswerFinal,
    /// Older than the project's `revisable_recent` (`allowed`) newest.
    #[error("{}", revision_limit(*.allowed))]
    RevisionTooOld { allowed: i64 },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("an internal error occurred")]
    Internal(#[from] anyhow::Error),
}

fn revision_limit(allowed: i64) -> String {
    match allowed {
        0 => "This project does not allow revising submissions.".into(),
        1 => "Only your most recent submission can be revised; this one is older.".into(),
        n => format!("Only your {n} most recent submissions can be revised; this one is older."),
    }
}

/// Labels that break the project's rules: every broken rule, one per line.
/// Also the review's and the suggestions' refusal, which check labels the
/// same way.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BrokenRules(pub String);

impl BrokenRules {
    /// Every broken rule, one per line.
    pub fn listing(errors: &[LabelError]) -> Self {
        let lines = errors.iter().map(ToString::to_string).collect::<Vec<_>>();
        BrokenRules(lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_revision_limit_in_words() {
        let said = |allowed| QueueError::RevisionTooOld { allowed }.to_string();
        assert_eq!(said(0), "This project does not allow revising submissions.");
        assert_eq!(
            said(1),
            "Only your most recent submission can be revised; this one is older."
        );
        assert_eq!(
            said(3),
            "Only your 3 most recent submissions can be revised; this one is older."
        );
    }
}
