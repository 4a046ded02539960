//! A run killed mid-way loses nothing: what was stored stays, and a rerun
//! asks only about the rest, with no item suggested twice.

use std::process::Stdio;
use std::time::Duration;

use safepref_loadgen::fake_llm::{FakeLlm, Reply};
use safepref_tests::{TestDb, safepref_binary};
use serde_json::Value;
use tokio::process::{Child, Command};

use super::{KEY, MODEL, case_of, good_answer, project_with, source, suggest, text};

const ITEMS: usize = 30;

async fn stored_count(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from suggestions where source = $1")
        .bind(source())
        .fetch_one(pool)
        .await
        .unwrap()
}

/// A good answer after 150 ms, so that a run takes a few seconds.
fn slow_good() -> Reply {
    Reply::Slow {
        delay: Duration::from_millis(150),
        then: Box::new(Reply::Content {
            text: good_answer(),
            logprob: None,
        }),
    }
}

/// Starts `safepref suggest` (two calls at once), its output piped.
fn start(db_url: &str, project: &str, endpoint: &str) -> Child {
    Command::new(safepref_binary())
        .args(["suggest", "--project", project, "--endpoint", endpoint])
        .args(["--model", MODEL, "--concurrency", "2"])
        .env("DATABASE_URL", db_url)
        .env("SAFEPREF_LLM_API_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the run has stored `n` suggestions.
async fn stored_at_least(pool: &sqlx::PgPool, n: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while stored_count(pool).await < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run stores suggestions"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_rerun_after_a_kill_finishes_the_rest_without_duplicates() {
    let db = TestDb::new().await;
    let prompts: Vec<String> = (0..ITEMS)
        .map(|i| format!("Item {i:02} case:resume"))
        .collect();
    let project = project_with(&db.pool, &prompts).await;
    let llm = FakeLlm::start(|body: &Value, _| {
        assert_eq!(case_of(body), "resume");
        slow_good()
    })
    .await
    .unwrap();

    let mut child = start(&db.url, &project.name, &llm.base_url());
    stored_at_least(&db.pool, 6).await;
    child.kill().await.unwrap(); // SIGKILL: no chance to tidy up
    let at_kill = stored_count(&db.pool).await;
    assert!(
        at_kill < ITEMS as i64,
        "killed before the end ({at_kill} stored)"
    );
    let asked_first = llm.requests().len();

    let out = suggest(&db.url, &project, &llm.base_url(), &["--concurrency", "8"]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let left = ITEMS as i64 - at_kill;
    assert!(
        stdout.contains(&format!(
            "{left} of {left} ({at_kill} already had this source's suggestion)"
        )),
        "{stdout}"
    );
    let per_item: Vec<i64> = sqlx::query_scalar(
        "select count(s.item_id) from items i left join suggestions s on s.item_id = i.id
          where i.project_id = $1 group by i.id",
    )
    .bind(project.id)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(per_item.len(), ITEMS);
    assert!(
        per_item.iter().all(|&n| n == 1),
        "one suggestion per item: {per_item:?}"
    );
    // The rerun asked only about items without one: at most the two calls
    // in flight at the kill were asked twice.
    let asked_again = llm.requests().len() - asked_first;
    assert_eq!(asked_again as i64, left);
    assert!(
        asked_first as i64 <= at_kill + 2,
        "{asked_first} asked before the kill"
    );

    // The killed run is left `running` without a heartbeat; the rerun is done.
    let states: Vec<String> =
        sqlx::query_scalar("select state from judge_runs order by created_at")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(states, ["running", "done"]);
}

#[tokio::test]
async fn ctrl_c_lets_the_calls_in_flight_finish_and_says_how_to_go_on() {
    let db = TestDb::new().await;
    let prompts: Vec<String> = (0..ITEMS)
        .map(|i| format!("Item {i:02} case:stop"))
        .collect();
    let project = project_with(&db.pool, &prompts).await;
    let llm = FakeLlm::start(|_: &Value, _| slow_good()).await.unwrap();
    let child = start(&db.url, &project.name, &llm.base_url());
    stored_at_least(&db.pool, 3).await;
    let pid = child.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("the command ends after Ctrl-C")
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Stopped before the end: run the same command again"),
        "{stdout}"
    );
    let stored = stored_count(&db.pool).await;
    assert!(
        stored < ITEMS as i64,
        "stopped before the end ({stored} stored)"
    );
    // Every call that was made was answered and stored: none was cut off.
    assert_eq!(llm.requests().len() as i64, stored);
    let state: String = sqlx::query_scalar("select state from judge_runs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(state, "interrupted");
}
