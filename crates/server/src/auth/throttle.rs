//! Sign-in throttling and lockouts. Failures are counted three ways within
//! the window: one username from one address (a low limit: a stranger's
//! guesses lock only the stranger out), one username from every address (a
//! high limit, against guessing spread over many addresses), and one
//! address over every username. Every lock is logged and audited when it
//! begins; an admin may clear a username's failures.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::app::AppState;
use crate::db::{
    self,
    sign_in::{Failures, Key},
};
use crate::error::AppError;

/// A lock that the attempt being checked completes if its password is wrong.
pub struct Completes(&'static str);

/// Refuses the attempt (already recorded as a failure) when a limit was
/// reached before it; otherwise the locks it completes should it fail.
pub async fn check(
    state: &AppState,
    username: &str,
    client: &str,
) -> Result<Vec<Completes>, AppError> {
    let limits = &state.config.throttle;
    let window = limits.window.as_secs() as i64;
    let checks = [
        (
            Key::UsernameFrom(username, client),
            limits.max_failures_per_user,
            "for this username from your address",
        ),
        (
            Key::Username(username),
            limits.max_failures_per_user_anywhere,
            "for this username",
        ),
        (
            Key::Client(client),
            limits.max_failures_per_client,
            "from your address",
        ),
    ];
    let mut completes = Vec::new();
    for (key, max, whose) in checks {
        let mut failures = db::sign_in::within_window(&state.pool, key, window).await?;
        // Not counting this attempt itself.
        failures.count -= 1;
        refuse_beyond(failures, max, &format!("Too many failed sign-ins {whose}"))?;
        if failures.count + 1 == max {
            completes.push(Completes(whose));
        }
    }
    Ok(completes)
}

/// Logs and audits the locks a failed attempt began.
pub async fn record_locks(
    pool: &PgPool,
    user: Option<Uuid>,
    username: &str,
    client: &str,
    locks: &[Completes],
) -> Result<(), AppError> {
    for Completes(whose) in locks {
        tracing::warn!(username, client, "sign-in locked {whose}");
        let subject = user.map_or_else(|| format!("sign-in:{username}"), |id| format!("user:{id}"));
        let after = json!({"username": username, "client": client, "locked": whose});
        db::audit::record(pool, None, "sign-in locked", &subject, None, Some(after)).await?;
    }
    Ok(())
}

/// An admin clears a username's failed sign-ins (and so its locks); how many
/// there were.
pub async fn unlock(
    pool: &PgPool,
    actor: Option<Uuid>,
    user: Uuid,
    username: &str,
) -> Result<u64, AppError> {
    let cleared = db::sign_in::clear_username(pool, username).await?;
    let after = json!({"username": username, "failures_cleared": cleared});
    db::audit::record(
        pool,
        actor,
        "sign-in lock cleared",
        &format!("user:{user}"),
        None,
        Some(after),
    )
    .await?;
    Ok(cleared)
}

/// TooManyRequests (`what`, and when to try again) once `seen` reaches `max`
/// within the window.
pub fn refuse_beyond(seen: Failures, max: i64, what: &str) -> Result<(), AppError> {
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
