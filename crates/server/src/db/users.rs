//! The `users` table.

use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

/// What a user may do. Each role includes the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type,
)]
#[sqlx(type_name = "user_role", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Annotator,
    Lead,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Annotator, Role::Lead, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Annotator => "annotator",
            Role::Lead => "lead",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}: use annotator, lead or admin"))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub external_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// A crowd worker's one project (they joined by its entry link and may
    /// reach nothing else); None for everyone else.
    #[sqlx(default)]
    pub crowd_project_id: Option<Uuid>,
}

const COLUMNS: &str = "id, username, role, disabled, external_id, created_at, crowd_project_id";

/// Inserts a user. A taken username is a unique violation on `users_username_key`.
pub async fn insert(
    db: impl PgExecutor<'_>,
    username: &str,
    password_hash: &str,
    role: Role,
) -> Result<User, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "insert into users (id, username, password_hash, role) values ($1, $2, $3, $4) returning {COLUMNS}"
    )))
    .bind(Uuid::new_v4())
    .bind(username)
    .bind(password_hash)
    .bind(role)
    .fetch_one(db)
    .await
}

/// Inserts the first admin, only while there is no user at all. Returns
/// false when users exist (or another process made the admin first).
pub async fn insert_first_admin(
    db: impl PgExecutor<'_>,
    username: &str,
    password_hash: &str,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "insert into users (id, username, password_hash, role)
         select $1, $2, $3, 'admin' where not exists (select 1 from users)
         on conflict (username) do nothing",
    )
    .bind(Uuid::new_v4())
    .bind(username)
    .bind(password_hash)
    .execute(db)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "select {COLUMNS} from users where id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn find_by_username(
    db: impl PgExecutor<'_>,
    username: &str,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(AssertSqlSafe(format!(
        "select {COLUMNS} from users where username = $1"
    )))
    .bind(username)
    .fetch_optional(db)
    .await
}

/// The user and their password hash, for signing in.
pub async fn credentials(
    db: impl PgExecutor<'_>,
    username: &str,
) -> Result<Option<(User, Option<String>)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: User,
        password_hash: Option<String>,
    }
    let row: Option<Row> = sqlx::query_as(AssertSqlSafe(format!(
        "select {COLUMNS}, password_hash from users where username = $1"
    )))
    .bind(username)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.user, r.password_hash)))
}

/// One page of users, ordered by username, and the total count.
pub async fn page(
    db: impl PgExecutor<'_> + Copy,
    offset: i64,
    limit: i64,
) -> Result<(Vec<User>, i64), sqlx::Error> {
    let users = sqlx::query_as(AssertSqlSafe(format!(
        "select {COLUMNS} from users order by username offset $1 limit $2"
    )))
    .bind(offset)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok((users, count(db).await?))
}

/// One page of the users of one role, ordered by username, and how many
/// there are in all.
pub async fn with_role(
    db: impl PgExecutor<'_> + Copy,
    role: Role,
    offset: i64,
    limit: i64,
) -> Result<(Vec<User>, i64), sqlx::Error> {
    let users = sqlx::query_as(AssertSqlSafe(format!(
        "select {COLUMNS} from users where role = $1 order by username offset $2 limit $3"
    )))
    .bind(role)
    .bind(offset)
    .bind(limit)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar("select count(*) from users where role = $1")
        .bind(role)
        .fetch_one(db)
        .await?;
    Ok((users, total))
}

pub async fn count(db: impl PgExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from users")
        .fetch_one(db)
        .await
}

pub async fn set_role(db: impl PgExecutor<'_>, id: Uuid, role: Role) -> Result<(), sqlx::Error> {
    sqlx::query("update users set role = $2, updated_at = now() where id = $1")
        .bind(id)
        .bind(role)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_disabled(
    db: impl PgExecutor<'_>,
    id: Uuid,
    disabled: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query("update users set disabled = $2, updated_at = now() where id = $1")
        .bind(id)
        .bind(disabled)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_password_hash(
    db: impl PgExecutor<'_>,
    id: Uuid,
    hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update users set password_hash = $2, updated_at = now() where id = $1")
        .bind(id)
        .bind(hash)
        .execute(db)
        .await?;
    Ok(())
}

/// Number of enabled admins other than `except`: the last admin may not be
/// disabled or demoted, or nobody could administer safepref any more.
pub async fn other_active_admins(
    db: impl PgExecutor<'_>,
    except: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select count(*) from users where role = 'admin' and not disabled and id <> $1",
    )
    .bind(except)
    .fetch_one(db)
    .await
}
