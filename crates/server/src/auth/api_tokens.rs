//! Personal API tokens: long-lived bearer tokens an admin makes for scripts.
//!
//! A token is `sp_` followed by 256 random bits; only its SHA-256 is stored
//! (as for sessions), so it is shown once, when made. The prefix lets the
//! session middleware tell a personal token from a session token without a
//! second lookup. A token acts as its owner with the owner's current role,
//! is refused while the owner is disabled, and cannot make further tokens (a
//! leaked token must not be able to outlive its own revocation).
//!
//! Its owner or any admin may revoke it. `accounts` revokes all of a user's
//! tokens when their password is changed or reset, their role lowered or
//! their account disabled, in the transaction that ends their sessions: a
//! token must not outlast a change meant to lock someone out or cut them
//! down (re-enabling an account brings none back).

use sqlx::{PgConnection, PgPool};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::session::{ActiveSession, Via, hash_token};
use crate::db::{self, api_tokens::ApiToken, users::User};
use crate::error::AppError;

/// What every personal token starts with.
pub const PREFIX: &str = "sp_";
pub const MAX_NAME_CHARS: usize = 100;
/// Ten years: longer is "never", which is spelled by giving no expiry.
pub const MAX_EXPIRY_DAYS: i64 = 3650;

/// Whether a bearer token is shaped like a personal token.
pub fn looks_personal(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// Says what is wrong with a token's name and expiry, if anything.
pub fn check(name: &str, expires_in_days: Option<i64>) -> Result<(), AppError> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(AppError::BadRequest(format!(
            "a token's name has 1 to {MAX_NAME_CHARS} characters (say what the script is for)"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(AppError::BadRequest(
            "a token's name may not contain control characters".into(),
        ));
    }
    if let Some(days) = expires_in_days
        && !(1..=MAX_EXPIRY_DAYS).contains(&days)
    {
        return Err(AppError::BadRequest(format!(
            "expires_in_days must be 1 to {MAX_EXPIRY_DAYS}, or absent for no expiry"
        )));
    }
    Ok(())
}

/// Refuses to make a token with a personal token: only a password sign-in may.
pub fn check_may_create(session: &ActiveSession) -> Result<(), AppError> {
    match session.via {
        Via::ApiToken(_) => Err(AppError::Forbidden(
            "a personal API token cannot create tokens; sign in with your password to make one"
                .into(),
        )),
        Via::Cookie | Via::Bearer => Ok(()),
    }
}

/// Makes a token for `owner`; returns it with the secret, which is not kept.
pub async fn create(
    pool: &PgPool,
    owner: &User,
    name: &str,
    expires_in_days: Option<i64>,
) -> Result<(ApiToken, String), AppError> {
    let name = name.trim();
    check(name, expires_in_days)?;
    let secret = format!("{PREFIX}{}", super::random_token());
    let expires_at = expires_in_days.map(|days| OffsetDateTime::now_utc() + Duration::days(days));
    let mut tx = pool.begin().await?;
    let token =
        db::api_tokens::insert(&mut *tx, owner.id, name, &hash_token(&secret), expires_at).await?;
    db::audit::record(
        &mut *tx,
        Some(owner.id),
        "api token created",
        &subject(owner.id),
        None,
        Some(audit_view(&token)?),
    )
    .await?;
    tx.commit().await?;
    Ok((token, secret))
}

/// The owner's tokens, newest first.
pub async fn list(pool: &PgPool, owner: &User) -> Result<Vec<ApiToken>, AppError> {
    Ok(db::api_tokens::of_user(pool, owner.id).await?)
}

/// One of `owner`'s tokens, asked for by `actor` (the owner, or an admin);
/// NotFound for a token that is not `owner`'s.
pub async fn find(
    pool: &PgPool,
    actor: &User,
    owner: &User,
    id: Uuid,
) -> Result<ApiToken, AppError> {
    db::api_tokens::find_own(pool, owner.id, id)
        .await?
        .ok_or_else(|| not_found(actor, owner))
}

/// Revokes one of `owner`'s tokens at once, on `actor`'s behalf (the owner,
/// or an admin; the audit entry names who). Revoking a revoked token changes
/// nothing (and is not audited twice).
pub async fn revoke(
    pool: &PgPool,
    actor: &User,
    owner: &User,
    id: Uuid,
) -> Result<ApiToken, AppError> {
    let mut tx = pool.begin().await?;
    let before = db::api_tokens::find_own(&mut *tx, owner.id, id)
        .await?
        .ok_or_else(|| not_found(actor, owner))?;
    if before.revoked_at.is_some() {
        return Ok(before);
    }
    let after = db::api_tokens::revoke(&mut *tx, owner.id, id)
        .await?
        .ok_or_else(|| not_found(actor, owner))?;
    db::audit::record(
        &mut *tx,
        Some(actor.id),
        "api token revoked",
        &subject(owner.id),
        Some(audit_view(&before)?),
        Some(audit_view(&after)?),
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Revokes every live token of `owner` within the caller's transaction, so
/// that they end together with what ends them (`because`: a password changed
/// or reset, a lowered role, a disabled account). One audit entry lists them;
/// none when there were none. Returns how many were revoked.
pub async fn revoke_all(
    conn: &mut PgConnection,
    actor: Option<Uuid>,
    owner: Uuid,
    because: &str,
) -> Result<usize, AppError> {
    let revoked = db::api_tokens::revoke_all(&mut *conn, owner).await?;
    if revoked.is_empty() {
        return Ok(0);
    }
    let tokens = revoked
        .iter()
        .map(audit_view)
        .collect::<Result<Vec<_>, _>>()?;
    let after = serde_json::json!({"because": because, "tokens": tokens});
    db::audit::record(
        &mut *conn,
        actor,
        "api tokens revoked",
        &subject(owner),
        None,
        Some(after),
    )
    .await?;
    Ok(revoked.len())
}

/// What the audit log keeps of a token: its listing, never the secret.
fn audit_view(token: &ApiToken) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(token).map_err(|e| AppError::Internal(e.into()))
}

/// Tokens are audited on their owner, so they show in the user's history.
fn subject(owner: Uuid) -> String {
    format!("user:{owner}")
}

fn not_found(actor: &User, owner: &User) -> AppError {
    if actor.id == owner.id {
        AppError::NotFound("you have no API token with this id".into())
    } else {
        AppError::NotFound(format!("{} has no API token with this id", owner.username))
    }
}
