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
//!
//! The parts: `binaries` finds the server binaries and the user they run as;
//! `folders` says where the data and the socket live and makes the socket
//! folder safely; `cluster` is the handle and what happens once per folder
//! (initdb, the version check); `lifecycle` starts and stops the server
//! under the lock files; `postmaster` reads what the running server says
//! about itself; `supervise` restarts it while `serve` runs.

mod binaries;
mod cluster;
mod folders;
mod lifecycle;
mod postmaster;
pub mod supervise;

use std::process::{Command, Output, Stdio};

pub use binaries::{BinSearch, Binaries};
pub use cluster::{Cluster, ClusterOptions};

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
