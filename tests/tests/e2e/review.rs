//! The lead's review: requeue (annotations invalid, not deleted; items back
//! in the queue for others; the report recomputed), pause and release,
//! send-back, the review queue's reasons and order, the review page and the
//! adjudication trail (audit before/after; the export uses the adjudicated
//! labels), the audit page, CSRF on every POST, and a lead adjudicating in
//! a real browser.

use safepref_server::db::{projects::Project, users::Role};
use safepref_server::{queue, report};
use safepref_tests::browser::{Page, TIMEOUT};
use safepref_tests::{TestApp, safepref_binary};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixtures::{label, labels};
use crate::queue::annotator;

async fn items_in_order(pool: &PgPool, project: Uuid) -> Vec<Uuid> {
    sqlx::query_scalar("select id from items where project_id = $1 order by batch_seq, seq")
        .bind(project)
        .fetch_all(pool)
        .await
        .unwrap()
}

pub(crate) async fn username(pool: &PgPool, id: Uuid) -> String {
    sqlx::query_scalar("select username from users where id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn progress(pool: &PgPool, project: Uuid) -> i64 {
    sqlx::query_scalar(
        "select coalesce(sum(complete), 0)::int8 from project_progress where project_id = $1",
    )
    .bind(project)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// (state, done, leased, extra_annotations) of an item.
pub(crate) async fn counters(pool: &PgPool, item: Uuid) -> (String, i32, i32, i32) {
    sqlx::query_as("select state::text, done, leased, extra_annotations from items where id = $1")
        .bind(item)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The newest audit entry with this action: (subject, before, after).
pub(crate) async fn audited(pool: &PgPool, action: &str) -> (String, Value, Value) {
    sqlx::query_as(
        "select subject, coalesce(before, 'null'), coalesce(after, 'null') from audit_log
          where action = $1 order by id desc limit 1",
    )
    .bind(action)
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("no audit entry {action:?}: {e}"))
}

async fn sample(app: &TestApp) -> Project {
    crate::import::project_with_sample(&app.pool).await.0
}

async fn body(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn requeue_invalidates_the_work_and_gives_the_items_to_others() {
    let app = TestApp::spawn().await;
    let project = sample(&app).await;
    let pool = &app.pool;
    let [a, b, c] = [
        annotator(pool).await.id,
        annotator(pool).await.id,
        annotator(pool).await.id,
    ];
    // Four items, each labelled by all three (the queue finishes what is started).
    let mut done = Vec::new();
    for _ in 0..4 {
        let item = label(pool, &project, a, &labels(true, 0, 2), 20.0).await;
        assert_eq!(
            label(pool, &project, b, &labels(false, 1, 2), 20.0).await,
            item
        );
        assert_eq!(
            label(pool, &project, c, &labels(false, 1, 2), 20.0).await,
            item
        );
        done.push(item);
    }
    assert_eq!(progress(pool, project.id).await, 4);
    let before = report::build(pool, &project, &Default::default())
        .await
        .unwrap();
    assert_eq!(before["annotations"], 12);
    let batch: i32 = sqlx::query_scalar("select batch_seq from items where id = $1")
        .bind(done[0])
        .fetch_one(pool)
        .await
        .unwrap();
    let a_name = username(pool, a).await;

    let (lead, _) = app.signed_in(Role::Lead).await;
    let base = format!("/review/projects/{}/annotators/{a}", project.id);
    let (status, page) = body(lead.get(&format!("{base}/requeue")).await).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("4 valid annotations"), "{page}");
    // Choosing asks for confirmation first and changes nothing.
    let batch_text = batch.to_string();
    let choose = [
        ("batch", batch_text.as_str()),
        ("reason", "clicked at random"),
    ];
    let (status, page) = body(lead.post(&format!("{base}/requeue"), &choose).await).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Are you sure?"), "{page}");
    let invalid = || async {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from annotations where annotator_id = $1 and invalidated_at is not null",
        )
        .bind(a)
        .fetch_one(pool)
        .await
        .unwrap()
    };
    assert_eq!(
        invalid().await,
        0,
        "nothing happens before the confirmation"
    );
    // No reason: refused, with the reason asked for.
    let (status, page) = body(
        lead.post(
            &format!("{base}/requeue"),
            &[("batch", batch_text.as_str()), ("confirmed", "yes")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("give a reason"), "{page}");

    let mut confirm = choose.to_vec();
    confirm.push(("confirmed", "yes"));
    let response = lead.post(&format!("{base}/requeue"), &confirm).await;
    assert_eq!(response.status(), 303);

    // Kept, marked invalid, with who and why.
    let rows: Vec<(Option<String>, bool)> = sqlx::query_as(
        "select invalid_reason, invalidated_by is not null from annotations where annotator_id = $1",
    )
    .bind(a)
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 4, "annotations are never deleted");
    assert!(
        rows.iter()
            .all(|(reason, by)| reason.as_deref() == Some("clicked at random") && *by)
    );
    for item in &done {
        assert_eq!(counters(pool, *item).await, ("pending".into(), 2, 0, 0));
    }
    assert_eq!(
        progress(pool, project.id).await,
        0,
        "project_progress kept right"
    );
    let (subject, before_json, after_json) = audited(pool, "annotations invalidated").await;
    assert_eq!(subject, format!("user:{a}"));
    assert_eq!(before_json["valid"].as_array().unwrap().len(), 4);
    assert_eq!(after_json["invalidated"].as_array().unwrap().len(), 4);
    assert_eq!(after_json["items_reopened"], 4);

    // The report no longer counts them.
    let after = report::build(pool, &project, &Default::default())
        .await
        .unwrap();
    assert_eq!(after["annotations"], 8);
    let names: Vec<&str> = after["annotators"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["annotator"].as_str())
        .collect();
    assert!(!names.contains(&a_name.as_str()), "{names:?}");

    // The items go to someone else, never back to the same annotator.
    let again = label(pool, &project, a, &labels(false, 1, 2), 20.0).await;
    assert!(
        !done.contains(&again),
        "the same person never gets the item again"
    );
    let d = annotator(pool).await.id;
    let taken = label(pool, &project, d, &labels(false, 1, 2), 20.0).await;
    assert!(
        done.contains(&taken),
        "a requeued item is next in the queue"
    );
    assert_eq!(counters(pool, taken).await, ("complete".into(), 3, 0, 0));

    // Revising an invalid annotation is refused; recent work leaves it out.
    let old: Uuid = sqlx::query_scalar(
        "select id from annotations where annotator_id = $1 and invalidated_at is not null limit 1",
    )
    .bind(a)
    .fetch_one(pool)
    .await
    .unwrap();
    let refused = queue::revise(pool, &project, a, old, &labels(true, 1, 2)).await;
    assert!(
        matches!(refused, Err(queue::QueueError::NoSuchAnnotation)),
        "{refused:?}"
    );
    let recent = queue::recent(pool, &project, a, 10).await.unwrap();
    assert_eq!(recent.len(), 1);

    // The export reads valid annotations only.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("raw.jsonl");
    let output = tokio::process::Command::new(safepref_binary())
        .args(["export", "--project", &project.name, "--format", "raw"])
        .args(["--with-usernames", "--out", out.to_str().unwrap()])
        .env("DATABASE_URL", &app.db_url)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let raw = std::fs::read_to_string(&out).unwrap();
    assert_eq!(raw.lines().count(), 10, "8 left + 2 new:\n{raw}");
    assert_eq!(
        raw.matches(&format!("\"{a_name}\"")).count(),
        1,
        "only the new one"
    );

    // The annotator page lists the invalid work, marked.
    let (status, page) = body(lead.get(&base).await).await;
    assert_eq!(status, 200);
    assert_eq!(page.matches("badge off\">invalid").count(), 4, "{page}");
}

#[tokio::test]
async fn pause_stops_leases_and_release_gives_items_back() {
    let app = TestApp::spawn().await;
    let project = sample(&app).await;
    let pool = &app.pool;
    let p = annotator(pool).await;
    let held = p.lease(&app.base, project.id).await.expect("an item");
    let (lead, _) = app.signed_in(Role::Lead).await;
    let base = format!("/review/projects/{}/annotators/{}", project.id, p.id);

    assert_eq!(lead.post(&format!("{base}/pause"), &[]).await.status(), 303);
    let response = p
        .post(
            &app.base,
            &format!("/api/v1/projects/{}/lease", project.id),
            None,
        )
        .await;
    assert_eq!(response.status(), 403);
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["error"]["code"], "paused", "{json}");
    let (_, _, after) = audited(pool, "annotator paused").await;
    assert_eq!(after["paused"], true);
    let (status, page) = body(lead.get(&base).await).await;
    assert_eq!(status, 200);
    assert!(page.contains("badge off\">paused"), "{page}");

    // Release: the held item's slot is free again.
    assert_eq!(counters(pool, held.item).await.2, 1);
    assert_eq!(
        lead.post(&format!("{base}/release"), &[]).await.status(),
        303
    );
    assert_eq!(counters(pool, held.item).await.2, 0);
    let (_, _, after) = audited(pool, "leases released").await;
    assert_eq!(after["released"], 1);

    assert_eq!(
        lead.post(&format!("{base}/resume"), &[]).await.status(),
        303
    );
    assert!(p.lease(&app.base, project.id).await.is_some());

    // Disable: confirmation first; a lead may not disable another lead.
    let (status, page) = body(lead.get(&format!("{base}/disable")).await).await;
    assert_eq!(status, 200);
    assert!(page.contains("Disable the account"), "{page}");
    assert_eq!(
        lead.post(&format!("{base}/disable"), &[]).await.status(),
        303
    );
    let disabled: bool = sqlx::query_scalar("select disabled from users where id = $1")
        .bind(p.id)
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(disabled);
    let (other, _) = app.user(Role::Lead).await;
    let other_id: Uuid = sqlx::query_scalar("select id from users where username = $1")
        .bind(&other)
        .fetch_one(pool)
        .await
        .unwrap();
    let path = format!(
        "/review/projects/{}/annotators/{other_id}/disable",
        project.id
    );
    assert_eq!(lead.post(&path, &[]).await.status(), 403);
}

/// Builds the queue scene (k = 3): item 1 split 2 to 1 (support 67%),
/// item 2 tied 1 to 1 and skipped as unclear, item 3 a gold item A gets
/// wrong. Returns (project, [a, b, c], [item1, item2, item3]).
pub(crate) async fn disputed(app: &TestApp) -> (Project, [Uuid; 3], [Uuid; 3]) {
    let project = sample(app).await;
    let pool = &app.pool;
    let items = items_in_order(pool, project.id).await;
    let gold = serde_json::to_string(&labels(true, 0, 2)).unwrap();
    sqlx::query("update items set gold = $2::json where id = $1")
        .bind(items[2])
        .bind(gold)
        .execute(pool)
        .await
        .unwrap();
    let [a, b, c] = [
        annotator(pool).await.id,
        annotator(pool).await.id,
        annotator(pool).await.id,
    ];
    let one = label(pool, &project, a, &labels(true, 0, 2), 20.0).await;
    assert_eq!(
        label(pool, &project, b, &labels(false, 0, 2), 20.0).await,
        one
    );
    assert_eq!(
        label(pool, &project, c, &labels(false, 0, 2), 20.0).await,
        one
    );
    let two = label(pool, &project, a, &labels(false, 0, 2), 20.0).await;
    assert_eq!(
        label(pool, &project, b, &labels(false, 1, 2), 20.0).await,
        two
    );
    let three = label(pool, &project, a, &labels(false, 0, 2), 20.0).await;
    assert_eq!(
        [one, two, three],
        [items[0], items[1], items[2]],
        "queue order"
    );
    let d = annotator(pool).await.id;
    let lease = queue::lease(pool, &project, d).await.unwrap().unwrap();
    assert_eq!(lease.item.id, two);
    queue::skip(
        pool,
        &project,
        d,
        lease.assignment_id,
        queue::SkipReason::Unclear,
        None,
    )
    .await
    .unwrap();
    (project, [a, b, c], [one, two, three])
}

#[tokio::test]
async fn the_review_queue_lists_reasons_most_disputed_first() {
    let app = TestApp::spawn().await;
    let (project, [a, _, c], [one, two, three]) = disputed(&app).await;
    let (lead, _) = app.signed_in(Role::Lead).await;
    let queue_path = format!("/review/projects/{}/queue", project.id);
    let (status, page) = body(lead.get(&queue_path).await).await;
    assert_eq!(status, 200, "{page}");
    let at = |item: Uuid| {
        page.find(&format!("/review/items/{item}"))
            .unwrap_or_else(|| panic!("{item} is not in the queue:\n{page}"))
    };
    assert!(
        at(two) < at(one) && at(one) < at(three),
        "ordered by support"
    );
    for reason in [
        "tie on helpfulness",
        "skipped as unclear (1)",
        "low support on responses[0].safe (67%)",
        "gold miss by",
    ] {
        assert!(page.contains(reason), "{reason:?} missing:\n{page}");
    }
    let rows = page.matches("class=\"review-link\"").count();
    assert_eq!(rows, 3, "items with full agreement are not listed");

    // Filters, in the query string.
    let c_name = username(&app.pool, c).await;
    let (_, only_c) = body(lead.get(&format!("{queue_path}?annotator={c_name}")).await).await;
    assert_eq!(
        only_c.matches("class=\"review-link\"").count(),
        1,
        "{only_c}"
    );
    assert!(only_c.contains(&format!("/review/items/{one}")));
    let (_, severe) = body(
        lead.get(&format!("{queue_path}?severity=2&category=Violence"))
            .await,
    )
    .await;
    assert_eq!(
        severe.matches("class=\"review-link\"").count(),
        1,
        "{severe}"
    );
    let (_, none) = body(lead.get(&format!("{queue_path}?status=adjudicated")).await).await;
    assert_eq!(none.matches("class=\"review-link\"").count(), 0);
    let (status, bad) = body(lead.get(&format!("{queue_path}?severity=9")).await).await;
    assert_eq!(status, 400);
    assert!(bad.contains("severity must be"), "{bad}");
    // Pagination keeps the filters.
    let (_, paged) = body(
        lead.get(&format!("{queue_path}?status=pending&page=1"))
            .await,
    )
    .await;
    assert!(paged.contains("review-link"), "{paged}");

    // A change reaches the queue on the next view (the stored reasons of
    // the items that changed are recomputed): A revises item 1 to agree
    // with B and C, and it leaves the queue.
    let a_on_one: Uuid =
        sqlx::query_scalar("select id from annotations where item_id = $1 and annotator_id = $2")
            .bind(one)
            .bind(a)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    queue::revise(&app.pool, &project, a, a_on_one, &labels(false, 0, 2))
        .await
        .unwrap();
    let (_, page) = body(lead.get(&queue_path).await).await;
    assert!(!page.contains(&format!("/review/items/{one}")), "{page}");
    assert_eq!(page.matches("class=\"review-link\"").count(), 2, "{page}");
}

#[tokio::test]
async fn adjudication_is_audited_and_wins_in_the_export() {
    let app = TestApp::spawn().await;
    let (project, _, [_, two, _]) = disputed(&app).await;
    let pool = &app.pool;
    // Hostile text is data: shown as text.
    sqlx::query("update items set prompt = $2 where id = $1")
        .bind(two)
        .bind("<script>alert('x')</script> how do I?")
        .execute(pool)
        .await
        .unwrap();
    let (lead, _) = app.signed_in(Role::Lead).await;
    let path = format!("/review/items/{two}");
    let (status, page) = body(lead.get(&path).await).await;
    assert_eq!(status, 200, "{page}");
    assert!(!page.contains("<script>alert"), "escaped");
    assert!(page.contains("&#60;script&#62;alert"), "{page}");
    assert!(page.contains("tie on helpfulness"));
    assert!(
        page.contains("Source labels"),
        "the PKU record's labels are shown"
    );
    let progress_before = progress(pool, project.id).await;

    // A label rule broken: refused, said next to the form, nothing stored.
    let broken = [
        ("r0_safe", "unsafe"),
        ("r0_severity", "2"),
        ("r1_safe", "safe"),
        ("helpful", "1"),
        ("harmless", "1"),
        ("reason", "x"),
    ];
    let (status, page) = body(lead.post(&format!("{path}/adjudicate"), &broken).await).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("Not saved"), "{page}");
    let count = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from adjudications where item_id = $1")
            .bind(two)
            .fetch_one(pool)
            .await
            .unwrap()
    };
    assert_eq!(count().await, 0);

    let good = [
        ("r0_safe", "unsafe"),
        ("r0_severity", "2"),
        ("r0_cat", "Violence"),
        ("r1_safe", "safe"),
        ("helpful", "1"),
        ("harmless", "1"),
        ("reason", "A instructs violence; B is the better answer"),
    ];
    let response = lead.post(&format!("{path}/adjudicate"), &good).await;
    assert_eq!(response.status(), 303);
    assert_eq!(count().await, 1);
    assert_eq!(counters(pool, two).await.0, "adjudicated");
    assert_eq!(progress(pool, project.id).await, progress_before + 1);
    let (subject, before, after) = audited(pool, "item adjudicated").await;
    assert_eq!(subject, format!("item:{two}"));
    assert_eq!(before["source"], "consolidation");
    assert_eq!(before["labels"], Value::Null, "a tie has no labels");
    assert_eq!(after["labels"]["helpfulness"], serde_json::json!([1, 0]));
    assert_eq!(
        after["reason"],
        "A instructs violence; B is the better answer"
    );

    // A second adjudication records the first as its before.
    let mut again = good.to_vec();
    again.retain(|(k, _)| *k != "reason");
    again.push(("reason", "second look"));
    assert_eq!(
        lead.post(&format!("{path}/adjudicate"), &again)
            .await
            .status(),
        303
    );
    let (_, before, _) = audited(pool, "item adjudicated").await;
    assert_eq!(before["source"], "adjudication");
    assert_eq!(progress(pool, project.id).await, progress_before + 1);

    // The export uses the adjudicated labels.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pku.jsonl");
    let output = tokio::process::Command::new(safepref_binary())
        .args(["export", "--project", &project.name, "--format", "pku"])
        .args(["--adjudicated-only", "--out", out.to_str().unwrap()])
        .env("DATABASE_URL", &app.db_url)
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = std::fs::read_to_string(&out).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "{text}");
    assert_eq!(
        records[0]["prompt"],
        "<script>alert('x')</script> how do I?"
    );
    assert_eq!(records[0]["is_response_0_safe"], false);
    assert_eq!(records[0]["better_response_id"], 1);
    assert_eq!(records[0]["response_0_severity_level"], 2);

    // Sending back an adjudicated item is refused with a reason.
    let (status, page) = body(
        lead.post(&format!("{path}/send-back"), &[("reason", "more eyes")])
            .await,
    )
    .await;
    assert_eq!(status, 409);
    assert!(page.contains("adjudicate it again"), "{page}");

    // The audit page finds it by item and action; annotators may not look.
    let audit = format!("/review/audit?item={two}&action=item+adjudicated");
    let (status, page) = body(lead.get(&audit).await).await;
    assert_eq!(status, 200);
    assert_eq!(
        page.matches("<td>item adjudicated</td>").count(),
        2,
        "{page}"
    );
    assert!(page.contains("second look"));
    let (annotator_browser, _) = app.signed_in(Role::Annotator).await;
    assert_eq!(annotator_browser.get(&audit).await.status(), 403);
}

