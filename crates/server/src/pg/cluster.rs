//! One embedded cluster: the handle every caller holds, and what happens
//! once per folder (initdb, with the settings of a private cluster, and the
//! check that an existing folder matches the binaries' major version).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::binaries::{Owner, owner_for_current_user};
use super::folders::{cluster_root, private_socket_dir, socket_dir_for};
use super::{BinSearch, Binaries, PORT, PgError, Result, SUPERUSER, io_err, run};

/// One embedded cluster.
#[derive(Debug)]
pub struct Cluster {
    pub(super) bins: Binaries,
    pub(super) owner: Option<Owner>,
    /// The folder holding `pg/` (the data) and `run/` (the socket).
    pub(super) root: PathBuf,
    pub(super) socket_dir: PathBuf,
    pub(super) started_here: bool,
    /// The shared lock on `clients.lock` saying "this process uses the
    /// cluster", held from `ensure_running` until `stop_if_unused`.
    pub(super) client_lock: Option<fs::File>,
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
}
