//! Machine suggestions: coming in with an import (two sources), a side file
//! and the API; what annotators see of them in each display mode (pre-fill
//! in Chromium too) and the mode recorded with every annotation; and the
//! routing rule, which saves annotations exactly where it says and keeps
//! the queue invariants.

use reqwest::Method;
use safepref_core::suggestions::{Display, Policy, Routing};
use safepref_server::db::projects::{Project, Settings, Wellbeing};
use safepref_server::db::users::Role;
use safepref_server::import::Options;
use safepref_tests::TestApp;
use safepref_tests::browser::{Key, Page, TIMEOUT};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::gold::{expected, lease, submit, wrong};
use crate::import::import_text;
use crate::tokens::{api_session, bearer};

const MODEL: &str = "beaver-dam-7b";
const OTHER: &str = "gpt-4o-2024-08-06";

/// A confident suggestion of `labels` (every compared field scored `score`).
fn suggestion(source: &str, labels: &Value, score: f64) -> Value {
    json!({"source": source, "labels": labels,
           "scores": {"responses": [{"safe": score}, {"safe": score}],
                      "helpfulness": score, "harmlessness": score}})
}

/// A project of `n` items (ids "item-0" …), where `suggest(i)` gives item
/// i's suggestions; no blur or breaks, so pages are plain.
async fn project_with(
    app: &TestApp,
    policy: Policy,
    k: i32,
    n: usize,
    suggest: impl Fn(usize) -> Vec<Value>,
) -> Project {
    let settings = Settings {
        name: format!("suggest-{}", Uuid::new_v4().simple()),
        annotations_per_item: k,
        suggestions: policy,
        wellbeing: Wellbeing {
            blur_responses: false,
            content_note_for_severe: false,
            break_every_items: None,
            break_every_minutes: None,
            daily_cap: None,
        },
        ..Settings::default()
    };
    let project = safepref_server::projects::create(&app.pool, None, settings)
        .await
        .unwrap();
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let mut record = json!({"id": format!("item-{i}"), "prompt": format!("Question {i:03}"),
                                    "responses": [format!("Answer one {i}"), format!("Answer two {i}")]});
            let given = suggest(i);
            if !given.is_empty() {
                record["suggestions"] = Value::Array(given);
            }
            record.to_string()
        })
        .collect();
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

