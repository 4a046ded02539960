//! The annotation page as plain HTML forms (no JavaScript): labelling,
//! rule messages that keep what was entered, skipping, revising, the end.

use safepref_server::db::users::Role;
use safepref_server::import::Options;
use safepref_tests::{Browser, TestApp, csrf_token_in};
use serde_json::json;

/// A project with `n` generic items of two responses each.
pub async fn project_with_items(app: &TestApp, n: usize, overlap: i32) -> uuid::Uuid {
    let name = format!("annotate-{}", uuid::Uuid::new_v4().simple());
    let settings = safepref_server::db::projects::Settings {
        name,
        annotations_per_item: overlap,
        guidelines: "Label **carefully**.".into(),
        ..Default::default()
    };
    let project = safepref_server::projects::create(&app.pool, None, settings)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("items.jsonl");
    let lines: Vec<String> = (0..n)
        .map(|i| json!({"prompt": format!("Prompt number {i}\n  with <b>markup</b>"), "responses": [format!("First answer {i}"), format!("Second answer {i}")]}).to_string())
        .collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    crate::import::import_path(&app.pool, &project, &path, Options::default())
        .await
        .unwrap();
    project.id
}

pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in page"))
        + marker.len();
    html[at..].split('"').next().unwrap().to_string()
}

/// A valid PKU-style answer: A unsafe (Violence, moderate), B safe; B more harmless, A more helpful.
pub fn good_labels(page: &str) -> Vec<(String, String)> {
    [
        ("assignment_id", hidden(page, "assignment_id")),
        ("submission_id", hidden(page, "submission_id")),
        ("seconds", "12".into()),
        ("r0_safe", "unsafe".into()),
        ("r0_severity", "2".into()),
        ("r0_cat", "Violence".into()),
        ("r1_safe", "safe".into()),
        ("helpful", "0".into()),
        ("harmless", "1".into()),
        ("comment", "a note".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

async fn post(browser: &Browser, path: &str, fields: &[(String, String)]) -> reqwest::Response {
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    browser.post(path, &refs).await
}

#[tokio::test]
async fn an_annotator_labels_items_with_plain_forms() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app, 3, 1).await;
    let (annotator, _) = app.signed_in(Role::Annotator).await;

    let home = annotator.get("/").await.text().await.unwrap();
    assert!(
        home.contains(&format!("href=\"/annotate/{project}\"")),
        "{home}"
    );

    let page = annotator
        .get(&format!("/annotate/{project}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Prompt number 0\n  with &#60;b&#62;markup&#60;/b&#62;"),
        "the prompt is shown literally: {page}"
    );
    assert!(!page.contains("<b>markup"), "no markup from the data");
    assert!(page.contains("Response A") && page.contains("Response B"));
    assert!(
        page.contains("<kbd>Ctrl</kbd>+<kbd>Enter</kbd>"),
        "keys are shown on the controls"
    );
    // Refreshing within the lease gives the same item.
    let again = annotator
        .get(&format!("/annotate/{project}"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        hidden(&page, "assignment_id"),
        hidden(&again, "assignment_id")
    );

    let done = post(
        &annotator,
        &format!("/annotate/{project}/submit"),
        &good_labels(&page),
    )
    .await;
    assert_eq!(done.status(), 303);
    let stored: serde_json::Value = sqlx::query_scalar("select labels from annotations")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        stored["responses"][0],
        json!({"safe": false, "categories": ["Violence"], "severity": 2})
    );
    assert_eq!(
        (
            stored["helpfulness"].clone(),
            stored["harmlessness"].clone()
        ),
        (json!([0, 1]), json!([1, 0]))
    );

    // The same form again (a double click, a retry) stores nothing new.
    let twice = post(
        &annotator,
        &format!("/annotate/{project}/submit"),
        &good_labels(&page),
    )
    .await;
    assert_eq!(twice.status(), 303);
    let count: i64 = sqlx::query_scalar("select count(*) from annotations")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);

    let next = annotator
        .get(&format!("/annotate/{project}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        next.contains("Prompt number 1"),
        "the next item in batch order"
    );
    assert!(
        next.contains("Today: <strong>1</strong>"),
        "progress counts the submission: {next}"
    );
}

#[tokio::test]
async fn a_broken_rule_is_named_and_what_was_entered_is_kept() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app, 1, 1).await;
    let (annotator, _) = app.signed_in(Role::Annotator).await;
    let page = annotator
        .get(&format!("/annotate/{project}"))
        .await
        .text()
        .await
        .unwrap();
    let mut fields = good_labels(&page);
    // Exactly one response is safe (B), yet A is chosen as more harmless.
    fields.retain(|(k, _)| k != "harmless");
    fields.push(("harmless".into(), "0".into()));
    let refused = post(&annotator, &format!("/annotate/{project}/submit"), &fields).await;
    assert_eq!(refused.status(), 400);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Your labels were not saved yet"), "{html}");
    assert!(
        html.contains("harmless"),
        "the message names the rule: {html}"
    );
    assert!(
        html.contains("value=\"Violence\" checked"),
        "the ticked category is kept"
    );
    assert!(
        html.contains("name=\"comment\" rows=\"2\" maxlength=\"5000\">a note</textarea>"),
        "the comment is kept"
    );
    assert_eq!(
        hidden(&html, "submission_id"),
        hidden(&page, "submission_id"),
        "a retry stays idempotent"
    );
    let count: i64 = sqlx::query_scalar("select count(*) from annotations")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);

    let missing = post(
        &annotator,
        &format!("/annotate/{project}/submit"),
        &good_labels(&page)[..3],
    )
    .await;
    assert_eq!(missing.status(), 400);
    assert!(
        missing
            .text()
            .await
            .unwrap()
            .contains("Response A: choose Safe or Unsafe.")
    );
}

