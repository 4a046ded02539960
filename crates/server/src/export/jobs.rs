//! The admin page's export jobs: each runs in the background into a
//! directory of its own under the exports folder, its progress and outcome
//! in `export_jobs`; a project keeps only its newest finished jobs.

use std::path::{Path, PathBuf};

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::files::{self, Destination};
use super::{ExportError, Options};
pub use crate::db::export::Job;
use crate::db::{self, projects::Project};
use crate::error::AppError;

/// A page of a project's export jobs, newest first.
pub struct JobList {
    /// The project's jobs in all.
    pub total: i64,
    pub jobs: Vec<Job>,
    /// The project's suggestion sources, for the Dawid–Skene source choice.
    pub sources: Vec<String>,
}

pub async fn list(
    pool: &PgPool,
    project_id: Uuid,
    per_page: i64,
    offset: i64,
) -> Result<JobList, ExportError> {
    let total = db::export::job_count(pool, project_id).await?;
    let jobs = db::export::jobs(pool, project_id, per_page, offset).await?;
    let sources = db::suggestions::sources(pool, project_id).await?;
    Ok(JobList {
        total,
        jobs,
        sources: sources.into_iter().map(|(name, _)| name).collect(),
    })
}

/// Where jobs write, and how many finished ones a project keeps.
#[derive(Debug, Clone)]
pub struct Storage {
    pub dir: PathBuf,
    pub kept: u32,
}

/// Records a job exporting `project` with `options` (checked already),
/// audited, and runs it in the background. Returns the job's id.
pub async fn start(
    pool: &PgPool,
    actor: Uuid,
    project: Project,
    options: Options,
    storage: Storage,
) -> Result<Uuid, ExportError> {
    let job = Uuid::new_v4();
    db::export::create_job(pool, job, project.id, actor, &options.to_json()).await?;
    db::audit::record(
        pool,
        Some(actor),
        "export started",
        &crate::projects::subject(project.id),
        None,
        Some(json!({"job": job, "options": options.to_json()})),
    )
    .await?;
    tokio::spawn(run(pool.clone(), job, project, options, storage));
    Ok(job)
}

/// Runs the job into its directory, records how it ended, then prunes the
/// project's old jobs.
async fn run(pool: PgPool, job: Uuid, project: Project, options: Options, storage: Storage) {
    let dir = storage.dir.join(job.to_string());
    if let Some(parent) = dir.parent() {
        let _ = tokio::fs::create_dir_all(parent).await;
    }
    let outcome = files::export_to(
        &pool,
        &project,
        &options,
        &Destination::Directory(dir),
        Some(job),
    )
    .await;
    let finished = match outcome {
        Ok(manifest) => db::export::finish_job(&pool, job, Ok(&manifest)).await,
        Err(e) => {
            // The page shows the error as a response would word it: the
            // details of an internal one go only to this log line.
            let e = AppError::from(e);
            tracing::warn!(job = %job, "export failed: {e:?}");
            db::export::finish_job(&pool, job, Err(&e.to_string())).await
        }
    };
    if let Err(e) = finished {
        tracing::error!(job = %job, "could not record the export's end: {e}");
    }
    prune(&pool, &storage, project.id).await;
}

/// Keeps the newest `kept` finished jobs of a project: older ones lose
/// their row and their files (a job's files are its directory).
async fn prune(pool: &PgPool, storage: &Storage, project: Uuid) {
    let old = match db::export::prune_jobs(pool, project, i64::from(storage.kept)).await {
        Ok(old) => old,
        Err(e) => return tracing::warn!(%project, "could not prune old export jobs: {e}"),
    };
    for job in old {
        let dir = storage.dir.join(job.to_string());
        if let Err(e) = tokio::fs::remove_dir_all(&dir).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%job, "could not remove {}: {e}", dir.display());
        }
    }
}

/// A finished job's downloadable files: its outputs, manifest and card.
pub fn files(job: &Job) -> Vec<String> {
    let Some(manifest) = &job.manifest else {
        return Vec::new();
    };
    let mut names: Vec<String> = manifest.0["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["name"].as_str().map(String::from))
        .collect();
    names.push("manifest.json".into());
    if manifest.0["options"]["format"] == "safe-rlhf" {
        names.push("README.md".into());
    }
    names
}

/// Where one file of a finished job is: only a name its manifest lists,
/// never a path from the request.
pub async fn finished_file(
    pool: &PgPool,
    dir: &Path,
    job: Uuid,
    name: &str,
) -> Result<PathBuf, ExportError> {
    let found = db::export::job(pool, job)
        .await?
        .filter(|j| j.state == "done")
        .ok_or(ExportError::NoFinishedJob)?;
    if !files(&found).iter().any(|listed| listed == name) {
        return Err(ExportError::NoSuchFile(name.to_string()));
    }
    Ok(dir.join(job.to_string()).join(name))
}
