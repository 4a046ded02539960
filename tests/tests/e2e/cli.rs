//! The real `safepref` binary: `serve` on the embedded PostgreSQL, the user
//! commands beside it, errors, and processes starting together. Every child
//! gets `--data-dir` and none of DATABASE_URL or SAFEPREF_* from our
//! environment.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use safepref_server::db::MIGRATOR;
use safepref_server::pg::{BinSearch, Cluster, ClusterOptions};
use safepref_tests::{TestDb, safepref_binary};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::{Instant, timeout};

/// How long a clean SIGTERM shutdown may take.
const STOP_LIMIT: Duration = Duration::from_secs(20);

/// A data folder (and a folder for the server logs beside it). Whatever
/// happens in the test, a cluster still running in it is stopped at the end.
struct DataDir {
    dir: tempfile::TempDir,
    logs: tempfile::TempDir,
}

impl DataDir {
    fn new() -> Self {
        let make = |prefix| {
            tempfile::Builder::new()
                .prefix(prefix)
                .tempdir_in(std::env::temp_dir())
                .expect("a temporary folder")
        };
        DataDir {
            dir: make("safepref-cli-"),
            logs: make("safepref-cli-logs-"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn pgdata(&self) -> PathBuf {
        self.path().join("pg")
    }

    fn pid_file(&self) -> PathBuf {
        self.pgdata().join("postmaster.pid")
    }

    /// Asserts the embedded cluster lives in this folder and nothing of it runs.
    fn assert_cluster_stopped(&self, when: &str) {
        assert!(
            self.pgdata().join("PG_VERSION").is_file(),
            "{when}: the cluster lives in <data-dir>/pg"
        );
        assert!(
            !self.pid_file().exists(),
            "{when}: postmaster.pid is still there, so the embedded PostgreSQL was left running"
        );
        // pg_ctl stop -w returns once postmaster.pid is gone; the postmaster
        // may need a moment more to finish exiting.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut left = postgres_processes_in(&self.pgdata());
        while !left.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            left = postgres_processes_in(&self.pgdata());
        }
        assert!(
            left.is_empty(),
            "{when}: postgres processes of this cluster remain: {left:?}"
        );
    }

    /// The `safepref` command for this folder, with a clean environment.
    fn safepref(&self) -> Command {
        let mut cmd = Command::new(safepref_binary());
        cmd.arg("--data-dir").arg(self.path());
        for (key, _) in std::env::vars_os() {
            let name = key.to_string_lossy();
            if name == "DATABASE_URL" || name.starts_with("SAFEPREF_") {
                cmd.env_remove(&key);
            }
        }
        cmd.kill_on_drop(true);
        cmd
    }

    /// Runs `safepref <args>` to the end, `stdin` on its standard input.
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.safepref();
        cmd.args(args);
        run_command(cmd, stdin).await
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if self.pid_file().exists()
            && let Ok(cluster) =
                Cluster::prepare(self.path(), &BinSearch::Default, &ClusterOptions::default())
            && let Err(e) = cluster.stop()
        {
            eprintln!("stopping the cluster in {}: {e}", self.path().display());
        }
    }
}

async fn run_command(mut cmd: Command, stdin: Option<&str>) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("starting safepref");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(text.as_bytes()).await.unwrap();
        drop(pipe);
    }
    timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("safepref did not finish within 2 minutes")
        .expect("waiting for safepref")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// Asserts a clean failure: a non-zero exit, an `error:` line on stderr
/// containing `expected`, and nothing on stdout.
#[track_caller]
fn assert_fails_with(out: &Output, expected: &str, what: &str) {
    let err = stderr(out);
    assert!(
        !out.status.success(),
        "{what} should fail, but exited {}:\nstdout:\n{}\nstderr:\n{err}",
        out.status,
        stdout(out)
    );
    assert_eq!(out.status.code(), Some(1), "{what}: exit code\n{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("{what}: no `error:` line on stderr:\n{err}"));
    assert!(
        line.contains(expected),
        "{what}: expected {expected:?} in {line:?}"
    );
    assert!(
        stdout(out).trim().is_empty(),
        "{what}: the error is not on stdout: {}",
        stdout(out)
    );
}

/// The PIDs of postgres processes working in `pgdata` (the postmaster and
/// every backend of that cluster run with it as their working folder).
fn postgres_processes_in(pgdata: &Path) -> Vec<u32> {
    let Ok(want) = fs::canonicalize(pgdata) else {
        return Vec::new();
    };
    fs::read_dir("/proc")
        .expect("reading /proc")
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            comm.trim() == "postgres"
                && fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == want)
        })
        .collect()
}

