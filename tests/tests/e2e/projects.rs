//! The admin pages for projects and batches, and their CLI commands.

use safepref_server::db::users::Role;
use safepref_tests::{Browser, TestApp};
use serde_json::Value;

use crate::import::SAMPLE;

pub async fn project_id(app: &TestApp, name: &str) -> uuid::Uuid {
    sqlx::query_scalar("select id from projects where name = $1")
        .bind(name)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

pub fn default_form(name: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", name.to_string()),
        ("guidelines", "# Read me\n\n<script>alert('x')</script>\n\nSee [bad](javascript:alert(1)) and [good](https://example.org).".into()),
        ("responses_per_item", "2".into()),
        ("annotations_per_item", "3".into()),
        ("lease_minutes", "10".into()),
        ("q_safety", "on".into()),
        ("q_helpfulness", "on".into()),
        ("q_harmlessness", "on".into()),
        ("q_comment", "on".into()),
        ("taxonomy", "pku19".into()),
        ("custom_categories", String::new()),
        ("gold_percent", "5".into()),
        ("blur_responses", "on".into()),
        ("content_note_for_severe", "on".into()),
        ("break_every_items", "50".into()),
        ("break_every_minutes", String::new()),
        ("daily_cap", String::new()),
    ]
}

pub async fn post_form(
    browser: &Browser,
    path: &str,
    form: &[(&str, String)],
) -> reqwest::Response {
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post(path, &fields).await
}

async fn upload(
    browser: &Browser,
    project: uuid::Uuid,
    name: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let token = browser.csrf_token.clone().unwrap();
    let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_string());
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", token)
        .part("file", part);
    browser
        .client
        .post(format!("{}/admin/projects/{project}/import", browser.base))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_creates_a_project_and_its_guidelines_render_safely() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let created = post_form(&admin, "/admin/projects", &default_form("Safety round 1")).await;
    assert_eq!(created.status(), 303);
    let id = project_id(&app, "Safety round 1").await;
    let (gold, wellbeing): (f64, Value) =
        sqlx::query_as("select gold_rate, wellbeing from projects where id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!((gold - 0.05).abs() < 1e-9);
    assert_eq!(wellbeing["break_every_items"], 50);
    assert_eq!(wellbeing["break_every_minutes"], Value::Null);

    let page = admin
        .get(&format!("/admin/projects/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("<h1>Read me</h1>"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;")
            || page.contains("&lt;script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>alert"), "no raw script: {page}");
    assert!(!page.contains("href=\"javascript:"), "no javascript: link");
    assert!(page.contains("href=\"https://example.org\""));

    let list = admin.get("/admin/projects").await.text().await.unwrap();
    assert!(list.contains("Safety round 1"));

    let duplicate = post_form(&admin, "/admin/projects", &default_form("Safety round 1")).await;
    assert_eq!(duplicate.status(), 409);
    let mut bad = default_form("Bad");
    bad[2].1 = "9".into();
    let refused = post_form(&admin, "/admin/projects", &bad).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("must be 2 to 8"));
}

#[tokio::test]
async fn a_custom_taxonomy_is_saved_with_its_descriptions() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let mut form = default_form("Custom");
    form[9].1 = "custom".into();
    form[10].1 = "Spam: unsolicited advertising\nScam: tricks people out of money".into();
    assert_eq!(
        post_form(&admin, "/admin/projects", &form).await.status(),
        303
    );
    let taxonomy: Value = sqlx::query_scalar("select taxonomy from projects where name = 'Custom'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(taxonomy["preset"], "custom");
    assert_eq!(taxonomy["categories"][1]["name"], "Scam");
    assert_eq!(
        taxonomy["categories"][1]["description"],
        "tricks people out of money"
    );
}

