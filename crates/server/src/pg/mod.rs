//! The embedded PostgreSQL supervisor: safepref's default database.
//!
//! With no `DATABASE_URL`, safepref keeps a private PostgreSQL cluster in
//! `<data-dir>/pg`, listening only on a Unix socket in `<data-dir>/run`. Any
//! safepref process (the server or a CLI command) calls [`Cluster::ensure_running`]:
//! it connects to the cluster if it is already up, or starts it. On the way
//! out, [`Cluster::stop_if_unused`] stops it when no other client is connected,
//! so the last safepref process to leave turns the light off.
//!
//! Two files in the cluster's folder make this safe between processes:
//! `supervisor.lock`, held exclusively while creating, starting or stopping
//! the cluster, and `clients.lock`, on which every safepref process using the
//! cluster holds a shared lock from `ensure_running` until it leaves (the
//! kernel drops it when a process dies). A process about to stop the cluster
//! holds the first and checks that it can lock the second exclusively, so a
//! process that has just found the cluster running is never stopped under.
//!
//! PostgreSQL refuses to run as root; as root, its binaries run as the
//! `postgres` system user, which then owns the cluster's folders.
//!
//! Everything here is synchronous (it runs a handful of short commands);
//! async callers wrap it in `spawn_blocking`.

pub mod supervise;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The port number only names the socket file; no TCP port is opened.
pub const PORT: u16 = 5432;
/// The superuser role every embedded cluster is created with.
pub const SUPERUSER: &str = "postgres";

const DEBIAN_PACKAGE_HINT: &str = "install the PostgreSQL server binaries \
(on Debian or Ubuntu: `apt-get install postgresql`), or set DATABASE_URL to use \
a PostgreSQL server you already run";

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("no PostgreSQL server binaries found (looked in: {searched}); {DEBIAN_PACKAGE_HINT}")]
    BinariesNotFound { searched: String },
    #[error(
        "the database folder {dir} was made by PostgreSQL {found}, but the server binaries \
         found are PostgreSQL {have} ({bindir}); install PostgreSQL {found}'s server binaries, \
         or move the folder aside and start again to create a new, empty database"
    )]
    VersionMismatch {
        dir: String,
        found: String,
        have: u32,
        bindir: String,
    },
    #[error(
        "{dir} exists but is not a PostgreSQL data folder (it has no PG_VERSION file); move it aside or choose another --data-dir"
    )]
    NotAClusterDir { dir: String },
    #[error(
        "running as root, but there is no `postgres` system user to run PostgreSQL as; {DEBIAN_PACKAGE_HINT}"
    )]
    NoPostgresUser,
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

type Result<T, E = PgError> = std::result::Result<T, E>;

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PgError {
    move |source| PgError::Io {
        context: context.into(),
        source,
    }
}

/// Where to look for `initdb`, `pg_ctl` and `postgres`.
#[derive(Debug, Clone)]
pub enum BinSearch {
    /// `SAFEPREF_PG_BINDIR`, then `pg_config --bindir`, then `PATH`, then
    /// `/usr/lib/postgresql/*/bin` (newest first).
    Default,
    /// Exactly these folders, in order (tests use an empty list).
    Dirs(Vec<PathBuf>),
}

impl BinSearch {
    fn candidates(&self) -> Vec<PathBuf> {
        match self {
            BinSearch::Dirs(dirs) => dirs.clone(),
            BinSearch::Default => {
                let mut dirs = Vec::new();
                if let Some(dir) = std::env::var_os("SAFEPREF_PG_BINDIR") {
                    dirs.push(PathBuf::from(dir));
                }
                if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
                    && out.status.success()
                {
                    dirs.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
                }
                if let Some(path) = std::env::var_os("PATH") {
                    dirs.extend(std::env::split_paths(&path));
                }
                let mut versioned: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|entry| entry.path().join("bin"))
                    .collect();
                versioned.sort_by_key(|p| std::cmp::Reverse(major_from_path(p)));
                dirs.extend(versioned);
                dirs
            }
        }
    }
}

fn major_from_path(bin: &Path) -> u32 {
    bin.parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A folder holding the three server binaries, and their major version.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub bindir: PathBuf,
    pub major: u32,
}