/// A running `safepref serve`.
struct Server {
    child: Child,
    pid: u32,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Everything it printed so far.
    printed: Vec<String>,
    log: PathBuf,
    base: String,
    http: reqwest::Client,
}

impl Server {
    /// Starts `safepref serve` on a free port and waits for its address line.
    async fn start(data: &DataDir) -> Self {
        let log = tempfile::Builder::new()
            .prefix("serve-")
            .suffix(".log")
            .tempfile_in(data.logs.path())
            .expect("a log file")
            .into_temp_path()
            .keep()
            .expect("keeping the log file");
        let mut cmd = data.safepref();
        cmd.args(["serve", "--bind", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).expect("opening the log file"));
        let mut child = cmd.spawn().expect("starting safepref serve");
        let pid = child.id().expect("the server's PID");
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut server = Server {
            child,
            pid,
            stdout,
            printed: Vec::new(),
            log,
            base: String::new(),
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let line = match tokio::time::timeout_at(deadline, server.stdout.next_line()).await {
                Ok(Ok(Some(line))) => line,
                Ok(Ok(None)) => panic!(
                    "safepref serve ended before saying where it runs ({:?})\n{}",
                    server.child.try_wait(),
                    server.transcript()
                ),
                Ok(Err(e)) => panic!("reading the server's output: {e}"),
                Err(_) => panic!(
                    "safepref serve did not say where it runs within 60 s\n{}",
                    server.transcript()
                ),
            };
            server.printed.push(line.clone());
            if let Some(rest) = line.strip_prefix("safepref is running at http://") {
                let address = rest.split('/').next().unwrap();
                server.base = format!("http://{address}");
                break;
            }
        }
        server
    }

    /// What it printed, and its log, for failure messages.
    fn transcript(&self) -> String {
        format!(
            "stdout:\n{}\nlog:\n{}",
            self.printed.join("\n"),
            fs::read_to_string(&self.log).unwrap_or_default()
        )
    }

    /// The first admin's password, when this start printed one.
    fn first_admin_password(&self) -> Option<String> {
        let value = |key: &str| {
            self.printed
                .iter()
                .filter_map(|l| l.trim().strip_prefix(key))
                .map(|v| v.trim().to_string())
                .collect::<Vec<_>>()
        };
        let (usernames, passwords) = (value("username:"), value("password:"));
        assert!(
            passwords.len() <= 1,
            "the password is printed once: {passwords:?}"
        );
        let password = passwords.into_iter().next()?;
        assert_eq!(usernames, ["admin"], "{}", self.transcript());
        Some(password)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get_status(&self, path: &str) -> u16 {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("GET")
            .status()
            .as_u16()
    }

    /// POST /api/v1/session: the status and the JSON body.
    async fn sign_in(&self, username: &str, password: &str) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/api/v1/session"))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .expect("POST /api/v1/session");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    /// SIGTERM, then a clean exit within [`STOP_LIMIT`]; returns what it
    /// printed while stopping.
    async fn stop(mut self) -> Vec<String> {
        terminate(self.pid);
        let status = match timeout(STOP_LIMIT, self.child.wait()).await {
            Ok(status) => status.expect("waiting for the server"),
            Err(_) => panic!(
                "safepref serve did not exit within {STOP_LIMIT:?} of SIGTERM\n{}",
                self.transcript()
            ),
        };
        let mut rest = Vec::new();
        while let Ok(Ok(Some(line))) =
            timeout(Duration::from_secs(5), self.stdout.next_line()).await
        {
            rest.push(line);
        }
        self.printed.extend(rest.iter().cloned());
        assert!(
            status.success(),
            "safepref serve exited {status} after SIGTERM\n{}",
            self.transcript()
        );
        rest
    }
}

impl Drop for Server {
    /// A test that failed half-way still stops its server (and, through it,
    /// the cluster).
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        terminate(self.pid);
        let deadline = std::time::Instant::now() + STOP_LIMIT;
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.start_kill();
    }
}

