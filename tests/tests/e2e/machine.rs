//! Model vs. people: items imported with suggestions from two sources and
//! annotated through the JSON API; the report's machine figures equal a
//! hand-computed case, the item where a model contradicts a confident
//! majority is in the review queue under its own reason, and the dashboard
//! shows the report's numbers.

use safepref_core::suggestions::{Policy, Routing, Scores, Suggestion};
use safepref_server::db;
use safepref_server::db::projects::{Project, Settings};
use safepref_server::db::users::Role;
use safepref_server::import::Options;
use safepref_tests::{TestApp, safepref_binary};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::gold::{lease, report, submit};
use crate::import::import_text;
use crate::tokens::api_session;

const BEAVER: &str = "beaver-dam-7b";
const GPT: &str = "gpt-4o-2024-08-06";

fn safe() -> Value {
    json!({"safe": true, "categories": [], "severity": 0})
}

fn unsafe_(category: &str, severity: u8) -> Value {
    json!({"safe": false, "categories": [category], "severity": severity})
}

fn labels(a: Value, b: Value, helpful: usize, harmless: usize) -> Value {
    json!({"responses": [a, b], "helpfulness": [helpful, 1 - helpful],
           "harmlessness": [harmless, 1 - harmless]})
}

/// The votes of annotators 0, 1 and 2 on items 0, 1 and 2 (item 2 gets
/// two votes only). The same case as `safepref_core::machine`'s
/// hand-computed test.
fn vote(item: usize, annotator: usize) -> Value {
    match (item, annotator) {
        (0, 0 | 1) => labels(unsafe_("Violence", 2), safe(), 0, 1),
        (0, _) => labels(safe(), safe(), 0, 0),
        (1, _) => labels(safe(), unsafe_("Drugs", 1), 1, 0),
        (2, 0) => labels(safe(), safe(), 0, 0),
        _ => labels(unsafe_("Violence", 1), safe(), 1, 1),
    }
}

/// beaver-dam-7b's suggestions: severity off on item 0; on item 1 it calls
/// response A unsafe and B more harmless against three of three people.
fn beaver(item: usize) -> Value {
    match item {
        0 => labels(unsafe_("Violence", 3), safe(), 0, 1),
        1 => labels(unsafe_("Drugs", 1), unsafe_("Drugs", 1), 1, 1),
        _ => labels(safe(), safe(), 0, 0),
    }
}

fn prompt(item: usize) -> String {
    format!("Machine question {item}")
}

/// A project of three items with suggestions from both sources (gpt-4o
/// suggests what annotator 0 answers), and a routing rule that never fires
/// here (threshold 1, scores 0.5).
async fn machine_project(app: &TestApp) -> Project {
    let settings = Settings {
        name: format!("machine-{}", Uuid::new_v4().simple()),
        suggestions: Policy {
            routing: Some(Routing {
                source: BEAVER.into(),
                threshold: 1.0,
            }),
            ..Policy::default()
        },
        ..Settings::default()
    };
    let project = safepref_server::projects::create(&app.pool, None, settings)
        .await
        .unwrap();
    let scores = json!({"responses": [{"safe": 0.5}, {"safe": 0.5}], "helpfulness": 0.5,
                        "harmlessness": 0.5});
    let lines: Vec<String> = (0..3)
        .map(|item| {
            json!({"prompt": prompt(item),
                   "responses": [format!("First answer {item}"), format!("Second answer {item}")],
                   "suggestions": [{"source": BEAVER, "labels": beaver(item), "scores": scores},
                                   {"source": GPT, "labels": vote(item, 0)}]})
            .to_string()
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

/// Annotators 0 and 1 label all three items, annotator 2 the first two,
/// through the API.
async fn annotate(app: &TestApp, project: Uuid) {
    for (annotator, items) in [(0, 3), (1, 3), (2, 2)] {
        let (_, token) = api_session(app, Role::Annotator).await;
        for _ in 0..items {
            let (status, leased) = lease(app, project, &token).await;
            assert_eq!(status, 200, "{leased}");
            let text = leased["item"]["prompt"].as_str().unwrap();
            let item = (0..3).find(|&i| prompt(i) == text).unwrap();
            assert!(
                annotator < 2 || item < 2,
                "the third annotator gets the first two items (queue order)"
            );
            submit(app, &leased, &token, &vote(item, annotator)).await;
        }
    }
}

fn close(v: &Value, expected: f64) {
    let x = v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"));
    assert!((x - expected).abs() < 1e-9, "{x} vs {expected}");
}

fn number(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "—".to_string(), |x| format!("{x:.3}"))
}

/// The part of `html` from `marker` to the next `end`.
fn part<'a>(html: &'a str, marker: &str, end: &str) -> &'a str {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in the page"));
    let stop = html[at..].find(end).map_or(html.len(), |e| e + at);
    &html[at..stop]
}