#[tokio::test]
async fn send_back_allows_one_more_annotation_then_completes_again() {
    let app = TestApp::spawn().await;
    let (project, _, [one, _, _]) = disputed(&app).await;
    let pool = &app.pool;
    assert_eq!(counters(pool, one).await, ("complete".into(), 3, 0, 0));
    let progress_before = progress(pool, project.id).await;
    let (lead, _) = app.signed_in(Role::Lead).await;
    let path = format!("/review/items/{one}/send-back");
    let (status, page) = body(lead.post(&path, &[("reason", " ")]).await).await;
    assert_eq!(status, 400, "a reason is required");
    assert!(page.contains("give a reason"), "{page}");
    assert_eq!(
        lead.post(&path, &[("reason", "split vote")]).await.status(),
        303
    );
    assert_eq!(counters(pool, one).await, ("pending".into(), 3, 0, 1));
    assert_eq!(progress(pool, project.id).await, progress_before - 1);
    let (subject, before, after) = audited(pool, "item sent back").await;
    assert_eq!(subject, format!("item:{one}"));
    assert_eq!(before["wanted"], 3);
    assert_eq!(after["counters"]["wanted"], 4);

    // One more annotator gets it (closest to done first), then nobody else.
    let e = annotator(pool).await.id;
    assert_eq!(
        label(pool, &project, e, &labels(false, 0, 2), 20.0).await,
        one
    );
    assert_eq!(counters(pool, one).await, ("complete".into(), 4, 0, 1));
    assert_eq!(progress(pool, project.id).await, progress_before);
    let f = annotator(pool).await.id;
    assert_ne!(
        label(pool, &project, f, &labels(false, 0, 2), 20.0).await,
        one
    );
}

