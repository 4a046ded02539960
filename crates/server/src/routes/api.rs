//! The JSON API under /api/v1: sessions, users, and the task queue (the
//! same `queue` code as the annotation page). Errors are
//! `{"error": {"code", "message"}}`, drawn by `app`.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use safepref_core::labels::Labels;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Pager;
use crate::app::AppState;
use crate::auth::{CurrentUser, MaybeUser, PeerAddr, RequireAdmin, RequireLead, session, sign_in};
use crate::db::{self, users::User};
use crate::error::{AppError, Result};
use crate::{projects, queue};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/session", post(create_session).delete(end_session))
        .route("/api/v1/me", get(me))
        .route("/api/v1/users", get(users))
        .route("/api/v1/projects", get(project_list))
        .route("/api/v1/projects/{id}/report", get(report))
        .route("/api/v1/projects/{id}/lease", post(lease))
        .route("/api/v1/assignments/{id}/submit", post(submit))
        .route("/api/v1/assignments/{id}/skip", post(skip))
}

/// Reads a JSON body into `T`; a body of the wrong shape is a 400 that says
/// what is wrong (axum's own rejection covers bodies that are not JSON).
fn parse<T: DeserializeOwned>(body: Value) -> Result<T> {
    serde_json::from_value(body).map_err(|e| AppError::BadRequest(e.to_string()))
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

/// Signs in. The cookie is set for browsers; `token` serves scripts as
/// `Authorization: Bearer <token>`.
async fn create_session(
    State(state): State<AppState>,
    MaybeUser(previous): MaybeUser,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    Json(creds): Json<Credentials>,
) -> Result<Response> {
    let client = sign_in::client_address(&state, &headers, peer);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let previous_hash = previous.as_ref().map(|s| s.token_hash());
    let (user, new) = sign_in::sign_in(
        &state,
        &creds.username,
        creds.password,
        &client,
        user_agent,
        previous_hash,
    )
    .await?;
    let body = json!({
        "token": new.token,
        "csrf_token": new.csrf_token,
        "expires_at": new.expires_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "user": user_json(&user),
    });
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::cookie_for(&state, &new));
    Ok(response)
}

async fn end_session(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
) -> Result<Response> {
    super::end_session(&state, &session).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::clearing_cookie(&state));
    Ok(response)
}

fn user_json(user: &User) -> Value {
    json!({"id": user.id, "username": user.username, "role": user.role})
}

async fn me(CurrentUser(session): CurrentUser) -> Json<Value> {
    Json(user_json(&session.user))
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<i64>,
    per_page: Option<i64>,
}

/// All accounts, a page at a time (`?page=1&per_page=100`, at most 1000 a page).
async fn users(
    State(state): State<AppState>,
    RequireAdmin(_): RequireAdmin,
    Query(query): Query<PageQuery>,
) -> Result<Json<Value>> {
    let pager = Pager::new(query.page, query.per_page.unwrap_or(100).clamp(1, 1000));
    let (users, total) = db::users::page(&state.pool, pager.offset(), pager.per_page).await?;
    let pager = pager.with_total(total);
    Ok(Json(
        json!({"total": total, "page": pager.page, "pages": pager.pages, "users": users}),
    ))
}

/// The projects the caller may annotate, with their progress.
async fn project_list(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
) -> Result<Json<Value>> {
    let projects = queue::projects_for(&state.pool, &session.user).await?;
    Ok(Json(json!({ "projects": projects })))
}

/// The caller's next item (their live lease, if they have one): 200 with
/// the lease, or 204 when nothing is left for them.
async fn lease(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Response> {
    let project = projects::find(&state.pool, id).await?;
    Ok(
        match queue::lease(&state.pool, &project, session.user.id).await? {
            Some(lease) => Json(lease_json(&lease)).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    )
}

/// `{assignment_id, item: {id, prompt, prompt_source, responses: [{position, text}], severe}, expires_at}`.
fn lease_json(lease: &queue::Lease) -> Value {
    json!({
        "assignment_id": lease.assignment_id,
        "item": lease.item,
        "expires_at": lease
            .expires_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    submission_id: Uuid,
    labels: Value,
    /// Active seconds the client measured; absent: not measured.
    seconds_spent: Option<f64>,
}

/// Stores the labels for an assignment; idempotent on `submission_id`.
async fn submit(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<Value>,
) -> Result<Json<Value>> {
    let body: SubmitBody = parse(body)?;
    let labels: Labels = serde_json::from_value(body.labels)
        .map_err(|e| AppError::BadRequest(format!("labels: {e}")))?;
    let project = queue::project_of_assignment(&state.pool, session.user.id, id).await?;
    let annotation_id = queue::submit(
        &state.pool,
        &project,
        session.user.id,
        id,
        body.submission_id,
        &labels,
        body.seconds_spent.unwrap_or(f64::NAN),
    )
    .await?;
    Ok(Json(json!({ "annotation_id": annotation_id })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SkipBody {
    reason: queue::SkipReason,
    note: Option<String>,
}

/// Gives an item back with a reason: 204.
async fn skip(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<Value>,
) -> Result<StatusCode> {
    let body: SkipBody = parse(body)?;
    let project = queue::project_of_assignment(&state.pool, session.user.id, id).await?;
    queue::skip(
        &state.pool,
        &project,
        session.user.id,
        id,
        body.reason,
        body.note.as_deref(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ReportQuery {
    batch: Option<i32>,
}

/// The agreement report (leads and admins): the same numbers as `safepref report`.
async fn report(
    State(state): State<AppState>,
    RequireLead(_): RequireLead,
    Path(id): Path<Uuid>,
    Query(query): Query<ReportQuery>,
) -> Result<Json<Value>> {
    let project = crate::projects::find(&state.pool, id).await?;
    Ok(Json(
        crate::report::build(&state.pool, &project, query.batch).await?,
    ))
}
