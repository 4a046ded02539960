//! The review API (issue 25, item 2): the queue with its filters and pages,
//! one item, adjudicate and send back, pause / resume / release / requeue,
//! and the audit log, for a lead with a bearer token and with a session;
//! refused to annotators; the same state and audit entries as the pages; a
//! project the lead may not see answers as one that does not exist.

use safepref_server::db::{self, projects::Access, users::Role};
use safepref_tests::{Browser, TestApp};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fixtures::{label, labels};
use crate::queue::annotator;
use crate::review::{audited, counters, disputed, username};
use crate::tokens::api_session;

/// A caller of the JSON API: a bearer token, or a browser's session (which
/// sends its CSRF token in the header, as the API asks of cookies).
enum Caller {
    Bearer(reqwest::Client, String, String),
    Session(Browser),
}

impl Caller {
    /// A new user of `role` signed in by POST /api/v1/session, as a bearer.
    async fn bearer(app: &TestApp, role: Role) -> Caller {
        let (_, token) = api_session(app, role).await;
        Caller::Bearer(reqwest::Client::new(), app.base.clone(), token)
    }

    async fn session(app: &TestApp, role: Role) -> Caller {
        Caller::Session(app.signed_in(role).await.0)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        match self {
            Caller::Bearer(client, base, token) => client
                .request(method, format!("{base}{path}"))
                .bearer_auth(token),
            Caller::Session(browser) => browser
                .client
                .request(method, format!("{}{path}", browser.base))
                .header("x-csrf-token", browser.csrf_token.clone().unwrap()),
        }
    }

    /// (status, JSON body) of a GET.
    async fn get(&self, path: &str) -> (u16, Value) {
        answer(self.request(reqwest::Method::GET, path)).await
    }