impl Binaries {
    pub fn locate(search: &BinSearch) -> Result<Self> {
        let candidates = search.candidates();
        let found = candidates.iter().find(|dir| {
            ["initdb", "pg_ctl", "postgres"]
                .iter()
                .all(|b| dir.join(b).is_file())
        });
        let Some(dir) = found else {
            let searched = if candidates.is_empty() {
                "nowhere: the search path is empty".to_string()
            } else {
                candidates
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(PgError::BinariesNotFound { searched });
        };
        let bindir = fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
        let out = run(
            Command::new(bindir.join("postgres")).arg("--version"),
            "postgres --version",
        )?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let major = parse_major(&text).ok_or_else(|| PgError::Command {
            what: "postgres --version".into(),
            detail: format!("could not read a version from {text:?}"),
        })?;
        Ok(Binaries { bindir, major })
    }

    fn cmd(&self, name: &str, owner: Option<&Owner>) -> Command {
        let mut cmd = Command::new(self.bindir.join(name));
        // The postgres user may not be allowed into the caller's working folder.
        cmd.current_dir("/").stdin(Stdio::null());
        if let Some(owner) = owner {
            cmd.uid(owner.uid).gid(owner.gid);
        }
        cmd
    }
}

/// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" -> 15
fn parse_major(version_text: &str) -> Option<u32> {
    let after = version_text.split(')').nth(1)?.trim();
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The system user the server binaries run as, when we are root.
#[derive(Debug, Clone, Copy)]
struct Owner {
    uid: u32,
    gid: u32,
}

fn owner_for_current_user() -> Result<Option<Owner>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match nix::unistd::User::from_name(SUPERUSER) {
        Ok(Some(user)) => Ok(Some(Owner {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })),
        _ => Err(PgError::NoPostgresUser),
    }
}

/// One embedded cluster.
#[derive(Debug)]
pub struct Cluster {
    bins: Binaries,
    owner: Option<Owner>,
    /// The folder holding `pg/` (the data) and `run/` (the socket).
    root: PathBuf,
    socket_dir: PathBuf,
    started_here: bool,
    /// The shared lock on `clients.lock` saying "this process uses the
    /// cluster", held from `ensure_running` until `stop_if_unused`.
    client_lock: Option<fs::File>,
}

/// Settings written once into a new cluster's postgresql.conf.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Turn off fsync and friends: for throwaway test clusters only.
    pub unsafe_fast: bool,
}

impl Cluster {
    /// Finds binaries, creates the cluster folder with `initdb` on first use,
    /// and checks that an existing folder matches the binaries' major version.
    pub fn prepare(data_dir: &Path, search: &BinSearch, options: &ClusterOptions) -> Result<Self> {
        let bins = Binaries::locate(search)?;
        let owner = owner_for_current_user()?;
        fs::create_dir_all(data_dir).map_err(io_err(format!("creating {}", data_dir.display())))?;
        let data_dir = fs::canonicalize(data_dir)
            .map_err(io_err(format!("reading {}", data_dir.display())))?;
        let root = cluster_root(&data_dir, owner.as_ref());
        let socket_dir = socket_dir_for(&root);
        let cluster = Cluster {
            bins,
            owner,
            root,
            socket_dir,
            started_here: false,
            client_lock: None,
        };
        cluster.make_owned_dir(&cluster.root)?;
        private_socket_dir(&cluster.socket_dir, cluster.owner.as_ref())?;
        // Two processes preparing a new folder at once: one runs initdb, the
        // other waits and then finds a finished cluster.
        let _lock = cluster.lock()?;
        if cluster.pgdata().join("PG_VERSION").is_file() {
            cluster.check_version()?;
        } else if cluster.pgdata().exists()
            && fs::read_dir(cluster.pgdata())
                .map(|mut d| d.next().is_some())
                .unwrap_or(false)
        {
            return Err(PgError::NotAClusterDir {
                dir: cluster.pgdata().display().to_string(),
            });
        } else {
            // An empty pg/ someone else made: initdb must be able to use it.
            if cluster.pgdata().exists() {
                cluster.make_owned_dir(&cluster.pgdata())?;
            }
            cluster.initdb(options)?;
        }
        Ok(cluster)
    }

    pub fn pgdata(&self) -> PathBuf {
        self.root.join("pg")
    }

    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    pub fn major_version(&self) -> u32 {
        self.bins.major
    }

