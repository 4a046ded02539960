//! What asking a model for suggestions writes: the templates used, the runs
//! with their progress, the calls that gave no suggestion, and the
//! suggestions themselves (with their template).

use safepref_core::suggestions::Suggestion;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

/// Keeps a template's text under its version (once).
pub async fn save_template(
    db: impl PgExecutor<'_>,
    version: &str,
    text: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into judge_templates (version, text) values ($1, $2) on conflict (version) do nothing",
    )
    .bind(version)
    .bind(text)
    .execute(db)
    .await?;
    Ok(())
}

/// A template's text by version.
pub async fn template(
    db: impl PgExecutor<'_>,
    version: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("select text from judge_templates where version = $1")
        .bind(version)
        .fetch_optional(db)
        .await
}

/// A run about to start.
pub struct NewRun<'a> {
    pub id: Uuid,
    pub project_id: Uuid,
    pub requested_by: Option<Uuid>,
    /// `cli` or `page`.
    pub origin: &'a str,
    pub endpoint: &'a str,
    pub model: &'a str,
    pub source: &'a str,
    pub template_version: &'a str,
    pub options: serde_json::Value,
}

pub async fn create_run(db: impl PgExecutor<'_>, run: &NewRun<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into judge_runs (id, project_id, requested_by, origin, endpoint, model, source,
                                 template_version, options)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(run.id)
    .bind(run.project_id)
    .bind(run.requested_by)
    .bind(run.origin)
    .bind(run.endpoint)
    .bind(run.model)
    .bind(run.source)
    .bind(run.template_version)
    .bind(&run.options)
    .execute(db)
    .await?;
    Ok(())
}

/// How far a run has got.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub items_total: i64,
    pub items_done: i64,
    pub stored: i64,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
}

/// Records a run's progress and that it is alive.
pub async fn heartbeat(
    db: impl PgExecutor<'_>,
    run: Uuid,
    progress: &Progress,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update judge_runs set items_total = $2, items_done = $3, stored = $4, tokens_in = $5,
                tokens_out = $6, heartbeat_at = now()
          where id = $1",
    )
    .bind(run)
    .bind(progress.items_total)
    .bind(progress.items_done)
    .bind(progress.stored)
    .bind(progress.tokens_in)
    .bind(progress.tokens_out)
    .execute(db)
    .await?;
    Ok(())
}

/// Records how a run ended: `done`, `failed` (with the error) or `interrupted`.
pub async fn finish_run(
    db: impl PgExecutor<'_>,
    run: Uuid,
    state: &str,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update judge_runs set state = $2, error = $3, finished_at = now(), heartbeat_at = now()
          where id = $1",
    )
    .bind(run)
    .bind(state)
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}

/// The project's items (of one batch, by its number) that have no
/// suggestion from `source` yet, in file order, at most `limit`.
pub async fn pending_items(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    batch: Option<i32>,
    source: &str,
    limit: Option<i64>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "select i.id from items i
          where i.project_id = $1 and ($2::int is null or i.batch_seq = $2)
            and not exists (select 1 from suggestions s where s.item_id = i.id and s.source = $3)
          order by i.batch_seq, i.seq
          limit $4",
    )
    .bind(project_id)
    .bind(batch)
    .bind(source)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// How many of those items already have the source's suggestion.
pub async fn already_suggested(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    batch: Option<i32>,
    source: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select count(*) from items i join suggestions s on s.item_id = i.id and s.source = $3
          where i.project_id = $1 and ($2::int is null or i.batch_seq = $2)",
    )
    .bind(project_id)
    .bind(batch)
    .bind(source)
    .fetch_one(db)
    .await
}

/// An item's prompt and its responses' texts by position.
pub async fn item_text(
    db: impl PgExecutor<'_>,
    item_id: Uuid,
) -> Result<Option<(String, Vec<String>)>, sqlx::Error> {
    let row: Option<(String, Json<Vec<String>>)> = sqlx::query_as(
        "select i.prompt,
                coalesce((select jsonb_agg(r.text order by r.position)
                            from responses r where r.item_id = i.id), '[]')
           from items i where i.id = $1",
    )
    .bind(item_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(prompt, responses)| (prompt, responses.0)))
}

/// Stores the source's suggestion with the template that asked for it,
/// replacing an earlier one (two runs of one source may meet on an item).
pub async fn store_suggestion(
    db: impl PgExecutor<'_>,
    item_id: Uuid,
    suggestion: &Suggestion,
    template_version: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into suggestions (item_id, source, labels, scores, template_version)
         values ($1, $2, $3, $4, $5)
         on conflict (item_id, source) do update
            set labels = excluded.labels, scores = excluded.scores,
                template_version = excluded.template_version, created_at = now()",
    )
    .bind(item_id)
    .bind(&suggestion.source)
    .bind(Json(&suggestion.labels))
    .bind(Json(&suggestion.scores))
    .bind(template_version)
    .execute(db)
    .await?;
    Ok(())
}