    /// (status, JSON body or null) of a POST with a JSON body.
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        answer(self.request(reqwest::Method::POST, path).json(&body)).await
    }
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn ids(entries: &Value) -> Vec<Uuid> {
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["item_id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// The keys of an audit entry's before and after: what the pages and the
/// API must write alike.
fn keys(value: &Value) -> Vec<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_queue_and_an_item_read_as_the_pages_show_them() {
    let app = TestApp::spawn().await;
    let (project, [a, _, c], [one, two, three]) = disputed(&app).await;
    let queue = format!("/api/v1/projects/{}/review-queue", project.id);
    for lead in [
        Caller::bearer(&app, Role::Lead).await,
        Caller::session(&app, Role::Lead).await,
    ] {
        let (status, page) = lead.get(&queue).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total"], 3, "{page}");
        assert_eq!(
            ids(&page["entries"]),
            [two, one, three],
            "most disputed first"
        );
        let reasons = page["entries"][0]["reasons"].to_string();
        assert!(reasons.contains("tie on helpfulness"), "{reasons}");
        // The page's one line, as the page shows it.
        let summary = page["entries"][0]["summary"].as_str().unwrap_or_default();
        assert!(summary.contains("helpful: tie"), "{summary}");
        assert_eq!(page["entries"][0]["state"], "pending");
    }
    let lead = Caller::bearer(&app, Role::Lead).await;

    // The page's filters, by the same names.
    let c_name = username(&app.pool, c).await;
    let (_, only_c) = lead.get(&format!("{queue}?annotator={c_name}")).await;
    assert_eq!(ids(&only_c["entries"]), [one]);
    let (_, severe) = lead
        .get(&format!("{queue}?severity=2&category=Violence"))
        .await;
    assert_eq!(severe["total"], 1, "{severe}");
    let (_, none) = lead.get(&format!("{queue}?status=adjudicated")).await;
    assert_eq!(none["total"], 0);
    let (_, gold) = lead.get(&format!("{queue}?reason=gold+miss")).await;
    assert_eq!(ids(&gold["entries"]), [three]);
    // Pages.
    let (_, second) = lead.get(&format!("{queue}?per_page=1&page=2")).await;
    assert_eq!(second["pages"], 3, "{second}");
    assert_eq!(second["per_page"], 1);
    assert_eq!(ids(&second["entries"]), [one]);
    // Bad values: a 400 naming the parameter.
    for (query, named) in [
        ("severity=9", "severity"),
        ("status=done", "status"),
        ("batch=x", "batch"),
        ("per_page=many", "per_page"),
        ("reason=odd", "reason"),
    ] {
        let (status, error) = lead.get(&format!("{queue}?{query}")).await;
        assert_eq!(status, 400, "{query}: {error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(named), "{query}: {message}");
    }

    // One item: what its review page shows.
    let (status, item) = lead.get(&format!("/api/v1/items/{two}/review")).await;
    assert_eq!(status, 200, "{item}");
    assert_eq!(item["item"]["id"], two.to_string());
    assert_eq!(item["item"]["responses"].as_array().unwrap().len(), 2);
    let prompt: String = sqlx::query_scalar("select prompt from items where id = $1")
        .bind(two)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(item["item"]["prompt"], prompt);
    let annotations = item["annotations"].as_array().unwrap();
    assert_eq!(annotations.len(), 2, "{item}");
    assert_eq!(annotations[0]["annotator"], username(&app.pool, a).await);
    assert_eq!(annotations[0]["valid"], true);
    assert!(annotations[0]["labels"]["responses"].is_array());
    assert!(annotations[0]["submitted_at"].is_string());
    assert_eq!(item["skips"][0]["reason"], "unclear", "{item}");
    assert_eq!(item["adjudications"], json!([]));
    assert!(item["reasons"].to_string().contains("tie on helpfulness"));

    // Annotators are refused; nonexistent things are 404s.
    let annotator = Caller::bearer(&app, Role::Annotator).await;
    let (status, error) = annotator.get(&queue).await;
    assert_eq!(
        (status, &error["error"]["code"]),
        (403, &json!("forbidden"))
    );
    let (status, _) = annotator.get(&format!("/api/v1/items/{two}/review")).await;
    assert_eq!(status, 403);
    let (status, _) = annotator.get("/api/v1/audit").await;
    assert_eq!(status, 403);

    // A members-only project the lead is no member of looks like none.
    let (_, no_project) = lead
        .get(&format!("/api/v1/projects/{}/review-queue", Uuid::new_v4()))
        .await;
    let (_, no_item) = lead
        .get(&format!("/api/v1/items/{}/review", Uuid::new_v4()))
        .await;
    db::projects::set_access(&app.pool, project.id, Access::Members)
        .await
        .unwrap();
    assert_eq!(lead.get(&queue).await, (404, no_project.clone()));
    let path = format!("/api/v1/items/{two}/review");
    assert_eq!(lead.get(&path).await, (404, no_item.clone()));
    let body = json!({"reason": "hidden"});
    let send_back = format!("/api/v1/items/{two}/send-back");
    assert_eq!(lead.post(&send_back, body).await, (404, no_item));
    // An admin sees every project.
    let admin = Caller::bearer(&app, Role::Admin).await;
    assert_eq!(admin.get(&queue).await.0, 200);
}

#[tokio::test]
async fn adjudicate_and_send_back_do_what_the_pages_do() {
    let app = TestApp::spawn().await;
    let pool = &app.pool;
    let (_, _, [one, two, _]) = disputed(&app).await;
    let lead = Caller::bearer(&app, Role::Lead).await;

    // Send back over the API, then on the page: one more annotation each,
    // audited alike.
    let (state, _, _, extra) = counters(pool, one).await;
    assert_eq!((state.as_str(), extra), ("complete", 0));
    let path = format!("/api/v1/items/{one}/send-back");
    let (status, _) = lead
        .post(&path, json!({"reason": "A's label looks wrong"}))
        .await;
    assert_eq!(status, 204);
    assert_eq!(counters(pool, one).await, ("pending".into(), 3, 0, 1));
    let (subject, api_before, api_after) = audited(pool, "item sent back").await;
    assert_eq!(subject, format!("item:{one}"));
    assert_eq!(api_after["reason"], "A's label looks wrong");
    let (page_lead, _) = app.signed_in(Role::Lead).await;
    let response = page_lead
        .post(
            &format!("/review/items/{one}/send-back"),
            &[("reason", "again")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(counters(pool, one).await.3, 2, "the page added one too");
    let (_, page_before, page_after) = audited(pool, "item sent back").await;
    assert_eq!(keys(&page_before), keys(&api_before));
    assert_eq!(keys(&page_after), keys(&api_after));

    // Adjudicate, through a session this time.
    let session = Caller::session(&app, Role::Lead).await;
    let final_labels = serde_json::to_value(labels(false, 0, 2)).unwrap();
    let path = format!("/api/v1/items/{two}/adjudicate");
    let body = json!({"labels": final_labels, "reason": "B is right"});
    assert_eq!(session.post(&path, body).await.0, 204);
    assert_eq!(counters(pool, two).await.0, "adjudicated");
    let (subject, _, after) = audited(pool, "item adjudicated").await;
    assert_eq!(subject, format!("item:{two}"));
    assert_eq!(after["labels"], final_labels);
    assert_eq!(after["reason"], "B is right");
    let (_, item) = lead.get(&format!("/api/v1/items/{two}/review")).await;
    assert_eq!(item["adjudications"][0]["reason"], "B is right", "{item}");
    assert_eq!(item["consolidated"]["adjudicated"], true);
    // The page's rule: an adjudicated item is not sent back.
    let path = format!("/api/v1/items/{two}/send-back");
    let (status, error) = lead.post(&path, json!({"reason": "x"})).await;
    assert_eq!((status, &error["error"]["code"]), (409, &json!("conflict")));

    // Bad input: a 400 naming what is wrong; nothing changes.
    let path = format!("/api/v1/items/{one}/adjudicate");
    for (body, named) in [
        (json!({"labels": final_labels}), "reason"),
        (
            json!({"labels": final_labels, "reason": "  "}),
            "give a reason",
        ),
        (
            json!({"labels": {"responses": "x"}, "reason": "r"}),
            "labels.responses",
        ),
        (
            json!({"labels": final_labels, "reason": "r", "extra": 1}),
            "extra",
        ),
    ] {
        let (status, error) = lead.post(&path, body.clone()).await;
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert_eq!(status, 400, "{body}: {error}");
        assert!(message.contains(named), "{body}: {message}");
    }
    assert_eq!(counters(pool, one).await.0, "pending");
    let annotator = Caller::bearer(&app, Role::Annotator).await;
    let body = json!({"labels": final_labels, "reason": "mine"});
    assert_eq!(annotator.post(&path, body).await.0, 403);
}

#[tokio::test]
async fn annotator_actions_do_what_the_pages_do() {
    let app = TestApp::spawn().await;
    let pool = &app.pool;
    let project = crate::import::project_with_sample(pool).await.0;
    let p = annotator(pool).await;
    label(pool, &project, p.id, &labels(true, 0, 2), 10.0).await;
    let held = p.lease(&app.base, project.id).await.expect("an item");
    let lead = Caller::bearer(&app, Role::Lead).await;
    let base = format!("/api/v1/projects/{}/annotators/{}", project.id, p.id);

    assert_eq!(
        lead.post(&format!("{base}/pause"), json!(null)).await.0,
        204
    );
    let refused = p
        .post(
            &app.base,
            &format!("/api/v1/projects/{}/lease", project.id),
            None,
        )
        .await;
    assert_eq!(refused.status(), 403, "paused");
    let (subject, api_before, api_after) = audited(pool, "annotator paused").await;
    assert_eq!(subject, format!("user:{}", p.id));
    assert_eq!(api_after["paused"], true);

    let (status, released) = lead.post(&format!("{base}/release"), json!(null)).await;
    assert_eq!((status, &released["released"]), (200, &json!(1)));
    assert_eq!(counters(pool, held.item).await.2, 0, "the slot is free");
    assert_eq!(audited(pool, "leases released").await.2["released"], 1);

    assert_eq!(
        lead.post(&format!("{base}/resume"), json!(null)).await.0,
        204
    );
    assert!(p.lease(&app.base, project.id).await.is_some());
    assert_eq!(audited(pool, "annotator resumed").await.2["paused"], false);

    // The page's pause writes the same entry.
    let (page_lead, _) = app.signed_in(Role::Lead).await;
    let page = format!("/review/projects/{}/annotators/{}/pause", project.id, p.id);
    assert_eq!(page_lead.post(&page, &[]).await.status(), 303);
    let (_, page_before, page_after) = audited(pool, "annotator paused").await;
    assert_eq!((page_before, page_after), (api_before, api_after));

    // Requeue: bad input first, then the real thing, then nothing left.
    let requeue = format!("{base}/requeue");
    for (body, named) in [
        (
            json!({"batches": [], "reason": "r"}),
            "choose at least one batch",
        ),
        (json!({"batches": "1", "reason": "r"}), "batches"),
        (json!({"batches": [1]}), "reason"),
        (json!({"batches": [1], "reason": ""}), "give a reason"),
    ] {
        let (status, error) = lead.post(&requeue, body.clone()).await;
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert_eq!(status, 400, "{body}: {error}");
        assert!(message.contains(named), "{body}: {message}");
    }
    let session = Caller::session(&app, Role::Lead).await;
    let body = json!({"batches": [1], "reason": "careless"});
    let (status, done) = session.post(&requeue, body.clone()).await;
    assert_eq!((status, &done["invalidated"]), (200, &json!(1)), "{done}");
    let (_, _, after) = audited(pool, "annotations invalidated").await;
    assert_eq!(after["reason"], "careless");
    let invalid: i64 = sqlx::query_scalar(
        "select count(*) from annotations where annotator_id = $1 and invalidated_at is not null",
    )
    .bind(p.id)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(invalid, 1);
    assert_eq!(session.post(&requeue, body).await.0, 409, "nothing left");

    // Refused to annotators, and a lead may not act on a lead.
    let annotator = Caller::bearer(&app, Role::Annotator).await;
    assert_eq!(
        annotator
            .post(&format!("{base}/pause"), json!(null))
            .await
            .0,
        403
    );
    let (other, _) = app.user(Role::Lead).await;
    let other: Uuid = sqlx::query_scalar("select id from users where username = $1")
        .bind(&other)
        .fetch_one(pool)
        .await
        .unwrap();
    let path = format!("/api/v1/projects/{}/annotators/{other}/pause", project.id);
    assert_eq!(lead.post(&path, json!(null)).await.0, 403);
}

#[tokio::test]
async fn the_audit_log_pages_and_filters_as_the_page() {
    let app = TestApp::spawn().await;
    let (_, _, [one, two, _]) = disputed(&app).await;
    let lead = Caller::bearer(&app, Role::Lead).await;
    for item in [one, two] {
        let path = format!("/api/v1/items/{item}/send-back");
        assert_eq!(
            lead.post(&path, json!({"reason": "look again"})).await.0,
            204
        );
    }
    let session = Caller::session(&app, Role::Lead).await;
    let (status, log) = session.get("/api/v1/audit?action=item+sent+back").await;
    assert_eq!(status, 200, "{log}");
    assert_eq!(log["total"], 2);
    assert_eq!(
        log["entries"][0]["subject"],
        format!("item:{two}"),
        "newest first"
    );
    assert_eq!(log["entries"][0]["after"]["reason"], "look again");
    assert!(
        log["entries"][0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("lead-")
    );
    let (_, of_one) = lead.get(&format!("/api/v1/audit?item={one}")).await;
    assert_eq!(of_one["total"], 1, "{of_one}");
    assert_eq!(of_one["entries"][0]["subject"], format!("item:{one}"));
    let (_, paged) = lead
        .get("/api/v1/audit?action=item+sent+back&per_page=1&page=2")
        .await;
    assert_eq!((&paged["pages"], &paged["page"]), (&json!(2), &json!(2)));
    assert_eq!(paged["entries"][0]["subject"], format!("item:{one}"));
    let (status, error) = lead.get("/api/v1/audit?page=two").await;
    assert_eq!(status, 400);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("page")
    );
}
