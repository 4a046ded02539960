//! Submitting an annotation (alone or with the next lease), with its label rules, gold feedback and the suggestions shown.

use safepref_core::labels::{self, Labels};
use safepref_core::suggestions::{self, Display, Suggestion};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::{BrokenRules, Lease, QueueError};
use crate::db::{
    self,
    assignments::{LeaseOutcome, NewAnnotation, SubmitResult},
    projects::Project,
};

/// What a gold item expected, shown once it is submitted when the project
/// gives feedback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoldFeedback {
    /// One line per statement (see `labels::describe_gold`).
    pub expected: Vec<String>,
    /// The submitted labels got it right (`labels::matches_gold`).
    pub matched: bool,
}

/// The feedback on the annotator's submission of an assignment: None unless
/// the project gives feedback and the item is a gold item.
pub async fn gold_feedback(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
    assignment_id: Uuid,
) -> Result<Option<GoldFeedback>, QueueError> {
    if !project.gold_feedback {
        return Ok(None);
    }
    let Some((given, gold)) =
        db::annotations::gold_of_submission(pool, assignment_id, annotator).await?
    else {
        return Ok(None);
    };
    // Gold that is not a labels object (a lenient import) has nothing to show.
    let (Ok(given), Ok(gold)) = (
        serde_json::from_value::<Labels>(given),
        serde_json::from_value::<Labels>(gold),
    ) else {
        return Ok(None);
    };
    Ok(Some(GoldFeedback {
        expected: labels::describe_gold(&gold),
        matched: labels::matches_gold(&given, &gold),
    }))
}

/// Checks labels against the project's K, taxonomy and questions; the
/// message lists every broken rule, one per line.
pub fn check_labels(project: &Project, labels: &Labels) -> Result<(), BrokenRules> {
    labels::validate(
        labels,
        project.responses_per_item,
        &project.taxonomy,
        &project.questions,
    )
    .map_err(|errors| BrokenRules::listing(&errors))
}

pub(super) fn labels_json(labels: &Labels) -> Result<serde_json::Value, QueueError> {
    serde_json::to_value(labels).map_err(|e| QueueError::Internal(e.into()))
}

/// Stores the annotation for the assignment; returns its id.
///
/// Idempotent on `submission_id`: a repeat gets the same id and stores
/// nothing. Labels are checked with `safepref_core::labels::validate`
/// ([`BrokenRules`] lists every broken rule, one per line). A late submit
/// (the lease expired) is accepted while the item has a free slot, else
/// refused ([`QueueError::TimeRanOut`]). `seconds_spent` is the active time the page measured,
/// clamped to 0..=86400; not finite (NaN) means not measured (stored as null).
pub async fn submit(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
    assignment_id: Uuid,
    submission_id: Uuid,
    labels: &Labels,
    seconds_spent: f64,
) -> Result<Uuid, QueueError> {
    let submitted = submit_then_lease(
        pool,
        project,
        annotator,
        (assignment_id, submission_id),
        labels,
        seconds_spent,
        false,
    )
    .await?;
    Ok(submitted.annotation_id)
}

/// A stored submission, and the annotator's next lease when it was taken
/// in the submit's own transaction.
pub struct Submitted {
    pub annotation_id: Uuid,
    /// None: not asked for, or not given there (the project leases with a
    /// call of its own, or the lease found nothing, a pause or a race): ask
    /// [`super::lease()`], which says why.
    pub next: Option<Lease>,
}