/// A call that gave no suggestion.
pub struct NewFailure<'a> {
    pub run: Uuid,
    pub item: Uuid,
    /// 1 for the first answer, 2 for the answer after the model was told its error.
    pub attempt: i16,
    pub kind: &'a str,
    pub message: &'a str,
    /// The model's text as it came, for an answer that was not labels.
    pub raw: Option<&'a str>,
}

pub async fn record_failure(
    db: impl PgExecutor<'_>,
    failure: &NewFailure<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into judge_failures (run_id, item_id, attempt, kind, message, raw)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(failure.run)
    .bind(failure.item)
    .bind(failure.attempt)
    .bind(failure.kind)
    .bind(failure.message)
    .bind(failure.raw)
    .execute(db)
    .await?;
    Ok(())
}

/// A run as the pages show it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Run {
    pub id: Uuid,
    pub project_id: Uuid,
    pub requested_by: Option<String>,
    pub origin: String,
    pub endpoint: String,
    pub model: String,
    pub source: String,
    pub template_version: String,
    pub options: Json<serde_json::Value>,
    pub state: String,
    pub items_total: i64,
    pub items_done: i64,
    pub stored: i64,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub error: Option<String>,
    pub created_at: OffsetDateTime,
    pub heartbeat_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    /// Whether a `running` run has not been heard from for a minute (its
    /// process was killed): it will not go on by itself.
    pub stale: bool,
}

const RUN_COLUMNS: &str = "r.id, r.project_id, u.username as requested_by, r.origin, r.endpoint,
    r.model, r.source, r.template_version, r.options, r.state, r.items_total, r.items_done,
    r.stored, r.tokens_in, r.tokens_out, r.error, r.created_at, r.heartbeat_at, r.finished_at,
    (r.state = 'running' and r.heartbeat_at < now() - interval '1 minute') as stale";

/// A page of a project's runs, newest first.
pub async fn runs(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    limit: i64,
    offset: i64,
) -> Result<Vec<Run>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {RUN_COLUMNS} from judge_runs r left join users u on u.id = r.requested_by
          where r.project_id = $1 order by r.created_at desc, r.id limit $2 offset $3"
    )))
    .bind(project_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

pub async fn run_count(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from judge_runs where project_id = $1")
        .bind(project_id)
        .fetch_one(db)
        .await
}

pub async fn run(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Run>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {RUN_COLUMNS} from judge_runs r left join users u on u.id = r.requested_by
          where r.id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A failure as the run's page lists it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Failure {
    pub id: i64,
    pub item_id: Uuid,
    pub attempt: i16,
    pub kind: String,
    pub message: String,
    pub raw: Option<String>,
    pub created_at: OffsetDateTime,
}

/// A page of a run's failures, oldest first.
pub async fn failures(
    db: impl PgExecutor<'_>,
    run: Uuid,
    limit: i64,
    offset: i64,
) -> Result<Vec<Failure>, sqlx::Error> {
    sqlx::query_as(
        "select id, item_id, attempt, kind, message, raw, created_at from judge_failures
          where run_id = $1 order by id limit $2 offset $3",
    )
    .bind(run)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

/// A run's failures counted by kind.
pub async fn failure_counts(
    db: impl PgExecutor<'_>,
    run: Uuid,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select kind, count(*) from judge_failures where run_id = $1 group by kind order by kind",
    )
    .bind(run)
    .fetch_all(db)
    .await
}

/// Whether any of the project's runs is going on (heard from in the last
/// minute), asked under a lock on the project's runs held to the end of the
/// transaction: the page starts one run at a time per project, and two
/// requests at once must not both see none.
pub async fn lock_and_check_running(
    tx: &mut PgConnection,
    project_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('judge runs:' || $1::text, 0))")
        .bind(project_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query_scalar(
        "select exists (select 1 from judge_runs where project_id = $1 and state = 'running'
                          and heartbeat_at >= now() - interval '1 minute')",
    )
    .bind(project_id)
    .fetch_one(&mut *tx)
    .await
}

/// Whether the project has a batch with this number.
pub async fn batch_exists(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    batch: i32,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists (select 1 from batches where project_id = $1 and seq = $2)")
        .bind(project_id)
        .bind(batch)
        .fetch_one(db)
        .await
}
