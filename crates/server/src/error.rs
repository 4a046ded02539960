//! One error type for every handler. A failure becomes a response carrying an
//! [`ErrorInfo`]; the `render_errors` middleware in `app` then turns it into
//! the JSON error object (under /api/) or a plain HTML page (elsewhere), so
//! handlers never choose. Internal details go to the log, never to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::accounts::AccountsError;
use crate::queue::{BrokenRules, QueueError};
use crate::wellbeing::WellbeingError;

pub type Result<T, E = AppError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("please sign in to continue")]
    Unauthorized,
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A lead paused the caller's work in the project (403, code `paused`).
    #[error("{0}")]
    Paused(String),
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_seconds: u64,
    },
    #[error("the database is not reachable at the moment; please try again shortly")]
    Unavailable,
    /// Unavailable, and the reason is known (a 503 too).
    #[error("{0}")]
    UnavailableBecause(String),
    #[error("an internal error occurred")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized | AppError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) | AppError::Paused(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable | AppError::UnavailableBecause(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code for the JSON error object.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad_request",
            AppError::Unauthorized => "unauthorized",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::Paused(_) => "paused",
            AppError::TooManyRequests { .. } => "too_many_requests",
            AppError::Unavailable | AppError::UnavailableBecause(_) => "unavailable",
            AppError::Internal(_) => "internal",
        }
    }
}

/// File and stream errors (exports, uploads) are ours to log, not the
/// client's to read.
impl From<std::io::Error> for AppError {
    fn from(err: std::io::Error) -> Self {
        AppError::Internal(err.into())
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        if unreachable(&err) {
            tracing::error!(error = %err, "database unavailable");
            // A busy pool is not a broken one.
            if !matches!(err, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed) {
                crate::db::connections_may_be_broken();
            }
            return AppError::Unavailable;
        }
        AppError::Internal(err.into())
    }
}

/// The database is down, starting, stopping or recovering from a crash, or
/// the connection to it broke: a 503 the client may retry, not a 500.
fn unreachable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => true,
        // Class 08: connection exceptions; 57P01–57P03: the server was shut
        // down, crashed, or cannot take connections yet.
        sqlx::Error::Database(e) => e
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// What the error renderer needs, carried in the response's extensions.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub code: &'static str,
    pub message: String,
    pub retry_after_seconds: Option<u64>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(err) = &self {
            // Logged inside the request's span, so the request id is on the line.
            tracing::error!(error = ?err, "internal error");
        }
        let retry_after_seconds = match &self {
            AppError::TooManyRequests {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            _ => None,
        };
        let info = ErrorInfo {
            code: self.code(),
            message: self.to_string(),
            retry_after_seconds,
        };
        let mut response = (self.status(), info.message.clone()).into_response();
        response.extensions_mut().insert(info);
        response
    }
}

/// An error and its causes on one line, each cause once: wrappers that
/// repeat their source's text in their own (sqlx's migration errors do) add
/// nothing a reader has not seen.
pub fn chain_once(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain().map(ToString::to_string) {
        if line.contains(&cause) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&cause);
    }
    line
}

// review: refusals by kind; the queue's and accounts' answers as they gave them.
impl From<crate::review::ReviewError> for AppError {
    fn from(err: crate::review::ReviewError) -> Self {
        use crate::review::ReviewError as E;
        let message = err.to_string();
        match err {
            E::NoReason
            | E::ReasonTooLong { .. }
            | E::ReasonHasNul
            | E::NoBatchChosen
            | E::BadQuery(_) => AppError::BadRequest(message),
            E::OwnAccount | E::NotAnAnnotator { .. } => AppError::Forbidden(message),
            E::NothingToRequeue(_) | E::Adjudicated => AppError::Conflict(message),
            E::NoSuchItem => AppError::NotFound(message),
            E::BrokenRules(err) => AppError::from(err),
            E::Queue(err) => AppError::from(err),
            E::Accounts(err) => AppError::from(err),
            E::Database(err) => AppError::from(err),
            E::Encode(err) => AppError::Internal(err.into()),
        }
    }
}

