//! The JSON API for scripts besides the queue: a project, its batches (a
//! page at a time) and its progress; and the OpenAPI document, fetched over
//! HTTP and checked against what the server routes.

use reqwest::Method;
use safepref_server::db::users::Role;
use safepref_server::import::Options;
use safepref_server::routes::{api, openapi};
use safepref_tests::TestApp;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::import::{SAMPLE, import_text, project};
use crate::tokens::{api_session, bearer};

async fn get_json(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let response = bearer(app, Method::GET, path, token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A project whose sample is split into two batches: 30 items, then 46.
async fn project_in_two_batches(app: &TestApp) -> safepref_server::db::projects::Project {
    let project = project(&app.pool, 2).await;
    let lines: Vec<&str> = SAMPLE.lines().collect();
    for (name, part) in [
        ("first.jsonl", &lines[..30]),
        ("second.jsonl", &lines[30..]),
    ] {
        let text = part.join("\n") + "\n";
        import_text(&app.pool, &project, name, &text, Options::default())
            .await
            .unwrap();
    }
    project
}

/// One submission through the API, so the counts move.
async fn annotate_one(app: &TestApp, project: Uuid) -> Uuid {
    let (_, annotator) = api_session(app, Role::Annotator).await;
    let path = format!("/api/v1/projects/{project}/lease");
    let lease: Value = bearer(app, Method::POST, &path, &annotator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let safe = json!({"safe": true, "categories": [], "severity": 0});
    let labels = json!({"responses": [safe, safe], "helpfulness": [0, 1], "harmlessness": [0, 1]});
    let submit = format!(
        "/api/v1/assignments/{}/submit",
        lease["assignment_id"].as_str().unwrap()
    );
    let response = bearer(app, Method::POST, &submit, &annotator)
        .json(&json!({"submission_id": Uuid::new_v4(), "labels": labels}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    lease["item"]["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_project_shows_its_settings_and_progress_to_anyone_signed_in() {
    let app = TestApp::spawn().await;
    let project = project_in_two_batches(&app).await;
    let (_, annotator) = api_session(&app, Role::Annotator).await;
    let (status, body) = get_json(
        &app,
        &format!("/api/v1/projects/{}", project.id),
        &annotator,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["name"], project.name.as_str());
    assert_eq!(body["responses_per_item"], 2);
    assert_eq!(body["annotations_per_item"], 3);
    assert_eq!(body["questions"]["safety"], true);
    assert!(body["taxonomy"].is_object());
    assert_eq!(body["progress"]["items"], 76);
    assert_eq!(body["progress"]["done_by_me"], 0);

    let missing = format!("/api/v1/projects/{}", Uuid::new_v4());
    assert_eq!(get_json(&app, &missing, &annotator).await.0, 404);
}

#[tokio::test]
async fn batches_come_a_page_at_a_time_with_their_counts() {
    let app = TestApp::spawn().await;
    let project = project_in_two_batches(&app).await;
    let (_, token) = api_session(&app, Role::Lead).await;
    let path = format!("/api/v1/projects/{}/batches?per_page=1&page=2", project.id);
    let (status, page) = get_json(&app, &path, &token).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&page["total"], &page["pages"], &page["page"]),
        (&json!(2), &json!(2), &json!(2))
    );
    let batches = page["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 1);
    let second = &batches[0];
    assert_eq!(second["seq"], 2);
    assert_eq!(second["file_name"], "second.jsonl");
    assert_eq!(second["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(second["items_imported"], 46);
    assert_eq!(second["items"]["pending"], 46);
    assert_eq!(
        second["imported_by"],
        Value::Null,
        "imported from code, not a user"
    );

    // One submission: an item of the first batch (batch order) is in progress.
    annotate_one(&app, project.id).await;
    let all = format!("/api/v1/projects/{}/batches", project.id);
    let (_, page) = get_json(&app, &all, &token).await;
    let first = &page["batches"][0];
    assert_eq!(first["file_name"], "first.jsonl");
    assert_eq!(
        (&first["items"]["pending"], &first["items"]["in_progress"]),
        (&json!(29), &json!(1))
    );
    assert_eq!(first["annotations"], 1);
}

#[tokio::test]
async fn progress_counts_items_by_state_in_all_and_per_batch() {
    let app = TestApp::spawn().await;
    let project = project_in_two_batches(&app).await;
    annotate_one(&app, project.id).await;
    // Two more states, set directly: one item complete, one adjudicated.
    for (state, offset) in [("complete", 0_i64), ("adjudicated", 1)] {
        sqlx::query(
            "update items set state = $2::text::item_state where id =
                 (select id from items where project_id = $1 and batch_seq = 2 order by seq offset $3 limit 1)",
        )
        .bind(project.id)
        .bind(state)
        .bind(offset)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let (_, token) = api_session(&app, Role::Lead).await;
    let path = format!("/api/v1/projects/{}/progress", project.id);
    let (status, body) = get_json(&app, &path, &token).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["items"],
        json!({"total": 76, "pending": 73, "in_progress": 1, "complete": 1, "adjudicated": 1})
    );
    assert_eq!(body["annotations"], 1);
    let batches = body["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0]["items"]["in_progress"], 1);
    assert_eq!(batches[1]["items"]["total"], 46);
    assert_eq!(batches[1]["items"]["complete"], 1);
    assert_eq!(batches[1]["items"]["adjudicated"], 1);

    let (_, annotator) = api_session(&app, Role::Annotator).await;
    assert_eq!(get_json(&app, &path, &annotator).await.0, 403);
}

#[tokio::test]
async fn the_openapi_document_is_served_and_matches_the_router() {
    let app = TestApp::spawn().await;
    let response = reqwest::get(app.url("/api/v1/openapi.json")).await.unwrap();
    assert_eq!(response.status(), 200, "public: no sign-in needed");
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let routed = api::routes();
    for (method, path) in routed.registered() {
        assert!(
            paths
                .get(*path)
                .and_then(|p| p.get(method.as_str().to_lowercase()))
                .is_some(),
            "{method} {path} is routed but not in the served document"
        );
    }
    for (method, path) in openapi::EXPECTED_ELSEWHERE {
        assert!(paths[*path][method.to_lowercase()].is_object());
    }
    let export = &paths["/api/v1/projects/{id}/export"]["get"];
    let names: Vec<&str> = export["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"format") && names.contains(&"test_ratio"));

    // Each documented operation reaches a handler over HTTP: never the
    // "no such page" fallback, never 405. Sign-out goes last.
    let (_, token) = api_session(&app, Role::Admin).await;
    let mut operations: Vec<(String, String)> = openapi::operations_in(&doc)
        .into_iter()
        .filter(|(m, p)| !openapi::EXPECTED_ELSEWHERE.contains(&(m.as_str(), p.as_str())))
        .collect();
    operations.sort_by_key(|(m, p)| (m == "DELETE" && p == "/api/v1/session", p.clone()));
    for (method, path) in operations {
        let url = path.replace("{id}", &Uuid::new_v4().to_string());
        let response = bearer(&app, method.parse().unwrap(), &url, &token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path}");
        assert!(
            !(status == 404 && body.contains("There is no page at this address")),
            "{method} {path} is documented but not routed"
        );
    }
}
