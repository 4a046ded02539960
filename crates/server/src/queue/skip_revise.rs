//! Skipping an item with a reason, an annotator's progress and recent work, and revising a recent submission.

use safepref_core::labels::Labels;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::submit::{check_labels, labels_json};
use super::{LeasedItem, MAX_SKIP_NOTE_CHARS, QueueError};
use crate::db::{self, projects::Project};

/// Why an annotator skipped an item (recorded for leads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    Unclear,
    WrongLanguage,
    TooDisturbing,
    Other,
}

impl SkipReason {
    pub const ALL: [SkipReason; 4] = [
        SkipReason::Unclear,
        SkipReason::WrongLanguage,
        SkipReason::TooDisturbing,
        SkipReason::Other,
    ];

    /// The stored name (the `skip_reason` enum in SQL; the JSON value).
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Unclear => "unclear",
            SkipReason::WrongLanguage => "wrong_language",
            SkipReason::TooDisturbing => "too_disturbing",
            SkipReason::Other => "other",
        }
    }

    /// As a person reads it.
    pub fn label(self) -> &'static str {
        match self {
            SkipReason::Unclear => "Unclear",
            SkipReason::WrongLanguage => "Wrong language",
            SkipReason::TooDisturbing => "Too disturbing",
            SkipReason::Other => "Other",
        }
    }
}

/// Gives the item back with a reason; it never comes back to this
/// annotator. Repeating a skip is harmless; skipping what was submitted is
/// refused.
pub async fn skip(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
    assignment_id: Uuid,
    reason: SkipReason,
    note: Option<&str>,
) -> Result<(), QueueError> {
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if let Some(note) = note {
        let chars = note.chars().count();
        if chars > MAX_SKIP_NOTE_CHARS {
            return Err(QueueError::NoteTooLong { chars });
        }
        if note.contains('\0') {
            return Err(QueueError::NoteHasNul);
        }
    }
    let mut tx = pool.begin().await?;
    db::assignments::lock_item(&mut *tx, assignment_id, annotator, project.id)
        .await?
        .ok_or(QueueError::NoSuchAssignment)?;
    let before = db::assignments::skip(&mut *tx, assignment_id, reason.as_str(), note).await?;
    if before == crate::db::assignments::AssignmentState::Submitted {
        return Err(QueueError::SkipAfterSubmit);
    }
    tx.commit().await?;
    Ok(())
}

/// An annotator's progress in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Submitted today (UTC) in this project.
    pub done_today: i64,
    pub done_in_project: i64,
    pub project_items: i64,
    /// Items with all their annotations (or adjudicated).
    pub project_complete: i64,
}

pub async fn progress(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
) -> Result<Progress, QueueError> {
    let row = db::annotations::progress(pool, project.id, annotator).await?;
    Ok(Progress {
        done_today: row.done_today,
        done_in_project: row.done_in_project,
        project_items: row.project_items,
        project_complete: row.project_complete,
    })
}

/// One of the annotator's recent submissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recent {
    pub annotation_id: Uuid,
    pub item_id: Uuid,
    /// The first 120 characters of the prompt.
    pub prompt_start: String,
    #[serde(with = "time::serde::rfc3339")]
    pub submitted_at: OffsetDateTime,
    /// Within the project's `revisable_recent` newest and not adjudicated.
    pub revisable: bool,
}

/// The annotator's newest submissions in the project, newest first.
pub async fn recent(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
    limit: i64,
) -> Result<Vec<Recent>, QueueError> {
    let rows = db::annotations::recent(
        pool,
        project.id,
        annotator,
        project.revisable_recent,
        limit.clamp(0, 1000),
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Recent {
            annotation_id: r.annotation_id,
            item_id: r.item_id,
            prompt_start: r.prompt_start,
            submitted_at: r.submitted_at,
            revisable: r.revisable,
        })
        .collect())
}

/// The annotation with its item, for the revise form;
/// [`QueueError::NoSuchAnnotation`] unless it is the annotator's own.
pub async fn annotation_for_revision(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
    annotation_id: Uuid,
) -> Result<(LeasedItem, Labels), QueueError> {
    let own = db::annotations::own_with_item(pool, project.id, annotator, annotation_id)
        .await?
        .ok_or(QueueError::NoSuchAnnotation)?;
    let labels: Labels =
        serde_json::from_value(own.labels).map_err(|e| QueueError::Internal(e.into()))?;
    Ok((own.item.into(), labels))
}

/// Replaces the labels of one of the annotator's submissions: only within
/// their `revisable_recent` newest in the project and while the item is not
/// adjudicated. The audit log records before and after.
pub async fn revise(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
    annotation_id: Uuid,
    labels: &Labels,
) -> Result<(), QueueError> {
    check_labels(project, labels)?;
    let after = labels_json(labels)?;
    let mut tx = pool.begin().await?;
    let found = db::annotations::lock_for_revision(&mut *tx, project.id, annotator, annotation_id)
        .await?
        .ok_or(QueueError::NoSuchAnnotation)?;
    if found.adjudicated {
        return Err(QueueError::RevisionAdjudicated);
    }
    // The expected answer was shown after the submit: a changed answer
    // would measure nothing.
    if found.gold && project.gold_feedback {
        return Err(QueueError::GoldAnswerFinal);
    }
    let allowed = i64::from(project.revisable_recent);
    if found.newer >= allowed {
        return Err(QueueError::RevisionTooOld { allowed });
    }
    if found.labels == after {
        return Ok(());
    }
    db::annotations::set_labels(&mut *tx, annotation_id, &after).await?;
    db::audit::record(
        &mut *tx,
        Some(annotator),
        "annotation revised",
        &format!("annotation:{annotation_id}"),
        Some(found.labels),
        Some(after),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
