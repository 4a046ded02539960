//! The database going away under load and coming back: the embedded
//! PostgreSQL killed with SIGKILL (safepref starts it again itself), an
//! external PostgreSQL restarted with `pg_ctl`, and a server started before
//! its database. Clients see 503s in the gap, never a false success.

use std::time::{Duration, Instant};

use safepref_server::import::Options;
use safepref_tests::{OwnCluster, ServerProcess, TestDb, safepref_binary};
use uuid::Uuid;

use super::load::{Load, Outcome};
use crate::faults::{api_token, jsonl, project};

const ANNOTATORS: usize = 12;
const PASSWORD: &str = "availability-password";

/// A project of `items` items with k = 3 and `ANNOTATORS` annotators signed
/// in through the API of `bases` (annotator i through `bases[i % n]`).
async fn project_and_annotators(
    db: &TestDb,
    items: usize,
    bases: &[String],
) -> (Uuid, Vec<String>) {
    let project = project(&db.pool, 3).await;
    crate::import::import_text(
        &db.pool,
        &project,
        "items.jsonl",
        &jsonl(items, "outage"),
        Options::default(),
    )
    .await
    .unwrap();
    crate::scaleout::make_annotators(db, "outage-", ANNOTATORS, PASSWORD).await;
    let http = reqwest::Client::new();
    let mut tokens = Vec::new();
    for i in 0..ANNOTATORS {
        let base = &bases[i % bases.len()];
        tokens.push(api_token(&http, base, &format!("outage-{i}"), PASSWORD).await);
    }
    (project.id, tokens)
}

