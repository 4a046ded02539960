//! The JSON API under /api/v1: sessions, personal tokens, users, projects
//! with their batches and progress, and the task queue (the same `queue`
//! code as the annotation page). Errors are `{"error": {"code", "message"}}`,
//! drawn by `app`. `openapi` describes every route listed in [`routes`].

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use safepref_core::labels::Labels;
use safepref_core::suggestions::Suggestion;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Pager;
use super::registry::Routes;
use crate::accounts::{ApiToken, User};
use crate::app::AppState;
use crate::auth::{
    CurrentUser, MaybeUser, PeerAddr, RequireAdmin, RequireLead, api_tokens, session, sign_in,
};
use crate::error::{AppError, Result};
use crate::projects::{BatchPage, ItemStates, Progress, Project, StateCounts};
use crate::{accounts, projects, queue, review, suggestions};

/// Every /api/v1 route, one line each. A route added here is recorded as it
/// is routed, and the OpenAPI test (in `openapi`) fails until the document
/// describes it too.
pub fn routes() -> Routes {
    use Method as M;
    Routes::default()
        .add(M::POST, "/api/v1/session", create_session)
        .add(M::DELETE, "/api/v1/session", end_session)
        .add(M::GET, "/api/v1/me", me)
        .add(M::GET, "/api/v1/tokens", token_list)
        .add(M::POST, "/api/v1/tokens", token_create)
        .add(M::DELETE, "/api/v1/tokens/{id}", token_revoke)
        .add(M::GET, "/api/v1/users", users)
        .add(M::GET, "/api/v1/users/{id}/tokens", user_token_list)
        .add(
            M::DELETE,
            "/api/v1/users/{id}/tokens/{token}",
            user_token_revoke,
        )
        .add(M::GET, "/api/v1/projects", project_list)
        .add(M::GET, "/api/v1/projects/{id}", project)
        .add(M::GET, "/api/v1/projects/{id}/batches", batches)
        .add(M::GET, "/api/v1/projects/{id}/progress", progress)
        .add(M::GET, "/api/v1/projects/{id}/report", report)
        .add(
            M::GET,
            "/api/v1/projects/{id}/export",
            super::exports::api_export,
        )
        .add(M::POST, "/api/v1/projects/{id}/lease", lease)
        .add(M::POST, "/api/v1/assignments/{id}/submit", submit)
        .add(M::POST, "/api/v1/assignments/{id}/skip", skip)
        .add(M::GET, "/api/v1/items/{id}/suggestions", suggestion_list)
        .add(M::POST, "/api/v1/items/{id}/suggestions", suggestion_add)
        .add(M::GET, "/api/v1/openapi.json", super::openapi::serve)
        .merge(super::api_review::routes())
        .merge(super::api_members::routes())
}

