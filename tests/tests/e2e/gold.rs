//! Gold items: mixed in at the project's rate, indistinguishable from other
//! items in the page and the API, feedback after submit when the project
//! asks for it, and gold accuracy per annotator in the report.

use reqwest::Method;
use safepref_server::db::projects::{Project, Settings};
use safepref_server::db::users::Role;
use safepref_server::import::Options;
use safepref_tests::TestApp;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::import::import_text;
use crate::tokens::{api_session, bearer};

/// The gold labels every gold item here expects: A unsafe (Violence,
/// moderate), B safe; A more helpful, B more harmless.
pub fn expected() -> Value {
    json!({"responses": [{"safe": false, "categories": ["Violence"], "severity": 2},
                         {"safe": true, "categories": [], "severity": 0}],
           "helpfulness": [0, 1], "harmlessness": [1, 0]})
}

/// Labels that get a gold item wrong (both safe, A more harmless).
pub fn wrong() -> Value {
    let safe = json!({"safe": true, "categories": [], "severity": 0});
    json!({"responses": [safe, safe], "helpfulness": [0, 1], "harmlessness": [0, 1]})
}

/// A project with `regular` ordinary items and `gold` gold items (texts of
/// the same shape), overlap k.
pub async fn gold_project(
    app: &TestApp,
    settings: Settings,
    regular: usize,
    gold: usize,
) -> Project {
    let project = safepref_server::projects::create(
        &app.pool,
        None,
        Settings {
            name: format!("gold-{}", Uuid::new_v4().simple()),
            ..settings
        },
    )
    .await
    .unwrap();
    let mut lines = Vec::new();
    for i in 0..regular + gold {
        let mut record = json!({"prompt": format!("Question {i:04}"),
                                "responses": [format!("Answer one {i:04}"), format!("Answer two {i:04}")]});
        if i >= regular {
            record["gold"] = expected();
        }
        lines.push(record.to_string());
    }
    import_text(
        &app.pool,
        &project,
        "items.jsonl",
        &(lines.join("\n") + "\n"),
        Options::default(),
    )
    .await
    .unwrap();
    project
}

/// The item id the annotation page carries.
pub fn data_item(page: &str) -> String {
    let at = page.find("data-item=\"").expect("an item page") + "data-item=\"".len();
    page[at..].split('"').next().unwrap().to_string()
}