/// Waits until the load has stored `n` annotations.
async fn until_annotations(db: &TestDb, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stored: i64 = sqlx::query_scalar("select count(*) from annotations")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        if stored >= n {
            return;
        }
        assert!(Instant::now() < deadline, "the load stored only {stored}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every server's `/readyz` answers 200 (failing at
/// `deadline`), then lets the load run three seconds more, so that each
/// server's clients have had their answers after the gap (however slow a
/// busy machine makes the first of them).
async fn until_ready(bases: &[String], deadline: Instant) {
    let http = reqwest::Client::new();
    for base in bases {
        loop {
            let ready = http
                .get(format!("{base}/readyz"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{base} was not ready again in time"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
}

/// Prints what the clients saw around the fault.
fn report(what: &str, outcome: &Outcome, fault: Instant, servers: usize) -> Vec<Duration> {
    let back: Vec<Duration> = outcome
        .back_after(fault, servers)
        .into_iter()
        .map(|b| b.expect("every server answered again"))
        .collect();
    let (before, after) = outcome.annotations_around(fault);
    eprintln!(
        "{what}: first 200 after {back:?} per server; annotations {before} before, {after} after; \
         answers {:?}; {} submits retried",
        outcome.statuses(),
        outcome.retried
    );
    assert!(before > 0 && after > 0, "work before and after the fault");
    assert!(
        outcome
            .statuses()
            .keys()
            .all(|s| [200, 204, 503].contains(s)),
        "only successes and clean 503s: {:?}",
        outcome.statuses()
    );
    back
}

#[tokio::test]
async fn a_killed_embedded_postgresql_is_started_again_under_load_on_two_servers() {
    let cluster = OwnCluster::start_durable();
    let db = cluster.db().await;
    let servers = [
        ServerProcess::start_embedded(cluster.data_dir()).await,
        ServerProcess::start_embedded(cluster.data_dir()).await,
    ];
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let (project, tokens) = project_and_annotators(&db, 1500, &bases).await;
    let load = Load::start(&bases, tokens, project);
    until_annotations(&db, 60).await;

    let old = cluster.kill9_postmaster();
    let fault = Instant::now();
    // Each server's supervisor notices; one restarts the cluster.
    let deadline = fault + Duration::from_secs(15);
    while cluster.postmaster_pid().is_none_or(|pid| pid == old) {
        assert!(
            Instant::now() < deadline,
            "PostgreSQL was not started again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    until_ready(&bases, deadline).await;
    let outcome = load.finish().await;

    let back = report("kill -9 of the embedded PostgreSQL", &outcome, fault, 2);
    assert!(
        back.iter().all(|b| *b < Duration::from_secs(15)),
        "service within 15 s: {back:?}"
    );
    let logs = servers.iter().map(ServerProcess::log).collect::<String>();
    assert_eq!(
        logs.matches("it was started again").count(),
        1,
        "one server restarted it, the other found it running: {logs}"
    );
    let db = cluster.db().await;
    outcome.check_database(&db.pool, &db.url, project).await;
}

#[tokio::test]
async fn an_external_postgresql_restarted_under_load_gives_503s_then_service() {
    let mut cluster = OwnCluster::start();
    let db = cluster.db().await;
    let servers = [
        ServerProcess::start(&db.url).await,
        ServerProcess::start(&db.url).await,
    ];
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let (project, tokens) = project_and_annotators(&db, 1500, &bases).await;
    let load = Load::start(&bases, tokens, project);
    until_annotations(&db, 60).await;

    cluster.stop();
    let fault = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.start_again();
    until_ready(&bases, fault + Duration::from_secs(15)).await;
    let outcome = load.finish().await;

    let back = report("pg_ctl stop and start", &outcome, fault, 2);
    assert!(
        outcome.statuses().get(&503).is_some_and(|&n| n > 0),
        "the gap was seen"
    );
    assert!(
        back.iter().all(|b| *b < Duration::from_secs(15)),
        "{back:?}"
    );
    let db = cluster.db().await;
    outcome.check_database(&db.pool, &db.url, project).await;
}

fn appending(path: &std::path::Path) -> std::fs::File {
    std::fs::File::options().append(true).open(path).unwrap()
}

#[tokio::test]
async fn serve_waits_for_a_database_that_is_not_up_yet() {
    let mut cluster = OwnCluster::start();
    let db = cluster.db().await;
    db.pool.close().await;
    cluster.stop();
    let log = tempfile::NamedTempFile::new().unwrap();
    let bind = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let mut serve = std::process::Command::new(safepref_binary())
        .args(["serve", "--bind", &bind.to_string()])
        .env("DATABASE_URL", &db.url)
        .env("SAFEPREF_DATA_DIR", cluster.data_dir().join("serve"))
        .stdout(appending(log.path()))
        .stderr(appending(log.path()))
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        serve.try_wait().unwrap().is_none(),
        "serve gave up at once: {}",
        std::fs::read_to_string(log.path()).unwrap()
    );
    cluster.start_again();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = http.get(format!("http://{bind}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not come up: {}",
            std::fs::read_to_string(log.path()).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    serve.kill().unwrap();
    serve.wait().unwrap();
    let said = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        said.contains("waiting up to 60 s for the database"),
        "{said}"
    );
    assert!(!said.contains('\x1b'), "no colour codes in a file: {said}");
    // Another command does not wait by default: one clear line, each cause once.
    cluster.stop();
    let started = Instant::now();
    let out = std::process::Command::new(safepref_binary())
        .args(["user", "list"])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(10), "it waited");
    let last = error.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: connecting to DATABASE_URL: "),
        "{error}"
    );
    assert_eq!(
        last.matches("os error").count(),
        1,
        "the cause once: {last}"
    );

    // For log collectors: one JSON object per line.
    let out = std::process::Command::new(safepref_binary())
        .args(["--database-wait", "1", "user", "list"])
        .env("DATABASE_URL", &db.url)
        .env("SAFEPREF_LOG_FORMAT", "json")
        .output()
        .unwrap();
    let error = String::from_utf8_lossy(&out.stderr);
    let (logs, last) = error
        .trim_end()
        .rsplit_once('\n')
        .expect("a log line and the error");
    assert!(
        last.starts_with("error: connecting to DATABASE_URL"),
        "{error}"
    );
    for line in logs.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        assert_eq!(entry["level"], "WARN", "{line}");
        let message = entry["fields"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("waiting up to 1 s for the database"),
            "{line}"
        );
    }
}

#[tokio::test]
async fn a_cluster_that_cannot_start_again_is_reported_and_retried_slowly() {
    let cluster = OwnCluster::start();
    drop(cluster.db().await);
    let server = ServerProcess::start_embedded(cluster.data_dir()).await;
    let conf = cluster.pgdata().join("postgresql.conf");
    let sound = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("{sound}\nnot_a_setting_anyone_knows = 1\n")).unwrap();
    cluster.kill9_postmaster();

    let http = reqwest::Client::new();
    let readyz = || async {
        let r = http
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    let (status, body) = loop {
        let (status, body) = readyz().await;
        if body.contains("could not be started again") || Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("not_a_setting_anyone_knows"),
        "the reason is shown: {body}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let attempts = server.log().matches("could not be started again").count();
    assert!(
        (2..=6).contains(&attempts),
        "tried again, ever more slowly, not in a loop: {attempts} attempts"
    );

    std::fs::write(&conf, sound).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while readyz().await.0 != 200 {
        assert!(Instant::now() < deadline, "not back: {}", server.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        server.log().contains("is running again"),
        "{}",
        server.log()
    );
}
