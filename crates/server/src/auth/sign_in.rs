//! Signing in, shared by the sign-in page and `POST /api/v1/session`:
//! throttling per username and per client address, password check with the
//! same cost for unknown users, then a brand-new session.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, header};

use super::session::{self, ActiveSession, NewSession};
use super::{password, throttle};
use crate::app::AppState;
use crate::db::{self, users::User};
use crate::error::AppError;

/// The address failures are counted against: the peer, or behind trusted
/// proxies the address the outermost of them saw (see [`forwarded_client`]).
pub fn client_address(state: &AppState, headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
    let hops = state.config.trusted_proxy_hops as usize;
    if hops > 0
        && let Some(ip) = forwarded_client(headers, hops)
    {
        return ip.to_string();
    }
    peer.map(|p| p.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Each proxy appends the address it received the request from to
/// X-Forwarded-For, so with `hops` proxies of ours the client is the entry
/// `hops` from the right; entries further left are whatever the client
/// wrote. None when there are fewer entries (or that one is no address).
fn forwarded_client(headers: &HeaderMap, hops: usize) -> Option<IpAddr> {
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let index = entries.len().checked_sub(hops)?;
    entries[index].parse().ok()
}

/// The longest username an account can have.
const LONGEST_USERNAME: usize = 64;

/// Checks the credentials and opens a session. The request's headers and
/// `peer` give the client's address and user agent; `previous` is the
/// session the request already had: it is ended, so a token planted before
/// sign-in (session fixation) is worth nothing after it.
pub async fn sign_in(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    previous: Option<&ActiveSession>,
    username: &str,
    password: String,
) -> Result<(User, NewSession), AppError> {
    let client = &client_address(state, headers, peer);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    // No account has a longer name (`accounts::check_username`): a longer
    // one matches nobody, and is recorded as a failure only this long.
    let username = username.trim();
    let username = match username.char_indices().nth(LONGEST_USERNAME) {
        Some((cut, _)) => &username[..cut],
        None => username,
    };
    // The attempt counts as a failure before its password is checked (which
    // may wait for the hashing pool), so parallel guesses see each other:
    // of any number at once, at most the limit get a password checked, and
    // every one of them counts.
    let attempt = db::sign_in::record_failure(&state.pool, username, client).await?;
    let would_lock = throttle::check(state, username, client).await?;
    let credentials = db::users::credentials(&state.pool, username).await?;
    let (user, hash) = match credentials {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let verified = password::verify(password, hash).await?;
    let user = match user {
        Some(user) if verified => user,
        other => {
            let id = other.map(|u| u.id);
            throttle::record_locks(&state.pool, id, username, client, &would_lock).await?;
            return Err(AppError::InvalidCredentials);
        }
    };
    if user.disabled {
        db::sign_in::forget(&state.pool, attempt).await?;
        return Err(AppError::Forbidden(
            "This account is disabled. Ask an admin to enable it.".into(),
        ));
    }
    db::sign_in::clear_username(&state.pool, username).await?;
    if let Some(previous) = previous {
        db::sessions::delete(&state.pool, previous.token_hash()).await?;
    }
    let new = session::create(state, &user, user_agent).await?;
    tracing::info!(user = %user.username, "signed in");
    Ok((user, new))
}

pub(super) use super::throttle::refuse_beyond;

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn the_client_is_counted_from_the_right_past_our_own_proxies() {
        // The client wrote 6.6.6.6 itself; our one proxy appended 203.0.113.7.
        let one = forwarded(&["6.6.6.6, 203.0.113.7"]);
        assert_eq!(forwarded_client(&one, 1), "203.0.113.7".parse().ok());
        // Two proxies: the outer one saw the client, the inner one the outer.
        let two = forwarded(&["6.6.6.6, 203.0.113.7", "10.0.0.2"]);
        assert_eq!(forwarded_client(&two, 2), "203.0.113.7".parse().ok());
        assert_eq!(forwarded_client(&two, 1), "10.0.0.2".parse().ok());
        // Fewer entries than proxies, or garbage: no address from the header.
        assert_eq!(forwarded_client(&forwarded(&["10.0.0.2"]), 2), None);
        assert_eq!(
            forwarded_client(&forwarded(&["6.6.6.6, nonsense"]), 1),
            None
        );
        assert_eq!(forwarded_client(&HeaderMap::new(), 1), None);
    }
}
