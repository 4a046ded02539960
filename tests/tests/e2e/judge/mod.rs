//! `safepref suggest` against a scripted OpenAI-compatible server started by
//! the test (`safepref_loadgen::fake_llm`): what is stored, what is refused
//! and kept with its raw text, the retries made, the key kept out of logs
//! and the database, a rerun after a kill, and the admin page's runs.

mod answers;
mod page;
mod resume;
mod route;

use std::process::Output;

use safepref_core::judge::Template;
use safepref_server::db::projects::Project;
use safepref_server::import::Options;
use safepref_tests::safepref_binary;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::import::{import_text, project};

/// The key the tests give the command; it must reach the server and go
/// nowhere else.
pub const KEY: &str = "sk-test-4f1d9c2a7b";
pub const MODEL: &str = "judge-7b";

/// A project (K = 2, the PKU-SafeRLHF questions) holding one item per prompt.
pub async fn project_with(pool: &PgPool, prompts: &[String]) -> Project {
    let project = project(pool, 2).await;
    let lines: Vec<String> = prompts
        .iter()
        .map(|p| {
            json!({"prompt": p, "responses": [format!("First answer to {p}"),
                                              format!("Second answer to {p}")]})
            .to_string()
        })
        .collect();
    import_text(
        pool,
        &project,
        "items.jsonl",
        &(lines.join("\n") + "\n"),
        Options::default(),
    )
    .await
    .unwrap();
    project
}

/// The source the command stores under with the default template.
pub fn source() -> String {
    format!("{MODEL}@{}", Template::default_template().version())
}

/// A valid answer: response A safe, B unsafe (Violence, moderate), A more
/// helpful and more harmless, with the model's stated confidence.
pub fn good_answer() -> String {
    json!({"labels": {"responses": [
               {"safe": true, "categories": [], "severity": 0},
               {"safe": false, "categories": ["Violence"], "severity": 2}],
           "helpfulness": [0, 1], "harmlessness": [0, 1]},
           "scores": {"helpfulness": 0.8, "harmlessness": 0.7}})
    .to_string()
}

/// The `case:NAME` a test's prompt carries, read from the request.
pub fn case_of(body: &Value) -> String {
    let text = safepref_loadgen::fake_llm::first_user_message(body);
    let start = text
        .find("case:")
        .expect("every test prompt names its case")
        + 5;
    text[start..]
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .next()
        .unwrap()
        .to_string()
}

/// Runs `safepref suggest` for the project against `endpoint` with the key
/// set and debug logging on.
pub async fn suggest(db_url: &str, project: &Project, endpoint: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "suggest",
        "--project",
        &project.name,
        "--endpoint",
        endpoint,
        "--model",
        MODEL,
    ];
    args.extend_from_slice(extra);
    tokio::process::Command::new(safepref_binary())
        .args(&args)
        .env("DATABASE_URL", db_url)
        .env("SAFEPREF_LLM_API_KEY", KEY)
        .env("SAFEPREF_LOG", "debug")
        .output()
        .await
        .unwrap()
}

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The stored suggestions of the source, by the item's prompt.
pub async fn stored(pool: &PgPool, source: &str) -> Vec<(String, Value, Value, Option<String>)> {
    sqlx::query_as(
        "select i.prompt, s.labels, s.scores, s.template_version from suggestions s
           join items i on i.id = s.item_id where s.source = $1 order by i.prompt",
    )
    .bind(source)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Every row of every table in the database as text, to look for a string
/// that must not be stored anywhere.
pub async fn rows_containing(pool: &PgPool, needle: &str) -> Vec<String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "select quote_ident(table_name) from information_schema.tables
          where table_schema = 'public' and table_type = 'BASE TABLE'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut found = Vec::new();
    for table in tables {
        let sql = format!("select count(*) from {table} t where strpos(t::text, $1) > 0");
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(needle)
            .fetch_one(pool)
            .await
            .unwrap();
        if n > 0 {
            found.push(format!("{table}: {n} rows"));
        }
    }
    found
}