fn terminate(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -TERM {pid} failed");
}

#[tokio::test]
async fn serve_starts_signs_in_stops_cleanly_and_keeps_its_data() {
    let data = DataDir::new();

    let server = Server::start(&data).await;
    let password = server.first_admin_password().unwrap_or_else(|| {
        panic!(
            "the first start prints the admin password\n{}",
            server.transcript()
        )
    });
    assert!(password.len() >= 10, "{password:?}");
    assert!(
        data.pid_file().is_file(),
        "the cluster runs in <data-dir>/pg"
    );
    assert!(!postgres_processes_in(&data.pgdata()).is_empty());

    assert_eq!(server.get_status("/healthz").await, 200);
    assert_eq!(server.get_status("/readyz").await, 200);
    let (status, body) = server.sign_in("admin", &password).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["username"], "admin");
    assert_eq!(body["user"]["role"], "admin");
    assert!(
        body["token"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    let (status, body) = server.sign_in("admin", "not-the-password").await;
    assert_eq!(status, 401, "{body}");

    let farewell = server.stop().await;
    assert!(
        farewell.iter().any(|l| l == "safepref stopped."),
        "{farewell:?}"
    );
    assert!(
        farewell.iter().any(|l| l.contains("embedded PostgreSQL")
            && l.contains(&data.pgdata().display().to_string())),
        "it said which database it uses: {farewell:?}"
    );
    data.assert_cluster_stopped("after SIGTERM");

    let server = Server::start(&data).await;
    assert_eq!(
        server.first_admin_password(),
        None,
        "a second start prints no password\n{}",
        server.transcript()
    );
    assert!(
        !server.printed.iter().any(|l| l.contains(&password)),
        "the old password is not shown again"
    );
    assert_eq!(server.get_status("/readyz").await, 200);
    let (status, body) = server.sign_in("admin", &password).await;
    assert_eq!(status, 200, "the admin survives a restart: {body}");
    server.stop().await;
    data.assert_cluster_stopped("after the second SIGTERM");
}

#[tokio::test]
async fn user_commands_reach_the_same_database_with_or_without_serve() {
    let data = DataDir::new();
    let ann_password = "ann-secret-passphrase";

    let server = Server::start(&data).await;
    let admin_password = server.first_admin_password().expect("a first admin");

    let out = data
        .run(
            &[
                "user",
                "add",
                "--username",
                "ann",
                "--role",
                "annotator",
                "--password-stdin",
            ],
            Some(&format!("{ann_password}\n")),
        )
        .await;
    assert_success(&out, "user add ann (server running)");
    assert!(
        stdout(&out).contains("Created ann (annotator)"),
        "{}",
        stdout(&out)
    );

    // The command left the cluster running for the server.
    assert!(
        data.pid_file().is_file(),
        "the CLI must not stop the server's database"
    );
    assert_eq!(server.get_status("/readyz").await, 200);
    let (status, body) = server.sign_in("ann", ann_password).await;
    assert_eq!(status, 200, "ann signs in to the running server: {body}");
    assert_eq!(body["user"]["role"], "annotator");

    let out = data.run(&["user", "list"], None).await;
    assert_success(&out, "user list (server running)");
    let listing = stdout(&out);
    let ann_line = listing
        .lines()
        .find(|l| l.split_whitespace().next() == Some("ann"))
        .unwrap_or_else(|| panic!("ann is listed:\n{listing}"));
    assert!(
        ann_line.contains("annotator") && ann_line.contains("active"),
        "{ann_line}"
    );
    assert!(
        listing.lines().any(|l| l.starts_with("admin ")),
        "{listing}"
    );
    assert_eq!(server.get_status("/readyz").await, 200);

    server.stop().await;
    data.assert_cluster_stopped("after stopping serve");

    // Without a server: the command starts the cluster and stops it after.
    let out = data.run(&["user", "disable", "ann"], None).await;
    assert_success(&out, "user disable ann (no server)");
    assert!(stdout(&out).contains("Disabled ann"), "{}", stdout(&out));
    data.assert_cluster_stopped("after `user disable` on its own");

    let out = data.run(&["user", "list"], None).await;
    assert_success(&out, "user list (no server)");
    let listing = stdout(&out);
    assert!(
        listing.lines().any(|l| l
            .split_whitespace()
            .take(3)
            .eq(["ann", "annotator", "disabled"])),
        "{listing}"
    );
    data.assert_cluster_stopped("after `user list` on its own");

    let server = Server::start(&data).await;
    assert_eq!(server.first_admin_password(), None);
    let (status, body) = server.sign_in("ann", ann_password).await;
    assert_eq!(status, 403, "a disabled account cannot sign in: {body}");
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("disabled"), "{body}");
    let (status, body) = server.sign_in("admin", &admin_password).await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
    data.assert_cluster_stopped("at the end");
}

