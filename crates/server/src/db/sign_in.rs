//! Failed sign-ins, for throttling. Kept in the database, not in memory, so
//! the limits hold across every safepref process.

use sqlx::{AssertSqlSafe, PgExecutor};

/// Records a failure (or an attempt that counts as one until its password
/// proves right); its id, to [`forget`] it.
pub async fn record_failure(
    db: impl PgExecutor<'_>,
    username: &str,
    client: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "insert into sign_in_failures (username, client) values ($1, $2) returning id",
    )
    .bind(username)
    .bind(client)
    .fetch_one(db)
    .await
}

/// Takes back one recorded attempt.
pub async fn forget(db: impl PgExecutor<'_>, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("delete from sign_in_failures where id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Failures within the window: how many, and the seconds until the oldest of
/// them leaves the window.
#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
pub struct Failures {
    pub count: i64,
    pub seconds_until_oldest_expires: Option<f64>,
}

/// Whose failures to count.
#[derive(Debug, Clone, Copy)]
pub enum Key<'a> {
    /// One username from one client address.
    UsernameFrom(&'a str, &'a str),
    /// One username from every address.
    Username(&'a str),
    /// Every username from one address.
    Client(&'a str),
}

pub async fn within_window(
    db: impl PgExecutor<'_>,
    key: Key<'_>,
    window_seconds: i64,
) -> Result<Failures, sqlx::Error> {
    // $3 is the client address, or null where the key has none.
    let (filter, value, client) = match key {
        Key::UsernameFrom(name, client) => (
            "lower(username) = lower($1) and client = $3",
            name,
            Some(client),
        ),
        Key::Username(name) => (
            "lower(username) = lower($1) and $3::text is null",
            name,
            None,
        ),
        Key::Client(client) => ("client = $1 and $3::text is null", client, None),
    };
    sqlx::query_as(AssertSqlSafe(format!(
        "select count(*) as count,
                extract(epoch from min(at) + make_interval(secs => $2) - now())::float8 as seconds_until_oldest_expires
         from sign_in_failures
         where {filter} and at > now() - make_interval(secs => $2)"
    )))
    .bind(value)
    .bind(window_seconds as f64)
    .bind(client)
    .fetch_one(db)
    .await
}

/// A successful sign-in, or an admin, forgives the username's failures;
/// how many there were.
pub async fn clear_username(db: impl PgExecutor<'_>, username: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("delete from sign_in_failures where lower(username) = lower($1)")
        .bind(username)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// Drops failures older than the window (housekeeping).
pub async fn delete_older_than(
    db: impl PgExecutor<'_>,
    window_seconds: i64,
) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("delete from sign_in_failures where at <= now() - make_interval(secs => $1)")
            .bind(window_seconds as f64)
            .execute(db)
            .await?;
    Ok(done.rows_affected())
}
