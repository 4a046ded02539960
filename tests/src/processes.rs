//! Real processes a test can kill, stop and start: a PostgreSQL cluster of
//! the test's own, a hot standby of it, and `safepref serve` as a child
//! process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use safepref_server::db;
use safepref_server::pg::{BinSearch, Binaries, Cluster, ClusterOptions, PORT, SUPERUSER};

use crate::{Browser, TestDb, client, safepref_binary};

/// A PostgreSQL cluster of the test's own, for a test that stops and starts
/// it (the shared cluster serves every other test of the process). Stopped
/// and removed when dropped, or by its watcher when the process ends.
pub struct OwnCluster {
    cluster: Cluster,
    dir: PathBuf,
    _watcher: Child,
}

impl OwnCluster {
    /// A cluster with fsync and synchronous commit off, as the test cluster.
    pub fn start() -> Self {
        Self::start_with(&ClusterOptions { unsafe_fast: true })
    }

    /// A cluster with the settings `safepref serve` gives its own: a commit
    /// is in the WAL on disk before it is acknowledged, so a killed server
    /// loses no acknowledged transaction.
    pub fn start_durable() -> Self {
        Self::start_with(&ClusterOptions::default())
    }

    fn start_with(options: &ClusterOptions) -> Self {
        let dir = kept_temp_dir("safepref-own-");
        let mut cluster =
            Cluster::prepare(&dir, &BinSearch::Default, options).expect("preparing a cluster");
        cluster.ensure_running().expect("starting a cluster");
        let watcher = cluster
            .stop_when_process_exits(Some(&dir))
            .expect("starting the cluster watcher");
        OwnCluster {
            cluster,
            dir,
            _watcher: watcher,
        }
    }

    /// The data folder this cluster is embedded in (`safepref --data-dir`).
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// PostgreSQL's own data folder (`pg/` inside the data folder).
    pub fn pgdata(&self) -> PathBuf {
        self.cluster.pgdata()
    }

    /// The migrated `safepref` database, the one `safepref serve --data-dir`
    /// uses in this cluster.
    pub async fn db(&self) -> TestDb {
        let url = self.cluster.database_url(db::EMBEDDED_DATABASE);
        db::create_database_if_missing(
            &self.cluster.database_url("postgres"),
            db::EMBEDDED_DATABASE,
        )
        .await
        .expect("creating a database");
        let pool = db::pool_for(&url).await.expect("connecting");
        db::migrate(&pool).await.expect("migrating");
        TestDb { url, pool }
    }

    /// Stops PostgreSQL (fast: open transactions roll back, clients are cut off).
    pub fn stop(&self) {
        self.cluster.stop().expect("stopping PostgreSQL");
    }

    /// Starts it again.
    pub fn start_again(&mut self) {
        self.cluster
            .ensure_running()
            .expect("starting PostgreSQL again");
    }

