//! What the review dashboard reads beside the agreement report's rows
//! (`db::report`): item states per batch, work over time, the pace, today's
//! work per annotator, and the figures cache (`dashboard_cache`). Every
//! figure here is an aggregate in SQL.

use serde_json::Value;
use sqlx::PgExecutor;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::report::ReportScope;

/// Where one batch's items stand. `in_progress`: pending items with at
/// least one submission or a live lease; `pending`: neither.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct BatchProgress {
    pub seq: i32,
    pub file_name: String,
    pub total: i64,
    pub pending: i64,
    pub in_progress: i64,
    pub complete: i64,
    pub adjudicated: i64,
    /// Submitted annotations (the items' `done` counters).
    pub annotations: i64,
    /// Annotations still needed: the sum over pending items of k − done.
    pub remaining: i64,
}

/// Item states per batch of a project, in batch order; batches without
/// items included. The counts come from `items_dashboard_idx` (migration
/// 0017) rather than the wide item rows; which pending items hold a live
/// lease comes from the (few) live assignments, as `leased` is in no index.
pub async fn progress(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
) -> Result<Vec<BatchProgress>, sqlx::Error> {
    sqlx::query_as(
        "with counted as (
             select i.batch_seq,
                    count(*) as total,
                    count(*) filter (where i.state = 'pending' and i.done = 0) as untouched,
                    count(*) filter (where i.state = 'pending' and i.done > 0) as started,
                    count(*) filter (where i.state = 'complete') as complete,
                    count(*) filter (where i.state = 'adjudicated') as adjudicated,
                    sum(i.done) as annotations,
                    sum(greatest(p.annotations_per_item - i.done, 0))
                        filter (where i.state = 'pending') as remaining
             from items i join projects p on p.id = i.project_id
             where i.project_id = $1
             group by i.batch_seq
         ),
         leased as (
             select i.batch_seq, count(distinct i.id) as n
             from assignments s join items i on i.id = s.item_id
             where s.project_id = $1 and s.state = 'leased' and i.state = 'pending' and i.done = 0
             group by i.batch_seq
         )
         select b.seq, b.file_name,
                coalesce(c.total, 0) as total,
                coalesce(c.untouched, 0) - coalesce(l.n, 0) as pending,
                coalesce(c.started, 0) + coalesce(l.n, 0) as in_progress,
                coalesce(c.complete, 0) as complete,
                coalesce(c.adjudicated, 0) as adjudicated,
                coalesce(c.annotations, 0)::int8 as annotations,
                coalesce(c.remaining, 0)::int8 as remaining
         from batches b
         left join counted c on c.batch_seq = b.seq
         left join leased l on l.batch_seq = b.seq
         where b.project_id = $1
         order by b.seq",
    )
    .bind(project_id)
    .fetch_all(db)
    .await
}

/// The project's batch numbers, in order.
pub async fn batch_seqs(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
) -> Result<Vec<i32>, sqlx::Error> {
    sqlx::query_scalar("select seq from batches where project_id = $1 order by seq")
        .bind(project_id)
        .fetch_all(db)
        .await
}

/// Submissions per time bucket (`hour` or `day`) in [from, to), the scope's
/// batch and annotators only; buckets without work are zero. The batch and
/// annotator conditions are subqueries rather than joins, so an unset one
/// costs nothing (here and below).
pub async fn per_bucket(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    scope: &ReportScope,
    bucket: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<(OffsetDateTime, i64)>, sqlx::Error> {
    sqlx::query_as(
        "with counted as (
             select date_trunc($3, a.submitted_at, 'UTC') as at, count(*) as n
             from annotations a
             where a.project_id = $1 and a.invalidated_at is null
               and a.submitted_at >= $4 and a.submitted_at < $5
               and ($2::int is null or a.item_id in (select id from items where project_id = $1 and batch_seq = $2))
               and (cardinality($6::text[]) = 0
                    or a.annotator_id in (select id from users where username = any($6)))
               and ($7::text is null or a.suggestion_mode = $7)
             group by 1
         )
         select s.at, coalesce(c.n, 0) as n
         from generate_series(date_trunc($3, $4::timestamptz, 'UTC'), $5::timestamptz - interval '1 microsecond',
                              ('1 ' || $3)::interval) as s(at)
         left join counted c on c.at = s.at
         order by s.at",
    )
    .bind(project_id)
    .bind(scope.batch)
    .bind(bucket)
    .bind(from)
    .bind(to)
    .bind(&scope.annotators)
    .bind(scope.suggestion_mode.map(|m| m.as_str()))
    .fetch_all(db)
    .await
}

