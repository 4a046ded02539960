//! From an imported batch to a routed project with one command: `suggest
//! --route-at` stores the model's labels and sets the routing rule; an item
//! the model was sure of and the first person agrees with is then complete
//! at one annotation, and the report compares the model with the people.

use safepref_core::labels::Labels;
use safepref_loadgen::fake_llm::{FakeLlm, Reply};
use safepref_server::accounts;
use safepref_server::db::users::Role;
use safepref_tests::{TestDb, safepref_binary};
use serde_json::Value;

use super::{good_answer, project_with, source, suggest, text};
use crate::fixtures::label;

#[tokio::test]
async fn one_command_gives_suggestions_and_a_routed_project() {
    let db = TestDb::new().await;
    let prompts: Vec<String> = (0..2).map(|i| format!("Routed {i} case:route")).collect();
    let project = project_with(&db.pool, &prompts).await;
    // Near-certain tokens: every field's score is above 0.9.
    let llm = FakeLlm::start(|_: &Value, _| Reply::Content {
        text: good_answer(),
        logprob: Some(-0.01),
    })
    .await
    .unwrap();
    let out = suggest(&db.url, &project, &llm.base_url(), &["--route-at", "0.9"]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("now routes by"), "{stdout}");

    let project = safepref_server::projects::find(&db.pool, project.id)
        .await
        .unwrap();
    let routing = project.suggestions.routing.clone().expect("a routing rule");
    assert_eq!(
        (routing.source.as_str(), routing.threshold),
        (source().as_str(), 0.9)
    );

    // The first person agrees with the model: the item is complete at one.
    let (annotator, _) = accounts::create(
        &db.pool,
        None,
        "first-person",
        Role::Annotator,
        "pw-long-enough-1",
    )
    .await
    .unwrap();
    let agreed: Labels = serde_json::from_value(
        serde_json::from_str::<Value>(&good_answer()).unwrap()["labels"].clone(),
    )
    .unwrap();
    let item = label(&db.pool, &project, annotator.id, &agreed, 5.0).await;
    let (state, routed, done): (String, bool, i32) =
        sqlx::query_as("select state::text, routed, done from items where id = $1")
            .bind(item)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((state.as_str(), routed, done), ("complete", true, 1));

    // The report compares the model with the people.
    let report = tokio::process::Command::new(safepref_binary())
        .args(["report", "--project", &project.name])
        .env("DATABASE_URL", &db.url)
        .output()
        .await
        .unwrap();
    let (report, stderr) = text(&report);
    assert!(
        report.contains(&format!("model vs. people: {}: 1 items compared", source())),
        "{report}\n{stderr}"
    );
}
