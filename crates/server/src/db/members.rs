//! The `project_members` table: who may work on a members-only project
//! besides admins. Whether someone may see a project is the SQL function
//! `project_visible` (sql/functions), which every query that lists, finds
//! or leases for a person asks.

use sqlx::PgExecutor;
use time::OffsetDateTime;
use uuid::Uuid;

use super::users::Role;

/// A member of a project, as the People section lists them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Member {
    pub user_id: Uuid,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub added_at: OffsetDateTime,
}

/// Adds a member; false if they already were one.
pub async fn add(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    user_id: Uuid,
    added_by: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "insert into project_members (project_id, user_id, added_by) values ($1, $2, $3)
         on conflict do nothing",
    )
    .bind(project_id)
    .bind(user_id)
    .bind(added_by)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes a member; false if they were not one.
pub async fn remove(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    user_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("delete from project_members where project_id = $1 and user_id = $2")
        .bind(project_id)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The project's members by username.
pub async fn list(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<Vec<Member>, sqlx::Error> {
    sqlx::query_as(
        "select u.id as user_id, u.username, u.role, u.disabled, m.added_at
           from project_members m join users u on u.id = m.user_id
          where m.project_id = $1
          order by u.username",
    )
    .bind(project_id)
    .fetch_all(db)
    .await
}
