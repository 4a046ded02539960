//! Every kind of answer a model server gives, in one run: good ones (with
//! and without log-probabilities, in a code fence), invalid JSON, a broken
//! label rule, an unknown category, 500s, 429 with Retry-After, slow
//! answers past the timeout and a dropped connection.

use std::time::Duration;

use safepref_core::judge::Template;
use safepref_loadgen::fake_llm::{FakeLlm, Reply, Seen};
use safepref_tests::TestDb;
use serde_json::{Value, json};

use super::{
    KEY, MODEL, case_of, good_answer, project_with, rows_containing, source, stored, suggest, text,
};

const CASES: [&str; 11] = [
    "good",
    "fence",
    "notjson-once",
    "notjson",
    "rules",
    "unknown",
    "server500",
    "ratelimit",
    "slow-once",
    "drop-once",
    "slow",
];

fn content(text: &str) -> Reply {
    Reply::Content {
        text: text.to_string(),
        logprob: None,
    }
}

/// Response A called safe with a severity: against the label rules.
fn rules_answer() -> String {
    json!({"labels": {"responses": [
               {"safe": true, "categories": [], "severity": 2},
               {"safe": true, "categories": [], "severity": 0}],
           "helpfulness": [0, 1], "harmlessness": [0, 1]}})
    .to_string()
}

fn unknown_answer() -> String {
    json!({"responses": [
               {"safe": false, "categories": ["Weapons of Mass Fun"], "severity": 3},
               {"safe": true, "categories": [], "severity": 0}],
           "helpfulness": [1, 0], "harmlessness": [1, 0]})
    .to_string()
}

fn script(body: &Value, attempt: usize) -> Reply {
    let slow = |then| Reply::Slow {
        delay: Duration::from_secs(3),
        then: Box::new(then),
    };
    match (case_of(body).as_str(), attempt) {
        ("good", _) => Reply::Content {
            text: good_answer(),
            logprob: Some(-0.1),
        },
        ("fence", _) => content(&format!(
            "Here is my judgement:\n```json\n{}\n```\n",
            good_answer()
        )),
        ("notjson-once", 0) => content("Response A is fine; B is not."),
        ("notjson", _) => content("I cannot answer in JSON, sorry."),
        ("rules", _) => content(&rules_answer()),
        ("unknown", _) => content(&unknown_answer()),
        ("server500", 0) => Reply::Status {
            code: 500,
            retry_after: None,
            message: "overloaded".into(),
        },
        ("ratelimit", 0) => Reply::Status {
            code: 429,
            retry_after: Some(1),
            message: "slow down".into(),
        },
        ("slow-once", 0) | ("slow", _) => slow(content(&good_answer())),
        ("drop-once", 0) => Reply::Drop,
        _ => content(&good_answer()),
    }
}

fn of_case<'a>(seen: &'a [Seen], case: &str) -> Vec<&'a Seen> {
    seen.iter().filter(|s| case_of(&s.body) == case).collect()
}

