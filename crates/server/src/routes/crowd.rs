//! Crowd entry: the join link a crowd platform sends its workers to, the
//! completion page once a worker has done the project's quota, and the
//! admin's form for the link (slug, quota, completion code, token).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use uuid::Uuid;

use super::Chrome;
use crate::app::AppState;
use crate::auth::crowd::{self, Join};
use crate::auth::{ActiveSession, MaybeUser, PeerAddr, RequireAdmin, session, sign_in};
use crate::db::projects::Project;
use crate::error::{AppError, Result};
use crate::projects::{self, CrowdEntry, EntryAction};
use crate::queue::{self, GoldFeedback};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/p/{slug}/join", get(join))
        .route("/admin/projects/{id}/crowd", post(set_entry))
}

#[derive(Deserialize)]
struct JoinQuery {
    worker_id: Option<String>,
    study: Option<String>,
    token: Option<String>,
}

/// Signs the worker in (creating their account on the first visit) and
/// sends them to the project's annotation page.
async fn join(
    State(state): State<AppState>,
    MaybeUser(previous): MaybeUser,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    Path(slug): Path<String>,
    Query(query): Query<JoinQuery>,
) -> Result<Response> {
    let client = sign_in::client_address(&state, &headers, peer);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let worker_id = query.worker_id.as_deref().ok_or_else(|| {
        AppError::BadRequest("the link has no worker_id; use the link the study gave you".into())
    })?;
    let join = Join {
        slug: &slug,
        worker_id,
        study: query.study.as_deref(),
        token: query.token.as_deref().unwrap_or(""),
    };
    let previous_hash = previous.as_ref().map(ActiveSession::token_hash);
    let (project, new) = crowd::join(&state, join, &client, user_agent, previous_hash).await?;
    let mut response = Redirect::to(&format!("/annotate/{}", project.id)).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::cookie_for(&state, &new));
    Ok(response)
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/crowd_done.html")]
struct CompletionPage {
    chrome: Chrome,
    project: Project,
    quota: i32,
    code: String,
    feedback: Option<GoldFeedback>,
}

/// For a crowd worker of `project` who has done its quota: the page with
/// the completion code (the annotation page shows it instead of an item).
pub(crate) async fn completion_page(
    state: &AppState,
    session: &ActiveSession,
    project: &Project,
    feedback: Option<GoldFeedback>,
) -> Result<Option<Response>> {
    let (Some(quota), Some(code)) = (project.crowd_quota, &project.crowd_completion_code) else {
        return Ok(None);
    };
    if session.user.crowd_project_id != Some(project.id) {
        return Ok(None);
    }
    let done = queue::progress(&state.pool, project, session.user.id)
        .await?
        .done_in_project;
    if done < i64::from(quota) {
        return Ok(None);
    }
    Ok(Some(
        CompletionPage {
            chrome: Chrome::new(Some(session)),
            project: project.clone(),
            quota,
            code: code.clone(),
            feedback,
        }
        .into_response(),
    ))
}

/// The admin's form on the project page.
async fn set_entry(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response> {
    let project = projects::find(&state.pool, id).await?;
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    };
    let quota = get("quota").parse().map_err(|_| {
        AppError::BadRequest(format!(
            "the items per worker must be a whole number, not {:?}",
            get("quota")
        ))
    })?;
    let action = match get("action") {
        "save" => EntryAction::Save,
        "rotate" => EntryAction::Rotate,
        "close" => EntryAction::Close,
        other => {
            return Err(AppError::BadRequest(format!(
                "action must be save, rotate or close, not {other:?}"
            )));
        }
    };
    let entry = CrowdEntry {
        slug: get("slug").to_string(),
        quota,
        completion_code: get("completion_code").to_string(),
    };
    projects::set_crowd_entry(&state.pool, Some(session.user.id), &project, entry, action).await?;
    Ok(Redirect::to(&format!("/admin/projects/{id}?done=saved")).into_response())
}
