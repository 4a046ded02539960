//! The database: opening it (embedded or by URL), migrations, and one module
//! per table group. Queries live here, never in handlers. Every function takes
//! `impl PgExecutor` so it works on the pool and inside a transaction alike.

pub mod adjudications;
pub mod annotations;
pub mod api_tokens;
pub mod assignments;
pub mod audit;
pub mod batches;
pub mod crowd;
pub mod dashboard;
pub mod export;
pub mod items;
pub mod judge;
pub mod members;
pub mod people;
pub mod projects;
pub mod report;
pub mod review;
pub mod schema;
pub mod sessions;
pub mod sign_in;
pub mod snapshot;
pub mod statistics;
pub mod suggestions;
pub mod users;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};

use crate::config::DatabaseArgs;
use crate::pg::{self, BinSearch, Cluster, ClusterOptions};

pub use schema::migrate;

/// The migrations in /migrations, compiled in. sqlx takes a PostgreSQL
/// advisory lock while it applies them, so processes starting together wait
/// for each other instead of colliding.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// The name of safepref's database inside the embedded cluster.
pub const EMBEDDED_DATABASE: &str = "safepref";

/// An open database: the pool, and the embedded cluster when we use one.
pub struct Database {
    pub pool: PgPool,
    cluster: Option<Cluster>,
}

impl Database {
    /// Opens the database named by `args`: the `DATABASE_URL` server, or the
    /// embedded cluster in the data folder (started if it is not running).
    pub async fn open(args: &DatabaseArgs) -> anyhow::Result<Self> {
        match &args.database_url {
            Some(url) => {
                let pool = wait_for(url, args.wait())
                    .await
                    .context("connecting to DATABASE_URL")?;
                Ok(Database {
                    pool,
                    cluster: None,
                })
            }
            None => {
                let data_dir = args.data_dir.clone();
                let cluster =
                    tokio::task::spawn_blocking(move || -> Result<Cluster, pg::PgError> {
                        let mut cluster = Cluster::prepare(
                            &data_dir,
                            &BinSearch::Default,
                            &ClusterOptions::default(),
                        )?;
                        cluster.ensure_running()?;
                        Ok(cluster)
                    })
                    .await??;
                create_database_if_missing(&cluster.database_url("postgres"), EMBEDDED_DATABASE)
                    .await?;
                let pool = pool_for(&cluster.database_url(EMBEDDED_DATABASE)).await?;
                Ok(Database {
                    pool,
                    cluster: Some(cluster),
                })
            }
        }
    }

    pub fn embedded_cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }

    /// Closes the pool; the last safepref process to leave the embedded
    /// cluster stops it.
    pub async fn close(self) -> anyhow::Result<()> {
        self.pool.close().await;
        let Some(cluster) = self.cluster else {
            return Ok(());
        };
        let others = other_clients(&cluster.database_url("postgres"))
            .await
            .unwrap_or(0);
        tokio::task::spawn_blocking(move || cluster.stop_if_unused(others)).await??;
        Ok(())
    }
}

/// The `application_name` of safepref's own connections. The embedded
/// cluster tracks safepref processes with a file lock, so [`other_clients`]
/// leaves these out: it looks for anyone else (a `psql` session, say).
pub const APPLICATION_NAME: &str = "safepref";

/// Connection options for `url`, named as safepref's unless the URL names them.
fn connect_options(url: &str) -> Result<PgConnectOptions, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    Ok(if options.get_application_name().is_some() {
        options
    } else {
        options.application_name(APPLICATION_NAME)
    })
}

/// A connection idle longer than this is pinged before it is handed out.
const PING_IDLE_AFTER: Duration = Duration::from_secs(30);

/// For this long after a connection was found broken, every older
/// connection is pinged before it is handed out.
const SUSPECT_FOR: Duration = Duration::from_secs(10);

/// When a connection was last found broken (ms since the Unix epoch; 0: never).
static BROKEN_AT_MS: AtomicU64 = AtomicU64::new(0);

