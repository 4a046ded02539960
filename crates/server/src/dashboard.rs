//! The review dashboard's figures for one project and scope: progress (SQL
//! aggregates), work over time and the pace, the agreement report
//! (`report::Reader`, so the page shows `safepref report`'s numbers, its
//! model-vs-people figures per suggestion source included), the
//! trend of `safe`'s alpha across batches, a severity confusion of each
//! annotator against the item's final labels, and the annotators' table.
//!
//! The agreement figures, the trend and the confusion come from one pass
//! over the scope's annotations in item order (decoding each JSON label
//! once). That pass is still the page's dearest part, so its figures are
//! cached in `dashboard_cache` with a fingerprint of the project's data
//! taken *before* computing. When the data has changed since, the page
//! shows the stale figures at once, says how old they are, and one
//! background task recomputes them (stale-while-revalidate); only a scope's
//! first view, or `fresh=1`, computes in the request. Everything else is
//! cheap SQL, read fresh.

mod running;

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::TryStreamExt;
use safepref_core::consolidate::TieRule;
use safepref_core::consolidated::{DecodedItem, Fitter, Memo, Method, Model};
use safepref_core::labels::{Decoded, Labels};
use safepref_core::report::Builder as CoreBuilder;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::db::report::{AnnotationRow, ItemRange};
use crate::db::{self, dashboard::BatchProgress, projects::Project};
use crate::error::AppError;
use crate::report::{self, ReportScope};

/// Batches shown in the trend: the newest ones (each costs a report builder).
const TREND_BATCHES: usize = 20;
/// Items consolidated together for the severity confusion.
const CHUNK_ITEMS: usize = 500;
/// The chart shows hours up to this span, days beyond it.
const HOURLY_SPAN_DAYS: i64 = 14;
/// The longest span the chart covers (in days).
const MAX_SPAN_DAYS: i64 = 366;

/// A column of the annotators' table to sort by (`sort=` in the URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Annotator,
    Done,
    Today,
    Median,
    Agreement,
    Gold,
    Skip,
    Flags,
}

impl SortKey {
    pub const ALL: [SortKey; 8] = [
        SortKey::Annotator,
        SortKey::Done,
        SortKey::Today,
        SortKey::Median,
        SortKey::Agreement,
        SortKey::Gold,
        SortKey::Skip,
        SortKey::Flags,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Annotator => "annotator",
            SortKey::Done => "done",
            SortKey::Today => "today",
            SortKey::Median => "median",
            SortKey::Agreement => "agreement",
            SortKey::Gold => "gold",
            SortKey::Skip => "skip",
            SortKey::Flags => "flags",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Annotator => "Annotator",
            SortKey::Done => "Done",
            SortKey::Today => "Today",
            SortKey::Median => "Median s / item",
            SortKey::Agreement => "Agreement with consensus",
            SortKey::Gold => "Gold accuracy",
            SortKey::Skip => "Skip rate",
            SortKey::Flags => "Flags",
        }
    }
}

/// The dashboard's URL state: the report scope and the table's order.
#[derive(Debug, Clone)]
pub struct Filters {
    pub scope: ReportScope,
    pub sort: SortKey,
    pub descending: bool,
    /// `fresh=1`: compute the agreement figures now rather than show stale
    /// ones. Not part of the scope (nor of the cache key).
    pub fresh: bool,
}

