//! Role extractors. A handler states who may call it in its signature:
//! `CurrentUser` (anyone signed in), `RequireLead` (lead or admin),
//! `RequireAdmin`. Anonymous callers get 401 (a page is sent to sign in and
//! back); a wrong role gets 403 saying which role the page needs.

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;

use uuid::Uuid;

use super::session::{ActiveSession, SessionSlot};
use crate::db::users::Role;
use crate::error::AppError;

/// Anyone signed in.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub ActiveSession);

/// A lead or an admin.
#[derive(Debug, Clone)]
pub struct RequireLead(pub ActiveSession);

/// An admin.
#[derive(Debug, Clone)]
pub struct RequireAdmin(pub ActiveSession);

/// The session if there is one; never refuses.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<ActiveSession>);

fn session(parts: &Parts) -> Option<ActiveSession> {
    parts
        .extensions
        .get::<SessionSlot>()
        .and_then(|slot| slot.0.clone())
}

fn require(parts: &Parts, needed: Role, who: &str) -> Result<ActiveSession, AppError> {
    let session = session(parts).ok_or(AppError::Unauthorized)?;
    if let Some(project) = session.user.crowd_project_id {
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.path(), |uri| uri.path());
        if !crowd_may_reach(path, project) {
            return Err(AppError::Forbidden(
                "You joined through a study's link, so you can only work on that study's items. \
                 Use the study's link to continue."
                    .into(),
            ));
        }
    }
    if session.user.role < needed {
        return Err(AppError::Forbidden(format!(
            "This page is for {who}. You are signed in as {} ({}); ask an admin if you need access.",
            session.user.username, session.user.role
        )));
    }
    Ok(session)
}

/// What a crowd worker (bound to `project`) may open: that project's
/// annotation pages and nothing else — no other project, no lead or admin
/// page, no API, no account pages (they have no password to change).
fn crowd_may_reach(path: &str, project: Uuid) -> bool {
    let own = format!("/annotate/{project}");
    path == own
        || path
            .strip_prefix(&own)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        require(parts, Role::Annotator, "signed-in users").map(CurrentUser)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequireLead {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        require(parts, Role::Lead, "leads and admins").map(RequireLead)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequireAdmin {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        require(parts, Role::Admin, "admins").map(RequireAdmin)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MaybeUser {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeUser(session(parts)))
    }
}

/// The TCP peer's address when the server was started with connect info
/// (always, outside in-process tests).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub Option<std::net::SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let info = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
        Ok(PeerAddr(info.map(|c| c.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crowd_worker_reaches_only_their_projects_pages() {
        let project = Uuid::now_v7();
        assert!(crowd_may_reach(&format!("/annotate/{project}"), project));
        assert!(crowd_may_reach(
            &format!("/annotate/{project}/submit"),
            project
        ));
        let other = Uuid::now_v7();
        assert!(!crowd_may_reach(&format!("/annotate/{other}"), project));
        assert!(!crowd_may_reach(&format!("/annotate/{project}x"), project));
        for path in [
            "/",
            "/admin/projects",
            "/api/v1/projects",
            "/account",
            "/review",
        ] {
            assert!(!crowd_may_reach(path, project), "{path}");
        }
    }
}
