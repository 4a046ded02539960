//! Faults: the server killed with SIGKILL during an import and during
//! submits; an export onto a full or read-only disk (the database's own
//! faults are in `availability`). What must hold: nothing half-imported, no annotation lost
//! or doubled, no false success, no partial file, and clear errors.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use safepref_server::accounts;
use safepref_server::db::projects::Settings;
use safepref_server::db::users::Role;
use safepref_server::import::Options;
use safepref_server::projects;
use safepref_tests::{ServerProcess, TestApp, TestDb, safepref_binary};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::Mutex;
use uuid::Uuid;

/// `n` generic two-response items, one JSON object per line.
pub(crate) fn jsonl(n: usize, tag: &str) -> String {
    (0..n)
        .map(|i| {
            let row = json!({
                "id": format!("{tag}-{i}"),
                "prompt": format!("{tag} prompt {i}: how do I keep my bike from being stolen?"),
                "responses": [format!("Use a D-lock, {i}."), format!("Park it indoors, {i}.")],
            });
            format!("{row}\n")
        })
        .collect()
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
        .fetch_one(pool)
        .await
        .unwrap()
}

pub(crate) async fn project(pool: &PgPool, overlap: i32) -> safepref_server::db::projects::Project {
    projects::create(
        pool,
        None,
        Settings {
            name: format!("faults-{}", Uuid::new_v4().simple()),
            annotations_per_item: overlap,
            ..Settings::default()
        },
    )
    .await
    .unwrap()
}

/// Signs in through the JSON API; the bearer token.
pub(crate) async fn api_token(
    http: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
) -> String {
    let body: Value = http
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["token"].as_str().expect("a token").to_string()
}

pub(crate) fn labels() -> Value {
    json!({
        "responses": [{"safe": true, "categories": [], "severity": 0},
                      {"safe": false, "categories": ["Violence"], "severity": 1}],
        "helpfulness": [1, 0],
        "harmlessness": [0, 1],
    })
}

#[tokio::test]
async fn kill_9_during_an_import_leaves_nothing_imported() {
    let db = TestDb::new().await;
    let project = project(&db.pool, 3).await;
    let (admin, password) = ("faults-admin", "faults-admin-password");
    accounts::create(&db.pool, None, admin, Role::Admin, password)
        .await
        .unwrap();
    let mut server = ServerProcess::start(&db.url).await;
    let mut browser = server.browser();
    assert_eq!(browser.sign_in(admin, password).await.status(), 303);
    let file = jsonl(60_000, "big").into_bytes();

    let upload = |browser: &safepref_tests::Browser| {
        let part = reqwest::multipart::Part::bytes(file.clone()).file_name("big.jsonl");
        browser
            .client
            .post(format!(
                "{}/admin/projects/{}/import",
                browser.base, project.id
            ))
            .header("x-csrf-token", browser.csrf_token.clone().unwrap())
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
    };
    let sending = tokio::spawn(upload(&browser));
    // Kill once rows are on their way to PostgreSQL (a COPY in the
    // import's open transaction).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let copying: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity \
             where datname = current_database() and pid <> pg_backend_pid() \
               and query ilike 'copy %' and state <> 'idle'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if copying > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no COPY seen: {}", server.log());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill9();
    let answer = sending.await.unwrap();
    assert!(
        answer.is_err(),
        "the client was told nothing, least of all success: {answer:?}"
    );

    // PostgreSQL rolls the transaction back once it sees the client gone.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let others: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity \
             where datname = current_database() and pid <> pg_backend_pid() and state <> 'idle'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if others == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the killed import's session lingers"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for table in ["batches", "items", "responses"] {
        assert_eq!(count(&db.pool, table).await, 0, "{table}: nothing imported");
    }

    // After a restart the same file imports whole: the killed attempt left
    // no batch record, lock or half-written item behind.
    server.restart().await;
    let mut browser = server.browser();
    assert_eq!(browser.sign_in(admin, password).await.status(), 303);
    let answer = upload(&browser).await.unwrap();
    assert_eq!(answer.status(), 303, "{}", answer.text().await.unwrap());
    assert_eq!(count(&db.pool, "batches").await, 1);
    assert_eq!(count(&db.pool, "items").await, 60_000);
}