async fn item_id(app: &TestApp, project: &Project, external: &str) -> Uuid {
    sqlx::query_scalar("select id from items where project_id = $1 and external_id = $2")
        .bind(project.id)
        .bind(external)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// (source, labels) stored for an item, by source.
async fn stored(app: &TestApp, item: Uuid) -> Vec<(String, Value)> {
    sqlx::query_as("select source, labels from suggestions where item_id = $1 order by source")
        .bind(item)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn suggestions_come_with_an_import_from_two_sources_and_through_the_api() {
    let app = TestApp::spawn().await;
    let project = project_with(&app, Policy::default(), 3, 3, |i| match i {
        0 => vec![
            suggestion(MODEL, &expected(), 0.9),
            json!({"source": OTHER, "labels": wrong()}),
        ],
        1 => vec![suggestion(MODEL, &wrong(), 0.4)],
        _ => vec![],
    })
    .await;
    let first = item_id(&app, &project, "item-0").await;
    let second = item_id(&app, &project, "item-1").await;
    let third = item_id(&app, &project, "item-2").await;
    let with_labels = |v: Value| {
        let mut v = v;
        v["responses"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .for_each(|r| {
                r.as_object_mut()
                    .unwrap()
                    .entry("categories")
                    .or_insert(json!([]));
            });
        v
    };
    assert_eq!(
        stored(&app, first).await,
        [
            (MODEL.to_string(), with_labels(expected())),
            (OTHER.to_string(), with_labels(wrong()))
        ]
    );
    assert_eq!(stored(&app, second).await.len(), 1);
    assert!(stored(&app, third).await.is_empty());

    // The API: a lead reads them; an admin adds and replaces one.
    let (_, lead) = api_session(&app, Role::Lead).await;
    let path = format!("/api/v1/items/{first}/suggestions");
    let listed: Value = bearer(&app, Method::GET, &path, &lead)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["suggestions"][0]["source"], MODEL);
    assert_eq!(listed["suggestions"][0]["scores"]["helpfulness"], 0.9);
    assert_eq!(listed["suggestions"][1]["source"], OTHER);

    let (_, admin) = api_session(&app, Role::Admin).await;
    let path = format!("/api/v1/items/{third}/suggestions");
    let post = |body: Value| {
        let path = path.clone();
        let admin = admin.clone();
        let app = &app;
        async move {
            let response = bearer(app, Method::POST, &path, &admin)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = post(suggestion("llama-guard-3", &expected(), 0.8)).await;
    assert_eq!((status, body["replaced"].clone()), (201, json!(false)));
    let (status, body) = post(suggestion("llama-guard-3", &wrong(), 0.8)).await;
    assert_eq!((status, body["replaced"].clone()), (200, json!(true)));
    assert_eq!(
        stored(&app, third).await,
        [("llama-guard-3".to_string(), with_labels(wrong()))]
    );

    // Bad suggestions say what is wrong and where, and store nothing.
    let mut broken = expected();
    broken["responses"][0]["severity"] = json!(0);
    let (status, body) =
        post(json!({"source": "m", "labels": broken, "scores": {"overall": 1.5}})).await;
    assert_eq!(status, 400);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("labels.responses[0].severity") && message.contains("scores.overall"),
        "{message}"
    );
    let (status, body) = post(json!({"source": "not a name", "labels": expected()})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("source")
    );
    assert_eq!(stored(&app, third).await.len(), 1);
    let missing = format!("/api/v1/items/{}/suggestions", Uuid::new_v4());
    let response = bearer(&app, Method::POST, &missing, &admin)
        .json(&suggestion("m", &expected(), 0.5))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // Each addition is in the audit log.
    let audited: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where action in ('suggestion added', 'suggestion replaced')
            and subject = $1",
    )
    .bind(format!("item:{third}"))
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(audited, 2);
}

#[tokio::test]
async fn a_side_file_keyed_by_item_is_all_or_nothing() {
    let app = TestApp::spawn().await;
    let project = project_with(&app, Policy::default(), 3, 3, |_| vec![]).await;
    let second = item_id(&app, &project, "item-1").await;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, lines: &[Value]| {
        let path = dir.path().join(name);
        let text: Vec<String> = lines.iter().map(Value::to_string).collect();
        std::fs::write(&path, text.join("\n") + "\n").unwrap();
        path
    };
    let mut by_external = suggestion(MODEL, &expected(), 0.9);
    by_external["id"] = json!("item-0");
    let mut by_id = suggestion(MODEL, &wrong(), 0.7);
    by_id["item_id"] = json!(second);
    let mut unknown = suggestion(MODEL, &expected(), 0.9);
    unknown["id"] = json!("item-99");
    let mut broken = suggestion(OTHER, &expected(), 0.9);
    broken["id"] = json!("item-2");
    broken["labels"]["harmlessness"] = json!([0, 1]);
    let mut twice = by_external.clone();
    twice["labels"] = wrong();

    let bad = write(
        "bad.jsonl",
        &[by_external.clone(), by_id.clone(), unknown, broken, twice],
    );
    let err = safepref_server::suggestions::import_side_file(&app.pool, &project, None, &bad)
        .await
        .unwrap_err()
        .to_string();
    for expected_part in [
        "nothing was imported: 3 problems",
        "bad.jsonl line 3: id \"item-99\" is not an item of project",
        "bad.jsonl line 4: labels.harmlessness",
        "bad.jsonl line 5: source: \"beaver-dam-7b\" already suggested for this item at bad.jsonl line 1",
    ] {
        assert!(err.contains(expected_part), "{expected_part:?} in:\n{err}");
    }
    let count: i64 = sqlx::query_scalar("select count(*) from suggestions")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing stored from a file with problems");

    let good = write("good.jsonl", &[by_external, by_id]);
    let report = safepref_server::suggestions::import_side_file(&app.pool, &project, None, &good)
        .await
        .unwrap();
    assert_eq!((report.rows, report.replaced), (2, 0));
    assert_eq!(stored(&app, second).await[0].0, MODEL);
    let again = safepref_server::suggestions::import_side_file(&app.pool, &project, None, &good)
        .await
        .unwrap();
    assert_eq!(
        again.replaced, 2,
        "a second file replaces the source's suggestions"
    );
}

/// The annotation page of the project, as one annotator sees it.
async fn annotate_page(annotator: &safepref_tests::Browser, project: &Project) -> String {
    annotator
        .get(&format!("/annotate/{}", project.id))
        .await
        .text()
        .await
        .unwrap()
}

async fn modes(app: &TestApp, project: &Project) -> Vec<(String, String)> {
    sqlx::query_as(
        "select i.external_id, a.suggestion_mode from annotations a join items i on i.id = a.item_id
          where a.project_id = $1 order by i.seq",
    )
    .bind(project.id)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn each_display_mode_shows_what_it_says_and_is_recorded() {
    let app = TestApp::spawn().await;
    let suggest = |i: usize| match i {
        0 => vec![
            suggestion(MODEL, &expected(), 0.93),
            json!({"source": OTHER, "labels": wrong()}),
        ],
        _ => vec![],
    };
    let policies = [
        Policy::default(),
        Policy {
            display: Display::Hint,
            source: None,
            routing: None,
        },
        Policy {
            display: Display::Prefill,
            source: Some(MODEL.into()),
            routing: None,
        },
    ];
    for policy in policies {
        let display = policy.display;
        let project = project_with(&app, policy, 1, 2, suggest).await;
        let (annotator, _) = app.signed_in(Role::Annotator).await;
        let html = annotate_page(&annotator, &project).await;
        let hint = html.contains("id=\"suggestion-hint\"");
        let prefilled = html.contains("class=\"notice prefilled\"");
        assert_eq!(hint, display == Display::Hint, "{display:?}");
        assert_eq!(prefilled, display == Display::Prefill, "{display:?}");
        let unsafe_checked = html.contains("name=\"r0_safe\" value=\"unsafe\" checked");
        assert_eq!(unsafe_checked, display == Display::Prefill, "{display:?}");
        if display == Display::Hint {
            // Every source, each verdict with its score.
            for line in [
                "Response A — suggested: unsafe — Violence, Moderate (score 0.93)",
                "More harmless — suggested: B (score 0.93)",
                "Response A — suggested: safe",
            ] {
                assert!(html.contains(line), "{line:?} in the hint");
            }
            assert!(html.contains(OTHER));
        }
        // The first item (with suggestions) through the form, the second
        // (without) too: the mode is recorded, blind where nothing showed.
        crate::gold::submit_page(&annotator, project.id, &html).await;
        let next = annotate_page(&annotator, &project).await;
        assert!(!next.contains("suggestion-hint") && !next.contains("notice prefilled"));
        crate::gold::submit_page(&annotator, project.id, &next).await;
        let recorded = modes(&app, &project).await;
        assert_eq!(
            recorded,
            [
                ("item-0".to_string(), display.as_str().to_string()),
                ("item-1".to_string(), "blind".to_string())
            ]
        );

        // The API's lease carries what the page shows.
        let again = project_with(&app, project.suggestions.clone(), 1, 1, suggest).await;
        let (_, token) = api_session(&app, Role::Annotator).await;
        let (status, leased) = lease(&app, again.id, &token).await;
        assert_eq!(status, 200);
        let sources: Vec<&str> = leased["suggestions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["source"].as_str().unwrap())
            .collect();
        let want: &[&str] = match display {
            Display::Blind => &[],
            Display::Hint => &[MODEL, OTHER],
            Display::Prefill => &[MODEL],
        };
        assert_eq!(sources, want, "{display:?}");
        submit(&app, &leased, &token, &expected()).await;
        assert_eq!(modes(&app, &again).await[0].1, display.as_str());
    }
}

/// A one-item project showing MODEL's confident suggestion in `display`
/// mode, open in Chromium as an annotator at `ready`.
async fn in_the_browser(app: &TestApp, display: Display, ready: &str) -> (Project, Page) {
    let policy = Policy {
        display,
        source: Some(MODEL.into()),
        routing: None,
    };
    let project = project_with(app, policy, 1, 1, |_| {
        vec![suggestion(MODEL, &expected(), 0.9)]
    })
    .await;
    let (name, password) = app.user(Role::Annotator).await;
    let browser = Page::start().await;
    browser.sign_in(&app.base, &name, &password).await;
    browser
        .goto(&app.url(&format!("/annotate/{}", project.id)))
        .await;
    browser.wait_for(ready, TIMEOUT).await;
    (project, browser)
}

#[tokio::test]
async fn the_prefilled_form_in_the_browser_submits_the_suggestion_once_checked() {
    let app = TestApp::spawn().await;
    let (project, browser) = in_the_browser(&app, Display::Prefill, "#label-form").await;
    let checked = |css: &str| format!("return document.querySelector(`{css}`).checked");
    for (css, want) in [
        ("input[name=r0_safe][value=unsafe]", true),
        ("input[name=r1_safe][value=safe]", true),
        ("input[name=r0_severity][value='2']", true),
        ("input[name=r0_cat][value=Violence]", true),
        ("input[name=r0_cat][value=Drugs]", false),
        ("input[name=helpful][value='0']", true),
        ("input[name=harmless][value='1']", true),
    ] {
        assert_eq!(browser.execute(&checked(css)).await, json!(want), "{css}");
    }
    let notice = browser.text_of(".notice.prefilled").await;
    assert!(notice.contains(MODEL), "{notice}");
    assert!(
        browser.find_all("#suggestion-hint").await.is_empty(),
        "no hint when pre-filling"
    );
    // The annotator keeps the model's labels: Ctrl+Enter submits them.
    browser.press(&(Key::Control + &Key::Enter)).await;
    browser
        .wait_until(
            "return !document.querySelector('#label-form') || document.querySelector('#annotate') === null",
            TIMEOUT,
        )
        .await;
    browser.close().await;
    let (labels, mode): (Value, String) =
        sqlx::query_as("select labels, suggestion_mode from annotations where project_id = $1")
            .bind(project.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(mode, "prefill");
    let mut want = expected();
    want["responses"][0]["categories"] = json!(["Violence"]);
    assert_eq!(labels["responses"], want["responses"]);
    assert_eq!(labels["harmlessness"], want["harmlessness"]);
}

#[tokio::test]
async fn the_hint_opens_and_closes_with_the_a_key() {
    let app = TestApp::spawn().await;
    let (_, browser) = in_the_browser(&app, Display::Hint, "#suggestion-hint").await;
    let open = "return document.getElementById('suggestion-hint').open";
    assert_eq!(browser.execute(open).await, json!(false), "closed at first");
    // Nothing is pre-filled in hint mode.
    let checked = "return document.querySelectorAll('#label-form input:checked').length";
    assert_eq!(browser.execute(checked).await, json!(0));
    browser.press("a").await;
    browser
        .wait_until(&format!("{open} === true"), TIMEOUT)
        .await;
    let text = browser.text_of("#suggestion-hint").await;
    assert!(
        text.contains("Response A — suggested: unsafe — Violence, Moderate (score 0.90)"),
        "{text}"
    );
    browser.press("a").await;
    browser
        .wait_until(&format!("{open} === false"), TIMEOUT)
        .await;
    browser.close().await;
}

#[tokio::test]
async fn routing_saves_annotations_exactly_where_the_rule_says() {
    let app = TestApp::spawn().await;
    let policy = routing_at_0_9();
    // item-0: confident, and the first person agrees -> one annotation.
    // item-1: confident, the first person disagrees -> k.
    // item-2: not confident enough, agrees -> k.
    // item-3: no suggestion of the routing source -> k.
    // item-4: confident, agrees -> one annotation.
    let project = project_with(&app, policy, 3, 5, |i| match i {
        0 | 4 => vec![suggestion(MODEL, &expected(), 0.95)],
        1 => vec![suggestion(MODEL, &wrong(), 0.99)],
        2 => vec![suggestion(MODEL, &expected(), 0.89)],
        _ => vec![suggestion(OTHER, &expected(), 1.0)],
    })
    .await;
    let mut acknowledged = Vec::new();
    let mut first_annotator = None;
    for _ in 0..3 {
        let (name, token) = api_session(&app, Role::Annotator).await;
        first_annotator.get_or_insert(name);
        loop {
            let (status, leased) = lease(&app, project.id, &token).await;
            if status == 204 {
                break;
            }
            assert_eq!(status, 200);
            let done = submit(&app, &leased, &token, &expected()).await;
            acknowledged.push(done["annotation_id"].as_str().unwrap().parse().unwrap());
        }
    }
    let done: Vec<(String, i32, bool, String)> = sqlx::query_as(
        "select external_id, done, routed, state::text from items where project_id = $1 order by seq",
    )
    .bind(project.id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let want = [
        (0, 1, true),
        (1, 3, false),
        (2, 3, false),
        (3, 3, false),
        (4, 1, true),
    ];
    for ((external, n, routed, state), (i, want_n, want_routed)) in done.iter().zip(want) {
        assert_eq!(external, &format!("item-{i}"));
        assert_eq!((*n, *routed), (want_n, want_routed), "{external}");
        assert_eq!(state, "complete", "{external}");
    }
    let savings = safepref_server::db::suggestions::routing_savings(&app.pool, project.id, 3)
        .await
        .unwrap();
    assert_eq!((savings.routed_items, savings.annotations_saved), (2, 4));
    let invariants =
        safepref_loadgen::load::check_invariants(&app.db_url, project.id, &acknowledged)
            .await
            .unwrap();
    assert!(invariants.hold(), "{invariants}");
    assert_eq!(invariants.annotations, 11);

    // A lead requeues the first annotator's work (every item's first
    // annotation): the routed items are pending again, and a new first
    // annotation that disagrees with the model leaves them needing k.
    let user = |name: String| {
        let pool = app.pool.clone();
        async move {
            safepref_server::db::users::find_by_username(&pool, &name)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let (lead, _) = app.user(Role::Lead).await;
    safepref_server::review::requeue(
        &app.pool,
        &project,
        &user(lead).await,
        &user(first_annotator.unwrap()).await,
        &[1],
        "checking the routing",
    )
    .await
    .unwrap();
    let (_, token) = api_session(&app, Role::Annotator).await;
    let (_, leased) = lease(&app, project.id, &token).await;
    assert_eq!(
        leased["item"]["id"],
        json!(item_id(&app, &project, "item-1").await)
    );
    loop {
        let (status, leased) = lease(&app, project.id, &token).await;
        if status == 204 {
            break;
        }
        let done = submit(&app, &leased, &token, &wrong()).await;
        acknowledged.push(done["annotation_id"].as_str().unwrap().parse().unwrap());
    }
    let item0: (i32, bool, String) = sqlx::query_as(
        "select done, routed, state::text from items where project_id = $1 and external_id = 'item-0'",
    )
    .bind(project.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(item0, (1, false, "pending".to_string()));
    let invariants =
        safepref_loadgen::load::check_invariants(&app.db_url, project.id, &acknowledged)
            .await
            .unwrap();
    assert!(invariants.hold(), "{invariants}");
}

#[tokio::test]
async fn an_admin_sets_the_policy_and_uploads_suggestions_on_the_project_page() {
    use crate::projects::{default_form, post_form, project_id};
    let app = TestApp::spawn().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let mut form = default_form("Suggested round");
    form.push(("suggestion_display", "prefill".into()));
    let refused = post_form(&admin, "/admin/projects", &form).await;
    assert_eq!(refused.status(), 400);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("pre-filling the form needs a source"),
        "{page}"
    );
    form.extend([
        ("suggestion_source", MODEL.to_string()),
        ("routing_source", MODEL.to_string()),
        ("routing_threshold", "0.9".to_string()),
    ]);
    assert_eq!(
        post_form(&admin, "/admin/projects", &form).await.status(),
        303
    );
    let id = project_id(&app, "Suggested round").await;
    let project = safepref_server::projects::find(&app.pool, id)
        .await
        .unwrap();
    assert_eq!(
        project.suggestions,
        Policy {
            display: Display::Prefill,
            source: Some(MODEL.into()),
            routing: Some(Routing {
                source: MODEL.into(),
                threshold: 0.9
            }),
        }
    );
    import_text(
        &app.pool,
        &project,
        "items.jsonl",
        "{\"id\": \"q1\", \"prompt\": \"P\", \"responses\": [\"a\", \"b\"]}\n",
        Options::default(),
    )
    .await
    .unwrap();

    let upload = |text: String| {
        let token = admin.csrf_token.clone().unwrap();
        let part = reqwest::multipart::Part::bytes(text.into_bytes()).file_name("model.jsonl");
        let form = reqwest::multipart::Form::new()
            .text("csrf_token", token)
            .part("file", part)
            .text("kind", "suggestions");
        admin
            .client
            .post(format!("{}/admin/projects/{id}/import", admin.base))
            .multipart(form)
            .send()
    };
    let mut row = suggestion(MODEL, &expected(), 0.9);
    row["id"] = json!("q2");
    let refused = upload(row.to_string()).await.unwrap();
    assert_eq!(refused.status(), 400);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("model.jsonl line 1: id &#34;q2&#34; is not an item of project")
            || page.contains("model.jsonl line 1: id &quot;q2&quot; is not an item of project"),
        "{page}"
    );
    row["id"] = json!("q1");
    let done = upload(row.to_string()).await.unwrap();
    assert_eq!(done.status(), 303);
    let shown = admin
        .get(&format!("/admin/projects/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        shown.contains(&format!("<td>{MODEL}</td><td class=\"num\">1</td>")),
        "{shown}"
    );
    assert!(shown.contains("Routing: an item is complete after one person"));
    assert_eq!(
        stored(&app, item_id(&app, &project, "q1").await)
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn the_report_measures_anchored_and_blind_labels_apart() {
    let app = TestApp::spawn().await;
    let policy = Policy {
        display: Display::Prefill,
        source: Some(MODEL.into()),
        routing: None,
    };
    // Two annotators; items 0 and 1 have a suggestion (pre-filled), 2 not.
    let project = project_with(&app, policy, 2, 3, |i| {
        if i < 2 {
            vec![suggestion(MODEL, &expected(), 0.9)]
        } else {
            vec![]
        }
    })
    .await;
    for _ in 0..2 {
        let (_, token) = api_session(&app, Role::Annotator).await;
        loop {
            let (status, leased) = lease(&app, project.id, &token).await;
            if status == 204 {
                break;
            }
            submit(&app, &leased, &token, &expected()).await;
        }
    }
    let (_, lead) = api_session(&app, Role::Lead).await;
    let report = |query: &str| {
        let path = format!("/api/v1/projects/{}/report{query}", project.id);
        let lead = lead.clone();
        let app = &app;
        async move {
            let response = bearer(app, Method::GET, &path, &lead).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (_, all) = report("").await;
    assert_eq!(all["annotations"], 6);
    assert_eq!(
        all["suggestion_modes"],
        json!({"blind": 2, "hint": 0, "prefill": 4})
    );
    let (_, prefill) = report("?suggestion_mode=prefill").await;
    assert_eq!(prefill["annotations"], 4);
    assert_eq!(prefill["scope"]["suggestion_mode"], "prefill");
    assert_eq!(
        prefill["questions"]["safe"]["units"], 4,
        "two items × two responses"
    );
    let (_, blind) = report("?suggestion_mode=blind").await;
    assert_eq!(blind["annotations"], 2);
    assert_eq!(blind["questions"]["safe"]["units"], 2);
    let (_, hint) = report("?suggestion_mode=hint").await;
    assert_eq!(hint["annotations"], 0);
    let (status, refused) = report("?suggestion_mode=anchored").await;
    assert_eq!(status, 400);
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("suggestion_mode") && message.contains("blind, hint or prefill"),
        "{message}"
    );
}

#[tokio::test]
async fn a_routed_item_sent_back_gets_the_usual_k() {
    let app = TestApp::spawn().await;
    let policy = routing_at_0_9();
    let project = project_with(&app, policy, 3, 1, |_| {
        vec![suggestion(MODEL, &expected(), 0.95)]
    })
    .await;
    let item = item_id(&app, &project, "item-0").await;
    let state = || async {
        sqlx::query_as::<_, (String, i32, bool, i32)>(
            "select state::text, done, routed, extra_annotations from items where id = $1",
        )
        .bind(item)
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    let mut acknowledged: Vec<Uuid> = Vec::new();
    let mut annotate_once = async || {
        let (_, token) = api_session(&app, Role::Annotator).await;
        let (status, leased) = lease(&app, project.id, &token).await;
        if status == 204 {
            return false;
        }
        let done = submit(&app, &leased, &token, &expected()).await;
        acknowledged.push(done["annotation_id"].as_str().unwrap().parse().unwrap());
        true
    };
    assert!(annotate_once().await);
    assert_eq!(state().await, ("complete".into(), 1, true, 0));

    let (lead, _) = app.user(Role::Lead).await;
    let lead = safepref_server::db::users::find_by_username(&app.pool, &lead)
        .await
        .unwrap()
        .unwrap();
    safepref_server::review::send_back(&app.pool, &project, &lead, item, "check with people")
        .await
        .unwrap();
    assert_eq!(
        state().await,
        ("pending".into(), 1, false, 0),
        "back to the usual k, not k + 1"
    );
    while annotate_once().await {}
    assert_eq!(state().await, ("complete".into(), 3, false, 0));
    let savings = safepref_server::db::suggestions::routing_savings(&app.pool, project.id, 3)
        .await
        .unwrap();
    assert_eq!((savings.routed_items, savings.annotations_saved), (0, 0));
    let invariants =
        safepref_loadgen::load::check_invariants(&app.db_url, project.id, &acknowledged)
            .await
            .unwrap();
    assert!(invariants.hold(), "{invariants}");
}

/// Blind display, routing by the model at a threshold of 0.9.
fn routing_at_0_9() -> Policy {
    Policy {
        display: Display::Blind,
        source: None,
        routing: Some(Routing {
            source: MODEL.into(),
            threshold: 0.9,
        }),
    }
}