    /// True when this process started the cluster (rather than finding it up).
    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// A libpq-style URL for one database of this cluster, over the socket.
    pub fn database_url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@localhost:{PORT}/{database}?host={}",
            self.socket_dir.display()
        )
    }

    fn make_owned_dir(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(io_err(format!("setting permissions of {}", dir.display())))?;
        if let Some(owner) = &self.owner {
            std::os::unix::fs::chown(dir, Some(owner.uid), Some(owner.gid)).map_err(io_err(
                format!("giving {} to the postgres user", dir.display()),
            ))?;
        }
        Ok(())
    }

    fn check_version(&self) -> Result<()> {
        let path = self.pgdata().join("PG_VERSION");
        let found =
            fs::read_to_string(&path).map_err(io_err(format!("reading {}", path.display())))?;
        let found = found.trim().to_string();
        if found != self.bins.major.to_string() {
            return Err(PgError::VersionMismatch {
                dir: self.pgdata().display().to_string(),
                found,
                have: self.bins.major,
                bindir: self.bins.bindir.display().to_string(),
            });
        }
        Ok(())
    }

    fn initdb(&self, options: &ClusterOptions) -> Result<()> {
        tracing::info!(dir = %self.pgdata().display(), "creating the embedded PostgreSQL cluster (initdb)");
        let mut cmd = self.bins.cmd("initdb", self.owner.as_ref());
        cmd.arg("-D").arg(self.pgdata());
        cmd.args([
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]);
        if options.unsafe_fast {
            cmd.arg("--no-sync");
        }
        run(&mut cmd, "initdb")?;
        // Trust authentication is safe here only because the socket folder is
        // private (0700) and no TCP address is listened on.
        let mut conf = String::from(
            "\n# safepref: private cluster, Unix socket only\nlisten_addresses = ''\nunix_socket_permissions = 0700\nmax_connections = 200\n",
        );
        if options.unsafe_fast {
            conf.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        let path = self.pgdata().join("postgresql.conf");
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(conf.as_bytes()))
            .map_err(io_err(format!("writing {}", path.display())))
    }

    /// Opens (creating it if need be) one of the cluster's lock files.
    fn lock_file(&self, name: &str) -> Result<(fs::File, PathBuf)> {
        let path = self.root.join(name);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(format!("opening {}", path.display())))?;
        Ok((file, path))
    }

    /// Takes the supervisor's file lock (released when the file is dropped),
    /// which serialises creating, starting and stopping the cluster.
    fn lock(&self) -> Result<fs::File> {
        let (lock, path) = self.lock_file("supervisor.lock")?;
        lock.lock()
            .map_err(io_err(format!("locking {}", path.display())))?;
        Ok(lock)
    }

    /// Connects to the cluster if it is up, or starts it, and marks this
    /// process as one of its users until [`Cluster::stop_if_unused`]. Safe to
    /// call from several processes at once: a file lock serialises the
    /// check-and-start.
    pub fn ensure_running(&mut self) -> Result<()> {
        let _lock = self.lock()?;
        self.start_locked()?;
        if self.client_lock.is_none() {
            let (file, path) = self.lock_file("clients.lock")?;
            file.lock_shared()
                .map_err(io_err(format!("locking {}", path.display())))?;
            self.client_lock = Some(file);
        }
        Ok(())
    }

    fn start_locked(&mut self) -> Result<()> {
        self.clear_stale_pid_file()?;
        if self.server_pid().is_some() {
            self.wait_until_ready(Duration::from_secs(30))?;
            return Ok(());
        }
        tracing::info!(dir = %self.pgdata().display(), "starting the embedded PostgreSQL");
        let log = self.root.join("postgres.log");
        let mut cmd = self.bins.cmd("pg_ctl", self.owner.as_ref());
        cmd.args(["start", "-w", "-t", "60", "-D"])
            .arg(self.pgdata());
        cmd.arg("-l").arg(&log);
        cmd.arg("-o").arg(format!(
            "-k '{}' -p {PORT} -c shared_buffers={}MB",
            self.socket_dir.display(),
            shared_buffers_mb()
        ));
        // pg_ctl's daemon would keep our stdout open; give it nothing of ours.
        cmd.stdout(Stdio::null());
        run(&mut cmd, "starting PostgreSQL (pg_ctl start)").map_err(|e| match e {
            PgError::Command { what, detail } => PgError::Command {
                what,
                detail: format!(
                    "{detail}\nlast lines of {}:\n{}",
                    log.display(),
                    tail(&log, 15)
                ),
            },
            other => other,
        })?;
        self.started_here = true;
        Ok(())
    }

    /// The PID in postmaster.pid when it belongs to a live postgres process
    /// serving this cluster. After a reboot the PID may belong to another
    /// PostgreSQL (the system's own cluster, say): the postmaster works in its
    /// data folder, so a server whose working folder is elsewhere is not ours.
    fn server_pid(&self) -> Option<i32> {
        let text = fs::read_to_string(self.pgdata().join("postmaster.pid")).ok()?;
        let pid: i32 = text.lines().next()?.trim().parse().ok()?;
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        if comm.trim() != "postgres" || is_zombie(pid) {
            return None;
        }
        // Unreadable (another user's process, without root): trust the name.
        if let Ok(cwd) = fs::read_link(format!("/proc/{pid}/cwd")) {
            let pgdata = fs::canonicalize(self.pgdata()).unwrap_or_else(|_| self.pgdata());
            if cwd != pgdata {
                return None;
            }
        }
        Some(pid)
    }

    /// Starts the cluster again if its server has died (kill -9, the
    /// out-of-memory killer), or stops and starts it if it runs but its
    /// socket is gone (nothing can connect). True when it had to act.
    /// PostgreSQL's crash recovery replays the WAL as it starts. Every
    /// process sharing the folder calls this; the supervisor's lock lets one
    /// act and the others then find the server up.
    pub fn revive(&mut self) -> Result<bool> {
        if self.serving() {
            return Ok(false);
        }
        let _lock = self.lock()?;
        if self.serving() {
            return Ok(false);
        }
        if self.server_pid().is_some() {
            tracing::warn!(socket = %self.socket_dir.display(), "the embedded PostgreSQL runs but its socket is gone; restarting it");
            self.stop_locked()?;
        }
        self.start_locked()?;
        Ok(true)
    }

    /// Another handle on this cluster, holding no client lock: for the task
    /// that watches over the cluster beside the handle that uses it.
    pub fn watcher(&self) -> Cluster {
        Cluster {
            bins: self.bins.clone(),
            owner: self.owner,
            root: self.root.clone(),
            socket_dir: self.socket_dir.clone(),
            started_here: false,
            client_lock: None,
        }
    }

    /// The server is alive and, once it has said it is ready, its socket is there.
    fn serving(&self) -> bool {
        if self.server_pid().is_none() {
            return false;
        }
        let status = fs::read_to_string(self.pgdata().join("postmaster.pid")).unwrap_or_default();
        let ready = status.lines().nth(7).map(str::trim) == Some("ready");
        !ready || self.socket_dir.join(format!(".s.PGSQL.{PORT}")).exists()
    }

    /// After a crash (of the machine, or kill -9), postmaster.pid may name a
    /// PID that is gone or now belongs to another program. PostgreSQL itself
    /// only recognises the first case; remove the file in both.
    fn clear_stale_pid_file(&self) -> Result<()> {
        let pid_file = self.pgdata().join("postmaster.pid");
        if !pid_file.exists() || self.server_pid().is_some() {
            return Ok(());
        }
        tracing::warn!(file = %pid_file.display(), "removing a stale postmaster.pid left by a server that is no longer running");
        fs::remove_file(&pid_file).map_err(io_err(format!("removing {}", pid_file.display())))?;
        for name in [format!(".s.PGSQL.{PORT}"), format!(".s.PGSQL.{PORT}.lock")] {
            let _ = fs::remove_file(self.socket_dir.join(name));
        }
        Ok(())
    }

    fn wait_until_ready(&self, limit: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            let status =
                fs::read_to_string(self.pgdata().join("postmaster.pid")).unwrap_or_default();
            if status.lines().nth(7).map(str::trim) == Some("ready") {
                return Ok(());
            }
            if started.elapsed() > limit {
                return Err(PgError::Command {
                    what: "waiting for the running PostgreSQL".into(),
                    detail: format!("it did not report ready within {limit:?}"),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the cluster (fast mode: open transactions are rolled back),
    /// whoever else uses it.
    pub fn stop(&self) -> Result<()> {
        let _lock = self.lock()?;
        self.stop_locked()
    }

    fn stop_locked(&self) -> Result<()> {
        if self.server_pid().is_none() {
            return Ok(());
        }
        tracing::info!("stopping the embedded PostgreSQL");
        let mut cmd = self.bins.cmd("pg_ctl", self.owner.as_ref());
        cmd.args(["stop", "-w", "-t", "60", "-m", "fast", "-D"])
            .arg(self.pgdata());
        run(&mut cmd, "stopping PostgreSQL (pg_ctl stop)").map(|_| ())
    }

    /// Leaves the cluster: stops it when no other safepref process uses it
    /// and no other client is connected. `other_clients` is the number of
    /// connections, not counting safepref's own, the caller counted just before.
    pub fn stop_if_unused(mut self, other_clients: i64) -> Result<()> {
        let _lock = self.lock()?;
        self.client_lock = None;
        let (clients, path) = self.lock_file("clients.lock")?;
        match clients.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                tracing::info!(
                    "leaving the embedded PostgreSQL running for the other safepref processes using it"
                );
                return Ok(());
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(io_err(format!("locking {}", path.display()))(e));
            }
        }
        if other_clients > 0 {
            tracing::info!(
                other_clients,
                "leaving the embedded PostgreSQL running for its other clients"
            );
            return Ok(());
        }
        self.stop_locked()
    }

    /// Ties the cluster's life to this process: when the process ends, however
    /// it ends, a small watcher stops the cluster and removes `remove_after`.
    /// Used by the test harness, whose processes have no shutdown hook.
    pub fn stop_when_process_exits(
        &self,
        remove_after: Option<&Path>,
    ) -> Result<std::process::Child> {
        let pg_ctl = self.bins.bindir.join("pg_ctl");
        let mut script = format!(
            "cat >/dev/null; '{}' stop -w -m immediate -D '{}' >/dev/null 2>&1",
            pg_ctl.display(),
            self.pgdata().display()
        );
        if let Some(dir) = remove_after {
            script.push_str(&format!("; rm -rf '{}'", dir.display()));
        }
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd.current_dir("/");
        if let Some(owner) = &self.owner {
            cmd.uid(owner.uid).gid(owner.gid);
        }
        cmd.spawn().map_err(io_err("starting the cluster watcher"))
    }
}

/// Creates the socket folder, or checks the one there, without following a
/// symbolic link: it may be a predictable name in the shared temporary
/// folder (see [`socket_dir_for`]), where another local user could have put
/// a link or a folder of their own to catch our chmod and chown, or our
/// socket. Only a real folder owned by us (or by root, before its chown)
/// is used.
fn private_socket_dir(dir: &Path, owner: Option<&Owner>) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let ours = owner.map_or_else(|| nix::unistd::geteuid().as_raw(), |o| o.uid);
    let meta = match fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Another process preparing the same folder may create it first.
            match fs::DirBuilder::new().mode(0o700).create(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(io_err(format!("creating {}", dir.display()))(e));
                }
                _ => {}
            }
            fs::symlink_metadata(dir).map_err(io_err(format!("reading {}", dir.display())))?
        }
        Err(e) => return Err(io_err(format!("reading {}", dir.display()))(e)),
    };
    if !meta.file_type().is_dir() || (meta.uid() != ours && meta.uid() != 0) {
        return Err(PgError::Io {
            context: format!(
                "{} is not a folder of ours (a link, a file, or another user's folder); \
                 remove it, or choose a shorter --data-dir so the socket stays inside it",
                dir.display()
            ),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        });
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(io_err(format!("setting permissions of {}", dir.display())))?;
    if let Some(owner) = owner {
        std::os::unix::fs::lchown(dir, Some(owner.uid), Some(owner.gid)).map_err(io_err(
            format!("giving {} to the postgres user", dir.display()),
        ))?;
    }
    Ok(())
}