#[tokio::test]
async fn errors_go_to_stderr_with_a_failing_exit() {
    let data = DataDir::new();
    let add = |username: &'static str| {
        [
            "user",
            "add",
            "--username",
            username,
            "--role",
            "lead",
            "--password-stdin",
        ]
    };

    let out = data.run(&add("bea"), Some("bea-long-password\n")).await;
    assert_success(&out, "user add bea");

    let out = data.run(&add("bea"), Some("another-long-password\n")).await;
    assert_fails_with(
        &out,
        "the username \"bea\" is taken",
        "a duplicate username",
    );

    let out = data.run(&["user", "disable", "nobody"], None).await;
    assert_fails_with(
        &out,
        "there is no user named \"nobody\"",
        "disabling nobody",
    );

    let out = data.run(&add("cid"), Some("short\n")).await;
    assert_fails_with(&out, "at least 10 characters", "a short password");

    let out = data.run(&add("dee"), Some("")).await;
    assert_fails_with(
        &out,
        "standard input held no password",
        "no password on stdin",
    );

    // Nothing half-done: only bea exists, still active.
    let out = data.run(&["user", "list"], None).await;
    assert_success(&out, "user list");
    let users: Vec<Vec<String>> = stdout(&out)
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0][..3], ["bea", "lead", "active"]);
    data.assert_cluster_stopped("after the failed commands");
}

/// The versions in _sqlx_migrations, with how often each appears, and
/// whether all succeeded.
async fn applied_migrations(url: &str) -> Vec<(i64, i64, bool)> {
    let mut conn = PgConnection::connect(url).await.expect("connecting");
    let rows = sqlx::query_as(
        "select version, count(*), bool_and(success) from _sqlx_migrations group by version order by version",
    )
    .fetch_all(&mut conn)
    .await
    .expect("reading _sqlx_migrations");
    conn.close().await.ok();
    rows
}

#[track_caller]
fn assert_each_migration_once(applied: &[(i64, i64, bool)]) {
    let expected: Vec<(i64, i64, bool)> = MIGRATOR.iter().map(|m| (m.version, 1, true)).collect();
    assert!(!expected.is_empty());
    assert_eq!(applied, expected);
}

#[tokio::test]
async fn two_migrates_at_once_on_a_fresh_data_dir() {
    let data = DataDir::new();
    // First on a folder with nothing in it (both want to create the cluster),
    // then on the stopped cluster (both want to start it, and to stop it).
    for round in ["a fresh data folder", "a stopped cluster"] {
        let (a, b) = tokio::join!(data.run(&["migrate"], None), data.run(&["migrate"], None));
        assert_success(&a, &format!("the first migrate on {round}"));
        assert_success(&b, &format!("the second migrate on {round}"));
        for out in [&a, &b] {
            assert!(
                stdout(out).contains("The database schema is up to date."),
                "{}",
                stdout(out)
            );
        }
        data.assert_cluster_stopped(&format!("after two migrates on {round}"));
    }

    let cluster = tokio::task::spawn_blocking({
        let path = data.path().to_path_buf();
        move || {
            let mut cluster =
                Cluster::prepare(&path, &BinSearch::Default, &ClusterOptions::default())
                    .expect("preparing");
            cluster.ensure_running().expect("starting");
            cluster
        }
    })
    .await
    .unwrap();
    let applied = applied_migrations(&cluster.database_url("safepref")).await;
    tokio::task::spawn_blocking(move || cluster.stop().expect("stopping"))
        .await
        .unwrap();
    assert_each_migration_once(&applied);
}