/// [`submit`]; with `lease_next`, also the annotator's next lease in the
/// same transaction and round trip, in projects whose lease needs nothing
/// decided between the two ([`leases_with_submit`]).
pub async fn submit_then_lease(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
    (assignment_id, submission_id): (Uuid, Uuid),
    labels: &Labels,
    seconds_spent: f64,
    lease_next: bool,
) -> Result<Submitted, QueueError> {
    check_labels(project, labels)?;
    let (display, source) = shown_policy(project);
    let labels_text = serde_json::to_string(labels).map_err(|e| QueueError::Internal(e.into()))?;
    let new = NewAnnotation {
        id: Uuid::now_v7(),
        project_id: project.id,
        annotator,
        assignment_id,
        submission_id,
        labels: &labels_text,
        seconds_spent: seconds_spent
            .is_finite()
            .then(|| seconds_spent.clamp(0.0, 86_400.0)),
        k: project.annotations_per_item,
        gold_mixed: project.gold_rate > 0.0,
        display: display.as_str(),
        source,
    };
    // Without a routing rule the call is the whole transaction (one round
    // trip); the rule needs the item's lock until it has decided.
    let (result, tx, next) = if project.suggestions.routing.is_some() {
        let mut tx = pool.begin().await?;
        (
            db::assignments::submit(&mut *tx, &new).await,
            Some(tx),
            None,
        )
    } else if lease_next && leases_with_submit(project) {
        let (result, next) = submit_and_lease(pool, project, &new).await;
        (result, None, next)
    } else {
        (db::assignments::submit(pool, &new).await, None, None)
    };
    let result = match result {
        Ok(result) => result.ok_or(QueueError::NoSuchAssignment)?,
        Err(e) if db::unique_violation(&e).as_deref() == Some("annotations_submission_id_key") => {
            return Err(QueueError::SubmissionIdReused);
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(mut tx) = tx {
        if let Some(id) = result.annotation_id
            && result.done == 0
            && result.wanted > 1
            && result.item_state == crate::db::items::ItemState::Pending
            && !result.gold
        {
            route(&mut tx, project, result.item_id, labels, id).await?;
        }
        tx.commit().await?;
    }
    Ok(Submitted {
        annotation_id: answer(project, &result, submission_id)?,
        next: match next {
            Some(LeaseOutcome::Leased(row)) => Some(row.into()),
            _ => None,
        },
    })
}

/// Whether the next lease can be taken in the submit's transaction: not
/// when the server decides something first ([`lease`]: the gold draw, the
/// daily cap).
pub(super) fn leases_with_submit(project: &Project) -> bool {
    project.gold_rate <= 0.0 && project.wellbeing.daily_cap.is_none()
}

/// `db::assignments::submit_and_lease`. When its lease loses a race (a twin
/// lease of the same annotator at the same moment: a unique violation; or,
/// rarer still, a sign-out of theirs that PostgreSQL resolves as a
/// deadlock), the submit is rolled back with it, so the submit then runs
/// alone and the caller leases as usual.
pub(super) async fn submit_and_lease(
    pool: &PgPool,
    project: &Project,
    new: &NewAnnotation<'_>,
) -> (
    Result<Option<SubmitResult>, sqlx::Error>,
    Option<LeaseOutcome>,
) {
    let outcome =
        db::assignments::submit_and_lease(pool, new, project.lease_seconds, Uuid::now_v7()).await;
    match outcome {
        Ok(Some((result, next))) => (Ok(Some(result)), next),
        Ok(None) => (Ok(None), None),
        Err(e)
            if db::deadlock(&e)
                || db::unique_violation(&e)
                    .is_some_and(|name| name != "annotations_submission_id_key") =>
        {
            (db::assignments::submit(pool, new).await, None)
        }
        Err(e) => (Err(e), None),
    }
}

/// The answer to a submit: the new annotation's id, or the one a repeat of
/// the same submission stored; else why nothing was stored (the function
/// has already ended a dead lease, or remembered a refused late submit so
/// that its retry is refused too).
pub(super) fn answer(
    project: &Project,
    result: &SubmitResult,
    submission_id: Uuid,
) -> Result<Uuid, QueueError> {
    if let Some(id) = result.annotation_id {
        return Ok(id);
    }
    use crate::db::assignments::AssignmentState;
    match result.state {
        AssignmentState::Submitted => match (result.existing_id, result.existing_submission) {
            (Some(id), Some(earlier)) if earlier == submission_id => Ok(id),
            _ => Err(QueueError::AlreadySubmitted),
        },
        AssignmentState::Skipped => Err(QueueError::SubmitAfterSkip),
        // The item was completed or adjudicated under this lease (k was
        // lowered, or a lead decided it): the lease is of no use now.
        AssignmentState::Leased if result.adjudicated => Err(QueueError::AdjudicatedMeanwhile),
        AssignmentState::Leased => Err(QueueError::ItemComplete),
        AssignmentState::Expired => Err(QueueError::TimeRanOut {
            minutes: project.lease_seconds / 60,
        }),
    }
}

/// What annotators of the project are shown of an item's suggestions: the
/// display mode, and the source whose suggestion is shown (None: every
/// source's); blind when nothing is. (Pre-filling needs a source: a policy
/// check refuses it without one.)
pub(super) fn shown_policy(project: &Project) -> (Display, Option<&str>) {
    let policy = &project.suggestions;
    match (policy.display, &policy.source) {
        (Display::Blind, _) | (Display::Prefill, None) => (Display::Blind, None),
        (display, source) => (display, source.as_deref()),
    }
}

/// The suggestions the annotator is shown for an item under the project's
/// policy ([`shown_policy`]).
pub async fn shown_suggestions(
    db: impl sqlx::PgExecutor<'_>,
    project: &Project,
    item_id: Uuid,
) -> Result<Vec<Suggestion>, QueueError> {
    Ok(match shown_policy(project) {
        (Display::Blind, _) => Vec::new(),
        (_, Some(source)) => db::suggestions::from_source(db, item_id, source)
            .await?
            .into_iter()
            .collect(),
        (_, None) => db::suggestions::of_item(db, item_id).await?,
    })
}

/// The routing rule, on an item's first annotation: when the project's
/// routing source is confident and the person agrees with it
/// (`suggestions::settles_at_one`), the item is complete with this one
/// annotation. Runs in the submit's transaction, under the item's lock.
pub(super) async fn route(
    conn: &mut sqlx::PgConnection,
    project: &Project,
    item_id: Uuid,
    given: &Labels,
    annotation_id: Uuid,
) -> Result<(), QueueError> {
    let Some(routing) = &project.suggestions.routing else {
        return Ok(());
    };
    let Some(suggestion) =
        db::suggestions::from_source(&mut *conn, item_id, &routing.source).await?
    else {
        return Ok(());
    };
    if suggestions::settles_at_one(&suggestion, given, routing.threshold) {
        db::assignments::complete_routed(conn, item_id, project.id, annotation_id).await?;
    }
    Ok(())
}