/// Says that the database restarted or a connection broke: the pools'
/// other connections from before now are likely broken too. Each is then
/// pinged before use (and replaced if dead), rather than failing one request
/// each.
pub fn connections_may_be_broken() {
    BROKEN_AT_MS.store(now_ms(), Ordering::Relaxed);
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Whether a connection of this age, idle this long, should be pinged first.
fn needs_ping(age: Duration, idle_for: Duration) -> bool {
    let since_break =
        Duration::from_millis(now_ms().saturating_sub(BROKEN_AT_MS.load(Ordering::Relaxed)));
    idle_for > PING_IDLE_AFTER || (since_break < SUSPECT_FOR && age >= since_break)
}

/// A pool with settings suited to a web service.
///
/// By default sqlx pings every connection it hands out: one more round trip
/// per statement run on the pool (a third of all round trips under the
/// annotation load). Only a connection that has been idle a while is
/// pinged; one broken meanwhile fails its statement, is dropped (sqlx tests
/// each connection as it comes back), and the request gets a 503 — which
/// marks the others as suspect ([`connections_may_be_broken`]), so the rest
/// of a restarted server's stale connections are replaced without failing.
pub async fn pool_for(url: &str) -> Result<PgPool, sqlx::Error> {
    let options = connect_options(url)?;
    PgPoolOptions::new()
        .max_connections(20)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if needs_ping(meta.age, meta.idle_for) {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await
}

/// A pool for `url`, waiting up to `patience` for a server that is not up
/// yet (a container starting beside safepref, a restart) rather than failing
/// at the first refused connection. Other errors (a wrong password, an
/// unknown database) fail at once.
async fn wait_for(url: &str, patience: Duration) -> Result<PgPool, sqlx::Error> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut said = false;
    loop {
        match pool_for(url).await {
            Err(e) if not_up_yet(&e) && tokio::time::Instant::now() < deadline => {
                if !said {
                    tracing::warn!(
                        "waiting up to {} s for the database, which is not answering yet: {e}",
                        patience.as_secs()
                    );
                    said = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => return other,
        }
    }
}

/// A refused or timed-out connection, or a server still starting.
fn not_up_yet(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(e) => e.code().as_deref() == Some("57P03"),
        _ => false,
    }
}

/// `CREATE DATABASE`, tolerating another process doing the same at once.
pub async fn create_database_if_missing(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect_with(&connect_options(admin_url)?)
        .await
        .context("connecting to the embedded PostgreSQL")?;
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let created = sqlx::query(AssertSqlSafe(format!(
            "create database {}",
            quote_ident(name)
        )))
        .execute(&mut conn)
        .await;
        match created {
            Ok(_) => {}
            // 42P04 duplicate_database, 23505 unique_violation: someone else won the race.
            Err(sqlx::Error::Database(e))
                if matches!(e.code().as_deref(), Some("42P04" | "23505")) => {}
            Err(e) => return Err(e).context(format!("creating database {name}")),
        }
    }
    conn.close().await?;
    Ok(())
}

/// How many client connections the server has that are not safepref's (those
/// of a process that just left may linger a moment; they do not count).
async fn other_clients(admin_url: &str) -> anyhow::Result<i64> {
    let mut conn = PgConnection::connect_with(&connect_options(admin_url)?).await?;
    let count = sqlx::query_scalar(
        "select count(*) from pg_stat_activity where backend_type = 'client backend' \
         and pid <> pg_backend_pid() and application_name is distinct from $1",
    )
    .bind(APPLICATION_NAME)
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    Ok(count)
}

/// One round trip to the database.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("select 1").execute(pool).await.map(|_| ())
}

/// Quotes an SQL identifier (for the few statements that cannot take parameters).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Whether `err` is PostgreSQL's "deadlock detected": it chose this
/// transaction to roll back.
pub fn deadlock(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.code().as_deref() == Some("40P01"))
}

/// The constraint a unique violation broke, if that is what `err` is.
pub fn unique_violation(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(e) if e.code().as_deref() == Some("23505") => {
            Some(e.constraint().unwrap_or_default().to_string())
        }
        _ => None,
    }
}
