//! Settings from flags and `SAFEPREF_*` environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Where the database is: a server given by URL, or the embedded cluster.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Folder for safepref's own files, including its embedded PostgreSQL.
    #[arg(
        long,
        env = "SAFEPREF_DATA_DIR",
        default_value = "./safepref-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Use this PostgreSQL server instead of the embedded one.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Seconds to wait for a DATABASE_URL server that does not answer yet
    /// (default: 60 for serve, 0 for other commands).
    #[arg(
        long,
        env = "SAFEPREF_DATABASE_WAIT",
        global = true,
        value_name = "SECONDS"
    )]
    pub database_wait: Option<u64>,
    /// Set by the command line for `serve`: wait for the database by default.
    #[arg(skip)]
    pub serving: bool,
}

impl DatabaseArgs {
    /// How long to wait for a database server that is not up yet.
    pub fn wait(&self) -> Duration {
        let default = if self.serving { 60 } else { 0 };
        Duration::from_secs(self.database_wait.unwrap_or(default))
    }
}

/// Settings of the web service.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SAFEPREF_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Mark the session cookie Secure (set when users reach safepref over https).
    #[arg(long, env = "SAFEPREF_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Take the client address from X-Forwarded-For (only behind a proxy you run).
    #[arg(long, env = "SAFEPREF_TRUST_PROXY")]
    pub trust_proxy: bool,
    /// How many proxies you run in front of safepref (implies --trust-proxy;
    /// default 1 with it): the client address is that many entries from the
    /// right of X-Forwarded-For.
    #[arg(long, env = "SAFEPREF_TRUST_PROXY_HOPS", value_name = "N")]
    pub trust_proxy_hops: Option<u32>,
    /// Minutes without a request after which a session ends.
    #[arg(long, env = "SAFEPREF_SESSION_IDLE_MINUTES", default_value_t = 12 * 60)]
    pub session_idle_minutes: u64,
    /// Hours after sign-in after which a session ends, however active.
    #[arg(long, env = "SAFEPREF_SESSION_MAX_HOURS", default_value_t = 7 * 24)]
    pub session_max_hours: u64,
    /// Finished export jobs kept per project (with their files); older ones are deleted.
    #[arg(long, env = "SAFEPREF_EXPORT_JOBS_KEPT", default_value_t = DEFAULT_EXPORT_JOBS_KEPT)]
    pub export_jobs_kept: u32,
}

/// Finished export jobs kept per project: enough for a history page, few
/// enough that exports of a big project do not fill the disk.
pub const DEFAULT_EXPORT_JOBS_KEPT: u32 = 20;

/// What the running service needs to know; built from [`ServeArgs`] or by tests.
#[derive(Debug, Clone)]
pub struct Config {
    pub secure_cookies: bool,
    /// Proxies of ours in front (0: X-Forwarded-For is not trusted).
    pub trusted_proxy_hops: u32,
    pub session_idle: Duration,
    pub session_max: Duration,
    pub throttle: ThrottleConfig,
    /// Time limit for one request (a slow request gets 503, not a hang).
    pub request_timeout: Duration,
    /// Where the admin page's export jobs write their files (`serve` puts
    /// it in the data directory).
    pub exports_dir: PathBuf,
    /// Finished export jobs kept per project; older ones (rows and files)
    /// are deleted when a job ends.
    pub export_jobs_kept: u32,
}

/// Sign-in throttling: at most `max_failures_per_user` failed sign-ins for one
/// username, and `max_failures_per_client` from one address, within `window`.
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    pub window: Duration,
    pub max_failures_per_user: i64,
    pub max_failures_per_client: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            secure_cookies: false,
            trusted_proxy_hops: 0,
            session_idle: Duration::from_secs(12 * 3600),
            session_max: Duration::from_secs(7 * 24 * 3600),
            throttle: ThrottleConfig {
                window: Duration::from_secs(15 * 60),
                max_failures_per_user: 5,
                max_failures_per_client: 30,
            },
            request_timeout: Duration::from_secs(60),
            exports_dir: std::env::temp_dir().join("safepref-exports"),
            export_jobs_kept: DEFAULT_EXPORT_JOBS_KEPT,
        }
    }
}

impl From<&ServeArgs> for Config {
    fn from(args: &ServeArgs) -> Self {
        Config {
            secure_cookies: args.secure_cookies,
            trusted_proxy_hops: args.trust_proxy_hops.unwrap_or(if args.trust_proxy {
                1
            } else {
                0
            }),
            session_idle: Duration::from_secs(args.session_idle_minutes * 60),
            session_max: Duration::from_secs(args.session_max_hours * 3600),
            export_jobs_kept: args.export_jobs_kept,
            ..Config::default()
        }
    }
}