/// What one annotator's client saw of its submissions.
#[derive(Default)]
struct Seen {
    /// submission id → the annotation id the server answered.
    succeeded: HashMap<Uuid, Uuid>,
    /// Submissions repeated (after a success, or retried after a failed
    /// connection) whose answers disagreed.
    disagreements: Vec<String>,
    /// (path, body, annotation id) of each success, to send again at the end.
    repeats: Vec<(String, Value, Uuid)>,
    retried_after_a_failure: usize,
}

#[tokio::test]
async fn kill_9_during_submits_loses_and_doubles_nothing() {
    const ITEMS: usize = 40;
    const OVERLAP: i32 = 3;
    const ANNOTATORS: usize = 6;
    let db = TestDb::new().await;
    let project = project(&db.pool, OVERLAP).await;
    crate::import::import_text(
        &db.pool,
        &project,
        "items.jsonl",
        &jsonl(ITEMS, "s"),
        Options::default(),
    )
    .await
    .unwrap();
    let server = Arc::new(Mutex::new(ServerProcess::start(&db.url).await));
    let base = server.lock().await.base.clone();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let up = Arc::new(AtomicBool::new(true));
    let submitted = Arc::new(AtomicUsize::new(0));

    let mut clients = Vec::new();
    for n in 0..ANNOTATORS {
        let username = format!("kill-annotator-{n}");
        let password = format!("password-{n}-long-enough");
        accounts::create(&db.pool, None, &username, Role::Annotator, &password)
            .await
            .unwrap();
        let token = api_token(&http, &base, &username, &password).await;
        let (http, base, up, submitted) =
            (http.clone(), base.clone(), up.clone(), submitted.clone());
        let project = project.id;
        clients.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let call = |path: String, body: Value| {
                http.post(format!("{base}{path}"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
            };
            loop {
                let lease = match call(format!("/api/v1/projects/{project}/lease"), json!({})).await
                {
                    Ok(r) if r.status() == 204 => break,
                    Ok(r) if r.status() == 200 => r.json::<Value>().await.unwrap(),
                    // The server is down: wait for it, then ask again.
                    Ok(r) if r.status() == 503 => continue,
                    Ok(r) => panic!("lease: {}", r.status()),
                    Err(_) => {
                        wait_until_up(&up).await;
                        continue;
                    }
                };
                let assignment = lease["assignment_id"].as_str().unwrap().to_string();
                let submission = Uuid::new_v4();
                let body = json!({"submission_id": submission, "labels": labels()});
                let path = format!("/api/v1/assignments/{assignment}/submit");
                let mut failed_before = false;
                let annotation = loop {
                    match call(path.clone(), body.clone()).await {
                        Ok(r) if r.status() == 200 => {
                            let v: Value = r.json().await.unwrap();
                            break v["annotation_id"]
                                .as_str()
                                .unwrap()
                                .parse::<Uuid>()
                                .unwrap();
                        }
                        Ok(r) => panic!("submit: {} {}", r.status(), r.text().await.unwrap()),
                        // Killed mid-request: the outcome is unknown to the
                        // client, which retries the same submission.
                        Err(_) => {
                            failed_before = true;
                            wait_until_up(&up).await;
                        }
                    }
                };
                if failed_before {
                    seen.retried_after_a_failure += 1;
                }
                submitted.fetch_add(1, Ordering::SeqCst);
                seen.succeeded.insert(submission, annotation);
                seen.repeats.push((path.clone(), body.clone(), annotation));
                // A double click: the same submission again answers the same.
                if let Ok(r) = call(path, body).await
                    && r.status() == 200
                {
                    let again: Value = r.json().await.unwrap();
                    if again["annotation_id"] != json!(annotation) {
                        seen.disagreements
                            .push(format!("{submission}: {annotation} then {again}"));
                    }
                }
            }
            (token, seen)
        }));
    }

    // Kill the server in the middle of the work, twice.
    for at in [ITEMS / 2, ITEMS * 3 / 2] {
        let deadline = Instant::now() + Duration::from_secs(60);
        while submitted.load(Ordering::SeqCst) < at {
            assert!(Instant::now() < deadline, "the work does not progress");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        up.store(false, Ordering::SeqCst);
        server.lock().await.kill9();
        tokio::time::sleep(Duration::from_millis(200)).await;
        server.lock().await.restart().await;
        up.store(true, Ordering::SeqCst);
    }

    let mut all: HashMap<Uuid, Uuid> = HashMap::new();
    let mut retried = 0;
    for client in clients {
        let (token, seen) = client.await.unwrap();
        assert!(seen.disagreements.is_empty(), "{:?}", seen.disagreements);
        retried += seen.retried_after_a_failure;
        all.extend(seen.succeeded);
        // After the restarts, every submission sent again answers as before.
        for (path, body, annotation) in seen.repeats {
            let again: Value = http
                .post(format!("{base}{path}"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(again["annotation_id"], json!(annotation), "{path}");
        }
    }
    // Every submission the clients saw succeed is stored exactly once, and
    // nothing else is: all the work was done, none twice.
    let stored: Vec<(Uuid, Uuid)> =
        sqlx::query_as("select submission_id, id from annotations where invalidated_at is null")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let stored: HashMap<Uuid, Uuid> = stored.into_iter().collect();
    assert_eq!(stored, all, "what the clients saw is what is stored");
    assert_eq!(
        all.len(),
        ITEMS * OVERLAP as usize,
        "every slot filled once"
    );
    let overfull: i64 = sqlx::query_scalar(
        "select count(*) from (select item_id from annotations group by item_id \
         having count(*) <> $1) t",
    )
    .bind(i64::from(OVERLAP))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(overfull, 0, "each item has exactly k annotations");
    eprintln!(
        "kill -9 during submits: {} submissions, {retried} retried after a dropped connection",
        all.len()
    );
}

async fn wait_until_up(up: &AtomicBool) {
    tokio::time::sleep(Duration::from_millis(50)).await;
    while !up.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Mounts a tmpfs at `dir` (root only); false when this machine refuses.
fn mount_tmpfs(dir: &Path, options: &str) -> bool {
    std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", options, "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

fn unmount(dir: &Path) {
    std::process::Command::new("umount").arg(dir).status().ok();
}

#[tokio::test]
async fn an_export_onto_a_full_or_read_only_disk_fails_clearly_and_leaves_no_file() {
    let app = TestApp::spawn().await;
    let project = crate::export::annotated_sample(&app).await;
    // A file size limit (4 KB, with SIGXFSZ ignored as a shell's `trap`
    // leaves it) needs no privilege, so this case runs everywhere.
    for (options, expected) in [
        ("ulimit", "File too large"),
        ("size=32k", "No space left on device"),
        ("ro,size=1m", "Read-only file system"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let limited = options == "ulimit";
        if !limited && !mount_tmpfs(dir.path(), options) {
            eprintln!("{options} skipped: cannot mount a tmpfs here (not root?)");
            continue;
        }
        let out = dir.path().join("pku.jsonl");
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(if limited {
                "trap '' XFSZ; ulimit -f 8; exec \"$0\" \"$@\""
            } else {
                "exec \"$0\" \"$@\""
            })
            .arg(safepref_binary())
            .args(["export", "--project", &project.name])
            .args(["--format", "pku", "--out"])
            .arg(&out)
            .env("DATABASE_URL", &app.db_url)
            .output()
            .unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        if !limited {
            unmount(dir.path());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{options}: the export fails");
        assert!(
            stderr.contains(expected) && stderr.contains(&dir.path().display().to_string()),
            "{options}: a clear error naming the place: {stderr}"
        );
        assert!(left.is_empty(), "{options}: nothing left behind: {left:?}");
    }
}
