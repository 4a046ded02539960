//! The admin page's runs: each goes on in the background of the server
//! that started it, its progress in `judge_runs`; and what the pages read
//! about runs and their failures.

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use super::JudgeError;
use super::client::{ApiKey, ChatClient, Patience};
use super::run::{self, Plan};
use crate::db;
pub use crate::db::judge::{Failure, Run};

/// Starts a run in the background, one per project at a time. The key is
/// the server's `SAFEPREF_LLM_API_KEY`, read now and kept in memory only.
pub async fn start(pool: &PgPool, plan: Plan) -> Result<Uuid, JudgeError> {
    let client = ChatClient::new(
        &plan.endpoint,
        &plan.model,
        ApiKey::from_env(),
        Patience::default(),
    )
    .map_err(JudgeError::Endpoint)?;
    let run = run::begin(pool, &plan).await?;
    let pool = pool.clone();
    let client = Arc::new(client);
    tokio::spawn(async move {
        // Nothing stops a page's run but its end (or the server's).
        let (_keep, stop) = watch::channel(false);
        let ignore = |_: &run::Snapshot| {};
        if let Err(e) = run::execute(&pool, &client, &plan, run, &ignore, stop).await {
            tracing::warn!(%run, "the model suggestion run failed: {e}");
        }
    });
    Ok(run)
}

/// A page of a project's runs, newest first, and their number.
pub async fn list(
    pool: &PgPool,
    project_id: Uuid,
    per_page: i64,
    offset: i64,
) -> Result<(i64, Vec<Run>), JudgeError> {
    let total = db::judge::run_count(pool, project_id).await?;
    let runs = db::judge::runs(pool, project_id, per_page, offset).await?;
    Ok((total, runs))
}

/// One run of the project, its failures counted by kind, and a page of them.
pub struct RunDetail {
    pub run: Run,
    pub template: String,
    pub counts: Vec<(String, i64)>,
    pub failures: Vec<Failure>,
}

pub async fn detail(
    pool: &PgPool,
    project_id: Uuid,
    run_id: Uuid,
    per_page: i64,
    offset: i64,
) -> Result<RunDetail, JudgeError> {
    let run = db::judge::run(pool, run_id)
        .await?
        .filter(|r| r.project_id == project_id)
        .ok_or(JudgeError::NoSuchRun)?;
    let template = db::judge::template(pool, &run.template_version)
        .await?
        .unwrap_or_default();
    let counts = db::judge::failure_counts(pool, run_id).await?;
    let failures = db::judge::failures(pool, run_id, per_page, offset).await?;
    Ok(RunDetail {
        run,
        template,
        counts,
        failures,
    })
}