impl Filters {
    /// From the query string's pairs; empty values (a blank form field) are
    /// unset, and a bad value gives a 400 naming its parameter.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Filters, AppError> {
        let mut filters = Filters {
            scope: ReportScope::default(),
            sort: SortKey::Done,
            descending: true,
            fresh: false,
        };
        let mut scope_pairs = Vec::new();
        for (name, value) in pairs.iter().filter(|(_, v)| !v.trim().is_empty()) {
            match name.as_str() {
                "sort" => {
                    filters.sort = SortKey::ALL
                        .into_iter()
                        .find(|k| k.name() == value)
                        .ok_or_else(|| {
                            let names: Vec<&str> = SortKey::ALL.iter().map(|k| k.name()).collect();
                            AppError::BadRequest(format!(
                                "sort: {value:?} is not one of {}",
                                names.join(", ")
                            ))
                        })?
                }
                "dir" => {
                    filters.descending = match value.as_str() {
                        "asc" => false,
                        "desc" => true,
                        _ => {
                            return Err(AppError::BadRequest(format!(
                                "dir: {value:?} is not asc or desc"
                            )));
                        }
                    }
                }
                "fresh" => filters.fresh = crate::routes::flag("fresh", value)?,
                _ => scope_pairs.push((name.clone(), value.trim().to_string())),
            }
        }
        filters.scope = ReportScope::from_pairs(&scope_pairs).map_err(|e| match e {
            AppError::BadRequest(m) => AppError::BadRequest(m.replace(
                "is not a report parameter (batch, since, until, annotator, suggestion_mode)",
                "is not a dashboard parameter (batch, since, until, annotator, suggestion_mode, sort, dir, fresh)",
            )),
            other => other,
        })?;
        if let (Some(since), Some(until)) = (filters.scope.since, filters.scope.until)
            && since >= until
        {
            return Err(AppError::BadRequest(
                "until: must be later than since".into(),
            ));
        }
        Ok(filters)
    }

    /// The scope's filters as query pairs, in a fixed order.
    pub fn scope_pairs(&self) -> Vec<(&'static str, String)> {
        let s = &self.scope;
        let mut pairs = Vec::new();
        pairs.extend(s.batch.map(|b| ("batch", b.to_string())));
        pairs.extend(s.since.map(|t| ("since", rfc3339(t))));
        pairs.extend(s.until.map(|t| ("until", rfc3339(t))));
        pairs.extend(s.annotators.iter().map(|a| ("annotator", a.clone())));
        pairs.extend(
            s.suggestion_mode
                .map(|m| ("suggestion_mode", m.as_str().to_string())),
        );
        pairs
    }

    /// A query string with these filters and the given order.
    pub fn query(&self, sort: SortKey, descending: bool) -> String {
        let mut pairs = self.scope_pairs();
        pairs.push(("sort", sort.name().to_string()));
        pairs.push(("dir", if descending { "desc" } else { "asc" }.to_string()));
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    /// The cache key of the scope: one text per distinct scope.
    pub fn scope_key(&self) -> String {
        json!(self.scope_pairs()).to_string()
    }
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

// ------------------------------------------------------------ progress

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
) -> Result<Progress, AppError> {
    let all = db::dashboard::progress(pool, project.id).await?;
    let batches: Vec<BatchProgress> = all
        .iter()
        .filter(|b| batch.is_none_or(|seq| seq == b.seq))
        .cloned()
        .collect();
    if let (Some(seq), true) = (batch, batches.is_empty()) {
        return Err(AppError::BadRequest(format!(
            "batch: this project has no batch {seq}"
        )));
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
) -> Result<Activity, AppError> {
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
) -> Result<i64, AppError> {
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

// ------------------------------------------------------------ agreement

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
) -> Result<Shown, AppError> {
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
async fn compute_in_request(
    pool: &PgPool,
    project: &Project,
    scope: &ReportScope,
    key: String,
) -> Result<Agreement, AppError> {
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
async fn compute_and_store(
    pool: &PgPool,
    project: &Project,
    scope: &ReportScope,
    key: &str,
    claim: Option<&running::Claim>,
) -> Result<Agreement, AppError> {
    let fingerprint = db::dashboard::fingerprint(pool, project.id).await?;
    claim.inspect(|c| c.started(&fingerprint));
    let figures = compute_agreement(pool, project, scope).await?;
    claim.inspect(|c| c.done(&figures));
    let value = serde_json::to_value(&figures).map_err(|e| AppError::Internal(e.into()))?;
    db::dashboard::store(pool, project.id, key, &fingerprint, &value).await?;
    Ok(figures)
}

/// Starts one background recompute of a scope's figures, unless this
/// process already computes it (see [`running`]); across processes an
/// advisory lock keeps two servers from computing the same scope. Errors
/// are logged.
fn revalidate(pool: &PgPool, project: &Project, scope: &ReportScope, key: String) {
    let Some(claim) = running::claim((project.id, key)) else {
        return;
    };
    let (pool, project, scope) = (pool.clone(), project.clone(), scope.clone());
    tokio::spawn(async move {
        if let Err(e) = recompute_locked(&pool, &project, &scope, &claim).await {
            tracing::error!(project = %project.id, scope = %claim.key(), error = %e,
                "dashboard figures: background recompute failed");
        }
    });
}

/// Recomputes a claimed scope while holding its advisory lock (a
/// transaction's, so it is released however the task ends); skips when
/// another server holds it.
async fn recompute_locked(
    pool: &PgPool,
    project: &Project,
    scope: &ReportScope,
    claim: &running::Claim,
) -> Result<(), AppError> {
    let mut lock = pool.begin().await?;
    if !db::dashboard::try_lock_recompute(&mut *lock, project.id, claim.key()).await? {
        return Ok(());
    }
    compute_and_store(pool, project, scope, claim.key(), Some(claim)).await?;
    lock.commit().await?;
    Ok(())
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
            tracing::warn!(error = %e, "keeping the dashboards' figures warm");
        }
    }
}

/// Recomputes the default view's figures of every annotated project whose
/// cached ones are missing or stale, one project at a time, so a lead's
/// first view (ever, or after a change) is served from the cache. The
/// advisory lock keeps several servers from doing the same work.
pub async fn warm(pool: &PgPool) -> Result<(), AppError> {
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

/// Every cached figure from one pass over the scope's annotations (in item
/// order, its two halves read at once: `Reader::halves`): each row goes to
/// the report, to its batch's trend builder and to the severity confusion;
/// the halves' counts are then merged, first half first.
async fn compute_agreement(
    pool: &PgPool,
    project: &Project,
    scope: &ReportScope,
) -> Result<Agreement, AppError> {
    let started = std::time::Instant::now();
    let (mut reader, adjudicated, batches) = tokio::try_join!(
        report::Reader::new(pool, project, scope),
        async { Ok(db::adjudications::newest(pool, project.id, scope.batch).await?) },
        async { Ok(db::dashboard::batch_seqs(pool, project.id).await?) },
    )?;
    let adjudicated: Arc<HashMap<Uuid, Labels>> =
        Arc::new(adjudicated.into_iter().map(|(id, l)| (id, l.0)).collect());
    let reads: Vec<_> = reader
        .halves(pool, project, scope)
        .await?
        .into_iter()
        .map(|(tx, range)| {
            let half = Half {
                part: reader.part(),
                trend: Trend::new(project, scope, &batches),
                confusion: ConfusionCounter::new(project, Arc::clone(&adjudicated)),
            };
            tokio::spawn(half.read(tx, project.id, scope.clone(), range))
        })
        .collect();
    let queried = started.elapsed();
    let mut trend = Trend::new(project, scope, &batches);
    let mut confusion = Confusion::default();
    for read in reads {
        let (part, half_trend, half_confusion) = report::joined(read).await??;
        let annotators = reader.merge(part);
        trend.merge(half_trend, &annotators);
        confusion.merge(&half_confusion);
    }
    let read = started.elapsed();
    let report = reader.finish(pool).await?;
    let figures = Agreement {
        trend: trend.finish(&report),
        confusion,
        report,
    };
    // Where the time goes, for whoever tunes this (scripts/bench-dashboard
    // prints these lines).
    tracing::info!(
        project = %project.id,
        setup_ms = queried.as_millis(),
        pass_ms = (read - queried).as_millis(),
        finish_ms = (started.elapsed() - read).as_millis(),
        "dashboard figures computed"
    );
    Ok(figures)
}

/// What one half of the pass counts.
struct Half {
    part: report::Part,
    trend: Trend,
    confusion: ConfusionCounter,
}

impl Half {
    /// Reads the half's rows (in its own transaction) into its counts.
    async fn read(
        mut self,
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
        project_id: Uuid,
        scope: ReportScope,
        range: ItemRange,
    ) -> Result<(report::Part, Trend, Confusion), AppError> {
        // Only a trend per batch needs each row's batch (see `Trend`).
        let batches = match self.trend {
            Trend::Batches(_) => db::report::Batches::Named,
            Trend::Single(_) => db::report::Batches::Unnamed,
        };
        let mut rows = db::report::annotations(&mut *tx, project_id, &scope, range, batches);
        while let Some(row) = rows.try_next().await? {
            let row = AnnotationRow::read(&row)?;
            let (annotator, labels) = self.part.add(&row)?;
            self.trend
                .add(row.batch_seq, row.item_id, annotator, &labels);
            self.confusion.add(row.item_id, annotator, labels).await?;
        }
        Ok((self.part, self.trend, self.confusion.finish().await?))
    }
}

/// A batch's point from its `safe` question's figures.
fn trend_point(batch: i32, safe: &Value) -> TrendPoint {
    TrendPoint {
        batch,
        alpha: safe["alpha"].as_f64(),
        ci95: safe["ci95"]
            .as_array()
            .and_then(|p| Some((p.first()?.as_f64()?, p.get(1)?.as_f64()?))),
        units: safe["units"].as_i64().unwrap_or(0),
    }
}

/// `safe`'s alpha per batch (the newest `TREND_BATCHES`): a report builder
/// per batch, fed the batch's rows in the report's order, so each point is
/// `safepref report --batch N`'s (alpha and its interval depend on the
/// items and their order only, not on annotator activity). A scope of one
/// batch, or a project with one batch, is its own trend.
enum Trend {
    /// The scope's report is the only point (one batch in scope).
    Single(i32),
    /// A builder per batch, each with its own item numbering.
    Batches(Vec<(i32, CoreBuilder, HashMap<Uuid, usize>)>),
}

impl Trend {
    fn new(project: &Project, scope: &ReportScope, batches: &[i32]) -> Trend {
        match (scope.batch, batches) {
            (Some(batch), _) | (None, &[batch]) => Trend::Single(batch),
            _ => {
                let categories: Vec<String> = project
                    .taxonomy
                    .0
                    .names()
                    .into_iter()
                    .map(String::from)
                    .collect();
                let k = project.responses_per_item as usize;
                let newest = &batches[batches.len().saturating_sub(TREND_BATCHES)..];
                Trend::Batches(
                    newest
                        .iter()
                        .map(|&b| (b, CoreBuilder::new(k, &categories), HashMap::new()))
                        .collect(),
                )
            }
        }
    }

    fn add(&mut self, batch: i32, item: Uuid, annotator: usize, labels: &Decoded) {
        let Trend::Batches(batches) = self else {
            return;
        };
        if let Some((_, builder, items)) = batches.iter_mut().find(|(seq, ..)| *seq == batch) {
            let next = items.len();
            builder.add_decoded(*items.entry(item).or_insert(next), annotator, labels);
        }
    }

    /// Appends the trend of the next range of items; `annotators` numbers
    /// its annotators here (see `Reader::merge`).
    fn merge(&mut self, other: Trend, annotators: &[usize]) {
        if let (Trend::Batches(mine), Trend::Batches(theirs)) = (self, other) {
            for ((_, builder, items), (_, next, next_items)) in mine.iter_mut().zip(theirs) {
                let offset = items.len();
                builder.append(next, annotators, offset);
                items.extend(next_items.into_iter().map(|(id, i)| (id, i + offset)));
            }
        }
    }

    fn finish(self, report: &Value) -> Vec<TrendPoint> {
        match self {
            Trend::Single(batch) => vec![trend_point(batch, &report["questions"]["safe"])],
            Trend::Batches(batches) => batches
                .into_iter()
                .map(|(batch, builder, _)| trend_point(batch, &builder.safe_figures()))
                .collect(),
        }
    }
}

impl Confusion {
    /// Adds the counts of another range of items.
    fn merge(&mut self, other: &Confusion) {
        for (row, more) in self.counts.iter_mut().zip(&other.counts) {
            for (n, m) in row.iter_mut().zip(more) {
                *n += m;
            }
        }
        self.items_without_consensus += other.items_without_consensus;
    }
}

/// One item's votes: (item, [(annotator, labels)]).
type ItemVotes = (Uuid, Vec<(usize, Decoded)>);

/// The severity confusion, fed the scope's votes in item order: every
/// `CHUNK_ITEMS` items go to a worker thread, which consolidates them by
/// majority vote as the export consolidates them (an adjudication's labels
/// win: they are the item's final labels) and counts each vote's
/// severities against the result. Consolidating is the pass's dearest
/// step, so it runs beside the reading and decoding rather than after it.
/// Memory stays bounded by a few chunks.
struct ConfusionCounter {
    chunk: Vec<ItemVotes>,
    chunks: tokio::sync::mpsc::Sender<Vec<ItemVotes>>,
    worker: tokio::task::JoinHandle<Confusion>,
}

impl ConfusionCounter {
    fn new(project: &Project, adjudicated: Arc<HashMap<Uuid, Labels>>) -> ConfusionCounter {
        let model = Fitter::new(
            project.responses_per_item as usize,
            &project.taxonomy.0,
            &project.questions.0,
            Method::Majority,
        )
        .finish();
        let (chunks, mut received) = tokio::sync::mpsc::channel::<Vec<ItemVotes>>(4);
        let worker = tokio::task::spawn_blocking(move || {
            let (mut confusion, mut memo) = (Confusion::default(), Memo::default());
            while let Some(chunk) = received.blocking_recv() {
                count(&model, &adjudicated, &chunk, &mut memo, &mut confusion);
            }
            confusion
        });
        ConfusionCounter {
            chunk: Vec::with_capacity(CHUNK_ITEMS),
            chunks,
            worker,
        }
    }

    async fn add(&mut self, item: Uuid, annotator: usize, labels: Decoded) -> Result<(), AppError> {
        if self.chunk.last().is_none_or(|(id, _)| *id != item) {
            if self.chunk.len() == CHUNK_ITEMS {
                self.send().await?;
            }
            self.chunk.push((item, Vec::new()));
        }
        if let Some((_, votes)) = self.chunk.last_mut() {
            votes.push((annotator, labels));
        }
        Ok(())
    }

    async fn send(&mut self) -> Result<(), AppError> {
        let full = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK_ITEMS));
        self.chunks.send(full).await.map_err(|_| {
            AppError::Internal(anyhow::anyhow!("the severity confusion's worker stopped"))
        })
    }

    async fn finish(mut self) -> Result<Confusion, AppError> {
        if !self.chunk.is_empty() {
            self.send().await?;
        }
        drop(self.chunks);
        self.worker
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("the severity confusion: {e}")))
    }
}