    /// The postmaster's process id, from its postmaster.pid.
    pub fn postmaster_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.cluster.pgdata().join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// SIGKILL to the postmaster, as the out-of-memory killer sends it. Its
    /// server processes notice and leave; nothing is shut down cleanly.
    pub fn kill9_postmaster(&self) -> i32 {
        let pid = self.postmaster_pid().expect("a running postmaster");
        let status = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -9 {pid}");
        pid
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        self.cluster.stop().ok();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn kept_temp_dir(prefix: &str) -> PathBuf {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("a temporary folder")
        .keep()
}

/// A hot standby of an [`OwnCluster`], made with `pg_basebackup -R` and
/// streaming from it, on a socket of its own. Removed when dropped, or by
/// its watcher when the process ends.
pub struct Standby {
    bins: Binaries,
    dir: PathBuf,
    _watcher: Child,
}

impl Standby {
    pub fn of(primary: &OwnCluster) -> Self {
        let bins = Binaries::locate(&BinSearch::Default).expect("PostgreSQL's binaries");
        let dir = kept_temp_dir("safepref-standby-");
        std::fs::create_dir_all(dir.join("run")).expect("the standby's socket folder");
        if running_as_root() {
            run(
                Command::new("chown").args(["-R", SUPERUSER]).arg(&dir),
                "giving the standby's folder to the postgres user",
            );
        }
        let standby = Standby {
            _watcher: cleanup_watcher(&bins, &dir),
            bins,
            dir,
        };
        let source = format!(
            "host={} port={PORT} user={SUPERUSER}",
            primary.cluster.socket_dir().display()
        );
        let mut backup = standby.command("pg_basebackup");
        backup
            .args(["-R", "-X", "stream", "-c", "fast", "-d", &source, "-D"])
            .arg(standby.pgdata());
        run(&mut backup, "pg_basebackup");
        let mut start = standby.command("pg_ctl");
        start
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(standby.pgdata())
            .arg("-l")
            .arg(standby.dir.join("postgres.log"))
            .arg("-o")
            .arg(format!("-k '{}' -p {PORT}", standby.socket_dir().display()));
        run(&mut start, "starting the standby");
        standby
    }

    fn pgdata(&self) -> PathBuf {
        self.dir.join("pg")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    /// A URL for one of the standby's databases.
    pub fn database_url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@localhost:{PORT}/{database}?host={}",
            self.socket_dir().display()
        )
    }

    /// Waits until the standby has replayed everything the primary has
    /// written so far.
    pub async fn catch_up(&self, primary: &sqlx::PgPool) {
        let target: String = sqlx::query_scalar("select pg_current_wal_lsn()::text")
            .fetch_one(primary)
            .await
            .expect("the primary's WAL position");
        let standby = db::pool_for(&self.database_url("postgres"))
            .await
            .expect("connecting to the standby");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let behind: bool =
                sqlx::query_scalar("select coalesce(pg_last_wal_replay_lsn() < $1::pg_lsn, true)")
                    .bind(&target)
                    .fetch_one(&standby)
                    .await
                    .expect("the standby's replay position");
            if !behind {
                break;
            }
            assert!(Instant::now() < deadline, "the standby did not catch up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        standby.close().await;
    }

    fn command(&self, name: &str) -> Command {
        let mut cmd = as_postgres(Command::new(self.bins.bindir.join(name)).current_dir("/"));
        cmd.stdin(Stdio::null());
        cmd
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        let mut stop = self.command("pg_ctl");
        stop.args(["stop", "-w", "-m", "immediate", "-D"])
            .arg(self.pgdata())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        stop.status().ok();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// The command as the `postgres` user when we are root (PostgreSQL refuses
/// to run as root), else as it is.
fn as_postgres(cmd: &mut Command) -> Command {
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let mut out = if running_as_root() {
        let mut runuser = Command::new("runuser");
        runuser.args(["-u", SUPERUSER, "--"]).arg(program);
        runuser
    } else {
        Command::new(program)
    };
    out.args(args).current_dir("/");
    out
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Stops the standby and removes its folder when the test process ends.
fn cleanup_watcher(bins: &Binaries, dir: &Path) -> Child {
    let script = format!(
        "cat >/dev/null; runuser -u {SUPERUSER} -- '{}' stop -m immediate -D '{}/pg' >/dev/null 2>&1 \
         || '{0}' stop -m immediate -D '{1}/pg' >/dev/null 2>&1; rm -rf '{1}'",
        bins.bindir.join("pg_ctl").display(),
        dir.display()
    );
    crate::watcher(&script, "the standby's watcher")
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A `safepref serve` process of its own, for tests that kill it with
/// SIGKILL (which an in-process server cannot survive) or the database
/// under it.
pub struct ServerProcess {
    child: Option<Child>,
    pub base: String,
    bind: std::net::SocketAddr,
    /// DATABASE_URL, or none for the embedded cluster in `data_dir`.
    db_url: Option<String>,
    data_dir: PathBuf,
    /// Holds the log (and, by default, the data folder).
    own: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts `safepref serve` on a database on a free loopback port and
    /// waits until it answers.
    pub async fn start(db_url: &str) -> Self {
        let own = tempfile::tempdir().expect("a data folder");
        let data_dir = own.path().to_path_buf();
        Self::start_with(Some(db_url.to_string()), data_dir, own).await
    }

    /// Starts `safepref serve` on the embedded cluster in `data_dir` (which
    /// several servers may share).
    pub async fn start_embedded(data_dir: &Path) -> Self {
        let own = tempfile::tempdir().expect("a folder for the log");
        Self::start_with(None, data_dir.to_path_buf(), own).await
    }

    async fn start_with(db_url: Option<String>, data_dir: PathBuf, own: tempfile::TempDir) -> Self {
        let bind = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port");
        let mut server = ServerProcess {
            child: None,
            base: format!("http://{bind}"),
            bind,
            db_url,
            data_dir,
            own,
        };
        server.restart().await;
        server
    }

    /// Starts the process (again, after [`ServerProcess::kill9`]) on the same
    /// port and waits until /healthz answers.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("the server's log");
        let mut command = Command::new(safepref_binary());
        command
            .args(["serve", "--bind", &self.bind.to_string(), "--data-dir"])
            .arg(&self.data_dir)
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log"))
            .stderr(log);
        if let Some(url) = &self.db_url {
            command.env("DATABASE_URL", url);
        }
        self.child = Some(command.spawn().expect("starting safepref serve"));
        let deadline = Instant::now() + Duration::from_secs(30);
        let http = reqwest::Client::new();
        loop {
            let up = http.get(format!("{}/healthz", self.base)).send().await;
            if up.is_ok_and(|r| r.status() == 200) {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("safepref serve exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "safepref serve did not answer: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown, no cleanup, as a crash or the OOM killer would.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("a running server");
        child.kill().expect("sending SIGKILL");
        child.wait().expect("reaping the server");
    }

    fn log_path(&self) -> PathBuf {
        self.own.path().join("serve.log")
    }

    /// What the server wrote.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// A signed-out cookie-keeping client for this server.
    pub fn browser(&self) -> Browser {
        Browser {
            client: client(),
            base: self.base.clone(),
            csrf_token: None,
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}
