//! Signing in, shared by the sign-in page and `POST /api/v1/session`:
//! throttling per username and per client address, password check with the
//! same cost for unknown users, then a brand-new session.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

use super::password;
use super::session::{self, NewSession};
use crate::app::AppState;
use crate::db::{
    self,
    sign_in::{Failures, Key},
    users::User,
};
use crate::error::AppError;

/// The address failures are counted against: the peer, or with
/// `--trust-proxy` the first address in X-Forwarded-For.
pub fn client_address(state: &AppState, headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
    if state.config.trust_proxy
        && let Some(forwarded) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok())
        && let Some(first) = forwarded.split(',').next()
        && let Ok(ip) = first.trim().parse::<IpAddr>()
    {
        return ip.to_string();
    }
    peer.map(|p| p.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Checks the credentials and opens a session. `previous` is the token hash
/// of a session the request already had: it is ended, so a token planted
/// before sign-in (session fixation) is worth nothing after it.
pub async fn sign_in(
    state: &AppState,
    username: &str,
    password: String,
    client: &str,
    user_agent: Option<&str>,
    previous: Option<&[u8]>,
) -> Result<(User, NewSession), AppError> {
    let username = username.trim();
    // The attempt counts as a failure before its password is checked (which
    // may wait for the hashing pool), so parallel guesses see each other:
    // of any number at once, at most the limit get a password checked, and
    // every one of them counts.
    let attempt = db::sign_in::record_failure(&state.pool, username, client).await?;
    refuse_if_throttled(state, username, client).await?;
    let credentials = db::users::credentials(&state.pool, username).await?;
    let (user, hash) = match credentials {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let verified = password::verify(password, hash).await?;
    let Some(user) = user.filter(|_| verified) else {
        return Err(AppError::InvalidCredentials);
    };
    if user.disabled {
        db::sign_in::forget(&state.pool, attempt).await?;
        return Err(AppError::Forbidden(
            "This account is disabled. Ask an admin to enable it.".into(),
        ));
    }
    db::sign_in::clear_username(&state.pool, username).await?;
    if let Some(previous) = previous {
        db::sessions::delete(&state.pool, previous).await?;
    }
    let new = session::create(state, &user, user_agent).await?;
    tracing::info!(user = %user.username, "signed in");
    Ok((user, new))
}

async fn refuse_if_throttled(
    state: &AppState,
    username: &str,
    client: &str,
) -> Result<(), AppError> {
    let limits = &state.config.throttle;
    let window = limits.window.as_secs() as i64;
    let checks = [
        (
            Key::Username(username),
            limits.max_failures_per_user,
            "for this username",
        ),
        (
            Key::Client(client),
            limits.max_failures_per_client,
            "from your address",
        ),
    ];
    for (key, max, whose) in checks {
        let mut failures = db::sign_in::within_window(&state.pool, key, window).await?;
        // Not counting this attempt itself.
        failures.count -= 1;
        refuse_beyond(failures, max, &format!("Too many failed sign-ins {whose}"))?;
    }
    Ok(())
}

/// TooManyRequests (`what`, and when to try again) once `seen` reaches `max`
/// within the window.
pub(super) fn refuse_beyond(seen: Failures, max: i64, what: &str) -> Result<(), AppError> {
    if seen.count < max {
        return Ok(());
    }
    let wait = seen
        .seconds_until_oldest_expires
        .unwrap_or(0.0)
        .ceil()
        .max(1.0) as u64;
    Err(AppError::TooManyRequests {
        message: format!("{what}. Try again in {wait} seconds."),
        retry_after_seconds: wait,
    })
}