/// Consolidates a chunk of items and counts their votes' severities
/// against the consensus.
fn count(
    model: &Model,
    adjudicated: &HashMap<Uuid, Labels>,
    chunk: &[ItemVotes],
    memo: &mut Memo,
    confusion: &mut Confusion,
) {
    let items: Vec<DecodedItem> = chunk
        .iter()
        .enumerate()
        .map(|(item, (_, votes))| DecodedItem { item, votes })
        .collect();
    let adjudicated: HashMap<usize, Labels> = chunk
        .iter()
        .enumerate()
        .filter_map(|(n, (id, _))| Some((n, adjudicated.get(id)?.clone())))
        .collect();
    // Only the consensus severities are counted: naming every category's
    // support, or building records at all, would cost more than the rest.
    let consensus = model.consensus_severities(&items, TieRule::Review, &adjudicated, memo);
    for (agreed, (_, votes)) in consensus.iter().zip(chunk) {
        let Some(agreed) = agreed else {
            confusion.items_without_consensus += 1;
            continue;
        };
        for (_, labels) in votes {
            for (given, agreed) in labels.severities().zip(agreed) {
                let (row, col) = (usize::from(given), usize::from(*agreed));
                if row < 4 && col < 4 {
                    confusion.counts[row][col] += 1;
                }
            }
        }
    }
}

