//! Starting and stopping the server, under the two lock files:
//! `supervisor.lock` serialises creating, starting and stopping, and the
//! shared locks on `clients.lock` say which safepref processes still use it.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{Cluster, PORT, PgError, Result, io_err, run};

impl Cluster {
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
    pub(super) fn lock(&self) -> Result<fs::File> {
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

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