/// A dead process its parent has not reaped yet (in a container whose first
/// process does not reap orphans, a killed postmaster stays one).
fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after_name = &stat[stat.rfind(')')? + 1..];
            after_name
                .split_whitespace()
                .next()
                .map(|state| state == "Z")
        })
        .unwrap_or(false)
}

/// PostgreSQL's default of 128 MB makes a report or an export of a large
/// project read most pages through the kernel's cache again and again (the
/// export's profile showed the copies); a quarter of the memory, between
/// 128 MB and 8 GB (the usual advice for a dedicated database), keeps more
/// of a project's tables in PostgreSQL's own cache. Given at every start,
/// so clusters made by older versions get it too.
fn shared_buffers_mb() -> u64 {
    let total_kb = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .unwrap_or(0);
    (total_kb / 1024 / 4).clamp(128, 8192)
}

/// `<data-dir>`, unless we are root and the postgres user cannot walk down to
/// it (a data folder under /root, say): then a folder under
/// /var/lib/safepref named after the data folder's path.
fn cluster_root(data_dir: &Path, owner: Option<&Owner>) -> PathBuf {
    let Some(owner) = owner else {
        return data_dir.to_path_buf();
    };
    if reachable_by(data_dir, owner) {
        return data_dir.to_path_buf();
    }
    let fallback = PathBuf::from("/var/lib/safepref").join(short_hash(data_dir));
    tracing::info!(
        data_dir = %data_dir.display(),
        cluster = %fallback.display(),
        "the postgres user cannot reach the data folder; keeping the cluster under /var/lib/safepref"
    );
    fallback
}

