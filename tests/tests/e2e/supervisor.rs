//! The embedded PostgreSQL supervisor (`safepref_server::pg`), driven
//! directly: real `initdb`, `pg_ctl` and `postgres`, in temporary folders.

use std::fs;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};

use safepref_server::pg::{BinSearch, Cluster, ClusterOptions, PgError};
use sqlx::{Connection, PgConnection};

/// A data folder the `postgres` user can reach (under the system temp dir).
fn data_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("safepref-sup-")
        .tempdir_in(std::env::temp_dir())
        .expect("a temporary data folder")
}

fn fast() -> ClusterOptions {
    ClusterOptions { unsafe_fast: true }
}

/// A cluster that is stopped when the guard goes, even when the test fails.
struct Stopping(Cluster);

impl Deref for Stopping {
    type Target = Cluster;
    fn deref(&self) -> &Cluster {
        &self.0
    }
}

impl DerefMut for Stopping {
    fn deref_mut(&mut self) -> &mut Cluster {
        &mut self.0
    }
}

impl Drop for Stopping {
    fn drop(&mut self) {
        if let Err(e) = self.0.stop() {
            eprintln!("stopping a test cluster: {e}");
        }
    }
}

fn prepare(dir: &Path, options: &ClusterOptions) -> Stopping {
    Stopping(Cluster::prepare(dir, &BinSearch::Default, options).expect("preparing the cluster"))
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

fn pid_file(cluster: &Cluster) -> PathBuf {
    cluster.pgdata().join("postmaster.pid")
}

/// Creates database `kept` with table `notes` holding one row.
fn write_row(cluster: &Cluster, text: &str) {
    block_on(async {
        let mut admin = PgConnection::connect(&cluster.database_url("postgres"))
            .await
            .expect("connecting to the cluster");
        sqlx::query("create database kept")
            .execute(&mut admin)
            .await
            .expect("create database");
        admin.close().await.ok();
        let mut conn = PgConnection::connect(&cluster.database_url("kept"))
            .await
            .expect("connecting to the new database");
        sqlx::query("create table notes (body text not null)")
            .execute(&mut conn)
            .await
            .expect("create table");
        sqlx::query("insert into notes (body) values ($1)")
            .bind(text)
            .execute(&mut conn)
            .await
            .expect("insert");
        conn.close().await.ok();
    })
}

fn read_rows(cluster: &Cluster) -> Vec<String> {
    block_on(async {
        let mut conn = PgConnection::connect(&cluster.database_url("kept"))
            .await
            .expect("connecting to the restarted cluster");
        let rows = sqlx::query_scalar("select body from notes")
            .fetch_all(&mut conn)
            .await
            .expect("reading the rows");
        conn.close().await.ok();
        rows
    })
}

/// Whether a client can connect right now.
fn accepts_connections(cluster: &Cluster) -> bool {
    block_on(async {
        match PgConnection::connect(&cluster.database_url("postgres")).await {
            Ok(conn) => {
                conn.close().await.ok();
                true
            }
            Err(_) => false,
        }
    })
}

/// A PID no process has (searching down from the kernel's limit).
fn unused_pid() -> u32 {
    let max: u32 = fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(32768);
    (1000..max)
        .rev()
        .find(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        .expect("a free PID")
}

/// `contents` with its first line (the PID) replaced.
fn with_pid(contents: &str, pid: u32) -> String {
    let rest: Vec<&str> = contents.lines().skip(1).collect();
    format!("{pid}\n{}\n", rest.join("\n"))
}

#[test]
fn start_stop_restart_keeps_the_data() {
    let dir = data_dir();
    // The product's own settings (fsync on), as `safepref serve` uses them.
    let mut cluster = prepare(dir.path(), &ClusterOptions::default());
    assert!(
        cluster.pgdata().join("PG_VERSION").is_file(),
        "prepare runs initdb"
    );
    assert_eq!(
        fs::read_to_string(cluster.pgdata().join("PG_VERSION"))
            .unwrap()
            .trim(),
        cluster.major_version().to_string()
    );
    assert!(!cluster.started_here(), "prepare does not start the server");
    assert!(!accepts_connections(&cluster), "nothing runs before start");

    cluster.ensure_running().expect("starting the cluster");
    assert!(cluster.started_here(), "this value started the cluster");
    assert!(pid_file(&cluster).is_file());
    let url = cluster.database_url("postgres");
    assert!(
        url.contains(&cluster.socket_dir().display().to_string()),
        "{url}"
    );
    write_row(&cluster, "survives a restart");

    // A second value for the same folder finds the server up and leaves it be.
    let mut second = Cluster::prepare(dir.path(), &BinSearch::Default, &ClusterOptions::default())
        .expect("preparing an existing cluster");
    second
        .ensure_running()
        .expect("joining the running cluster");
    assert!(!second.started_here(), "the cluster was already running");
    assert_eq!(read_rows(&second), ["survives a restart"]);

    cluster.stop().expect("stopping the cluster");
    assert!(!pid_file(&cluster).exists(), "postmaster.pid is removed");
    assert!(!accepts_connections(&cluster), "the server is down");
    cluster
        .stop()
        .expect("stopping a stopped cluster is a no-op");

    cluster
        .ensure_running()
        .expect("starting the cluster again");
    assert!(cluster.started_here());
    assert_eq!(read_rows(&cluster), ["survives a restart"]);

    // And a fresh value for the folder after a full stop starts it itself.
    cluster.stop().unwrap();
    let mut third = prepare(dir.path(), &ClusterOptions::default());
    third.ensure_running().expect("starting from a new value");
    assert!(third.started_here());
    assert_eq!(read_rows(&third), ["survives a restart"]);
}

#[test]
fn a_stale_postmaster_pid_does_not_block_the_start() {
    let dir = data_dir();
    let mut cluster = prepare(dir.path(), &fast());
    cluster.ensure_running().unwrap();
    write_row(&cluster, "before the crash");
    // What a crash leaves behind: the whole file, status "ready" included.
    let crashed = fs::read_to_string(pid_file(&cluster)).unwrap();
    assert!(crashed.lines().count() >= 8, "{crashed:?}");
    cluster.stop().unwrap();
    assert!(!pid_file(&cluster).exists());

    let own = std::process::id();
    let gone = unused_pid();
    for (what, pid) in [
        ("a live non-postgres process", own),
        ("a PID nobody has", gone),
    ] {
        fs::write(pid_file(&cluster), with_pid(&crashed, pid)).unwrap();
        let mut again = prepare(dir.path(), &fast());
        again
            .ensure_running()
            .unwrap_or_else(|e| panic!("starting over a postmaster.pid naming {what}: {e}"));
        assert!(again.started_here(), "{what}: it had to start the server");
        assert_eq!(read_rows(&again), ["before the crash"], "{what}");
        let now = fs::read_to_string(pid_file(&again)).unwrap();
        let running: u32 = now.lines().next().unwrap().trim().parse().unwrap();
        assert_ne!(running, pid, "{what}: a new postmaster.pid was written");
        again.stop().unwrap();
        assert!(!accepts_connections(&again), "{what}: stopped again");
    }
}

#[test]
fn a_stale_postmaster_pid_naming_another_clusters_server() {
    // After a reboot the old PID may belong to another PostgreSQL (the
    // system's own cluster, another safepref): that is not our server, and
    // stopping "ours" must not stop it.
    let (dir_a, dir_b) = (data_dir(), data_dir());
    let mut a = prepare(dir_a.path(), &fast());
    let mut b = prepare(dir_b.path(), &fast());
    a.ensure_running().unwrap();
    b.ensure_running().unwrap();
    write_row(&a, "in a");
    let crashed = fs::read_to_string(pid_file(&a)).unwrap();
    a.stop().unwrap();
    let b_pid: u32 = fs::read_to_string(pid_file(&b))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    fs::write(pid_file(&a), with_pid(&crashed, b_pid)).unwrap();

    let mut again = prepare(dir_a.path(), &fast());
    again.ensure_running().expect("starting a");
    assert!(again.started_here(), "b's server is not a's");
    assert_eq!(read_rows(&again), ["in a"]);
    again.stop().unwrap();
    assert!(!accepts_connections(&again), "a is stopped");
    assert!(accepts_connections(&b), "stopping a left b running");
}

#[test]
fn missing_binaries_say_what_to_install() {
    let dir = data_dir();
    let err = Cluster::prepare(dir.path(), &BinSearch::Dirs(vec![]), &fast()).unwrap_err();
    assert!(matches!(err, PgError::BinariesNotFound { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("apt-get install postgresql"), "{message}");
    assert!(message.contains("DATABASE_URL"), "{message}");

    // A folder without the binaries is no better than none, and is named.
    let empty = data_dir();
    let err = Cluster::prepare(
        dir.path(),
        &BinSearch::Dirs(vec![empty.path().to_path_buf()]),
        &fast(),
    )
    .unwrap_err();
    assert!(matches!(err, PgError::BinariesNotFound { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&empty.path().display().to_string()),
        "{err}"
    );
    assert!(
        !dir.path().join("pg").exists(),
        "nothing is created without binaries"
    );
}

#[test]
fn a_folder_from_another_major_version_is_refused() {
    let dir = data_dir();
    let pgdata = dir.path().join("pg");
    fs::create_dir_all(pgdata.join("base")).unwrap();
    fs::write(pgdata.join("PG_VERSION"), "9\n").unwrap();
    fs::write(pgdata.join("base").join("marker"), "keep me").unwrap();

    let err = Cluster::prepare(dir.path(), &BinSearch::Default, &fast()).unwrap_err();
    let PgError::VersionMismatch { found, have, .. } = &err else {
        panic!("expected VersionMismatch, got {err:?}");
    };
    assert_eq!(found, "9");
    let message = err.to_string();
    assert!(message.contains("PostgreSQL 9"), "{message}");
    assert!(message.contains(&format!("PostgreSQL {have}")), "{message}");
    assert!(
        *have >= 10,
        "the installed binaries are a modern PostgreSQL"
    );
    assert!(message.contains(&pgdata.display().to_string()), "{message}");
    // The folder is left exactly as it was.
    assert_eq!(
        fs::read_to_string(pgdata.join("base").join("marker")).unwrap(),
        "keep me"
    );
    assert_eq!(
        fs::read_to_string(pgdata.join("PG_VERSION")).unwrap(),
        "9\n"
    );
}

#[test]
fn a_non_empty_folder_without_pg_version_is_refused() {
    let dir = data_dir();
    let pgdata = dir.path().join("pg");
    fs::create_dir_all(&pgdata).unwrap();
    fs::write(pgdata.join("notes.txt"), "not a database").unwrap();

    let err = Cluster::prepare(dir.path(), &BinSearch::Default, &fast()).unwrap_err();
    assert!(matches!(err, PgError::NotAClusterDir { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&pgdata.display().to_string()), "{message}");
    assert!(message.contains("PG_VERSION"), "{message}");
    assert_eq!(
        fs::read_to_string(pgdata.join("notes.txt")).unwrap(),
        "not a database"
    );
    assert!(!pgdata.join("PG_VERSION").exists(), "no initdb over it");

    // An empty pg/ folder, by contrast, is simply initialised.
    let fresh = data_dir();
    fs::create_dir_all(fresh.path().join("pg")).unwrap();
    let cluster = prepare(fresh.path(), &fast());
    assert!(cluster.pgdata().join("PG_VERSION").is_file());
}

#[test]
fn the_last_user_to_leave_stops_the_cluster() {
    let dir = data_dir();
    // Not started by itself; its guard stops the cluster whatever happens.
    let probe = prepare(dir.path(), &fast());
    let open = || {
        let mut cluster = Cluster::prepare(dir.path(), &BinSearch::Default, &fast()).unwrap();
        cluster.ensure_running().unwrap();
        cluster
    };
    let (a, b) = (open(), open());
    assert!(a.started_here() && !b.started_here());

    // `b` holds no connection at all (an idle server's pool may have none),
    // yet it uses the cluster: `a` leaving must not stop it.
    a.stop_if_unused(0).unwrap();
    assert!(accepts_connections(&probe), "b still uses the cluster");
    b.stop_if_unused(0).unwrap();
    assert!(!pid_file(&probe).exists(), "the last one out stops it");
    assert!(!accepts_connections(&probe));

    // A client that is not a safepref process (a psql session, say) keeps it up.
    let c = open();
    assert!(c.started_here());
    c.stop_if_unused(1).unwrap();
    assert!(accepts_connections(&probe), "another client is connected");
}
