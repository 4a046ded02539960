//! Signing in by a project's crowd entry link
//! (`/p/{slug}/join?worker_id=…&study=…&token=…`): no password; the link's
//! token admits, and joins are rate limited per client address the way
//! failed sign-ins are. The worker is an annotator bound to the project
//! (`users.crowd_project_id`), who can reach nothing else (see
//! `extractors`).

use serde_json::json;

use super::session::{self, NewSession};
use super::sign_in::refuse_beyond;
use crate::app::AppState;
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

/// Checks the link and opens a session for the project's worker with this
/// id (made on their first join). `previous`: a session the request already
/// had, ended (as at sign-in).
pub async fn join(
    state: &AppState,
    join: Join<'_>,
    client: &str,
    user_agent: Option<&str>,
    previous: Option<&[u8]>,
) -> Result<(Project, NewSession), AppError> {
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
    let username = format!("{}:{}", join.slug, join.worker_id);
    let user = match db::crowd::worker(&state.pool, project.id, &username, join.worker_id).await {
        Ok(user) => user,
        Err(e) if db::unique_violation(&e).is_some() => {
            return Err(AppError::Conflict(format!(
                "the user name {username:?} is taken by another account; ask the study's organiser"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if user.disabled {
        return Err(AppError::Forbidden(
            "This account is disabled. Ask the study's organiser.".into(),
        ));
    }
    if let Some(previous) = previous {
        db::sessions::delete(&state.pool, previous).await?;
    }
    let new = session::create(state, &user, user_agent).await?;
    db::audit::record(
        &state.pool,
        Some(user.id),
        "crowd worker joined",
        &crate::projects::subject(project.id),
        None,
        Some(json!({"worker_id": join.worker_id, "study": join.study})),
    )
    .await?;
    Ok((project, new))
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
