//! Crowd entry: projects' entry links, the workers who join by them, and
//! joins counted for rate limiting.

use sqlx::PgExecutor;
use uuid::Uuid;

use super::projects::{Project, ProjectRow};
use super::sign_in::Failures;
use super::users::User;

/// The project whose entry link has this slug.
pub async fn project_by_slug(
    db: impl PgExecutor<'_>,
    slug: &str,
) -> Result<Option<Project>, sqlx::Error> {
    // `*`: `ProjectRow` reads the columns it knows by name.
    sqlx::query_as::<_, ProjectRow>("select * from projects where slug = $1")
        .bind(slug)
        .fetch_optional(db)
        .await?
        .map(Project::try_from)
        .transpose()
}

/// A crowd worker's account and the browser it is bound to.
#[derive(Debug, sqlx::FromRow)]
pub struct Worker {
    #[sqlx(flatten)]
    pub user: User,
    /// The hash of the cookie of the browser that first joined as them.
    pub crowd_browser_hash: Option<Vec<u8>>,
}

/// The project's crowd worker with this external id, made on their first
/// join (an annotator without a password, bound to the project). An
/// account not yet bound to a browser is bound to `browser_hash`, in the
/// same statement, so of two browsers joining at once only one wins.
pub async fn worker(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    username: &str,
    worker_id: &str,
    browser_hash: &[u8],
) -> Result<Worker, sqlx::Error> {
    sqlx::query_as(
        "insert into users (id, username, role, external_id, crowd_project_id, crowd_browser_hash)
         values ($1, $2, 'annotator', $3, $4, $5)
         on conflict (crowd_project_id, external_id) where crowd_project_id is not null
         do update set updated_at = now(),
                       crowd_browser_hash = coalesce(users.crowd_browser_hash, excluded.crowd_browser_hash)
         returning id, username, role, disabled, external_id, created_at, crowd_project_id,
                   crowd_browser_hash",
    )
    .bind(Uuid::new_v4())
    .bind(username)
    .bind(worker_id)
    .bind(project_id)
    .bind(browser_hash)
    .fetch_one(db)
    .await
}

/// Sets (or, with `token` None, closes) a project's entry link.
pub async fn set_entry(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    slug: &str,
    token: Option<&str>,
    quota: i32,
    completion_code: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update projects set slug = $2, crowd_token = $3, crowd_quota = $4, crowd_completion_code = $5,
                updated_at = now()
          where id = $1",
    )
    .bind(project_id)
    .bind(slug)
    .bind(token)
    .bind(quota)
    .bind(completion_code)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn record_join(db: impl PgExecutor<'_>, client: &str) -> Result<(), sqlx::Error> {
    sqlx::query("insert into crowd_joins (client) values ($1)")
        .bind(client)
        .execute(db)
        .await?;
    Ok(())
}

/// Joins from `client` within the window, like failed sign-ins.
pub async fn joins_within(
    db: impl PgExecutor<'_>,
    client: &str,
    window_seconds: i64,
) -> Result<Failures, sqlx::Error> {
    sqlx::query_as(
        "select count(*) as count,
                extract(epoch from min(at) + make_interval(secs => $2) - now())::float8 as seconds_until_oldest_expires
         from crowd_joins
         where client = $1 and at > now() - make_interval(secs => $2)",
    )
    .bind(client)
    .bind(window_seconds as f64)
    .fetch_one(db)
    .await
}

/// Removes joins older than the window: they no longer count.
pub async fn delete_joins_older_than(
    db: impl PgExecutor<'_>,
    window_seconds: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("delete from crowd_joins where at <= now() - make_interval(secs => $1)")
        .bind(window_seconds as f64)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