/// Reads a JSON body into `T`; a body of the wrong shape is a 400 that says
/// what is wrong (axum's own rejection covers bodies that are not JSON).
pub(super) fn parse<T: DeserializeOwned>(body: Value) -> Result<T> {
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
    let (user, new) = sign_in::sign_in(
        &state,
        &headers,
        peer,
        previous.as_ref(),
        &creds.username,
        creds.password,
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
    let pager = Pager::new(query.page, query.per_page.unwrap_or(100).clamp(1, 1000))?;
    let (users, total) = accounts::page(&state.pool, pager.offset(), pager.per_page).await?;
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
    let project = projects::find_for(&state.pool, &session.user, id).await?;
    Ok(
        match lease_value(&state, &project, session.user.id).await? {
            Some(lease) => Json(lease).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    )
}

/// The caller's lease in the project as the API shows it (`lease_json`);
/// None when nothing is left for them.
async fn lease_value(
    state: &AppState,
    project: &Project,
    annotator: Uuid,
) -> Result<Option<Value>> {
    let Some(lease) = queue::lease(&state.pool, project, annotator).await? else {
        return Ok(None);
    };
    Ok(Some(shown_lease(state, project, &lease).await?))
}

/// A lease with the suggestions the project shows for its item
/// (`lease_json`).
async fn shown_lease(state: &AppState, project: &Project, lease: &queue::Lease) -> Result<Value> {
    let shown = queue::shown_suggestions(&state.pool, project, lease.item.id).await?;
    Ok(lease_json(lease, &shown))
}

/// `{assignment_id, item: {id, prompt, prompt_source, responses: [{position, text}], severe}, suggestions, expires_at}`;
/// `suggestions` are those the project shows annotators (none when blind).
fn lease_json(lease: &queue::Lease, shown: &[Suggestion]) -> Value {
    json!({
        "assignment_id": lease.assignment_id,
        "item": lease.item,
        "suggestions": shown,
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

/// `?next=1` on a submit.
#[derive(Deserialize)]
struct SubmitQuery {
    next: Option<String>,
}

/// Stores the labels for an assignment; idempotent on `submission_id`.
/// With `?next=1` the answer also carries the caller's next lease in the
/// project (`next`, as the lease call gives it; null when nothing is left),
/// which saves a client the lease call and its sign-in and project checks.
/// `next` is absent when no lease could be given (paused, the daily cap,
/// a race): the lease call then says why. The labels are stored either way.
async fn submit(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    Path(id): Path<Uuid>,
    Query(query): Query<SubmitQuery>,
    Json(body): Json<Value>,
) -> Result<Json<Value>> {
    let next = match query.next.as_deref() {
        Some(value) => super::flag("next", value)?,
        None => false,
    };
    let body: SubmitBody = parse(body)?;
    let labels: Labels = serde_json::from_value(body.labels)
        .map_err(|e| AppError::BadRequest(format!("labels: {e}")))?;
    let project = queue::project_of_assignment(&state.pool, session.user.id, id).await?;
    let submitted = queue::submit_then_lease(
        &state.pool,
        &project,
        session.user.id,
        (id, body.submission_id),
        &labels,
        body.seconds_spent.unwrap_or(f64::NAN),
        next,
    )
    .await?;
    let feedback = queue::gold_feedback(&state.pool, &project, session.user.id, id).await?;
    let mut answer = json!({ "annotation_id": submitted.annotation_id, "gold_feedback": feedback });
    if next {
        let lease = match &submitted.next {
            Some(lease) => shown_lease(&state, &project, lease).await.map(Some),
            None => lease_value(&state, &project, session.user.id).await,
        };
        match lease {
            Ok(lease) => answer["next"] = lease.unwrap_or(Value::Null),
            Err(e) => tracing::debug!(error = %e, "no next lease with the submit"),
        }
    }
    Ok(Json(answer))
}

/// Every source's suggestion for an item (leads and admins).
async fn suggestion_list(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path(id): Path<Uuid>,
) -> Result<Json<Value>> {
    // An item of a project the lead may not see is no item to them.
    review::find_item_for(&state.pool, &session.user, id).await?;
    let found = suggestions::of_item(&state.pool, id).await?;
    Ok(Json(json!({ "item_id": id, "suggestions": found })))
}

/// Stores a source's suggestion for an item (admins): 201, or 200 when it
/// replaced the source's earlier one.
async fn suggestion_add(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
    Json(body): Json<Value>,
) -> Result<Response> {
    let suggestion: Suggestion = parse(body)?;
    let (_, replaced) = suggestions::add(&state.pool, session.user.id, id, &suggestion).await?;
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let body = json!({"item_id": id, "source": suggestion.source, "replaced": replaced});
    Ok((status, Json(body)).into_response())
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

/// The agreement report (leads and admins): the same numbers as `safepref report`.
async fn report(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path(id): Path<Uuid>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<Value>> {
    let project = projects::find_for(&state.pool, &session.user, id).await?;
    let scope = crate::report::ReportScope::from_pairs(&pairs)?;
    Ok(Json(
        crate::report::build(&state.pool, &project, &scope).await?,
    ))
}

pub(super) fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A token as listed: never its secret.
fn token_json(token: &ApiToken) -> Value {
    let mut value = serde_json::to_value(token).unwrap_or_default();
    value["active"] = token.is_active().into();
    value
}

/// The caller's personal API tokens, newest first (admins).
async fn token_list(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
) -> Result<Json<Value>> {
    let tokens = api_tokens::list(&state.pool, &session.user).await?;
    let tokens: Vec<Value> = tokens.iter().map(token_json).collect();
    Ok(Json(json!({ "tokens": tokens })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    expires_in_days: Option<i64>,
}

/// Makes a personal API token for the caller (admins, signed in with a
/// password): 201 with the token, which is shown this once.
async fn token_create(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Json(body): Json<Value>,
) -> Result<Response> {
    api_tokens::check_may_create(&session)?;
    let body: NewToken = parse(body)?;
    let (token, secret) =
        api_tokens::create(&state.pool, &session.user, &body.name, body.expires_in_days).await?;
    let mut value = token_json(&token);
    value["token"] = secret.into();
    // The secret must not linger in any cache.
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    Ok((StatusCode::CREATED, no_store, Json(value)).into_response())
}

/// Revokes one of the caller's tokens (admins): it stops working at once.
async fn token_revoke(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
) -> Result<Json<Value>> {
    let token = api_tokens::revoke(&state.pool, &session.user, &session.user, id).await?;
    Ok(Json(token_json(&token)))
}

/// Any user's personal API tokens, newest first (admins; never the secrets).
async fn user_token_list(
    State(state): State<AppState>,
    RequireAdmin(_): RequireAdmin,
    Path(id): Path<Uuid>,
) -> Result<Json<Value>> {
    let owner = accounts::find_by_id(&state.pool, id).await?;
    let tokens = api_tokens::list(&state.pool, &owner).await?;
    let tokens: Vec<Value> = tokens.iter().map(token_json).collect();
    Ok(Json(json!({ "tokens": tokens })))
}

/// Revokes any user's token (admins): it stops working at once, audited
/// with the admin as actor.
async fn user_token_revoke(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path((id, token)): Path<(Uuid, Uuid)>,
) -> Result<Json<Value>> {
    let owner = accounts::find_by_id(&state.pool, id).await?;
    let token = api_tokens::revoke(&state.pool, &session.user, &owner, token).await?;
    Ok(Json(token_json(&token)))
}

/// A project's settings, its progress, and the caller's own share of it.
async fn project(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<Json<Value>> {
    let project = projects::find_for(&state.pool, &session.user, id).await?;
    let progress = queue::progress(&state.pool, &project, session.user.id).await?;
    Ok(Json(json!({
        "id": project.id,
        "name": project.name,
        "guidelines": project.guidelines,
        "responses_per_item": project.responses_per_item,
        "annotations_per_item": project.annotations_per_item,
        "lease_seconds": project.lease_seconds,
        "revisable_recent": project.revisable_recent,
        "questions": project.questions,
        "taxonomy": project.taxonomy,
        "gold_rate": project.gold_rate,
        "wellbeing": project.wellbeing,
        "suggestions": project.suggestions,
        "created_at": rfc3339(project.created_at),
        "progress": {
            "items": progress.project_items,
            "complete": progress.project_complete,
            "done_by_me": progress.done_in_project,
            "done_by_me_today": progress.done_today,
        },
    })))
}

/// A project's batches in import order, a page at a time (leads, admins).
async fn batches(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path(id): Path<Uuid>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Value>> {
    let project = projects::find_for(&state.pool, &session.user, id).await?;
    let pager = Pager::new(query.page, query.per_page.unwrap_or(100).clamp(1, 1000))?;
    let BatchPage { total, batches } =
        projects::batch_page(&state.pool, &project, pager.per_page, pager.offset()).await?;
    let pager = pager.with_total(total);
    let batches: Vec<Value> = batches.iter().map(batch_json).collect();
    Ok(Json(json!({
        "total": total, "page": pager.page, "pages": pager.pages, "per_page": pager.per_page,
        "batches": batches,
    })))
}

fn batch_json(row: &Progress) -> Value {
    let b = &row.batch;
    json!({
        "id": b.id,
        "seq": b.seq,
        "file_name": b.file_name,
        "sha256": b.sha256,
        "rows_read": b.rows_read,
        "items_imported": b.items_imported,
        "duplicates_skipped": b.duplicates_skipped,
        "hash_mismatches": b.hash_mismatches,
        "imported_by": b.imported_by,
        "imported_at": rfc3339(b.imported_at),
        "items": {"pending": row.pending, "in_progress": row.in_progress, "complete": row.complete},
        "annotations": row.annotations,
    })
}

/// Where a project's items stand, in all and per batch (leads, admins).
async fn progress(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path(id): Path<Uuid>,
) -> Result<Json<Value>> {
    let project = projects::find_for(&state.pool, &session.user, id).await?;
    let ItemStates { all, batches } = projects::item_states(&state.pool, &project).await?;
    let batches: Vec<Value> = batches
        .iter()
        .map(|b| {
            let mut value = counts_json(&b.counts);
            value["batch_id"] = json!(b.batch_id);
            value["seq"] = json!(b.seq);
            value
        })
        .collect();
    let mut value = counts_json(&all);
    value["project_id"] = json!(id);
    value["batches"] = json!(batches);
    Ok(Json(value))
}

fn counts_json(c: &StateCounts) -> Value {
    json!({
        "items": {
            "total": c.total, "pending": c.pending, "in_progress": c.in_progress,
            "complete": c.complete, "adjudicated": c.adjudicated,
        },
        "annotations": c.annotations,
    })
}