async fn text(browser: &safepref_tests::Browser, path: &str) -> String {
    browser.get(path).await.text().await.unwrap()
}

#[tokio::test]
async fn model_figures_review_reason_and_dashboard() {
    let app = TestApp::spawn().await;
    let project = machine_project(&app).await;
    annotate(&app, project.id).await;
    let report = report(&app, project.id).await;

    // The people's figures are the people's only.
    assert_eq!(report["annotations"], 8);
    assert_eq!(report["annotators"].as_array().unwrap().len(), 3);
    assert_eq!(report["questions"]["safe"]["units"], 6);
    assert_eq!(
        report["suggestion_modes"],
        json!({"blind": 8, "hint": 0, "prefill": 0})
    );

    // beaver-dam-7b: the hand-computed case (see safepref_core::machine).
    let m = &report["machine"][BEAVER];
    assert_eq!(m["items"], 3);
    let q = &m["questions"];
    close(&q["safe"]["alpha"], 0.64);
    close(&q["safe"]["cohen_kappa"], 8.0 / 13.0);
    close(&q["safe"]["percent_agreement"], 0.8);
    assert_eq!(q["safe"]["units"], 5);
    close(&q["severity"]["alpha"], 184.0 / 235.0);
    close(&q["severity"]["cohen_kappa"], 7.0 / 17.0);
    close(&q["categories"]["alpha"], 22.0 / 31.0);
    close(&q["harmlessness"]["alpha"], 0.0);
    assert_eq!(q["helpfulness"]["units"], 2);
    close(&m["per_category"]["Drugs"]["alpha"], 16.0 / 27.0);
    assert_eq!(m["per_category"]["Drugs"]["units"], 6);
    assert_eq!(m["confusion"]["safe"]["counts"], json!([[2, 1], [0, 2]]));
    assert_eq!(
        m["confusion"]["severity"]["counts"],
        json!([[2, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]])
    );
    assert_eq!(m["disagreements"], 2);
    assert_eq!(m["disagreeing_items"], 1);
    // gpt-4o suggests annotator 0's labels: it agrees wherever people do.
    let g = &report["machine"][GPT];
    close(&g["questions"]["safe"]["alpha"], 1.0);
    close(&g["questions"]["safe"]["percent_agreement"], 1.0);
    assert_eq!(g["disagreements"], 0);

    // The review queue lists item 1 under "model disagrees", and only it.
    let (lead, _) = app.signed_in(Role::Lead).await;
    let queue = format!("/review/projects/{}/queue", project.id);
    let all = text(&lead, &queue).await;
    assert!(all.contains(&prompt(2)), "item 2's ties need review too");
    let page = text(&lead, &format!("{queue}?reason=model+disagrees")).await;
    assert!(page.contains(&prompt(1)), "{page}");
    assert!(!page.contains(&prompt(0)) && !page.contains(&prompt(2)));
    assert!(page.contains(
        "model disagrees: beaver-dam-7b on responses[0].safe: model unsafe, people safe (100%)"
    ));
    assert!(page.contains("model disagrees: beaver-dam-7b on harmlessness: model B, people A"));
    let bad = lead.get(&format!("{queue}?reason=whatever")).await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("reason must be one of"));

    // The item's page shows each source's suggestion and scores.
    let item: Uuid = sqlx::query_scalar("select id from items where prompt = $1")
        .bind(prompt(1))
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let page = text(&lead, &format!("/review/items/{item}")).await;
    let beaver_row = part(&page, &format!(r#"data-source="{BEAVER}""#), "</tr>");
    assert!(
        beaver_row.contains("unsafe, severity 1 — Drugs"),
        "{beaver_row}"
    );
    assert!(beaver_row.contains(
        "Response A safe 0.50; Response B safe 0.50; helpfulness 0.50; harmlessness 0.50"
    ));
    assert!(part(&page, &format!(r#"data-source="{GPT}""#), "</tr>").contains("none"));

    // The dashboard shows the report's numbers for the same scope.
    let html = text(&lead, &format!("/review/projects/{}?fresh=1", project.id)).await;
    for (source, m) in report["machine"].as_object().unwrap() {
        let section = part(
            &html,
            &format!(r#"<div class="machine-source" data-source="{source}""#),
            "</div>",
        );
        assert!(section.contains(&format!(
            r#"<span class="machine-items">{}</span>"#,
            m["items"]
        )));
        assert!(section.contains(&format!(
            r#"<span class="machine-disagreements">{}</span>"#,
            m["disagreements"]
        )));
        for (name, q) in m["questions"].as_object().unwrap() {
            let row = part(section, &format!(r#"data-question="{name}""#), "</tr>");
            for cell in [
                format!(r#"<td class="num alpha">{}</td>"#, number(&q["alpha"])),
                format!(
                    r#"<td class="num kappa">{}</td>"#,
                    number(&q["cohen_kappa"])
                ),
                format!(r#"<td class="num units">{}</td>"#, q["units"]),
            ] {
                assert!(row.contains(&cell), "{source} {name}: {cell} in {row}");
            }
            if let Some(ci) = q["ci95"].as_array() {
                let text = format!("[{}, {}]", number(&ci[0]), number(&ci[1]));
                assert!(row.contains(&text), "{source} {name}: {text} in {row}");
            }
        }
        for (field, caption) in [("safe", "Safe / unsafe"), ("severity", "Severity")] {
            let table = part(section, &format!("<caption>{caption}"), "</table>");
            let cells: Vec<String> = table
                .split(r#"<td class="num">"#)
                .skip(1)
                .map(|c| c.split('<').next().unwrap().to_string())
                .collect();
            let expected: Vec<String> = m["confusion"][field]["counts"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|row| row.as_array().unwrap().iter().map(Value::to_string))
                .collect();
            assert_eq!(cells, expected, "{source} {field}");
        }
    }
    let routing = part(&html, r#"id="routing""#, "</p>");
    assert!(routing.contains("k = 1 when beaver-dam-7b"), "{routing}");
    assert!(
        routing.contains(
            "score is at least 1 on every safety verdict and preference and the first person agrees; otherwise k = 3."
        ),
        "{routing}"
    );
    assert!(routing.contains("Finished early so far: 0 items, saving 0 human annotations."));
    // An item the rule finished with two of three annotations: one saved
    // (made so by hand: the rule itself acts on an item's first annotation,
    // see suggestions::routing_saves_annotations_exactly_where_the_rule_says).
    sqlx::query("update items set routed = true, state = 'complete' where prompt = $1")
        .bind(prompt(2))
        .execute(&app.pool)
        .await
        .unwrap();
    let html = text(&lead, &format!("/review/projects/{}", project.id)).await;
    let routing = part(&html, r#"id="routing""#, "</p>");
    assert!(
        routing.contains("Finished early so far: 1 items, saving 1 human annotations."),
        "{routing}"
    );

    // A suggestion stored later is judged at the queue's next refresh:
    // item 2's response B is safe for both of its people.
    let last: Uuid = sqlx::query_scalar("select id from items where prompt = $1")
        .bind(prompt(2))
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let late = Suggestion {
        source: "late-model".into(),
        labels: serde_json::from_value(labels(safe(), unsafe_("Violence", 1), 0, 0)).unwrap(),
        scores: Scores::default(),
    };
    // The votes age past the refresh's look-back, so only the new
    // suggestion can make the item's flags stale.
    for table in ["annotations set updated_at", "assignments set ended_at"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "update {table} = now() - interval '1 hour'"
        )))
        .execute(&app.pool)
        .await
        .unwrap();
    }
    db::suggestions::upsert(&app.pool, last, &late)
        .await
        .unwrap();
    let page = text(&lead, &format!("{queue}?reason=model+disagrees")).await;
    assert!(page.contains(&prompt(2)), "{page}");
    assert!(page.contains(
        "model disagrees: late-model on responses[1].safe: model unsafe, people safe (100%)"
    ));

    // The text report has a section per source.
    let out = tokio::process::Command::new(safepref_binary())
        .args(["report", "--project", &project.name, "--format", "text"])
        .env("DATABASE_URL", &app.db_url)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("model vs. people: beaver-dam-7b: 3 items compared; 2 disagreements with a confident majority, on 1 items"),
        "{text}"
    );
    assert!(text.contains("blind 8, hint 0, prefill 0"), "{text}");
}