// The queue's errors (`crate::queue`).
impl From<QueueError> for AppError {
    fn from(err: QueueError) -> Self {
        use QueueError as Q;
        match err {
            Q::NoSuchAssignment | Q::NoSuchAnnotation => AppError::NotFound(err.to_string()),
            Q::Paused => AppError::Paused(err.to_string()),
            Q::NoteTooLong { .. } | Q::NoteHasNul => AppError::BadRequest(err.to_string()),
            Q::Busy
            | Q::SubmissionIdReused
            | Q::AlreadySubmitted
            | Q::SubmitAfterSkip
            | Q::AdjudicatedMeanwhile
            | Q::ItemComplete
            | Q::TimeRanOut { .. }
            | Q::SkipAfterSubmit
            | Q::RevisionAdjudicated
            | Q::GoldAnswerFinal
            | Q::RevisionTooOld { .. } => AppError::Conflict(err.to_string()),
            Q::Wellbeing(e) => e.into(),
            Q::BrokenRules(e) => e.into(),
            Q::Database(e) => e.into(),
            Q::Internal(e) => AppError::Internal(e),
        }
    }
}

// projects: a project's settings, batches and crowd link.
impl From<crate::projects::ProjectError> for AppError {
    fn from(err: crate::projects::ProjectError) -> Self {
        use crate::projects::ProjectError as E;
        match err {
            E::Database(e) => e.into(),
            E::Invalid(_) => AppError::BadRequest(err.to_string()),
            E::NoSuchProject | E::NoProjectNamed(_) | E::NoSuchBatch => {
                AppError::NotFound(err.to_string())
            }
            E::NameTaken(_)
            | E::Frozen
            | E::ResponsesFixed { .. }
            | E::BatchAnnotated
            | E::LinkTaken(_) => AppError::Conflict(err.to_string()),
        }
    }
}

// Labels that break a project's rules (`crate::queue::check_labels`).
impl From<BrokenRules> for AppError {
    fn from(err: BrokenRules) -> Self {
        AppError::BadRequest(err.0)
    }
}

// The daily cap (`crate::wellbeing`): 429 until midnight UTC.
impl From<WellbeingError> for AppError {
    fn from(err: WellbeingError) -> Self {
        match err {
            WellbeingError::DailyCapReached {
                retry_after_seconds,
                ..
            } => AppError::TooManyRequests {
                message: err.to_string(),
                retry_after_seconds,
            },
            WellbeingError::Database(e) => e.into(),
        }
    }
}

// report: a scope it cannot read is the client's mistake; the rest is ours.
impl From<crate::report::ReportError> for AppError {
    fn from(err: crate::report::ReportError) -> Self {
        use crate::report::ReportError as E;
        let message = err.to_string();
        match err {
            E::BadValue { .. } | E::UnknownParameter(_) => AppError::BadRequest(message),
            E::Database(err) => AppError::from(err),
            E::ReaderFailed(_) => AppError::Internal(anyhow::anyhow!(message)),
        }
    }
}

// suggestions: a machine suggestion sent for one item.
impl From<crate::suggestions::SuggestionError> for AppError {
    fn from(err: crate::suggestions::SuggestionError) -> Self {
        use crate::suggestions::SuggestionError as E;
        match err {
            E::Database(e) => e.into(),
            E::Project(e) => e.into(),
            E::NoSuchItem => AppError::NotFound(err.to_string()),
            E::BrokenRules(_) => AppError::BadRequest(err.to_string()),
        }
    }
}

// dashboard: a filter it cannot read is the client's mistake; the report's
// and review's errors as they give them.
impl From<crate::dashboard::DashboardError> for AppError {
    fn from(err: crate::dashboard::DashboardError) -> Self {
        use crate::dashboard::DashboardError as E;
        let message = err.to_string();
        match err {
            E::BadParameter(_) | E::UnknownParameter(_) | E::EmptySpan | E::NoSuchBatch(_) => {
                AppError::BadRequest(message)
            }
            E::Report(err) => AppError::from(err),
            E::Review(err) => AppError::from(err),
            E::Database(err) => AppError::from(err),
            E::ConfusionWorkerStopped | E::ConfusionFailed(_) => {
                AppError::Internal(anyhow::anyhow!(message))
            }
            E::Encode(err) => AppError::Internal(err.into()),
        }
    }
}

