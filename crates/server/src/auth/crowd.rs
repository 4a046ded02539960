//! Signing in by a project's crowd entry link
//! (`/p/{slug}/join?worker_id=…&study=…&token=…`): no password; the link's
//! token admits, and joins are rate limited per client address the way
//! failed sign-ins are. The worker is an annotator bound to the project
//! (`users.crowd_project_id`), who can reach nothing else (see
//! `extractors`), and to the browser that first joined as them
//! (`users.crowd_browser_hash`): the link and a worker id are not enough
//! to become that worker elsewhere.

use axum::http::{HeaderMap, HeaderValue};
use serde_json::json;

use super::session::{self, ActiveSession, NewSession};
use super::sign_in::refuse_beyond;
use crate::app::AppState;
use crate::config::Config;
use crate::db::{self, projects::Project};
use crate::error::AppError;

/// The longest worker id and study id accepted.
const MAX_WORKER_ID: usize = 40;
const MAX_STUDY: usize = 100;

/// What the entry link carries.
#[derive(Debug, Clone, Copy)]
pub struct Join<'a> {
    pub slug: &'a str,
    pub worker_id: &'a str,
    pub study: Option<&'a str>,
    pub token: &'a str,
}

/// Checks the link: counts the join against the client's limit, then the
/// project, its token and the ids. Changes no account and no session.
pub async fn check(state: &AppState, join: Join<'_>, client: &str) -> Result<Project, AppError> {
    let window = state.config.throttle.window.as_secs() as i64;
    let seen = db::crowd::joins_within(&state.pool, client, window).await?;
    refuse_beyond(
        seen,
        state.config.throttle.max_failures_per_client,
        "Too many study joins from your address",
    )?;
    db::crowd::record_join(&state.pool, client).await?;
    let project = db::crowd::project_by_slug(&state.pool, join.slug)
        .await?
        .ok_or_else(|| {
            AppError::NotFound(
                "There is no study at this link; check the link you were given.".into(),
            )
        })?;
    let admitted = project
        .crowd_token
        .as_deref()
        .is_some_and(|token| super::constant_time_eq(token.as_bytes(), join.token.as_bytes()));
    if !admitted {
        return Err(AppError::Forbidden(
            "This study link is not valid (or no longer valid). Ask the study's organiser for the current link."
                .into(),
        ));
    }
    check_ids(join)?;
    Ok(project)
}

/// Whether `session` is already this worker of `project`: joining again
/// then replaces nobody's session, so there is nothing to ask.
pub fn is_worker(session: &ActiveSession, project: &Project, worker_id: &str) -> bool {
    session.user.crowd_project_id == Some(project.id)
        && session.user.external_id.as_deref() == Some(worker_id)
}

/// Opens a session for the project's worker with this id (made on their
/// first join) in the browser whose crowd cookie hashes to `browser_hash`.
/// The account is bound to the first browser that joins as it; any other
/// browser is refused. `previous`: the browser's session, ended only once
/// the worker is admitted.
pub async fn enter(
    state: &AppState,
    project: &Project,
    join: Join<'_>,
    browser_hash: &[u8],
    user_agent: Option<&str>,
    previous: Option<&[u8]>,
) -> Result<NewSession, AppError> {
    let username = format!("{}:{}", join.slug, join.worker_id);
    let worker = match db::crowd::worker(
        &state.pool,
        project.id,
        &username,
        join.worker_id,
        browser_hash,
    )
    .await
    {
        Ok(worker) => worker,
        Err(e) if db::unique_violation(&e).is_some() => {
            return Err(AppError::Conflict(format!(
                "the user name {username:?} is taken by another account; ask the study's organiser"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if worker.user.disabled {
        return Err(AppError::Forbidden(
            "This account is disabled. Ask the study's organiser.".into(),
        ));
    }
    let bound_here = worker
        .crowd_browser_hash
        .is_some_and(|bound| super::constant_time_eq(&bound, browser_hash));
    if !bound_here {
        return Err(refuse_other_browser(state, project, join).await?);
    }
    if let Some(previous) = previous {
        db::sessions::delete(&state.pool, previous).await?;
    }
    let new = session::create(state, &worker.user, user_agent).await?;
    db::audit::record(
        &state.pool,
        Some(worker.user.id),
        "crowd worker joined",
        &crate::projects::subject(project.id),
        None,
        Some(json!({"worker_id": join.worker_id, "study": join.study})),
    )
    .await?;
    Ok(new)
}

/// Records a join as a worker from a browser other than theirs (the
/// organiser sees it in the audit log) and says what to do.
async fn refuse_other_browser(
    state: &AppState,
    project: &Project,
    join: Join<'_>,
) -> Result<AppError, AppError> {
    db::audit::record(
        &state.pool,
        None,
        "crowd join refused: another browser",
        &crate::projects::subject(project.id),
        None,
        Some(json!({"worker_id": join.worker_id, "study": join.study})),
    )
    .await?;
    Ok(AppError::Forbidden(format!(
        "Worker {:?} has already joined this study from another browser, and can continue only in that one \
         (so that nobody else can work or collect the completion code under this worker id). \
         Open the study link in the browser you used before; if you cannot, write to the study's organiser.",
        join.worker_id
    )))
}

/// The worker id: 1 to 40 letters, digits, `-`, `_` or `.`; the study id
/// at most 100 characters.
fn check_ids(join: Join<'_>) -> Result<(), AppError> {
    let id = join.worker_id;
    let id_ok = (1..=MAX_WORKER_ID).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !id_ok {
        return Err(AppError::BadRequest(format!(
            "worker_id must be 1 to {MAX_WORKER_ID} letters, digits, '-', '_' or '.'; the link gave {id:?}"
        )));
    }
    if join
        .study
        .is_some_and(|s| s.chars().count() > MAX_STUDY || s.contains('\0'))
    {
        return Err(AppError::BadRequest(format!(
            "study must be at most {MAX_STUDY} characters"
        )));
    }
    Ok(())
}

/// The cookie that binds crowd workers to a browser. Secure, it takes the
/// `__Host-` prefix, so a sibling subdomain cannot plant a value it knows
/// before the worker's first join.
const BROWSER_COOKIE: &str = "safepref_crowd_browser";
const SECURE_BROWSER_COOKIE: &str = "__Host-safepref_crowd_browser";
/// About as long as browsers keep a cookie (400 days): a study may run for
/// months, and losing the cookie locks the worker out.
const BROWSER_COOKIE_SECONDS: u64 = 400 * 24 * 3600;

fn browser_cookie_name(config: &Config) -> &'static str {
    if config.secure_cookies {
        SECURE_BROWSER_COOKIE
    } else {
        BROWSER_COOKIE
    }
}

/// This browser's crowd token: the one its cookie carries, or a new one
/// for a browser without (or with something that is not one of ours).
pub fn browser_token(headers: &HeaderMap, config: &Config) -> String {
    super::session::cookie_value(headers, browser_cookie_name(config))
        .filter(|token| {
            token.len() == 43
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .unwrap_or_else(super::random_token)
}

/// `Set-Cookie` for the browser's crowd token (sent at every join, which
/// renews its lifetime).
pub fn browser_cookie(config: &Config, token: &str) -> HeaderValue {
    let name = browser_cookie_name(config);
    let secure = if config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={BROWSER_COOKIE_SECONDS}{secure}"
    );
    HeaderValue::from_str(&cookie).expect("cookie made of URL-safe characters")
}
