//! Sessions: a random 256-bit token in an HttpOnly cookie (or an
//! `Authorization: Bearer` header), of which only a SHA-256 hash is stored.
//! The `load_session` middleware resolves it once per request.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::app::AppState;
use crate::config::Config;
use crate::db::{self, users::User};
use crate::error::AppError;

/// The session cookie's name when it is not Secure (a site on loopback).
pub const COOKIE_NAME: &str = "safepref_session";
/// Its name when it is Secure. Browsers keep a `__Host-` cookie only if it is
/// Secure, has `Path=/` and no `Domain`, so neither a sibling subdomain nor a
/// plain-http page can plant or overwrite it.
pub const SECURE_COOKIE_NAME: &str = "__Host-safepref_session";
/// How stale `last_seen_at` may get before a request refreshes it.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// How the request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The browser's cookie: ambient, so state changes need the CSRF token.
    Cookie,
    /// An explicit bearer session token: no CSRF risk.
    Bearer,
    /// A personal API token (this one) as bearer: no CSRF risk either.
    ApiToken(uuid::Uuid),
}

/// The signed-in user of this request.
#[derive(Debug, Clone)]
pub struct ActiveSession {
    pub user: User,
    pub csrf_token: String,
    pub via: Via,
    token_hash: Vec<u8>,
}

impl ActiveSession {
    pub fn token_hash(&self) -> &[u8] {
        &self.token_hash
    }
}

/// The session of this request, if any, as the middleware found it.
#[derive(Debug, Clone, Default)]
pub struct SessionSlot(pub Option<ActiveSession>);

pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The session cookie's name under this configuration. When Secure, the
/// unprefixed name is not read at all: anyone could have set that one.
pub fn cookie_name(config: &Config) -> &'static str {
    if config.secure_cookies {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

/// The token the request carries: a bearer header wins over the cookie.
pub fn token_from(headers: &HeaderMap, config: &Config) -> Option<(String, Via)> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(token) = value.strip_prefix("Bearer ")
    {
        return Some((token.trim().to_string(), Via::Bearer));
    }
    cookie_value(headers, cookie_name(config)).map(|t| (t, Via::Cookie))
}

/// The value of the request's cookie `name`, if it sent one.
pub(super) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Resolves the session, ends it if its user was disabled, refreshes its idle
/// clock, enforces CSRF, and leaves a [`SessionSlot`] for the extractors.
pub async fn load_session(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let session = match resolve(&state, req.headers()).await {
        Ok(session) => session,
        Err(err) => return err.into_response(),
    };
    let slot = SessionSlot(session);
    let mut response = match super::csrf::check(&mut req, slot.0.as_ref()).await {
        Ok(()) => {
            req.extensions_mut().insert(slot.clone());
            next.run(req).await
        }
        Err(err) => err.into_response(),
    };
    // For the error renderer, which sits outside and draws the navigation.
    response.extensions_mut().insert(slot);
    response
}

async fn resolve(state: &AppState, headers: &HeaderMap) -> Result<Option<ActiveSession>, AppError> {
    let Some((token, via)) = token_from(headers, &state.config) else {
        return Ok(None);
    };
    let token_hash = hash_token(&token);
    // A session token is random base64url, so about one in 262,144 also
    // starts with `sp_`: when no personal token matches, try the sessions.
    if via == Via::Bearer
        && super::api_tokens::looks_personal(&token)
        && let Some(found) = resolve_personal(state, token_hash.clone()).await?
    {
        return Ok(found);
    }
    let idle = state.config.session_idle.as_secs() as i64;
    let Some(found) = db::sessions::find_live(&state.pool, &token_hash, idle).await? else {
        return Ok(None);
    };
    if found.user.disabled {
        db::sessions::delete_for_user(&state.pool, found.user.id).await?;
        return Ok(None);
    }
    if OffsetDateTime::now_utc() - found.last_seen_at > TOUCH_EVERY {
        db::sessions::touch(&state.pool, &token_hash).await?;
    }
    Ok(Some(ActiveSession {
        user: found.user,
        csrf_token: found.csrf_token,
        via,
        token_hash,
    }))
}

/// The personal token with this hash: `Some(None)` if its owner is disabled
/// (the token exists but lets nobody in), `None` if there is no live token.
async fn resolve_personal(
    state: &AppState,
    token_hash: Vec<u8>,
) -> Result<Option<Option<ActiveSession>>, AppError> {
    let Some(found) = db::api_tokens::find_live(&state.pool, &token_hash).await? else {
        return Ok(None);
    };
    if found.user.disabled {
        return Ok(Some(None));
    }
    let stale = found
        .last_used_at
        .is_none_or(|at| OffsetDateTime::now_utc() - at > TOUCH_EVERY);
    if stale {
        db::api_tokens::touch(&state.pool, found.token_id).await?;
    }
    Ok(Some(Some(ActiveSession {
        user: found.user,
        // Nothing to send back in forms: bearer requests need no CSRF token.
        csrf_token: String::new(),
        via: Via::ApiToken(found.token_id),
        token_hash,
    })))
}

/// A new session row for `user`; returns the token to hand to the client.
pub async fn create(
    state: &AppState,
    user: &User,
    user_agent: Option<&str>,
) -> Result<NewSession, AppError> {
    let token = super::random_token();
    let csrf_token = super::random_token();
    let expires_at = OffsetDateTime::now_utc() + state.config.session_max;
    db::sessions::insert(
        &state.pool,
        &hash_token(&token),
        user.id,
        &csrf_token,
        expires_at,
        user_agent,
    )
    .await?;
    Ok(NewSession {
        token,
        csrf_token,
        expires_at,
    })
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

/// `Set-Cookie` for a new session.
pub fn cookie_for(state: &AppState, session: &NewSession) -> HeaderValue {
    let max_age = state.config.session_max.as_secs();
    set_cookie(state, &session.token, max_age)
}

/// `Set-Cookie` that removes the session cookie.
pub fn clearing_cookie(state: &AppState) -> HeaderValue {
    set_cookie(state, "", 0)
}

fn set_cookie(state: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let name = cookie_name(&state.config);
    // No Domain: the cookie stays with this host (and `__Host-` requires it).
    let cookie =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&cookie).expect("cookie made of URL-safe characters")
}