#[tokio::test]
async fn every_answer_is_checked_and_every_failure_kept() {
    let db = TestDb::new().await;
    let prompts: Vec<String> = CASES.iter().map(|c| format!("Question case:{c}")).collect();
    let project = project_with(&db.pool, &prompts).await;
    let llm = FakeLlm::start(script).await.unwrap();
    let out = suggest(
        &db.url,
        &project,
        &llm.base_url(),
        &["--concurrency", "4", "--timeout", "1", "--retries", "2"],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let source = source();

    // What is stored: the seven items that got labels, with the template.
    let rows = stored(&db.pool, &source).await;
    let got: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        got,
        [
            "Question case:drop-once",
            "Question case:fence",
            "Question case:good",
            "Question case:notjson-once",
            "Question case:ratelimit",
            "Question case:server500",
            "Question case:slow-once",
        ]
    );
    let version = Template::default_template().version();
    assert!(
        rows.iter()
            .all(|r| r.3.as_deref() == Some(version.as_str()))
    );
    let good = &rows[2];
    assert_eq!(
        good.1,
        json!(serde_json::from_str::<Value>(&good_answer()).unwrap()["labels"])
    );
    // Scores from log-probabilities: `true` and `2` are one token each.
    let p = (-0.1f64).exp();
    let safe = good.2["responses"][0]["safe"].as_f64().unwrap();
    let severity = good.2["responses"][1]["severity"].as_f64().unwrap();
    assert!(
        (safe - p).abs() < 1e-6 && (severity - p).abs() < 1e-6,
        "{}",
        good.2
    );
    // Without log-probabilities: the model's stated confidence.
    let fence = &rows[1];
    assert_eq!(fence.2, json!({"helpfulness": 0.8, "harmlessness": 0.7}));
    let template: String =
        sqlx::query_scalar("select text from judge_templates where version = $1")
            .bind(&version)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(template, Template::default_template().text());

    // What was refused, with the raw text, by attempt.
    let failures: Vec<(String, i16, String, String, Option<String>)> = sqlx::query_as(
        "select i.prompt, f.attempt, f.kind, f.message, f.raw from judge_failures f
           join items i on i.id = f.item_id order by i.prompt, f.attempt",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let summary: Vec<(&str, i16, &str)> = failures
        .iter()
        .map(|f| (f.0.trim_start_matches("Question case:"), f.1, f.2.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("notjson", 1, "not_json"),
            ("notjson", 2, "not_json"),
            ("notjson-once", 1, "not_json"),
            ("rules", 1, "label_rules"),
            ("rules", 2, "label_rules"),
            ("slow", 1, "timeout"),
            ("unknown", 1, "unknown_category"),
            ("unknown", 2, "unknown_category"),
        ]
    );
    let raw = |prompt: &str| {
        failures
            .iter()
            .find(|f| f.0.ends_with(prompt))
            .and_then(|f| f.4.clone())
    };
    assert_eq!(
        raw("case:notjson").as_deref(),
        Some("I cannot answer in JSON, sorry.")
    );
    assert_eq!(raw("case:rules"), Some(rules_answer()));
    let unknown = failures.iter().find(|f| f.0.ends_with("unknown")).unwrap();
    assert!(unknown.3.contains("Weapons of Mass Fun"), "{}", unknown.3);
    let rules = failures.iter().find(|f| f.0.ends_with("rules")).unwrap();
    assert!(rules.3.contains("responses[0]"), "{}", rules.3);
    assert_eq!(raw("case:slow"), None, "a timeout has no answer to keep");

    // The retries made.
    let seen = llm.requests();
    let count = |case| of_case(&seen, case).len();
    assert_eq!(count("good"), 1);
    assert_eq!(count("notjson"), 2, "an invalid answer is sent back once");
    assert_eq!(count("server500"), 2);
    assert_eq!(count("drop-once"), 2);
    assert_eq!(count("slow-once"), 2);
    assert_eq!(count("slow"), 3, "the first try and --retries 2");
    let corrected = of_case(&seen, "notjson-once");
    let (first, second) = (
        &corrected[0].body["messages"],
        &corrected[1].body["messages"],
    );
    let n = first.as_array().unwrap().len();
    assert_eq!(second.as_array().unwrap().len(), n + 2);
    assert_eq!(second[n]["role"], "assistant");
    assert_eq!(second[n]["content"], "Response A is fine; B is not.");
    assert!(
        second[n + 1]["content"].as_str().unwrap().contains("JSON"),
        "{second}"
    );
    let limited = of_case(&seen, "ratelimit");
    let waited = limited[1].at.duration_since(limited[0].at);
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After: 1 was honoured: {waited:?}"
    );

    // Structured output and log-probabilities are asked for; the key is sent.
    assert!(
        seen.iter()
            .all(|s| s.body["response_format"]["type"] == "json_schema"
                && s.body["logprobs"] == true
                && s.body["model"] == MODEL)
    );
    let bearer = format!("Bearer {KEY}");
    assert!(seen.iter().all(|s| {
        s.headers
            .iter()
            .any(|(name, value)| name == "authorization" && *value == bearer)
    }));

    // ...and nowhere else: not in the output, the log, or the database.
    assert!(!stdout.contains(KEY) && !stderr.contains(KEY), "{stderr}");
    assert_eq!(rows_containing(&db.pool, KEY).await, Vec::<String>::new());

    // Progress: on a pipe, plain lines (the last one at the end).
    assert!(
        stderr.contains("[########################] 11/11  stored 7  failed 4"),
        "{stderr}"
    );

    // The summary and the run's record.
    for line in [
        "suggestions stored           7",
        "left without one             4 (label_rules 1, not_json 1, timeout 1, unknown_category 1)",
        "answers sent back            4",
    ] {
        assert!(stdout.contains(line), "{line:?} in:\n{stdout}");
    }
    let run: (String, i64, i64, i64, Option<i64>) =
        sqlx::query_as("select state, items_total, items_done, stored, tokens_in from judge_runs")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((run.0.as_str(), run.1, run.2, run.3), ("done", 11, 11, 7));
    assert!(run.4.unwrap() > 0, "the server's usage is counted");
    let actions: Vec<String> = sqlx::query_scalar(
        "select action from audit_log where action like 'model suggestions%' order by id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        actions,
        ["model suggestions started", "model suggestions finished"]
    );

    // A rerun asks only about the four items without a suggestion.
    let before = seen.len();
    let again = suggest(
        &db.url,
        &project,
        &llm.base_url(),
        &["--timeout", "1", "--retries", "0"],
    )
    .await;
    let (stdout, stderr) = text(&again);
    assert!(again.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("4 of 4 (7 already had this source's suggestion)"),
        "{stdout}"
    );
    let asked: Vec<String> = llm.requests()[before..]
        .iter()
        .map(|s| case_of(&s.body))
        .collect();
    assert!(
        asked
            .iter()
            .all(|c| ["notjson", "rules", "unknown", "slow"].contains(&c.as_str())),
        "{asked:?}"
    );
    assert_eq!(stored(&db.pool, &source).await.len(), 7);
}

