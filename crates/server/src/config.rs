//! Settings from flags and `SAFEPREF_*` environment variables.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use clap::builder::BoolishValueParser;

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
    /// Mark the session cookie Secure (named `__Host-safepref_session`) and
    /// send Strict-Transport-Security. Default: on, unless --bind is a
    /// loopback address; `--secure-cookies=false` for plain http on purpose.
    #[arg(
        long,
        env = "SAFEPREF_SECURE_COOKIES",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_name = "BOOL",
        value_parser = BoolishValueParser::new()
    )]
    pub secure_cookies: Option<bool>,
    /// A host name users reach safepref by (repeatable): requests naming any
    /// other host in `Host` are refused, loopback names and probes excepted.
    #[arg(
        long = "public-host",
        env = "SAFEPREF_PUBLIC_HOSTS",
        value_delimiter = ',',
        value_name = "NAME",
        value_parser = public_host
    )]
    pub public_hosts: Vec<String>,
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
    /// The session cookie is Secure with the `__Host-` prefix, and
    /// responses carry Strict-Transport-Security.
    pub secure_cookies: bool,
    /// The names `Host` may give (lowercase, no port, see [`public_host`]);
    /// empty: any host is served.
    pub public_hosts: Vec<String>,
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

/// Sign-in throttling within `window`: at most `max_failures_per_user`
/// failed sign-ins for one username from one address, so a stranger cannot
/// lock a user out everywhere; `max_failures_per_user_anywhere` for one
/// username from all addresses together (guessing spread over many
/// addresses); and `max_failures_per_client` from one address over all
/// usernames.
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    pub window: Duration,
    pub max_failures_per_user: i64,
    pub max_failures_per_user_anywhere: i64,
    pub max_failures_per_client: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            secure_cookies: false,
            public_hosts: Vec::new(),
            trusted_proxy_hops: 0,
            session_idle: Duration::from_secs(12 * 3600),
            session_max: Duration::from_secs(7 * 24 * 3600),
            throttle: ThrottleConfig {
                window: Duration::from_secs(15 * 60),
                max_failures_per_user: 5,
                max_failures_per_user_anywhere: 50,
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
            secure_cookies: secure_cookies(args.bind, args.secure_cookies),
            public_hosts: args.public_hosts.clone(),
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

/// Whether the session cookie is Secure: as asked, else on unless the
/// server listens on loopback only. There users reach it as
/// http://127.0.0.1, where a Secure cookie would never be sent back; any
/// other address may be reached over a network, which must be https.
pub fn secure_cookies(bind: SocketAddr, asked: Option<bool>) -> bool {
    asked.unwrap_or_else(|| !is_loopback(bind.ip()))
}

/// 127.0.0.0/8 and ::1, also written as an IPv4-mapped IPv6 address.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// A `--public-host` value: a name or IP address as browsers write it in
/// `Host`, without scheme, port or path; kept lowercase, without a final
/// dot, an IPv6 address in brackets, so that it compares with `Host`.
pub fn public_host(value: &str) -> Result<String, String> {
    let name = value.trim().trim_end_matches('.').to_ascii_lowercase();
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<Ipv6Addr>() {
        return Ok(format!("[{ip}]"));
    }
    let is_name = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    match name.as_str() {
        "" => Err("an empty host name (look for a stray comma in SAFEPREF_PUBLIC_HOSTS)".into()),
        _ if !name.is_ascii() => Err(format!(
            "{value:?}: write an international name in its xn-- form, as browsers send it"
        )),
        _ if !is_name => Err(format!(
            "{value:?} is not a host name: give the name alone, as in annotate.example.org (no scheme, port or path)"
        )),
        _ => Ok(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    /// The config `safepref serve` would build from these flags.
    fn config(flags: &[&str]) -> Config {
        let argv = std::iter::once("serve").chain(flags.iter().copied());
        Config::from(&Serve::try_parse_from(argv).expect("valid flags").args)
    }

    #[test]
    fn cookies_are_secure_by_default_unless_bound_to_loopback() {
        for bind in [
            "127.0.0.1:8080",
            "127.1.2.3:80",
            "[::1]:8080",
            "[::ffff:127.0.0.1]:80",
        ] {
            assert!(!config(&["--bind", bind]).secure_cookies, "{bind}");
            assert!(
                config(&["--bind", bind, "--secure-cookies"]).secure_cookies,
                "{bind}"
            );
        }
        for bind in [
            "0.0.0.0:8080",
            "[::]:8080",
            "10.1.2.3:80",
            "[2001:db8::1]:443",
        ] {
            assert!(config(&["--bind", bind]).secure_cookies, "{bind}");
            for off in [
                "--secure-cookies=false",
                "--secure-cookies=no",
                "--secure-cookies=0",
            ] {
                assert!(
                    !config(&["--bind", bind, off]).secure_cookies,
                    "{bind} {off}"
                );
            }
        }
        // The flag alone still means on, before another flag as at the end.
        let config = config(&["--secure-cookies", "--bind", "127.0.0.1:1"]);
        assert!(config.secure_cookies);
        assert!(Serve::try_parse_from(["serve", "--secure-cookies=maybe"]).is_err());
    }

    #[test]
    fn public_hosts_are_names_kept_as_host_gives_them() {
        let config = config(&[
            "--public-host",
            "Annotate.Example.org.",
            "--public-host=10.0.0.5",
            "--public-host",
            "2001:DB8::1",
        ]);
        assert_eq!(
            config.public_hosts,
            ["annotate.example.org", "10.0.0.5", "[2001:db8::1]"]
        );
        for bad in [
            "https://example.org",
            "example.org:443",
            "example.org/x",
            "",
            "bücher.example",
        ] {
            let error = public_host(bad).expect_err(bad);
            assert!(
                error.contains("host name") || error.contains("xn--"),
                "{bad}: {error}"
            );
        }
    }
}
