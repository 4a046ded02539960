//! Wellbeing: response text blurred until revealed (in Chromium), content
//! notes on severe items, break reminders, the daily cap, and "too
//! disturbing" skips that never count against the annotator.

use reqwest::Method;
use safepref_server::db::projects::{Project, Settings, Wellbeing};
use safepref_server::db::users::Role;
use safepref_tests::browser::{Page, TIMEOUT};
use safepref_tests::{Browser, TestApp};
use serde_json::Value;

use crate::gold::{gold_project, lease, report, submit, submit_page, wrong};
use crate::tokens::{api_session, bearer};

/// A project of `n` regular items with these wellbeing settings (k = 1).
async fn project(app: &TestApp, wellbeing: Wellbeing, n: usize) -> Project {
    let settings = Settings {
        annotations_per_item: 1,
        wellbeing,
        ..Settings::default()
    };
    gold_project(app, settings, n, 0).await
}

fn quiet() -> Wellbeing {
    Wellbeing {
        blur_responses: false,
        content_note_for_severe: false,
        break_every_items: None,
        break_every_minutes: None,
        daily_cap: None,
    }
}

async fn page(annotator: &Browser, project: &Project) -> String {
    annotator
        .get(&format!("/annotate/{}", project.id))
        .await
        .text()
        .await
        .unwrap()
}

/// Submits the item on `page` through the form; returns the next page.
async fn submit_form(annotator: &Browser, project: &Project, page: &str) -> String {
    submit_page(annotator, project.id, page).await;
    self::page(annotator, project).await
}

const BREAK: &str = "Time for a short break";

#[tokio::test]
async fn response_text_is_blurred_until_revealed() {
    let app = TestApp::spawn().await;
    let project = project(&app, Wellbeing::default(), 2).await;
    let (name, password) = app.user(Role::Annotator).await;
    let browser = Page::start().await;
    browser.sign_in(&app.base, &name, &password).await;
    browser
        .goto(&app.url(&format!("/annotate/{}", project.id)))
        .await;
    browser.wait_for("#response-0 .text", TIMEOUT).await;
    let filter = |n: usize| {
        format!("return getComputedStyle(document.querySelector('#response-{n} .text')).filter")
    };
    for n in 0..2 {
        let before = browser.execute(&filter(n)).await;
        assert!(
            before.as_str().unwrap().starts_with("blur("),
            "response {n} is blurred before it is revealed: {before}"
        );
    }
    // R reveals the current response (the first), and only it.
    browser.press("r").await;
    browser
        .wait_until(
            "return getComputedStyle(document.querySelector('#response-0 .text')).filter === 'none'",
            TIMEOUT,
        )
        .await;
    assert!(
        browser
            .execute(&filter(1))
            .await
            .as_str()
            .unwrap()
            .starts_with("blur("),
        "the other response stays blurred"
    );
    // A click on the blurred text reveals it too.
    browser.click("#response-1 .text").await;
    browser
        .wait_until(
            "return getComputedStyle(document.querySelector('#response-1 .text')).filter === 'none'",
            TIMEOUT,
        )
        .await;
    browser.close().await;

    // Without the setting, nothing is blurred and there is nothing to reveal.
    let plain = self::project(&app, quiet(), 1).await;
    let (annotator, _) = app.signed_in(Role::Annotator).await;
    let html = page(&annotator, &plain).await;
    assert!(!html.contains("blurred") && !html.contains("reveal-toggle"));
}

#[tokio::test]
async fn severe_items_carry_a_content_note() {
    let app = TestApp::spawn().await;
    for note in [true, false] {
        let project = project(
            &app,
            Wellbeing {
                content_note_for_severe: note,
                ..quiet()
            },
            2,
        )
        .await;
        sqlx::query(
            // `severe` is worked out at import (the queue tests check
            // that); an item changed afterwards needs it set too.
            "update items set source_labels = '{\"response_0_severity_level\": 3}', severe = true
              where project_id = $1 and prompt = 'Question 0000'",
        )
        .bind(project.id)
        .execute(&app.pool)
        .await
        .unwrap();
        let (annotator, _) = app.signed_in(Role::Annotator).await;
        let first = page(&annotator, &project).await;
        assert_eq!(first.contains("Content note"), note, "{first}");
        let second = submit_form(&annotator, &project, &first).await;
        assert!(
            !second.contains("Content note"),
            "not on an item that is not severe"
        );
    }
}

