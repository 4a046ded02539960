//! What can go wrong on the dashboard: a filter it cannot read, or a
//! failure computing or reading its figures. `impl From<DashboardError> for
//! AppError` (in `crate::error`) gives each its status.

use crate::report::ReportError;
use crate::review::ReviewError;

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// A filter or order with a value it cannot take; the text names the
    /// parameter first.
    #[error("{0}")]
    BadParameter(String),
    /// A parameter the dashboard does not have (named).
    #[error(
        "{0} is not a dashboard parameter (batch, since, until, annotator, suggestion_mode, sort, dir, fresh)"
    )]
    UnknownParameter(String),
    /// `until` not after `since`.
    #[error("until: must be later than since")]
    EmptySpan,
    #[error("batch: this project has no batch {0}")]
    NoSuchBatch(i32),
    /// The report's, as it gave it: a scope value it cannot read, or a
    /// failure reading the scope.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// Refreshing the review flags (the warmer), as review gave it.
    #[error(transparent)]
    Review(#[from] ReviewError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The severity confusion's worker thread went away before the pass
    /// ended.
    #[error("the severity confusion's worker stopped")]
    ConfusionWorkerStopped,
    /// The severity confusion's worker thread panicked.
    #[error("the severity confusion: {0}")]
    ConfusionFailed(tokio::task::JoinError),
    /// The figures could not be turned into JSON for the cache.
    #[error(transparent)]
    Encode(#[from] serde_json::Error),
}
