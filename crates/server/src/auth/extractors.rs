//! Role extractors. A handler states who may call it in its signature:
//! `CurrentUser` (anyone signed in), `RequireLead` (lead or admin),
//! `RequireAdmin`. Anonymous callers get 401 (a page is sent to sign in and
//! back); a wrong role gets 403 saying which role the page needs.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

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
    if session.user.role < needed {
        return Err(AppError::Forbidden(format!(
            "This page is for {who}. You are signed in as {} ({}); ask an admin if you need access.",
            session.user.username, session.user.role
        )));
    }
    Ok(session)
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