/// Whether every folder above `dir` lets `owner` pass through.
fn reachable_by(dir: &Path, owner: &Owner) -> bool {
    use std::os::unix::fs::MetadataExt;
    dir.ancestors()
        .skip(1)
        .all(|folder| match fs::metadata(folder) {
            Ok(meta) => {
                let mode = meta.mode();
                if meta.uid() == owner.uid {
                    mode & 0o100 != 0
                } else if meta.gid() == owner.gid {
                    mode & 0o010 != 0
                } else {
                    mode & 0o001 != 0
                }
            }
            Err(_) => false,
        })
}

fn short_hash(path: &Path) -> String {
    let digest = Sha256::digest(path.as_os_str().as_encoded_bytes());
    hex::encode(&digest[..8])
}

/// The socket folder: `<root>/run`, or a short folder under /tmp when that
/// path would be too long for a Unix socket address (108 bytes on Linux).
fn socket_dir_for(root: &Path) -> PathBuf {
    let preferred = root.join("run");
    let socket_path_len = preferred.as_os_str().len() + format!("/.s.PGSQL.{PORT}.lock").len();
    if socket_path_len < 100 {
        preferred
    } else {
        std::env::temp_dir().join(format!("safepref-{}", short_hash(root)))
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<Output> {
    let out = cmd
        .stderr(Stdio::piped())
        .output()
        .map_err(io_err(format!("running {what}")))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(PgError::Command {
            what: what.to_string(),
            detail: format!(
                "{}; {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_major_version() {
        assert_eq!(
            parse_major("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
            Some(15)
        );
        assert_eq!(parse_major("postgres (PostgreSQL) 17beta1"), Some(17));
        assert_eq!(parse_major("garbage"), None);
    }

    #[test]
    fn an_empty_search_path_names_the_package_and_the_alternative() {
        let err = Binaries::locate(&BinSearch::Dirs(vec![]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("apt-get install postgresql"), "{err}");
        assert!(err.contains("DATABASE_URL"), "{err}");
    }

    #[test]
    fn a_link_or_a_strangers_folder_is_never_taken_for_the_socket_folder() {
        let base = tempfile::tempdir().unwrap();
        let target = base.path().join("elsewhere");
        fs::create_dir(&target).unwrap();
        let link = base.path().join("safepref-link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = private_socket_dir(&link, None).unwrap_err().to_string();
        assert!(err.contains("is not a folder of ours"), "{err}");

        let fresh = base.path().join("safepref-fresh");
        private_socket_dir(&fresh, None).unwrap();
        let mode = fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        private_socket_dir(&fresh, None).expect("our own folder is used again");

        if nix::unistd::geteuid().is_root() {
            let strangers = base.path().join("safepref-strangers");
            fs::create_dir(&strangers).unwrap();
            std::os::unix::fs::chown(&strangers, Some(65534), Some(65534)).unwrap();
            let err = private_socket_dir(&strangers, None)
                .unwrap_err()
                .to_string();
            assert!(err.contains("is not a folder of ours"), "{err}");
        }
    }

    #[test]
    fn processes_making_the_socket_folder_at_once_all_succeed() {
        let base = tempfile::tempdir().unwrap();
        for round in 0..20 {
            let dir = base.path().join(format!("run-{round}"));
            let start = std::sync::Barrier::new(8);
            std::thread::scope(|s| {
                let made: Vec<_> = (0..8)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            private_socket_dir(&dir, None).map_err(|e| e.to_string())
                        })
                    })
                    .collect();
                for one in made {
                    assert_eq!(one.join().unwrap(), Ok(()), "round {round}");
                }
            });
        }
    }

    #[test]
    fn long_roots_get_a_short_socket_folder() {
        let long = PathBuf::from("/x".repeat(60));
        assert!(socket_dir_for(&long).starts_with(std::env::temp_dir()));
        assert_eq!(
            socket_dir_for(Path::new("/srv/data")),
            PathBuf::from("/srv/data/run")
        );
    }
}
