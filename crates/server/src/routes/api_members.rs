//! The JSON API for a project's people (admins): its members, adding and
//! removing them, and its access. The same service as the People section
//! and `safepref project members …` (`projects::members`), so the same rules
//! and audit entries.

use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Json;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::api::{parse, rfc3339};
use super::registry::Routes;
use crate::app::AppState;
use crate::auth::RequireAdmin;
use crate::db::{members::Member, projects::Access};
use crate::error::Result;
use crate::projects::{self, members};

pub fn routes() -> Routes {
    use Method as M;
    Routes::default()
        .add(M::GET, "/api/v1/projects/{id}/members", list)
        .add(M::POST, "/api/v1/projects/{id}/members", add)
        .add(M::DELETE, "/api/v1/projects/{id}/members/{user_id}", remove)
        .add(M::PUT, "/api/v1/projects/{id}/access", set_access)
}

fn member_json(m: &Member) -> Value {
    json!({
        "user_id": m.user_id,
        "username": m.username,
        "role": m.role,
        "disabled": m.disabled,
        "added_at": rfc3339(m.added_at),
    })
}

/// The project's access and every member, by username.
async fn list(
    State(state): State<AppState>,
    RequireAdmin(_): RequireAdmin,
    Path(id): Path<Uuid>,
) -> Result<Json<Value>> {
    let project = projects::find(&state.pool, id).await?;
    let list = members::list(&state.pool, &project).await?;
    let list: Vec<Value> = list.iter().map(member_json).collect();
    Ok(Json(json!({
        "project_id": project.id,
        "access": project.access,
        "members": list,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMembers {
    usernames: Vec<String>,
}

/// Adds annotators and leads by username, all or nothing.
async fn add(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
    Json(body): Json<Value>,
) -> Result<Json<Value>> {
    let body: NewMembers = parse(body)?;
    let project = projects::find(&state.pool, id).await?;
    let added = members::add(
        &state.pool,
        Some(session.user.id),
        &project,
        &body.usernames,
    )
    .await?;
    Ok(Json(
        json!({"added": added.added, "already_members": added.already}),
    ))
}

/// Removes a member; their live leases in a members-only project are
/// released, their annotations stay.
async fn remove(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path((id, user_id)): Path<(Uuid, Uuid)>,
) -> Result<Json<Value>> {
    let project = projects::find(&state.pool, id).await?;
    let removed = members::remove(&state.pool, Some(session.user.id), &project, user_id).await?;
    Ok(Json(
        json!({"removed": removed.username, "leases_released": removed.released}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccess {
    access: Access,
}

/// Sets the project's access; switching to members only releases the live
/// leases of people who are not members.
async fn set_access(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
    Json(body): Json<Value>,
) -> Result<Json<Value>> {
    let body: NewAccess = parse(body)?;
    let project = projects::find(&state.pool, id).await?;
    let change =
        members::set_access(&state.pool, Some(session.user.id), &project, body.access).await?;
    Ok(Json(json!({
        "before": change.before,
        "access": change.after,
        "leases_released": change.released,
    })))
}