/// Every POST of the review area refuses a form without the session's
/// CSRF token and changes nothing.
#[tokio::test]
async fn every_review_post_needs_the_csrf_token() {
    let app = TestApp::spawn().await;
    let (project, [a, _, _], [one, two, _]) = disputed(&app).await;
    let (lead, _) = app.signed_in(Role::Lead).await;
    let who = format!("/review/projects/{}/annotators/{a}", project.id);
    let batch: i32 = sqlx::query_scalar("select batch_seq from items where id = $1")
        .bind(one)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let batch = batch.to_string();
    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (format!("{who}/pause"), vec![]),
        (format!("{who}/resume"), vec![]),
        (format!("{who}/release"), vec![]),
        (format!("{who}/disable"), vec![]),
        (
            format!("{who}/requeue"),
            vec![("batch", &batch), ("reason", "r"), ("confirmed", "yes")],
        ),
        (
            format!("/review/items/{two}/adjudicate"),
            vec![
                ("r0_safe", "safe"),
                ("r1_safe", "safe"),
                ("helpful", "0"),
                ("harmless", "0"),
                ("reason", "r"),
            ],
        ),
        (
            format!("/review/items/{one}/send-back"),
            vec![("reason", "r")],
        ),
    ];
    let audit_rows = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from audit_log")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    let before = audit_rows().await;
    for (path, fields) in &posts {
        let response = lead.post_raw(path, fields).await;
        assert_eq!(response.status(), 403, "POST {path} without a token");
    }
    assert_eq!(audit_rows().await, before, "nothing changed");
    let paused: bool = sqlx::query_scalar("select exists (select 1 from paused_annotators)")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(!paused);
}

