//! Progress, work over time and the pace: cheap SQL aggregates, read fresh.

use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

use super::DashboardError;
use super::{HOURLY_SPAN_DAYS, MAX_SPAN_DAYS};
pub use crate::db::dashboard::BatchProgress;
use crate::db::{self, projects::Project};
use crate::report::ReportScope;

/// Progress: the scope's batches and their sum, and every batch of the
/// project (for the batch filter and the trend).
#[derive(Debug, Clone)]
pub struct Progress {
    pub overall: BatchProgress,
    pub batches: Vec<BatchProgress>,
    pub all: Vec<BatchProgress>,
}

/// One query over the project's items grouped by batch; the scope's batch
/// is picked from it.
pub async fn progress(
    pool: &PgPool,
    project: &Project,
    batch: Option<i32>,
) -> Result<Progress, DashboardError> {
    let all = db::dashboard::progress(pool, project.id).await?;
    let batches: Vec<BatchProgress> = all
        .iter()
        .filter(|b| batch.is_none_or(|seq| seq == b.seq))
        .cloned()
        .collect();
    if let (Some(seq), true) = (batch, batches.is_empty()) {
        return Err(DashboardError::NoSuchBatch(seq));
    }
    let overall = batches
        .iter()
        .fold(BatchProgress::default(), |sum, b| BatchProgress {
            total: sum.total + b.total,
            pending: sum.pending + b.pending,
            in_progress: sum.in_progress + b.in_progress,
            complete: sum.complete + b.complete,
            adjudicated: sum.adjudicated + b.adjudicated,
            annotations: sum.annotations + b.annotations,
            remaining: sum.remaining + b.remaining,
            ..sum
        });
    Ok(Progress {
        overall,
        batches,
        all,
    })
}

/// Work over time: a count per hour (per day for long spans), zero where
/// nobody worked.
#[derive(Debug, Clone)]
pub struct Activity {
    pub bucket: &'static str,
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub points: Vec<(String, i64)>,
}

/// The span shown: the filter's, else the last 7 days (or the project's
/// life, if shorter); at most `MAX_SPAN_DAYS`.
pub async fn activity(
    pool: &PgPool,
    project: &Project,
    scope: &ReportScope,
    now: OffsetDateTime,
) -> Result<Activity, DashboardError> {
    let to = scope.until.unwrap_or(now);
    let from = scope
        .since
        .unwrap_or_else(|| (to - Duration::days(7)).max(project.created_at))
        .max(to - Duration::days(MAX_SPAN_DAYS));
    let bucket = if to - from > Duration::days(HOURLY_SPAN_DAYS) {
        "day"
    } else {
        "hour"
    };
    let rows = if from < to {
        db::dashboard::per_bucket(pool, project.id, scope, bucket, from, to).await?
    } else {
        Vec::new()
    };
    let points = rows
        .into_iter()
        .map(|(at, n)| {
            let label = match bucket {
                "hour" => format!("{} {:02}:00", at.date(), at.hour()),
                _ => at.date().to_string(),
            };
            (label, n)
        })
        .collect();
    Ok(Activity {
        bucket,
        from,
        to,
        points,
    })
}

/// The expected finish at the last 24 hours' pace.
#[derive(Debug, Clone)]
pub struct Pace {
    pub last_day: i64,
    pub remaining: i64,
    /// None: no work in the last 24 hours (or nothing left).
    pub finish: Option<OffsetDateTime>,
    pub hours_left: Option<f64>,
}

/// Submissions of the last 24 hours in the project (or the batch): the pace.
pub async fn last_day(
    pool: &PgPool,
    project: &Project,
    batch: Option<i32>,
) -> Result<i64, DashboardError> {
    Ok(db::dashboard::last_day(pool, project.id, batch).await?)
}

pub fn pace(last_day: i64, progress: &Progress, now: OffsetDateTime) -> Pace {
    let remaining = progress.overall.remaining;
    let hours_left =
        (last_day > 0 && remaining > 0).then(|| remaining as f64 / last_day as f64 * 24.0);
    Pace {
        last_day,
        remaining,
        finish: hours_left.map(|h| now + Duration::seconds_f64(h * 3600.0)),
        hours_left,
    }
}
