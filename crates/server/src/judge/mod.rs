//! A model in the loop: safepref asks a language model, through an
//! OpenAI-compatible chat endpoint, for a suggestion per item (`safepref
//! suggest` and the admin page's job). Every answer passes the same label
//! rules as a person's; an answer that does not is kept as a failure with
//! its raw text, and the model is told why once.
//!
//! - `client`: the HTTP calls, with timeouts, retries and `Retry-After`;
//! - `run`: one run over a project's items, resumable, with progress;
//! - `dry_run`: `--dry-run`, which asks and shows but stores nothing;
//! - `jobs`: the admin page's runs in the background, and what its pages read.

pub mod client;
pub mod dry_run;
pub mod jobs;
pub mod run;

use safepref_core::judge::TemplateError;

use crate::projects::ProjectError;

pub use client::{ApiKey, ChatClient, Patience};
pub use run::{Origin, Plan, Snapshot, Summary};

/// What stops a run from starting or going on.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error("the template is not usable: {0}")]
    Template(#[from] TemplateError),
    #[error("{0}")]
    Model(String),
    #[error("{0}")]
    Endpoint(String),
    #[error("{0}")]
    BadOptions(String),
    #[error("project {project:?} has no batch {batch}")]
    NoSuchBatch { project: String, batch: i32 },
    #[error("a run is already asking a model for this project's suggestions; wait for it to end")]
    AlreadyRunning,
    #[error("there is no such run")]
    NoSuchRun,
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}
