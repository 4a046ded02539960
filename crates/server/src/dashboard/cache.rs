//! The agreement figures' cache: stale-while-revalidate in `dashboard_cache`, one computation per scope, and the warmer.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use time::OffsetDateTime;

use super::pass::compute_agreement;
use super::{DashboardError, Filters, running};
use crate::db::{self, projects::Project};
use crate::error::AppError;
use crate::report::ReportScope;

/// The figures that need a pass over the scope's annotations: cached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Agreement {
    /// The agreement report, exactly as `safepref report --format json`.
    pub report: Value,
    pub trend: Vec<TrendPoint>,
    pub confusion: Confusion,
}

/// `safe`'s alpha in one batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrendPoint {
    pub batch: i32,
    pub alpha: Option<f64>,
    pub ci95: Option<(f64, f64)>,
    pub units: i64,
}

/// Annotators' severity (rows) against the consensus severity (columns),
/// one count per annotated response of an item with a consensus.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Confusion {
    pub counts: [[u64; 4]; 4],
    /// Items left out: their votes tie or break a label rule, and no lead
    /// adjudicated them.
    pub items_without_consensus: u64,
}

/// The agreement figures shown on a page.
#[derive(Debug, Clone)]
pub struct Shown {
    pub figures: Agreement,
    /// When the figures were computed, if the data has changed since (a
    /// background task is recomputing them).
    pub stale_since: Option<OffsetDateTime>,
}

/// The agreement figures of a scope: from the cache when the project's data
/// has not changed since they were computed; the stale cached figures while
/// a background task recomputes them when it has; computed in the request
/// for a scope's first view or `fresh=1`.
pub async fn agreement(
    pool: &PgPool,
    project: &Project,
    filters: &Filters,
) -> Result<Shown, DashboardError> {
    let key = filters.scope_key();
    let cached = db::dashboard::cached(pool, project.id, &key).await?;
    if let Some(cached) = cached.filter(|_| !filters.fresh)
        && let Ok(figures) = serde_json::from_value::<Agreement>(cached.figures.0)
    {
        let current = db::dashboard::fingerprint(pool, project.id).await?;
        let stale = current != cached.fingerprint;
        if stale {
            revalidate(pool, project, &filters.scope, key);
        }
        return Ok(Shown {
            figures,
            stale_since: stale.then_some(cached.computed_at),
        });
    }
    let figures = compute_in_request(pool, project, &filters.scope, key).await?;
    Ok(Shown {
        figures,
        stale_since: None,
    })
}

/// A scope's figures computed for a request (a first view, `fresh=1`):
/// those of a computation of the scope already running here from the same
/// data, if there is one (as fresh as asked: awaited, not computed again
/// beside it on the same cores); else computed now.
pub(super) async fn compute_in_request(
    pool: &PgPool,
    project: &Project,
    scope: &ReportScope,
    key: String,
) -> Result<Agreement, DashboardError> {
    let job = (project.id, key);
    if let Some(running) = running::started(&job) {
        let current = db::dashboard::fingerprint(pool, project.id).await?;
        if running.fingerprint == current
            && let Some(figures) = running.figures().await
        {
            return Ok(figures);
        }
    }
    let claim = running::claim(job.clone());
    compute_and_store(pool, project, scope, &job.1, claim.as_ref()).await
}

/// Computes a scope's figures and caches them under the fingerprint taken
/// *before* computing: a change made meanwhile makes the stored fingerprint
/// stale, never the figures newer than claimed. With the scope's claim,
/// the fingerprint and the figures are published to whoever joins.
pub(super) async fn compute_and_store(
    pool: &PgPool,
    project: &Project,
    scope: &ReportScope,
    key: &str,
    claim: Option<&running::Claim>,
) -> Result<Agreement, DashboardError> {
    let fingerprint = db::dashboard::fingerprint(pool, project.id).await?;
    claim.inspect(|c| c.started(&fingerprint));
    let figures = compute_agreement(pool, project, scope).await?;
    claim.inspect(|c| c.done(&figures));
    let value = serde_json::to_value(&figures)?;
    db::dashboard::store(pool, project.id, key, &fingerprint, &value).await?;
    Ok(figures)
}

/// Starts one background recompute of a scope's figures, unless this
/// process already computes it (see [`running`]); across processes an
/// advisory lock keeps two servers from computing the same scope. Errors
/// are logged.
pub(super) fn revalidate(pool: &PgPool, project: &Project, scope: &ReportScope, key: String) {
    let Some(claim) = running::claim((project.id, key)) else {
        return;
    };
    let (pool, project, scope) = (pool.clone(), project.clone(), scope.clone());
    tokio::spawn(async move {
        if let Err(e) = recompute_locked(&pool, &project, &scope, &claim).await {
            let e = background_failure(e);
            tracing::error!(project = %project.id, scope = %claim.key(), error = %e,
                "dashboard figures: background recompute failed");
        }
    });
}

/// Recomputes a claimed scope while holding its advisory lock (a
/// transaction's, so it is released however the task ends); skips when
/// another server holds it.
pub(super) async fn recompute_locked(
    pool: &PgPool,
    project: &Project,
    scope: &ReportScope,
    claim: &running::Claim,
) -> Result<(), DashboardError> {
    let mut lock = pool.begin().await?;
    if !db::dashboard::try_lock_recompute(&mut *lock, project.id, claim.key()).await? {
        return Ok(());
    }
    compute_and_store(pool, project, scope, claim.key(), Some(claim)).await?;
    lock.commit().await?;
    Ok(())
}

/// A background task's failure, which no handler turns into an `AppError`,
/// turned into one here: a broken connection then marks the pool for
/// pinging (`db::connections_may_be_broken`) as in a request, and the log
/// line reads as a request's error would.
fn background_failure(err: DashboardError) -> AppError {
    AppError::from(err)
}

/// How often `safepref serve` brings each project's default view up to date.
pub const WARM_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs [`warm`] every [`WARM_EVERY`], forever; the first pass comes one
/// period after start, so starting a server costs no recompute.
pub async fn keep_warm_periodically(pool: PgPool) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + WARM_EVERY, WARM_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = warm(&pool).await {
            let e = background_failure(e);
            tracing::warn!(error = %e, "keeping the dashboards' figures warm");
        }
    }
}

/// Recomputes the default view's figures of every annotated project whose
/// cached ones are missing or stale, one project at a time, so a lead's
/// first view (ever, or after a change) is served from the cache. The
/// advisory lock keeps several servers from doing the same work.
pub async fn warm(pool: &PgPool) -> Result<(), DashboardError> {
    let key = Filters::from_pairs(&[])?.scope_key();
    for project in db::projects::annotated(pool).await? {
        // The review queue's stored reasons too, so a lead's first view of
        // the queue finds them current (a refresh judges only the items
        // that changed since the last one).
        crate::review::refresh_flags(pool, &project).await?;
        let cached = db::dashboard::cached(pool, project.id, &key).await?;
        let current = db::dashboard::fingerprint(pool, project.id).await?;
        if cached.is_some_and(|c| c.fingerprint == current) {
            continue;
        }
        // A scope computed here already (a request's) is left to it.
        if let Some(claim) = running::claim((project.id, key.clone())) {
            recompute_locked(pool, &project, &ReportScope::default(), &claim).await?;
        }
    }
    Ok(())
}
