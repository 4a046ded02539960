//! The `api_tokens` table: personal tokens for scripts, keyed by a SHA-256
//! hash of the token (the token itself is never stored).

use serde::Serialize;
use sqlx::PgExecutor;
use time::OffsetDateTime;
use uuid::Uuid;

use super::users::User;

/// One token as its owner sees it in a list (never the secret).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl ApiToken {
    /// Neither revoked nor past its expiry.
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
            && self
                .expires_at
                .is_none_or(|at| at > OffsetDateTime::now_utc())
    }
}

const COLUMNS: &str = "id, name, created_at, last_used_at, expires_at, revoked_at";

pub async fn insert(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    name: &str,
    token_hash: &[u8],
    expires_at: Option<OffsetDateTime>,
) -> Result<ApiToken, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into api_tokens (id, user_id, name, token_hash, expires_at)
         values ($1, $2, $3, $4, $5) returning {COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(user_id)
    .bind(name)
    .bind(token_hash)
    .bind(expires_at)
    .fetch_one(db)
    .await
}

/// A user's tokens, newest first, revoked and expired ones included.
pub async fn of_user(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<Vec<ApiToken>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from api_tokens where user_id = $1 order by created_at desc, id desc"
    )))
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// One of a user's tokens (None if it is someone else's or does not exist).
pub async fn find_own(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<ApiToken>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from api_tokens where user_id = $1 and id = $2"
    )))
    .bind(user_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A usable token and its owner, as the request middleware needs them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveToken {
    #[sqlx(flatten)]
    pub user: User,
    pub token_id: Uuid,
    pub last_used_at: Option<OffsetDateTime>,
}

/// The token for `token_hash` if it is neither revoked nor expired. The
/// owner comes whatever their state: the caller refuses disabled owners.
pub async fn find_live(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
) -> Result<Option<LiveToken>, sqlx::Error> {
    sqlx::query_as(
        "select u.id, u.username, u.role, u.disabled, u.external_id, u.created_at, u.crowd_project_id,
                t.id as token_id, t.last_used_at
         from api_tokens t join users u on u.id = t.user_id
         where t.token_hash = $1 and t.revoked_at is null
           and (t.expires_at is null or t.expires_at > now())",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await
}

/// Marks the token as used now (callers do it at most once a minute).
pub async fn touch(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("update api_tokens set last_used_at = now() where id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Revokes one of a user's tokens; returns it as it is now, or None if the
/// user has no such token. Revoking twice keeps the first time.
pub async fn revoke(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<ApiToken>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update api_tokens set revoked_at = coalesce(revoked_at, now())
         where user_id = $1 and id = $2 returning {COLUMNS}"
    )))
    .bind(user_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Revokes every live token of a user (neither revoked nor expired); returns
/// the tokens it revoked, as they are now.
pub async fn revoke_all(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
) -> Result<Vec<ApiToken>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update api_tokens set revoked_at = now()
         where user_id = $1 and revoked_at is null
           and (expires_at is null or expires_at > now())
         returning {COLUMNS}"
    )))
    .bind(user_id)
    .fetch_all(db)
    .await
}
