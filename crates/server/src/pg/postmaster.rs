//! What the running server says about itself: the PID in `postmaster.pid`
//! (and whether it is really this cluster's postgres), its readiness, its
//! socket; and clearing what a crashed server left behind.

use std::fs;
use std::time::{Duration, Instant};

use super::{Cluster, PORT, PgError, Result, io_err};

impl Cluster {
    /// The PID in postmaster.pid when it belongs to a live postgres process
    /// serving this cluster. After a reboot the PID may belong to another
    /// PostgreSQL (the system's own cluster, say): the postmaster works in its
    /// data folder, so a server whose working folder is elsewhere is not ours.
    pub(super) fn server_pid(&self) -> Option<i32> {
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

    /// The server is alive and, once it has said it is ready, its socket is there.
    pub(super) fn serving(&self) -> bool {
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
    pub(super) fn clear_stale_pid_file(&self) -> Result<()> {
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

    pub(super) fn wait_until_ready(&self, limit: Duration) -> Result<()> {
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