/// Submissions of the last 24 hours in a project (or one batch): the pace.
pub async fn last_day(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    batch: Option<i32>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select count(*) from annotations a
         where a.project_id = $1 and a.invalidated_at is null
           and a.submitted_at >= now() - interval '24 hours'
           and ($2::int is null or a.item_id in (select id from items where project_id = $1 and batch_seq = $2))",
    )
    .bind(project_id)
    .bind(batch)
    .fetch_one(db)
    .await
}

/// An account by name, with its submissions today (UTC) in the project (or
/// one batch).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Today {
    pub user_id: Uuid,
    pub username: String,
    pub today: i64,
}

pub async fn today(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    batch: Option<i32>,
    usernames: &[String],
) -> Result<Vec<Today>, sqlx::Error> {
    sqlx::query_as(
        "select u.id as user_id, u.username, coalesce(t.n, 0) as today
         from users u
         left join (select a.annotator_id, count(*) as n from annotations a
                    where a.project_id = $1 and a.invalidated_at is null
                      and a.submitted_at >= date_trunc('day', now(), 'UTC')
                      and ($2::int is null
                           or a.item_id in (select id from items where project_id = $1 and batch_seq = $2))
                    group by a.annotator_id) t on t.annotator_id = u.id
         where u.username = any($3)",
    )
    .bind(project_id)
    .bind(batch)
    .bind(usernames)
    .fetch_all(db)
    .await
}

/// A summary of everything the cached figures are computed from: any
/// submission, revision, invalidation (a requeue), skip, import, gold
/// change, adjudication (the confusion's consensus) or suggestion changes
/// it. Project-wide, so it covers every scope. Each part reads an index
/// (the count of valid annotations the longest: one entry per annotation),
/// so a warm view stays cheap.
pub async fn fingerprint(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(
        "select concat_ws('/',
             (select count(*) from annotations where project_id = $1 and invalidated_at is null),
             (select max(updated_at) from annotations where project_id = $1),
             (select concat_ws(',', count(*), max(invalidated_at))
                from annotations where project_id = $1 and invalidated_at is not null),
             (select concat_ws(',', count(*), max(ended_at))
                from assignments where project_id = $1 and state = 'skipped'),
             (select count(*) from items where project_id = $1),
             (select concat_ws(',', count(*), sum(hashtext(gold::text)))
                from items where project_id = $1 and gold is not null),
             (select concat_ws(',', count(*), max(d.created_at))
                from adjudications d join items i on i.id = d.item_id where i.project_id = $1),
             (select concat_ws(',', count(*), max(g.created_at))
                from suggestions g join items i on i.id = g.item_id where i.project_id = $1))",
    )
    .bind(project_id)
    .fetch_one(db)
    .await
}

/// A scope's cached figures, whatever data they were computed from.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Cached {
    pub fingerprint: String,
    pub figures: Json<Value>,
    pub computed_at: OffsetDateTime,
}

pub async fn cached(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    scope_key: &str,
) -> Result<Option<Cached>, sqlx::Error> {
    sqlx::query_as(
        "select fingerprint, figures, computed_at from dashboard_cache
         where project_id = $1 and scope_key = $2",
    )
    .bind(project_id)
    .bind(scope_key)
    .fetch_optional(db)
    .await
}

/// Takes the lock of recomputing a scope's figures for the transaction's
/// life, if no other session (another server) holds it.
pub async fn try_lock_recompute(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    scope_key: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select pg_try_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("dashboard/{project_id}/{scope_key}"))
        .fetch_one(db)
        .await
}

/// Stores a scope's figures (replacing older ones) and drops the project's
/// entries not recomputed for a day, so scopes tried once do not pile up.
pub async fn store(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    scope_key: &str,
    fingerprint: &str,
    figures: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "with gone as (
             delete from dashboard_cache
             where project_id = $1 and scope_key <> $2 and computed_at < now() - interval '1 day'
         )
         insert into dashboard_cache (project_id, scope_key, fingerprint, figures)
         values ($1, $2, $3, $4)
         on conflict (project_id, scope_key)
         do update set fingerprint = excluded.fingerprint, figures = excluded.figures,
                       computed_at = now()",
    )
    .bind(project_id)
    .bind(scope_key)
    .bind(fingerprint)
    .bind(Json(figures))
    .execute(db)
    .await?;
    Ok(())
}
