//! The JSON API under /api/v1 (more endpoints arrive with projects and the
//! queue). Errors are `{"error": {"code", "message"}}`, drawn by `app`.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Pager;
use crate::app::AppState;
use crate::auth::{CurrentUser, MaybeUser, PeerAddr, RequireAdmin, session, sign_in};
use crate::db::{self, users::User};
use crate::error::Result;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/session", post(create_session).delete(end_session))
        .route("/api/v1/me", get(me))
        .route("/api/v1/users", get(users))
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
    db::sessions::delete(&state.pool, session.token_hash()).await?;
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