#[tokio::test]
async fn a_break_reminder_comes_every_n_items() {
    let app = TestApp::spawn().await;
    let project = project(
        &app,
        Wellbeing {
            break_every_items: Some(3),
            ..quiet()
        },
        8,
    )
    .await;
    let (annotator, _) = app.signed_in(Role::Annotator).await;
    let mut html = page(&annotator, &project).await;
    assert!(!html.contains(BREAK));
    let mut reminded = Vec::new();
    let mut sixth = String::new();
    for done in 1..=7 {
        html = submit_form(&annotator, &project, &html).await;
        if html.contains(BREAK) {
            reminded.push(done);
        }
        if done == 6 {
            sixth = html.clone();
        }
    }
    assert_eq!(reminded, [3, 6], "after every third item");
    assert!(
        sixth.contains("labelled 6 items in a row"),
        "the reminder counts the items since the last break: {sixth}"
    );
}

#[tokio::test]
async fn a_break_reminder_comes_every_m_minutes() {
    let app = TestApp::spawn().await;
    let project = project(
        &app,
        Wellbeing {
            break_every_minutes: Some(15),
            ..quiet()
        },
        5,
    )
    .await;
    let (annotator, _) = app.signed_in(Role::Annotator).await;
    let mut html = page(&annotator, &project).await;
    for _ in 0..3 {
        html = submit_form(&annotator, &project, &html).await;
    }
    assert!(!html.contains(BREAK), "three quick items: no break yet");
    // The three submissions moved back: 17, 9 and 1 minutes ago — the
    // newest is the first past 15 minutes of work.
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
        "select id from annotations where project_id = $1 order by submitted_at",
    )
    .bind(project.id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    for (id, ago) in ids.iter().zip([17, 9, 1]) {
        sqlx::query(
            "update annotations set submitted_at = now() - make_interval(mins => $2) where id = $1",
        )
        .bind(id)
        .bind(ago)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let now = page(&annotator, &project).await;
    assert!(now.contains(BREAK), "{now}");
    assert!(now.contains("over 16 minutes"), "{now}");
    // A gap of ten minutes or more was a break: the run starts again.
    sqlx::query(
        "update annotations set submitted_at = submitted_at - interval '20 minutes'
          where project_id = $1 and submitted_at < now() - interval '5 minutes'",
    )
    .bind(project.id)
    .execute(&app.pool)
    .await
    .unwrap();
    assert!(!page(&annotator, &project).await.contains(BREAK));
}

#[tokio::test]
async fn the_daily_cap_says_come_back_tomorrow_in_the_page_and_the_api() {
    let app = TestApp::spawn().await;
    let project = project(
        &app,
        Wellbeing {
            daily_cap: Some(2),
            ..quiet()
        },
        6,
    )
    .await;
    let (annotator, _) = app.signed_in(Role::Annotator).await;
    let mut html = page(&annotator, &project).await;
    for _ in 0..2 {
        assert!(html.contains("id=\"label-form\""), "an item: {html}");
        html = submit_form(&annotator, &project, &html).await;
    }
    assert!(html.contains("come back tomorrow"), "{html}");
    assert!(!html.contains("id=\"label-form\""), "no item past the cap");

    let (_, token) = api_session(&app, Role::Annotator).await;
    for _ in 0..2 {
        let (status, lease) = lease(&app, project.id, &token).await;
        assert_eq!(status, 200);
        submit(&app, &lease, &token, &wrong()).await;
    }
    let (status, body) = lease(&app, project.id, &token).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "too_many_requests");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("come back tomorrow"),
        "{body}"
    );
    // Other annotators are not held back by it.
    let (_, other) = api_session(&app, Role::Annotator).await;
    assert_eq!(lease(&app, project.id, &other).await.0, 200);
}

async fn skip(app: &TestApp, lease: &Value, token: &str, reason: &str) {
    let path = format!(
        "/api/v1/assignments/{}/skip",
        lease["assignment_id"].as_str().unwrap()
    );
    let response = bearer(app, Method::POST, &path, token)
        .json(&serde_json::json!({"reason": reason}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn too_disturbing_skips_never_count_against_the_annotator() {
    let app = TestApp::spawn().await;
    let settings = Settings {
        annotations_per_item: 3,
        ..Settings::default()
    };
    let project = gold_project(&app, settings, 6, 0).await;
    let mut names = Vec::new();
    for reason in ["too_disturbing", "unclear"] {
        let (name, token) = api_session(&app, Role::Annotator).await;
        for _ in 0..2 {
            let (_, l) = lease(&app, project.id, &token).await;
            skip(&app, &l, &token, reason).await;
        }
        for _ in 0..2 {
            let (_, l) = lease(&app, project.id, &token).await;
            submit(&app, &l, &token, &wrong()).await;
        }
        names.push(name);
    }
    let report = report(&app, project.id).await;
    let row = |name: &str| {
        report["annotators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["annotator"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {report}"))
    };
    let disturbed = row(&names[0]);
    assert_eq!(disturbed["skip_rate"], 0.0, "{disturbed}");
    assert_eq!(disturbed["done"], 2, "{disturbed}");
    let unclear = row(&names[1]);
    assert_eq!(unclear["skip_rate"], 0.5, "{unclear}");
}