// audit_log: only the database can fail.
impl From<crate::audit_log::AuditLogError> for AppError {
    fn from(err: crate::audit_log::AuditLogError) -> Self {
        match err {
            crate::audit_log::AuditLogError::Database(err) => AppError::from(err),
        }
    }
}

// import: files imported into a project, or a side file of suggestions.
impl From<crate::import::ImportError> for AppError {
    fn from(err: crate::import::ImportError) -> Self {
        use crate::import::ImportError as E;
        match err {
            E::Database(e) => e.into(),
            E::AlreadyImported { .. } => AppError::Conflict(err.to_string()),
            E::Invalid { .. } | E::Unreadable(_) => AppError::BadRequest(err.to_string()),
        }
    }
}

// export: the exporter, its options and the admin page's jobs.
impl From<crate::export::ExportError> for AppError {
    fn from(err: crate::export::ExportError) -> Self {
        use crate::export::ExportError as E;
        match err {
            E::Io(e) => e.into(),
            E::Database(e) => e.into(),
            E::Internal(e) => AppError::Internal(e),
            E::BadOptions(_) | E::NeedsDirectory(_) | E::CannotCreate { .. } => {
                AppError::BadRequest(err.to_string())
            }
            E::Exists(_) => AppError::Conflict(err.to_string()),
            E::NoSuchProject | E::NoFinishedJob | E::NoSuchFile(_) => {
                AppError::NotFound(err.to_string())
            }
        }
    }
}

// judge: asking a model for suggestions; a run's options and a template the
// caller gave are theirs to fix, a run that is not there a 404.
impl From<crate::judge::JudgeError> for AppError {
    fn from(err: crate::judge::JudgeError) -> Self {
        use crate::judge::JudgeError as E;
        match err {
            E::BadOptions(_) | E::Template(_) | E::Model(_) | E::Endpoint(_) => {
                AppError::BadRequest(err.to_string())
            }
            E::NoSuchBatch { .. } | E::NoSuchRun => AppError::NotFound(err.to_string()),
            E::AlreadyRunning => AppError::Conflict(err.to_string()),
            E::Project(e) => e.into(),
            E::Database(e) => e.into(),
        }
    }
}

// Account operations (`crate::accounts`).
impl From<AccountsError> for AppError {
    fn from(err: AccountsError) -> Self {
        use AccountsError as A;
        match err {
            A::UsernameLength
            | A::UsernameCharacters(_)
            | A::WeakPassword(_)
            | A::WrongPassword => AppError::BadRequest(err.to_string()),
            A::UsernameTaken(_) | A::LastAdmin { .. } => AppError::Conflict(err.to_string()),
            A::NoSuchUsername(_) | A::NoSuchUser => AppError::NotFound(err.to_string()),
            A::Auth(e) => e,
            A::Queue(e) => e.into(),
            A::Database(e) => e.into(),
        }
    }
}

// Managing a project's people (`crate::projects::members`): a username
// that cannot be added is the caller's mistake; a member or user that is
// not there is a 404.
impl From<crate::projects::members::MembersError> for AppError {
    fn from(err: crate::projects::members::MembersError) -> Self {
        use crate::projects::members::MembersError as E;
        match err {
            E::Database(e) => e.into(),
            E::Queue(e) => e.into(),
            E::CannotAdd(_) | E::NoUsernames | E::TooMany(_) => {
                AppError::BadRequest(err.to_string())
            }
            E::NotMember(_) | E::NoSuchUser | E::NoUserNamed(_) => {
                AppError::NotFound(err.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("while executing migration 1: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn each_cause_is_printed_once() {
        let io = std::io::Error::other("cannot execute CREATE TABLE in a read-only transaction");
        let err = anyhow::Error::new(Repeats(io)).context("applying database migrations");
        assert_eq!(
            chain_once(&err),
            "applying database migrations: while executing migration 1: \
             cannot execute CREATE TABLE in a read-only transaction"
        );
        let plain = anyhow::anyhow!("disk full").context("writing out.jsonl");
        assert_eq!(chain_once(&plain), "writing out.jsonl: disk full");
    }
}
