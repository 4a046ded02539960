//! Crowd entry: the join link a crowd platform sends its workers to, the
//! completion page once a worker has done the project's quota, and the
//! admin's form for the link (slug, quota, completion code, token).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::fields::form_field;
use super::registry::Routes;
use super::{Chrome, ConfirmPage};
use crate::app::AppState;
use crate::auth::crowd::{self, Join};
use crate::auth::{ActiveSession, MaybeUser, PeerAddr, RequireAdmin, session, sign_in};
use crate::error::{AppError, Result};
use crate::projects::Project;
use crate::projects::{self, CrowdEntry, EntryAction};
use crate::queue::{self, GoldFeedback};

pub fn routes() -> Routes {
    Routes::default()
        .get("/p/{slug}/join", join)
        .post("/p/{slug}/join", join_confirmed)
        .post("/admin/projects/{id}/crowd", set_entry)
}

#[derive(Deserialize)]
struct JoinQuery {
    worker_id: Option<String>,
    study: Option<String>,
    token: Option<String>,
}

impl JoinQuery {
    fn join<'a>(&'a self, slug: &'a str) -> Result<Join<'a>> {
        let worker_id = self.worker_id.as_deref().ok_or_else(|| {
            AppError::BadRequest(
                "the link has no worker_id; use the link the study gave you".into(),
            )
        })?;
        Ok(Join {
            slug,
            worker_id,
            study: self.study.as_deref(),
            token: self.token.as_deref().unwrap_or(""),
        })
    }
}

/// The link as a page of its own, read and checked (the project's link is
/// open, the token right, the client not over its join limit).
async fn checked_join<'a>(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
    slug: &'a str,
    query: &'a JoinQuery,
) -> Result<(Join<'a>, Project)> {
    refuse_unless_top_level(headers)?;
    let join = query.join(slug)?;
    let client = sign_in::client_address(state, headers, peer);
    let project = crowd::check(state, join, &client).await?;
    Ok((join, project))
}

/// The link as followed: signs the worker in (creating their account on
/// the first visit) and sends them to the project's annotation page. A
/// browser signed in as someone else is asked first (nothing is ended).
async fn join(
    State(state): State<AppState>,
    MaybeUser(previous): MaybeUser,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    uri: OriginalUri,
    Path(slug): Path<String>,
    Query(query): Query<JoinQuery>,
) -> Result<Response> {
    let (join, project) = checked_join(&state, &headers, peer, &slug, &query).await?;
    if let Some(session) = &previous
        && !crowd::is_worker(session, &project, join.worker_id)
    {
        return Ok(switch_page(session, &project, join, &uri).into_response());
    }
    enter(&state, &headers, &project, join, previous.as_ref()).await
}

/// The switch page's form: the same link, posted with the CSRF token of
/// the session it ends.
async fn join_confirmed(
    State(state): State<AppState>,
    MaybeUser(previous): MaybeUser,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    Path(slug): Path<String>,
    Query(query): Query<JoinQuery>,
) -> Result<Response> {
    let (join, project) = checked_join(&state, &headers, peer, &slug, &query).await?;
    enter(&state, &headers, &project, join, previous.as_ref()).await
}

/// A join is a page the worker opens (`Sec-Fetch-Mode: navigate`,
/// `Sec-Fetch-Dest: document`), from the platform's site too; an image,
/// script, fetch or frame of another page cannot sign a browser in. A
/// client that sends no fetch metadata (older browsers, scripts) is let
/// through.
fn refuse_unless_top_level(headers: &HeaderMap) -> Result<()> {
    let is = |name: &str, wanted: &str| headers.get(name).is_none_or(|v| v == wanted);
    if is("sec-fetch-mode", "navigate") && is("sec-fetch-dest", "document") {
        return Ok(());
    }
    Err(AppError::Forbidden(
        "A study link works only when opened as a page of its own (clicked, or typed in the \
         address bar), not loaded inside another page. Open the link directly."
            .into(),
    ))
}

/// Says who is signed in and asks before switching to the worker.
fn switch_page(
    session: &ActiveSession,
    project: &Project,
    join: Join<'_>,
    uri: &OriginalUri,
) -> ConfirmPage {
    let who = &session.user.username;
    let cancel_href = match session.user.crowd_project_id {
        Some(theirs) => format!("/annotate/{theirs}"),
        None => "/".to_string(),
    };
    ConfirmPage {
        chrome: Chrome::new(Some(session)),
        title: "Sign out and join the study?".into(),
        explanation: format!(
            "This browser is signed in as {who}. Joining the study “{}” as worker {} signs {who} out here.",
            project.name, join.worker_id
        ),
        action: uri.to_string(),
        confirm_label: "Sign out and join",
        cancel_href,
        ask_password: false,
        min_length: 0,
    }
}

/// Signs the worker in from this browser, sets its crowd cookie and the
/// session cookie, and sends them to their work.
async fn enter(
    state: &AppState,
    headers: &HeaderMap,
    project: &Project,
    join: Join<'_>,
    previous: Option<&ActiveSession>,
) -> Result<Response> {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let browser = crowd::browser_token(headers, &state.config);
    let previous_hash = previous.map(ActiveSession::token_hash);
    let new = crowd::enter(
        state,
        project,
        join,
        &session::hash_token(&browser),
        user_agent,
        previous_hash,
    )
    .await?;
    let mut response = Redirect::to(&format!("/annotate/{}", project.id)).into_response();
    let cookies = response.headers_mut();
    cookies.append(
        header::SET_COOKIE,
        crowd::browser_cookie(&state.config, &browser),
    );
    cookies.append(header::SET_COOKIE, session::cookie_for(state, &new));
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
    let get = |name: &str| form_field(&fields, name).map_or("", str::trim);
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
