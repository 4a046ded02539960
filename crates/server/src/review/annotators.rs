//! A lead's actions on one annotator in one project (pause, resume,
//! release, disable, requeue), each audited, and the annotator's work as
//! the page lists it.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::{ReviewError, check_may_act_on, check_reason, subject_user};
use crate::db::{
    self,
    projects::Project,
    review::{Work, WorkBatch, WorkCounts},
    users::User,
};
use crate::{accounts, queue};

/// Pauses the annotator in the project (no new leases there, see
/// queue::lease) or lets them work again; audited when it changes anything.
pub async fn set_paused(
    pool: &PgPool,
    project: &Project,
    actor: &User,
    target: &User,
    paused: bool,
) -> Result<(), ReviewError> {
    check_may_act_on(actor, target)?;
    let mut tx = pool.begin().await?;
    let changed = if paused {
        db::review::pause(&mut *tx, project.id, target.id, actor.id).await?
    } else {
        db::review::resume(&mut *tx, project.id, target.id).await?
    };
    if changed {
        db::audit::record(
            &mut *tx,
            Some(actor.id),
            if paused {
                "annotator paused"
            } else {
                "annotator resumed"
            },
            &subject_user(target.id),
            Some(json!({"project": project.id, "paused": !paused})),
            Some(json!({"project": project.id, "paused": paused})),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Ends the annotator's live leases in the project; returns how many.
pub async fn release(
    pool: &PgPool,
    project: &Project,
    actor: &User,
    target: &User,
) -> Result<u64, ReviewError> {
    check_may_act_on(actor, target)?;
    let released = queue::release_in_project(pool, project, target.id).await?;
    db::audit::record(
        pool,
        Some(actor.id),
        "leases released",
        &subject_user(target.id),
        None,
        Some(json!({"project": project.id, "released": released})),
    )
    .await?;
    Ok(released)
}

/// Disables the account (accounts' rules and audit) and gives back the
/// items it holds.
pub async fn disable(pool: &PgPool, actor: &User, target: &User) -> Result<(), ReviewError> {
    check_may_act_on(actor, target)?;
    accounts::set_disabled(pool, Some(actor.id), target, true).await?;
    queue::release_all(pool, target.id).await?;
    Ok(())
}

/// What a requeue did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequeueOutcome {
    pub invalidated: usize,
    pub reopened: i64,
}

/// Marks the annotator's annotations on `batches` invalid (kept, never
/// deleted), gives their slots back so other annotators label the items,
/// and audits it, all in one transaction.
pub async fn requeue(
    pool: &PgPool,
    project: &Project,
    actor: &User,
    target: &User,
    batches: &[i32],
    reason: &str,
) -> Result<RequeueOutcome, ReviewError> {
    check_may_act_on(actor, target)?;
    if batches.is_empty() {
        return Err(ReviewError::NoBatchChosen);
    }
    let reason = check_reason(reason)?;
    let op = Uuid::new_v4();
    let mut tx = pool.begin().await?;
    let done = db::review::requeue(
        &mut tx,
        project.id,
        target.id,
        batches,
        actor.id,
        reason,
        db::review::shard_of(op),
    )
    .await?;
    if done.annotations.is_empty() {
        return Err(ReviewError::NothingToRequeue(target.username.clone()));
    }
    db::audit::record(
        &mut *tx,
        Some(actor.id),
        "annotations invalidated",
        &subject_user(target.id),
        Some(json!({"project": project.id, "batches": batches, "valid": done.annotations})),
        Some(
            json!({"project": project.id, "invalidated": done.annotations,
                    "items_reopened": done.reopened, "reason": reason}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(RequeueOutcome {
        invalidated: done.annotations.len(),
        reopened: done.reopened,
    })
}

/// How much work of the annotator's in the project the page lists: their
/// annotations (and how many are invalid), live leases, and the pause.
pub async fn work_counts(
    pool: &PgPool,
    project: &Project,
    annotator: &User,
) -> Result<WorkCounts, ReviewError> {
    Ok(db::review::work_counts(pool, project.id, annotator.id).await?)
}

/// One page of the annotator's annotations in the project, newest first.
/// (The page is chosen once [`work_counts`] gave the total.)
pub async fn work(
    pool: &PgPool,
    project: &Project,
    annotator: &User,
    limit: i64,
    offset: i64,
) -> Result<Vec<Work>, ReviewError> {
    Ok(db::review::work(pool, project.id, annotator.id, limit, offset).await?)
}

/// The batches the annotator has valid annotations in: what a requeue
/// may choose from.
pub async fn work_batches(
    pool: &PgPool,
    project: &Project,
    annotator: &User,
) -> Result<Vec<WorkBatch>, ReviewError> {
    Ok(db::review::work_batches(pool, project.id, annotator.id).await?)
}