// ------------------------------------------------------------ annotators

/// One row of the annotators' table: the report's figures and today's count.
#[derive(Debug, Clone)]
pub struct AnnotatorRow {
    pub user_id: Option<Uuid>,
    pub name: String,
    pub done: i64,
    pub today: i64,
    pub median_seconds: Option<f64>,
    pub agreement: Option<f64>,
    pub gold_accuracy: Option<f64>,
    pub skip_rate: Option<f64>,
    /// The flags' evidence texts.
    pub flags: Vec<String>,
}

impl AnnotatorRow {
    /// The value sorted on; `None` sorts last in either direction.
    fn key(&self, sort: SortKey) -> Option<f64> {
        match sort {
            SortKey::Annotator => Some(0.0),
            SortKey::Done => Some(self.done as f64),
            SortKey::Today => Some(self.today as f64),
            SortKey::Median => self.median_seconds,
            SortKey::Agreement => self.agreement,
            SortKey::Gold => self.gold_accuracy,
            SortKey::Skip => self.skip_rate,
            SortKey::Flags => Some(self.flags.len() as f64),
        }
    }
}

/// The report's annotators with today's counts, in the asked order (ties
/// by name, so the order is stable).
pub async fn annotators(
    pool: &PgPool,
    project: &Project,
    report: &Value,
    filters: &Filters,
) -> Result<Vec<AnnotatorRow>, AppError> {
    let listed = report["annotators"].as_array().cloned().unwrap_or_default();
    let names: Vec<String> = listed
        .iter()
        .filter_map(|a| a["annotator"].as_str().map(String::from))
        .collect();
    let today: HashMap<String, db::dashboard::Today> =
        db::dashboard::today(pool, project.id, filters.scope.batch, &names)
            .await?
            .into_iter()
            .map(|t| (t.username.clone(), t))
            .collect();
    let mut rows: Vec<AnnotatorRow> = listed
        .iter()
        .map(|a| {
            let name = a["annotator"].as_str().unwrap_or_default().to_string();
            let known = today.get(&name);
            AnnotatorRow {
                user_id: known.map(|t| t.user_id),
                today: known.map_or(0, |t| t.today),
                done: a["done"].as_i64().unwrap_or(0),
                median_seconds: a["median_seconds"].as_f64(),
                agreement: a["agreement_with_consensus"].as_f64(),
                gold_accuracy: a["gold_accuracy"].as_f64(),
                skip_rate: a["skip_rate"].as_f64(),
                flags: a["flags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|f| f["evidence"].as_str().unwrap_or("flagged").to_string())
                    .collect(),
                name,
            }
        })
        .collect();
    sort(&mut rows, filters.sort, filters.descending);
    Ok(rows)
}

fn sort(rows: &mut [AnnotatorRow], key: SortKey, descending: bool) {
    rows.sort_by(|a, b| {
        let by_name = a.name.cmp(&b.name);
        let order = match (a.key(key), b.key(key)) {
            (Some(x), Some(y)) => {
                let o = x.total_cmp(&y);
                if descending { o.reverse() } else { o }
            }
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        let by_name = if key == SortKey::Annotator && descending {
            by_name.reverse()
        } else {
            by_name
        };
        order.then(by_name)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        serde_urlencoded::from_str(query).unwrap()
    }

    #[test]
    fn filters_round_trip_through_the_url() {
        let f = Filters::from_pairs(&pairs(
            "batch=2&since=2026-11-01T00:00:00Z&annotator=b&annotator=a&sort=gold&dir=asc&until=",
        ))
        .unwrap();
        assert_eq!(f.scope.batch, Some(2));
        assert_eq!(f.scope.annotators, ["a", "b"]);
        assert!(f.scope.until.is_none(), "a blank field is no filter");
        assert_eq!((f.sort, f.descending), (SortKey::Gold, false));
        let again = Filters::from_pairs(&pairs(&f.query(f.sort, f.descending))).unwrap();
        assert_eq!(again.scope_key(), f.scope_key());
        assert_eq!((again.sort, again.descending), (SortKey::Gold, false));
    }

    #[test]
    fn a_bad_value_names_its_parameter() {
        for (query, name) in [
            ("batch=x", "batch:"),
            ("since=yesterday", "since:"),
            ("sort=height", "sort:"),
            ("dir=up", "dir:"),
            (
                "since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z",
                "until:",
            ),
            ("colour=red", "colour is not a dashboard parameter"),
        ] {
            match Filters::from_pairs(&pairs(query)) {
                Err(AppError::BadRequest(m)) => assert!(m.starts_with(name), "{query}: {m}"),
                other => panic!("{query}: {other:?}"),
            }
        }
    }

    fn row(name: &str, done: i64, gold: Option<f64>) -> AnnotatorRow {
        AnnotatorRow {
            user_id: None,
            name: name.into(),
            done,
            today: 0,
            median_seconds: None,
            agreement: None,
            gold_accuracy: gold,
            skip_rate: None,
            flags: Vec::new(),
        }
    }

    #[test]
    fn sorting_puts_missing_values_last_either_way() {
        let mut rows = vec![
            row("a", 1, None),
            row("b", 3, Some(0.5)),
            row("c", 2, Some(0.9)),
        ];
        let names = |rows: &[AnnotatorRow]| rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
        sort(&mut rows, SortKey::Gold, true);
        assert_eq!(names(&rows), ["c", "b", "a"]);
        sort(&mut rows, SortKey::Gold, false);
        assert_eq!(names(&rows), ["b", "c", "a"]);
        sort(&mut rows, SortKey::Done, false);
        assert_eq!(names(&rows), ["a", "c", "b"]);
        sort(&mut rows, SortKey::Annotator, true);
        assert_eq!(names(&rows), ["c", "b", "a"]);
    }
}