#[tokio::test]
async fn label_defining_settings_freeze_once_an_annotation_exists() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    post_form(&admin, "/admin/projects", &default_form("Freeze")).await;
    let id = project_id(&app, "Freeze").await;
    let upload = upload(&admin, id, "sample.jsonl", SAMPLE.as_bytes().to_vec()).await;
    assert_eq!(upload.status(), 303);

    // With items but no annotations, K cannot change but the taxonomy can.
    let mut change_k = default_form("Freeze");
    change_k[2].1 = "3".into();
    let refused = post_form(&admin, &format!("/admin/projects/{id}"), &change_k).await;
    assert_eq!(refused.status(), 409);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("cannot change from 2 to 3")
    );

    let annotator: uuid::Uuid = sqlx::query_scalar("select id from users limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    sqlx::query("insert into annotations (id, project_id, item_id, annotator_id, labels) select gen_random_uuid(), project_id, id, $1, '{}' from items where project_id = $2 limit 1")
        .bind(annotator)
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    let edit = admin
        .get(&format!("/admin/projects/{id}/edit"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        edit.contains("frozen because this project has annotations"),
        "{edit}"
    );
    assert!(
        edit.contains("name=\"taxonomy\" disabled"),
        "the frozen fields are disabled"
    );

    // A hand-made request cannot change them either; other settings still change.
    let mut sneaky = default_form("Freeze renamed");
    sneaky[9].1 = "beavertails14".into();
    sneaky[3].1 = "5".into();
    sneaky[4].1 = "15".into();
    let saved = post_form(&admin, &format!("/admin/projects/{id}"), &sneaky).await;
    assert_eq!(
        saved.status(),
        303,
        "the frozen fields are ignored, the rest saved"
    );
    let (name, k, lease, taxonomy): (String, i32, i32, Value) = sqlx::query_as(
        "select name, annotations_per_item, lease_seconds, taxonomy from projects where id = $1",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (name.as_str(), k, lease, taxonomy["preset"].as_str()),
        ("Freeze renamed", 3, 900, Some("pku19")),
        "name and lease saved; K, k and the taxonomy frozen"
    );
}

#[tokio::test]
async fn uploads_import_like_the_cli_and_show_their_errors() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    post_form(&admin, "/admin/projects", &default_form("Uploads")).await;
    let id = project_id(&app, "Uploads").await;

    let broken = "{\"prompt\": \"p\", \"responses\": [\"only one\"]}\n";
    let response = upload(&admin, id, "broken.jsonl", broken.as_bytes().to_vec()).await;
    assert_eq!(response.status(), 400);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("broken.jsonl line 1") && page.contains("nothing was imported"),
        "{page}"
    );

    assert_eq!(
        upload(&admin, id, "sample.jsonl", SAMPLE.as_bytes().to_vec())
            .await
            .status(),
        303
    );
    let page = admin
        .get(&format!("/admin/projects/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("sample.jsonl") && page.contains("<td class=\"num\">76</td>"),
        "{page}"
    );

    let again = upload(&admin, id, "again.jsonl", SAMPLE.as_bytes().to_vec()).await;
    assert_eq!(again.status(), 409);
    assert!(again.text().await.unwrap().contains("imported already"));

    // Without the CSRF token: refused, nothing imported.
    let part = reqwest::multipart::Part::bytes(
        b"{\"prompt\":\"x\",\"responses\":[\"a\",\"b\"]}\n".to_vec(),
    )
    .file_name("x.jsonl");
    let no_token = admin
        .client
        .post(format!("{}/admin/projects/{id}/import", admin.base))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 403);
    let batches: i64 = sqlx::query_scalar("select count(*) from batches")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(batches, 1);
}

#[tokio::test]
async fn a_batch_is_deleted_after_confirmation_only_while_unannotated() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    post_form(&admin, "/admin/projects", &default_form("Delete")).await;
    let id = project_id(&app, "Delete").await;
    upload(&admin, id, "sample.jsonl", SAMPLE.as_bytes().to_vec()).await;
    let batch: uuid::Uuid = sqlx::query_scalar("select id from batches")
        .fetch_one(&app.pool)
        .await
        .unwrap();

    let confirm = admin
        .get(&format!("/admin/projects/{id}/batches/{batch}/delete"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        confirm.contains("Delete batch 1") && confirm.contains("76 items"),
        "{confirm}"
    );
    assert_eq!(
        admin
            .post(&format!("/admin/projects/{id}/batches/{batch}/delete"), &[])
            .await
            .status(),
        303
    );
    let left: (i64, i64) =
        sqlx::query_as("select (select count(*) from batches), (select count(*) from items)")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(left, (0, 0));

    // Once annotated, a batch stays.
    upload(&admin, id, "sample.jsonl", SAMPLE.as_bytes().to_vec()).await;
    let batch: uuid::Uuid = sqlx::query_scalar("select id from batches")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let someone: uuid::Uuid = sqlx::query_scalar("select id from users limit 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    sqlx::query("insert into annotations (id, project_id, item_id, annotator_id, labels) select gen_random_uuid(), project_id, id, $1, '{}' from items limit 1")
        .bind(someone)
        .execute(&app.pool)
        .await
        .unwrap();
    let refused = admin
        .post(&format!("/admin/projects/{id}/batches/{batch}/delete"), &[])
        .await;
    assert_eq!(refused.status(), 409);
    let items: i64 = sqlx::query_scalar("select count(*) from items")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(items, 76);
    let page = admin
        .get(&format!("/admin/projects/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<td class=\"num\">75</td>") && page.contains("<td class=\"num\">1</td>"),
        "75 pending, 1 in progress: {page}"
    );
}

#[tokio::test]
async fn project_pages_are_for_admins() {
    let app = TestApp::spawn().await;
    let (lead, _) = app.signed_in(Role::Lead).await;
    assert_eq!(lead.get("/admin/projects").await.status(), 403);
    assert_eq!(
        post_form(&lead, "/admin/projects", &default_form("Nope"))
            .await
            .status(),
        403
    );
}