#[tokio::test]
async fn two_migrates_at_once_on_database_url() {
    let data = DataDir::new();
    let url = TestDb::empty_url().await;
    let migrate = || {
        let mut cmd = data.safepref();
        cmd.arg("migrate").env("DATABASE_URL", &url);
        run_command(cmd, None)
    };
    let (a, b) = tokio::join!(migrate(), migrate());
    assert_success(&a, "the first migrate on DATABASE_URL");
    assert_success(&b, "the second migrate on DATABASE_URL");
    assert_each_migration_once(&applied_migrations(&url).await);
    assert!(
        !data.pgdata().exists(),
        "with DATABASE_URL no embedded cluster is made"
    );

    // Once more, on the migrated database: nothing to do, nothing applied twice.
    let (a, b) = tokio::join!(migrate(), migrate());
    assert_success(&a, "migrating a migrated database");
    assert_success(&b, "migrating a migrated database, twice at once");
    assert_each_migration_once(&applied_migrations(&url).await);
}

#[tokio::test]
async fn projects_imports_and_the_demo_from_the_command_line() {
    let data = DataDir::new();
    let out = data
        .run(
            &["project", "create", "--name", "Round 1", "--overlap", "2"],
            None,
        )
        .await;
    assert_success(&out, "project create");
    assert!(
        stdout(&out).contains("k = 2 annotations per item, 19 categories"),
        "{}",
        stdout(&out)
    );
    let out = data
        .run(&["project", "create", "--name", "Round 1"], None)
        .await;
    assert_fails_with(
        &out,
        "a project named \"Round 1\" exists already",
        "a duplicate project",
    );
    let out = data
        .run(
            &["project", "create", "--name", "Wide", "--responses", "9"],
            None,
        )
        .await;
    assert_fails_with(
        &out,
        "responses per item (K) must be 2 to 8",
        "K out of range",
    );

    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("sample.jsonl");
    fs::write(&good, crate::import::SAMPLE).unwrap();
    let bad = dir.path().join("bad.jsonl");
    fs::write(&bad, "{\"prompt\": \"p\", \"responses\": [\"one\"]}\n{\"prompt\": \"\", \"responses\": [\"a\", \"b\"]}\n").unwrap();
    let (good, bad) = (good.to_str().unwrap(), bad.to_str().unwrap());

    // Two files in one command: one is bad, so neither is imported.
    let out = data
        .run(&["import", "--project", "Round 1", good, bad], None)
        .await;
    assert_fails_with(&out, "nothing was imported: 2 problems found", "a bad file");
    let err = stderr(&out);
    assert!(
        err.contains("bad.jsonl line 1: responses") && err.contains("bad.jsonl line 2: prompt"),
        "{err}"
    );
    let out = data.run(&["project", "list"], None).await;
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l.starts_with("Round 1")
                && l.split_whitespace().rev().take(3).all(|n| n == "0")),
        "{}",
        stdout(&out)
    );

    let out = data
        .run(&["import", "--project", "Round 1", good], None)
        .await;
    assert_success(&out, "import");
    assert!(
        stdout(&out).contains(
            "sample.jsonl: batch 1 — 76 rows read, 76 items imported, 0 duplicates skipped"
        ),
        "{}",
        stdout(&out)
    );
    let out = data.run(&["import", "--project", "Nope", good], None).await;
    assert_fails_with(
        &out,
        "there is no project named \"Nope\"",
        "an unknown project",
    );

    let out = data.run(&["demo"], None).await;
    assert_success(&out, "demo");
    let text = stdout(&out);
    assert!(text.contains("with 76 items"), "{text}");
    for name in ["admin", "lead", "annotator1", "annotator2", "annotator3"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(name)),
            "{name} in {text}"
        );
    }
    let again = data.run(&["demo"], None).await;
    assert_success(&again, "demo again");
    assert!(
        stdout(&again).contains("exists already")
            && stdout(&again).contains("passwords are unchanged"),
        "{}",
        stdout(&again)
    );
    data.assert_cluster_stopped("after the project commands");
}