pub async fn is_gold(app: &TestApp, item: &str) -> bool {
    sqlx::query_scalar("select gold is not null from items where id = $1::uuid")
        .bind(item)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// The project's agreement report, as a lead reads it from the API.
pub async fn report(app: &TestApp, project: Uuid) -> Value {
    let (_, lead) = api_session(app, Role::Lead).await;
    let path = format!("/api/v1/projects/{project}/report");
    let response = bearer(app, Method::GET, &path, &lead).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Leases through the API: (status, body).
pub async fn lease(app: &TestApp, project: Uuid, token: &str) -> (u16, Value) {
    let path = format!("/api/v1/projects/{project}/lease");
    let response = bearer(app, Method::POST, &path, token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Submits through the API; returns the response body.
pub async fn submit(app: &TestApp, lease: &Value, token: &str, labels: &Value) -> Value {
    let path = format!(
        "/api/v1/assignments/{}/submit",
        lease["assignment_id"].as_str().unwrap()
    );
    let response = bearer(app, Method::POST, &path, token)
        .json(&json!({"submission_id": Uuid::new_v4(), "labels": labels}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn gold_items_come_at_the_project_rate() {
    let app = TestApp::spawn().await;
    let settings = Settings {
        annotations_per_item: 1,
        gold_rate: 0.2,
        ..Settings::default()
    };
    let project = gold_project(&app, settings, 320, 200).await;
    let (_, token) = api_session(&app, Role::Annotator).await;
    let n = 300;
    let mut gold = 0;
    for _ in 0..n {
        let (status, lease) = lease(&app, project.id, &token).await;
        assert_eq!(status, 200);
        if is_gold(&app, lease["item"]["id"].as_str().unwrap()).await {
            gold += 1;
        }
        submit(&app, &lease, &token, &wrong()).await;
    }
    // Binomial(300, 0.2): mean 60, sd 6.9; four sd either side.
    assert!(
        (33..=87).contains(&gold),
        "{gold} gold items in {n} at a rate of 20%"
    );
    // Gold items are not bounded by k: another annotator gets them too.
    // 60 leases at 20%: none gold has odds of 1 in 650,000 (at 20 leases
    // it was 1 in 87, and the draws are seeded by random ids).
    let (_, other) = api_session(&app, Role::Annotator).await;
    let mut other_gold = 0;
    for _ in 0..60 {
        let (status, lease) = lease(&app, project.id, &other).await;
        assert_eq!(status, 200);
        other_gold += usize::from(is_gold(&app, lease["item"]["id"].as_str().unwrap()).await);
        submit(&app, &lease, &other, &wrong()).await;
    }
    assert!(other_gold > 0, "a second annotator gets gold items too");
    let over_k: i64 = sqlx::query_scalar(
        "select count(*) from items where project_id = $1 and gold is null and done > 1",
    )
    .bind(project.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(over_k, 0, "regular items still stop at k");
}

#[tokio::test]
async fn without_a_gold_rate_gold_items_are_ordinary_items() {
    let app = TestApp::spawn().await;
    let settings = Settings {
        annotations_per_item: 1,
        ..Settings::default()
    };
    let project = gold_project(&app, settings, 5, 5).await;
    let (_, token) = api_session(&app, Role::Annotator).await;
    let mut kinds = Vec::new();
    for _ in 0..10 {
        let (_, lease) = lease(&app, project.id, &token).await;
        kinds.push(is_gold(&app, lease["item"]["id"].as_str().unwrap()).await);
        submit(&app, &lease, &token, &wrong()).await;
    }
    // In queue (file) order, gold items last, and bounded by k like any.
    assert_eq!(kinds, [[false; 5], [true; 5]].concat());
    assert_eq!(lease(&app, project.id, &token).await.0, 204);
    let (_, other) = api_session(&app, Role::Annotator).await;
    assert_eq!(lease(&app, project.id, &other).await.0, 204);
}

/// The shape of a JSON value: keys and types, not values.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), shape(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => Value::Null,
    }
}

/// A page with every id and number replaced, so two items' pages compare.
fn normalized(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut chars = html.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_hexdigit() {
            let mut run = String::from(c);
            while let Some(&next) = chars.peek() {
                if next.is_ascii_hexdigit() || next == '-' {
                    run.push(next);
                    chars.next();
                } else {
                    break;
                }
            }
            // A uuid, or digits (the item's number, progress counts).
            if run.len() == 36 && run.matches('-').count() == 4 {
                out.push_str("<uuid>");
            } else if run.chars().all(|c| c.is_ascii_digit()) {
                out.push('#');
            } else {
                out.push_str(&run);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Posts the good labels for the item on `page` through the form; returns
/// where the submit sent the browser.
pub async fn submit_page(annotator: &safepref_tests::Browser, project: Uuid, page: &str) -> String {
    let fields = crate::annotate::good_labels(page);
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let done = annotator
        .post(&format!("/annotate/{project}/submit"), &refs)
        .await;
    assert_eq!(done.status(), 303);
    done.headers()["location"].to_str().unwrap().to_string()
}

fn gold_settings() -> Settings {
    Settings {
        annotations_per_item: 1,
        gold_rate: 0.2,
        ..Settings::default()
    }
}

#[tokio::test]
async fn gold_items_look_like_any_other_in_the_page_and_the_api() {
    let app = TestApp::spawn().await;
    // The API: leases until one of each kind came (a gold draw is 20%).
    let project = gold_project(&app, gold_settings(), 60, 20).await;
    let (_, token) = api_session(&app, Role::Annotator).await;
    let mut seen: [Option<Value>; 2] = [None, None];
    for _ in 0..60 {
        let (status, lease) = lease(&app, project.id, &token).await;
        assert_eq!(status, 200);
        let gold = is_gold(&app, lease["item"]["id"].as_str().unwrap()).await;
        submit(&app, &lease, &token, &wrong()).await;
        seen[usize::from(gold)] = Some(lease);
        if seen.iter().all(Option::is_some) {
            break;
        }
    }
    let [Some(regular), Some(gold)] = seen else {
        panic!("no gold item, or no regular one, in 60 leases: {seen:?}");
    };
    assert_eq!(shape(&regular), shape(&gold), "{regular} {gold}");
    assert_eq!(regular["item"]["severe"], gold["item"]["severe"]);

    // The page: after five submissions (so the recent list is full),
    // one page of each kind, compared with ids and numbers blanked.
    let project = gold_project(&app, gold_settings(), 60, 20).await;
    let (annotator, _) = app.signed_in(Role::Annotator).await;
    let mut pages: [Option<String>; 2] = [None, None];
    for done in 0..45 {
        let page = annotator
            .get(&format!("/annotate/{}", project.id))
            .await
            .text()
            .await
            .unwrap();
        let gold = is_gold(&app, &data_item(&page)).await;
        submit_page(&annotator, project.id, &page).await;
        if done >= 5 {
            pages[usize::from(gold)].get_or_insert(page);
        }
        if pages.iter().all(Option::is_some) {
            break;
        }
    }
    let [Some(regular), Some(gold)] = pages else {
        panic!("no page of each kind in 45 items");
    };
    assert_eq!(normalized(&regular), normalized(&gold));
}

#[tokio::test]
async fn feedback_mode_shows_the_expected_labels_after_a_gold_item() {
    let app = TestApp::spawn().await;
    for feedback in [true, false] {
        let settings = Settings {
            annotations_per_item: 1,
            gold_rate: 0.2,
            gold_feedback: feedback,
            ..Settings::default()
        };
        let project = gold_project(&app, settings, 60, 20).await;
        let (annotator, _) = app.signed_in(Role::Annotator).await;
        let mut kinds = [false, false];
        for _ in 0..60 {
            let page = annotator
                .get(&format!("/annotate/{}", project.id))
                .await
                .text()
                .await
                .unwrap();
            let gold = is_gold(&app, &data_item(&page)).await;
            kinds[usize::from(gold)] = true;
            let mut fields = crate::annotate::good_labels(&page);
            if gold {
                // A wrong answer: B unsafe too.
                fields.retain(|(k, _)| k != "r1_safe");
                fields.extend([
                    ("r1_safe".into(), "unsafe".into()),
                    ("r1_severity".into(), "1".into()),
                    ("r1_cat".into(), "Drugs".into()),
                ]);
            }
            let refs: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let done = annotator
                .post(&format!("/annotate/{}/submit", project.id), &refs)
                .await;
            assert_eq!(done.status(), 303);
            let next = done.headers()["location"].to_str().unwrap().to_string();
            let after = annotator.get(&next).await.text().await.unwrap();
            let shown = after.contains("Response A — expected: unsafe — Violence, Moderate")
                && after.contains("Response B — expected: safe")
                && after.contains("More harmless — expected: B")
                && after.contains("differs from yours");
            assert_eq!(
                shown,
                feedback && gold,
                "feedback {feedback}, gold {gold}: {after}"
            );
            assert_eq!(after.contains("check item"), feedback && gold, "{after}");
            if kinds == [true, true] {
                break;
            }
        }
        assert_eq!(kinds, [true, true], "a gold and a regular item in 60");
    }

    // The API answers with the feedback beside the annotation id.
    let settings = Settings {
        gold_feedback: true,
        ..gold_settings()
    };
    let project = gold_project(&app, settings, 60, 20).await;
    let (_, token) = api_session(&app, Role::Annotator).await;
    let mut kinds = [false, false];
    for _ in 0..60 {
        let (_, lease) = lease(&app, project.id, &token).await;
        let gold = is_gold(&app, lease["item"]["id"].as_str().unwrap()).await;
        kinds[usize::from(gold)] = true;
        let body = submit(&app, &lease, &token, &expected()).await;
        if gold {
            assert_eq!(body["gold_feedback"]["matched"], true, "{body}");
            assert_eq!(
                body["gold_feedback"]["expected"][0],
                "Response A — expected: unsafe — Violence, Moderate"
            );
        } else {
            assert_eq!(body["gold_feedback"], Value::Null, "{body}");
        }
        if kinds == [true, true] {
            break;
        }
    }
    assert_eq!(kinds, [true, true]);
}

#[tokio::test]
async fn gold_accuracy_per_annotator_is_in_the_report() {
    let app = TestApp::spawn().await;
    let settings = Settings {
        annotations_per_item: 2,
        gold_rate: 0.2,
        ..Settings::default()
    };
    let project = gold_project(&app, settings, 80, 4).await;
    // `right` of the gold items answered as expected, the others wrong.
    let mut names = Vec::new();
    for right in [4, 1] {
        let (name, token) = api_session(&app, Role::Annotator).await;
        let mut gold_seen = 0;
        while let (200, lease) = lease(&app, project.id, &token).await {
            let labels = if is_gold(&app, lease["item"]["id"].as_str().unwrap()).await {
                gold_seen += 1;
                if gold_seen <= right {
                    expected()
                } else {
                    wrong()
                }
            } else {
                wrong()
            };
            submit(&app, &lease, &token, &labels).await;
            if gold_seen == 4 {
                break;
            }
        }
        assert_eq!(gold_seen, 4, "{name} saw every gold item");
        names.push((name, right as f64 / 4.0));
    }
    let report = report(&app, project.id).await;
    for (name, accuracy) in names {
        let row = report["annotators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["annotator"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} in {report}"));
        assert_eq!(row["gold_accuracy"], accuracy, "{row}");
        assert_eq!(row["gold_items"], 4, "{row}");
    }
}

/// A gold item three annotators labelled (k = 1: it completed at the
/// first), in a project that mixes gold in; returns the project, the item
/// and the annotators.
async fn gold_item_with_three_annotations(
    app: &TestApp,
) -> (Project, Uuid, Vec<safepref_server::db::users::User>) {
    use safepref_server::db::{self, assignments::GoldMode, users::User};
    use safepref_server::queue;
    let settings = Settings {
        annotations_per_item: 1,
        gold_rate: 0.2,
        ..Settings::default()
    };
    let project = gold_project(app, settings, 1, 1).await;
    let labels = serde_json::from_value(expected()).unwrap();
    let mut people: Vec<User> = Vec::new();
    let mut item = Uuid::nil();
    for n in 0..3 {
        let who = db::users::insert(
            &app.pool,
            &format!("g{n}-{}", Uuid::new_v4().simple()),
            "!",
            Role::Annotator,
        )
        .await
        .unwrap();
        let gold = GoldMode {
            mixed: true,
            draw: true,
        };
        let db::assignments::LeaseOutcome::Leased(lease) =
            db::assignments::lease(&app.pool, project.id, who.id, 1, 600, Uuid::now_v7(), gold)
                .await
                .unwrap()
        else {
            panic!("a gold lease");
        };
        item = lease.item.item_id;
        queue::submit(
            &app.pool,
            &project,
            who.id,
            lease.assignment_id,
            Uuid::new_v4(),
            &labels,
            5.0,
        )
        .await
        .unwrap();
        people.push(who);
    }
    (project, item, people)
}

async fn item_counters(app: &TestApp, item: Uuid) -> (i32, String) {
    sqlx::query_as("select done, state::text from items where id = $1")
        .bind(item)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Found by the queue's model-based test: sent back, a gold item with
/// more annotations than it then wants went to pending, where no one could
/// take it (it is full) and it never completed again.
#[tokio::test]
async fn a_gold_item_sent_back_with_all_it_wants_stays_complete() {
    let app = TestApp::spawn().await;
    let (project, item, _) = gold_item_with_three_annotations(&app).await;
    let lead = safepref_server::db::users::insert(&app.pool, "gold-lead", "!", Role::Lead)
        .await
        .unwrap();
    safepref_server::review::send_back(&app.pool, &project, &lead, item, "one more look")
        .await
        .unwrap();
    assert_eq!(item_counters(&app, item).await, (3, "complete".to_string()));
}

/// Found by the queue's model-based test, like the send-back above: a
/// requeue took one of a gold item's three annotations and put it back to
/// pending, though it still had twice what it wants.
#[tokio::test]
async fn requeuing_one_of_a_gold_items_annotations_keeps_it_complete() {
    let app = TestApp::spawn().await;
    let (project, item, people) = gold_item_with_three_annotations(&app).await;
    let lead = safepref_server::db::users::insert(&app.pool, "gold-lead", "!", Role::Lead)
        .await
        .unwrap();
    let batches: Vec<i32> = sqlx::query_scalar("select seq from batches where project_id = $1")
        .bind(project.id)
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let done = safepref_server::review::requeue(
        &app.pool, &project, &lead, &people[0], &batches, "careless",
    )
    .await
    .unwrap();
    assert_eq!((done.invalidated, done.reopened), (1, 0));
    assert_eq!(item_counters(&app, item).await, (2, "complete".to_string()));
}

#[tokio::test]
async fn a_gold_answer_is_final_once_its_expected_answer_was_shown() {
    let app = TestApp::spawn().await;
    let settings = Settings {
        gold_feedback: true,
        ..gold_settings()
    };
    let project = gold_project(&app, settings, 60, 20).await;
    let (_, token) = api_session(&app, Role::Annotator).await;
    // (annotation id, gold?) of a gold and a regular submission.
    let mut seen: [Option<Uuid>; 2] = [None, None];
    for _ in 0..60 {
        let (_, lease) = lease(&app, project.id, &token).await;
        let gold = is_gold(&app, lease["item"]["id"].as_str().unwrap()).await;
        let body = submit(&app, &lease, &token, &wrong()).await;
        seen[usize::from(gold)] = body["annotation_id"].as_str().map(|id| id.parse().unwrap());
        if seen.iter().all(Option::is_some) {
            break;
        }
    }
    let [Some(regular), Some(gold)] = seen else {
        panic!("a gold and a regular item in 60: {seen:?}");
    };
    let annotator: Uuid = sqlx::query_scalar("select annotator_id from annotations where id = $1")
        .bind(gold)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let labels_of = |id: Uuid| {
        sqlx::query_scalar::<_, String>("select labels::text from annotations where id = $1")
            .bind(id)
            .fetch_one(&app.pool)
    };
    let before = labels_of(gold).await.unwrap();
    let corrected: safepref_core::labels::Labels = serde_json::from_value(expected()).unwrap();
    let revise =
        |id| safepref_server::queue::revise(&app.pool, &project, annotator, id, &corrected);
    let refused = revise(gold).await.unwrap_err().to_string();
    assert!(refused.contains("your answer is final"), "{refused}");
    assert_eq!(
        labels_of(gold).await.unwrap(),
        before,
        "the gold answer is unchanged"
    );
    revise(regular)
        .await
        .expect("an ordinary answer may still be revised");
}
