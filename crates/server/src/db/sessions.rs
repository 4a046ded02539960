//! The `sessions` table. Rows are keyed by a SHA-256 hash of the cookie token.

use sqlx::PgExecutor;
use time::OffsetDateTime;
use uuid::Uuid;

use super::users::User;

pub async fn insert(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
    user_id: Uuid,
    csrf_token: &str,
    expires_at: OffsetDateTime,
    user_agent: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into sessions (token_hash, user_id, csrf_token, expires_at, user_agent) values ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(csrf_token)
    .bind(expires_at)
    .bind(user_agent)
    .execute(db)
    .await?;
    Ok(())
}

/// A live session and its user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    #[sqlx(flatten)]
    pub user: User,
    pub csrf_token: String,
    pub last_seen_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// The session for `token_hash` if it has neither passed its absolute expiry
/// nor been idle longer than `idle_seconds`.
pub async fn find_live(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
    idle_seconds: i64,
) -> Result<Option<Session>, sqlx::Error> {
    sqlx::query_as(
        "select u.id, u.username, u.role, u.disabled, u.external_id, u.created_at, u.crowd_project_id,
                s.csrf_token, s.last_seen_at, s.expires_at
         from sessions s join users u on u.id = s.user_id
         where s.token_hash = $1 and s.expires_at > now()
           and s.last_seen_at > now() - make_interval(secs => $2)",
    )
    .bind(token_hash)
    .bind(idle_seconds as f64)
    .fetch_optional(db)
    .await
}

/// Marks the session as used now (callers do it at most once a minute).
pub async fn touch(db: impl PgExecutor<'_>, token_hash: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query("update sessions set last_seen_at = now() where token_hash = $1")
        .bind(token_hash)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn delete(db: impl PgExecutor<'_>, token_hash: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query("delete from sessions where token_hash = $1")
        .bind(token_hash)
        .execute(db)
        .await?;
    Ok(())
}

/// Ends every session of a user (disabled, or password reset).
pub async fn delete_for_user(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("delete from sessions where user_id = $1")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// Removes sessions past their absolute expiry or idle for `idle_seconds`.
pub async fn delete_expired(
    db: impl PgExecutor<'_>,
    idle_seconds: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "delete from sessions where expires_at <= now() or last_seen_at <= now() - make_interval(secs => $1)",
    )
    .bind(idle_seconds as f64)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
