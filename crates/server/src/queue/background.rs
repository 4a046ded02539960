//! The queue's background work: expired leases swept, leases released, and the queue tables' statistics kept fresh.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use super::{QueueError, SWEEP_BATCH, SWEEP_EVERY};
use crate::db::{self, projects::Project};
use crate::error::AppError;

/// Marks expired leases expired and frees their slots; returns how many.
/// Called every [`SWEEP_EVERY`] by `safepref serve` and by [`super::lease()`] when it
/// finds nothing. One sweep runs at a time across all processes (an advisory
/// lock; a second one returns 0 at once).
pub async fn release_expired(pool: &PgPool) -> Result<u64, QueueError> {
    let mut total = 0;
    loop {
        let mut tx = pool.begin().await?;
        let Some(ended) = db::assignments::sweep(&mut tx, SWEEP_BATCH).await? else {
            return Ok(total);
        };
        tx.commit().await?;
        total += ended;
        if ended < SWEEP_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// Releases all of an annotator's live leases (at sign-out); returns how many.
pub async fn release_all(pool: &PgPool, annotator: Uuid) -> Result<u64, QueueError> {
    Ok(db::assignments::release_all(pool, annotator).await?)
}

/// Releases an annotator's live leases in one project (a lead's action);
/// returns how many.
pub async fn release_in_project(
    pool: &PgPool,
    project: &Project,
    annotator: Uuid,
) -> Result<u64, QueueError> {
    Ok(db::assignments::release(pool, annotator, Some(project.id)).await?)
}

/// Runs [`release_expired`] every [`SWEEP_EVERY`], forever.
pub async fn sweep_periodically(pool: PgPool) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // As an `AppError`, as a request's would be: a database that went
        // away marks the pool's connections for a ping before use.
        match release_expired(&pool).await.map_err(AppError::from) {
            Ok(0) => {}
            Ok(n) => tracing::info!(leases = n, "released expired leases"),
            Err(e) => tracing::warn!(error = %e, "releasing expired leases"),
        }
    }
}

/// How often `safepref serve` looks for queue tables that outgrew the
/// statistics of their first, near-empty days (`db::statistics`: one small
/// catalog query).
pub const STATISTICS_EVERY: Duration = Duration::from_secs(2);

/// Runs [`db::statistics::analyze_grown`] every [`STATISTICS_EVERY`],
/// forever, for queue tables of at least 1,000 rows.
pub async fn keep_statistics_periodically(pool: PgPool) {
    let mut tick = tokio::time::interval(STATISTICS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let analyzed = match pool.acquire().await {
            Ok(mut conn) => db::statistics::analyze_grown(&mut conn, 1_000).await,
            Err(e) => Err(e),
        };
        match analyzed {
            Ok(tables) if tables.is_empty() => {}
            Ok(tables) => tracing::info!(
                ?tables,
                "analyzed: their statistics were from a near-empty table"
            ),
            Err(e) => tracing::warn!(error = %e, "keeping the queue tables' statistics"),
        }
    }
}