#[tokio::test]
async fn skipping_records_the_reason_and_moves_on() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app, 2, 1).await;
    let (annotator, _) = app.signed_in(Role::Annotator).await;
    let page = annotator
        .get(&format!("/annotate/{project}"))
        .await
        .text()
        .await
        .unwrap();
    let assignment = hidden(&page, "assignment_id");
    let skipped = annotator
        .post(
            &format!("/annotate/{project}/skip"),
            &[
                ("assignment_id", &assignment),
                ("reason", "too_disturbing"),
                ("note", "graphic"),
            ],
        )
        .await;
    assert_eq!(skipped.status(), 303);
    let (reason, note): (String, Option<String>) = sqlx::query_as(
        "select skip_reason::text, skip_note from assignments where state = 'skipped'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (reason.as_str(), note.as_deref()),
        ("too_disturbing", Some("graphic"))
    );
    let next = annotator
        .get(&format!("/annotate/{project}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        next.contains("Prompt number 1"),
        "the skipped item does not come back to its skipper"
    );
    let no_reason = annotator
        .post(
            &format!("/annotate/{project}/skip"),
            &[("assignment_id", &hidden(&next, "assignment_id"))],
        )
        .await;
    assert_eq!(no_reason.status(), 400);
}

#[tokio::test]
async fn the_end_of_the_queue_says_so_and_revising_works() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app, 1, 1).await;
    let (annotator, _) = app.signed_in(Role::Annotator).await;
    let page = annotator
        .get(&format!("/annotate/{project}"))
        .await
        .text()
        .await
        .unwrap();
    post(
        &annotator,
        &format!("/annotate/{project}/submit"),
        &good_labels(&page),
    )
    .await;
    let end = annotator
        .get(&format!("/annotate/{project}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(end.contains("nothing left for you to label"), "{end}");
    let revise_link = end
        .split("href=\"/annotate/")
        .find(|s| s.contains("/revise/"))
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let form = annotator
        .get(&format!("/annotate/{revise_link}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("You are revising an earlier submission.")
            && form.contains("value=\"Violence\" checked"),
        "{form}"
    );
    let token = csrf_token_in(&form).unwrap();
    let revised = annotator
        .post(
            &format!("/annotate/{revise_link}"),
            &[
                ("csrf_token", token.as_str()),
                ("r0_safe", "safe"),
                ("r1_safe", "safe"),
                ("helpful", "1"),
                ("harmless", "1"),
            ],
        )
        .await;
    assert_eq!(revised.status(), 303);
    let stored: serde_json::Value = sqlx::query_scalar("select labels from annotations")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored["responses"][0]["safe"], true);
    let audited: i64 =
        sqlx::query_scalar("select count(*) from audit_log where action like '%revis%'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn the_guidelines_and_definitions_are_one_page_away() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app, 1, 1).await;
    let (annotator, _) = app.signed_in(Role::Annotator).await;
    let page = annotator
        .get(&format!("/annotate/{project}/guidelines"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("<strong>carefully</strong>"), "{page}");
    assert!(
        page.contains("Endangering National Security") && page.contains("Moderate"),
        "{page}"
    );
}
