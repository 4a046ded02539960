//! What managing a project's people reads (`projects::members`): accounts
//! by username, annotators and leads to add, a page of members, and the
//! live leases a change of membership takes away. The writes are
//! `db::members` and `db::projects::set_access`.

use sqlx::PgExecutor;
use uuid::Uuid;

use super::members::Member;
use super::projects::Access;
use super::users::Role;

/// An account as membership needs it: may it be a member at all?
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Person {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    /// A crowd worker's one project; None for everyone else.
    pub crowd_project_id: Option<Uuid>,
}

/// The accounts among `usernames` (those that exist), by username.
pub async fn by_usernames(
    db: impl PgExecutor<'_>,
    usernames: &[String],
) -> Result<Vec<Person>, sqlx::Error> {
    sqlx::query_as(
        "select id, username, role, disabled, crowd_project_id from users
          where username = any($1) order by username",
    )
    .bind(usernames)
    .fetch_all(db)
    .await
}

/// Up to `limit` enabled annotators and leads (no crowd worker) whose
/// username starts with `prefix` and who are not members of the project
/// yet, by username.
pub async fn addable(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    prefix: &str,
    limit: i64,
) -> Result<Vec<Person>, sqlx::Error> {
    // `like` with the prefix's own wildcards escaped: "a_b" finds "a_b…" only.
    let pattern = format!(
        "{}%",
        prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    sqlx::query_as(
        "select u.id, u.username, u.role, u.disabled, u.crowd_project_id from users u
          where u.role in ('annotator', 'lead') and u.crowd_project_id is null and not u.disabled
            and u.username like $2
            and not exists (select 1 from project_members m
                             where m.project_id = $1 and m.user_id = u.id)
          order by u.username limit $3",
    )
    .bind(project_id)
    .bind(pattern)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// One page of the project's members by username, and how many there are.
pub async fn members_page(
    db: impl PgExecutor<'_> + Copy,
    project_id: Uuid,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Member>, i64), sqlx::Error> {
    let members = sqlx::query_as(
        "select u.id as user_id, u.username, u.role, u.disabled, m.added_at
           from project_members m join users u on u.id = m.user_id
          where m.project_id = $1
          order by u.username offset $2 limit $3",
    )
    .bind(project_id)
    .bind(offset)
    .bind(limit)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar("select count(*) from project_members where project_id = $1")
        .bind(project_id)
        .fetch_one(db)
        .await?;
    Ok((members, total))
}

/// The member `user_id` of the project, if they are one.
pub async fn member(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    user_id: Uuid,
) -> Result<Option<Member>, sqlx::Error> {
    sqlx::query_as(
        "select u.id as user_id, u.username, u.role, u.disabled, m.added_at
           from project_members m join users u on u.id = m.user_id
          where m.project_id = $1 and m.user_id = $2",
    )
    .bind(project_id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// The annotators holding a live lease in the project who may not see it
/// once its access is `access` (`project_visible`), with how many leases
/// each holds.
pub async fn leasing_without_access(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    access: Access,
) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
    sqlx::query_as(
        "select a.annotator_id, count(*) from assignments a
          where a.project_id = $1 and a.state = 'leased'
            and not coalesce(project_visible($1, $2, a.annotator_id), false)
          group by a.annotator_id order by a.annotator_id",
    )
    .bind(project_id)
    .bind(access)
    .fetch_all(db)
    .await
}

/// How many live leases `annotator` holds in the project.
pub async fn live_leases(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    annotator: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select count(*) from assignments
          where project_id = $1 and annotator_id = $2 and state = 'leased'",
    )
    .bind(project_id)
    .bind(annotator)
    .fetch_one(db)
    .await
}