#[tokio::test]
async fn a_server_without_structured_output_gets_plain_requests() {
    let db = TestDb::new().await;
    let prompts: Vec<String> = (0..3).map(|i| format!("Plain {i} case:plain")).collect();
    let project = project_with(&db.pool, &prompts).await;
    // Like an older server: a request with response_format is a 400.
    let llm = FakeLlm::start(|body: &Value, _| {
        if body.get("response_format").is_some() {
            Reply::Status {
                code: 400,
                retry_after: None,
                message: "unknown field: response_format".into(),
            }
        } else {
            content(&format!("```\n{}\n```", good_answer()))
        }
    })
    .await
    .unwrap();
    let out = suggest(&db.url, &project, &llm.base_url(), &["--concurrency", "1"]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stored(&db.pool, &source()).await.len(), 3);
    let seen = llm.requests();
    let structured: Vec<bool> = seen
        .iter()
        .map(|s| s.body.get("response_format").is_some())
        .collect();
    assert_eq!(
        structured,
        [true, false, false, false],
        "one refusal, then plain requests for the rest of the run"
    );
    assert!(
        stdout.contains("scores from           stated 3"),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_dry_run_shows_the_request_and_answers_and_stores_nothing() {
    let db = TestDb::new().await;
    let prompts: Vec<String> = (0..5).map(|i| format!("Dry {i} case:dry")).collect();
    let project = project_with(&db.pool, &prompts).await;
    let llm = FakeLlm::start(|_: &Value, _| content(&good_answer()))
        .await
        .unwrap();
    let out = suggest(
        &db.url,
        &project,
        &llm.base_url(),
        &["--dry-run", "--limit", "2"],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(llm.requests().len(), 2);
    assert!(
        stdout.contains("\"messages\""),
        "the first request is shown: {stdout}"
    );
    assert!(stdout.contains("Dry 0 case:dry"), "{stdout}");
    assert_eq!(
        stdout.matches("accepted (scores from stated)").count(),
        2,
        "{stdout}"
    );
    assert!(!stdout.contains(KEY));
    for table in [
        "suggestions",
        "judge_runs",
        "judge_templates",
        "judge_failures",
    ] {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(n, 0, "{table} is untouched by a dry run");
    }
}

#[tokio::test]
async fn a_template_of_ones_own_is_checked_and_makes_its_own_source() {
    let db = TestDb::new().await;
    let project = project_with(&db.pool, &["Own case:own".to_string()]).await;
    let llm = FakeLlm::start(|_: &Value, _| content(&good_answer()))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "Judge this.\n=== user ===\n{{prompt}}\n{{answers}}\n").unwrap();
    let out = suggest(
        &db.url,
        &project,
        &llm.base_url(),
        &["--template", bad.to_str().unwrap()],
    )
    .await;
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("bad.txt") && stderr.contains("line 4") && stderr.contains("answers"),
        "{stderr}"
    );
    assert!(
        llm.requests().is_empty(),
        "nothing is asked with a broken template"
    );

    let own = dir.path().join("own.txt");
    let text_of = "You label safety.\n=== user ===\n{{prompt}}\n{{responses}}\n{{taxonomy}}\n{{answer_format}}\n";
    std::fs::write(&own, text_of).unwrap();
    let out = suggest(
        &db.url,
        &project,
        &llm.base_url(),
        &["--template", own.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{:?}", text(&out));
    let version = Template::parse(text_of).unwrap().version();
    assert_ne!(version, Template::default_template().version());
    assert_eq!(
        stored(&db.pool, &format!("{MODEL}@{version}")).await.len(),
        1
    );
    let request = &llm.requests()[0].body;
    assert_eq!(request["messages"][0]["role"], "system");
    assert_eq!(request["messages"][0]["content"], "You label safety.");
    assert!(
        request["messages"][1]["content"]
            .as_str()
            .unwrap()
            .starts_with("Own case:own\n")
    );
}
