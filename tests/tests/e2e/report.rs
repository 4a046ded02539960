//! The agreement report: `safepref report` and GET /api/v1/projects/{id}/report
//! give the same numbers, over real annotations made through the queue.

use safepref_server::db::users::Role;
use safepref_tests::{TestApp, safepref_binary};
use serde_json::Value;

use crate::fixtures::{label, labels, user_id};

#[tokio::test]
async fn the_command_and_the_api_report_the_same_numbers() {
    let app = TestApp::spawn().await;
    let (project, _) = crate::import::project_with_sample(&app.pool).await;
    // Three annotators label ten items each; the third disagrees now and then.
    for annotator in 0..3 {
        let (name, _) = app.user(Role::Annotator).await;
        let id = user_id(&app.pool, &name).await;
        for n in 0..10 {
            let disagree = annotator == 2 && n % 3 == 0;
            let labels = labels(n % 2 == 0 || disagree, usize::from(disagree), 2);
            label(&app.pool, &project, id, &labels, 5.0 + n as f64).await;
        }
    }
    // Two of the labelled items turn out to be gold: the second (everyone
    // gave its expected labels) and the fifth (expected: response 0 safe;
    // everyone called it unsafe).
    let order: Vec<uuid::Uuid> = sqlx::query_scalar(
        "select item_id from annotations group by item_id order by min(submitted_at)",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    for (n, expected) in [(1, labels(false, 0, 2)), (4, labels(false, 0, 2))] {
        sqlx::query("update items set gold = $2 where id = $1")
            .bind(order[n])
            .bind(sqlx::types::Json(&expected))
            .execute(&app.pool)
            .await
            .unwrap();
    }
    let (lead, _) = app.signed_in(Role::Lead).await;
    let api: Value = lead
        .get(&format!("/api/v1/projects/{}/report", project.id))
        .await
        .json()
        .await
        .unwrap();

    let out = tokio::process::Command::new(safepref_binary())
        .args(["report", "--project", &project.name, "--format", "json"])
        .env("DATABASE_URL", &app.db_url)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli, api, "the same numbers");

    assert_eq!(api["annotations"], 30);
    assert_eq!(api["items"], 76);
    assert_eq!(
        api["questions"]["safe"]["units"], 20,
        "10 items × 2 responses with three values each"
    );
    // Krippendorff's nominal alpha by hand: response B and items 1, 5, 7 are
    // safe three times (13 units), items 0, 2, 4, 6, 8 unsafe three times (5),
    // items 3 and 9 safe, safe, unsafe (2). Coincidences: safe–safe 41,
    // unsafe–unsafe 15, safe–unsafe 2 each way; n = 60, n_safe = 43,
    // n_unsafe = 17. alpha = 1 - (4 / 60) / (2 · 43 · 17 / (60 · 59)).
    let expected_alpha = 1.0 - (4.0 / 60.0) / (2.0 * 43.0 * 17.0 / (60.0 * 59.0));
    let alpha = api["questions"]["safe"]["alpha"].as_f64().unwrap();
    assert!(
        (alpha - expected_alpha).abs() < 1e-9,
        "alpha {alpha}, by hand {expected_alpha}"
    );
    let ci = api["questions"]["safe"]["ci95"].as_array().unwrap();
    assert!(
        ci[0].as_f64().unwrap() <= alpha && alpha <= ci[1].as_f64().unwrap() + 1e-9,
        "{ci:?} around {alpha}"
    );
    assert_eq!(api["annotators"].as_array().unwrap().len(), 3);
    assert_eq!(api["annotators"][0]["done"], 10);
    for annotator in api["annotators"].as_array().unwrap() {
        assert_eq!(annotator["gold_items"], 2, "{annotator}");
        assert_eq!(annotator["gold_accuracy"], 0.5, "{annotator}");
    }

    // A scope of two annotators and a time range: the command and the API
    // still agree, and only that work counts.
    let names: Vec<String> = api["annotators"]
        .as_array()
        .unwrap()
        .iter()
        .take(2)
        .map(|a| a["annotator"].as_str().unwrap().to_string())
        .collect();
    let query = format!(
        "annotator={}&annotator={}&since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z",
        names[0], names[1]
    );
    let scoped: Value = lead
        .get(&format!("/api/v1/projects/{}/report?{query}", project.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(scoped["annotations"], 20);
    assert_eq!(scoped["annotators"].as_array().unwrap().len(), 2);
    assert_eq!(scoped["scope"]["annotators"], serde_json::json!(names));
    let out = tokio::process::Command::new(safepref_binary())
        .args(["report", "--project", &project.name, "--format", "json"])
        .args(["--annotator", &names[0], "--annotator", &names[1]])
        .args([
            "--since",
            "2000-01-01T00:00:00Z",
            "--until",
            "2999-01-01T00:00:00Z",
        ])
        .env("DATABASE_URL", &app.db_url)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        scoped
    );
    let future: Value = lead
        .get(&format!(
            "/api/v1/projects/{}/report?since=2999-01-01T00:00:00Z",
            project.id
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(future["annotations"], 0);
    let bad = lead
        .get(&format!(
            "/api/v1/projects/{}/report?since=yesterday",
            project.id
        ))
        .await;
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("since: \"yesterday\""),
        "{body}"
    );

    let text = tokio::process::Command::new(safepref_binary())
        .args(["report", "--project", &project.name])
        .env("DATABASE_URL", &app.db_url)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("safe") && text.contains("nominal") && text.contains(&format!("{alpha:.3}")),
        "{text}"
    );

    let (annotator, _) = app.signed_in(Role::Annotator).await;
    assert_eq!(
        annotator
            .get(&format!("/api/v1/projects/{}/report", project.id))
            .await
            .status(),
        403
    );
}