/// A lead opens the review queue, opens the tied item and adjudicates it
/// in headless Chromium.
#[tokio::test]
async fn a_lead_adjudicates_an_item_in_the_browser() {
    let app = TestApp::spawn().await;
    let (project, _, [_, two, _]) = disputed(&app).await;
    let (lead, password) = app.user(Role::Lead).await;
    let page = Page::start().await;
    page.sign_in(&app.base, &lead, &password).await;
    page.goto(&app.url(&format!("/review/projects/{}/queue", project.id)))
        .await;
    page.click(&format!("a[href='/review/items/{two}']")).await;
    page.wait_for_path(&format!("/review/items/{two}"), TIMEOUT)
        .await;
    assert!(
        page.text_of("#reasons")
            .await
            .contains("tie on helpfulness")
    );
    page.click("#r0-unsafe").await;
    page.click("#r0-sev2").await;
    page.click("input[name=r0_cat][value=Violence]").await;
    page.click("#r1-safe").await;
    page.click("#helpful-1").await;
    page.click("#harmless-1").await;
    page.type_into("#adjudicate-reason", "B is better and safer")
        .await;
    page.click("#adjudicate-submit").await;
    page.wait_for_path(&format!("/review/items/{two}?done=adjudicated"), TIMEOUT)
        .await;
    assert_eq!(page.text_of("#item-state").await, "adjudicated");
    page.close().await;
    assert_eq!(counters(&app.pool, two).await.0, "adjudicated");
}
