//! The admin page for model suggestions, over HTTP against a scripted model
//! server: a run started from the form, followed to its end, its refused
//! answers shown escaped; a form with mistakes; one run at a time; who may
//! use the page; and what it says about the API key.

use std::time::Duration;

use safepref_core::judge::Template;
use safepref_loadgen::fake_llm::{FakeLlm, Reply};
use safepref_server::db::users::Role;
use safepref_tests::{Browser, TestApp};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::{MODEL, case_of, good_answer, project_with, source, stored};

/// An answer that is no labels and would run as script if shown unescaped.
const HOSTILE: &str = "<script>alert(1)</script> I will not answer in JSON.";

fn page_of(project: Uuid) -> String {
    format!("/admin/projects/{project}/model-runs")
}

/// The form as a browser sends it: the textarea's line breaks as CR LF.
fn form<'a>(endpoint: &'a str, template: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("endpoint", endpoint),
        ("model", MODEL),
        ("batch", ""),
        ("limit", ""),
        ("concurrency", "2"),
        ("template", template),
    ]
}

fn browser_template() -> String {
    Template::default_template().text().replace('\n', "\r\n")
}

/// Reloads the page until its newest run is in `state`.
async fn wait_for(admin: &Browser, page: &str, state: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let html = admin.get(page).await.text().await.unwrap();
        if html.contains(&format!("data-state=\"{state}\"")) {
            return html;
        }
        assert!(!html.contains("data-state=\"failed\""), "{html}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "no run reached {state}: {html}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The first run's page linked from the list.
fn run_link(html: &str, page: &str) -> String {
    let start = html
        .find(&format!("{page}/"))
        .expect("a link to the run's page");
    html[start..].split('"').next().unwrap().to_string()
}

async fn runs(pool: &PgPool) -> i64 {
    sqlx::query_scalar("select count(*) from judge_runs")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_runs_the_model_from_the_page_and_reads_what_it_got_wrong() {
    let app = TestApp::spawn().await;
    let prompts: Vec<String> = [
        "Paged 1 case:good",
        "Paged 2 case:good",
        "Paged 3 case:script",
    ]
    .map(String::from)
    .to_vec();
    let project = project_with(&app.pool, &prompts).await;
    let llm = FakeLlm::start(|body: &Value, _| match case_of(body).as_str() {
        "script" => Reply::Content {
            text: HOSTILE.into(),
            logprob: None,
        },
        _ => Reply::Content {
            text: good_answer(),
            logprob: Some(-0.05),
        },
    })
    .await
    .unwrap();
    let (admin, username) = app.signed_in(Role::Admin).await;
    let project_page = admin
        .get(&format!("/admin/projects/{}", project.id))
        .await
        .text()
        .await
        .unwrap();
    let page = page_of(project.id);
    assert!(project_page.contains(&format!("href=\"{page}\"")));
    let empty = admin.get(&page).await.text().await.unwrap();
    assert!(empty.contains("{{answer_format}}"), "the built-in template");

    let (endpoint, template) = (llm.base_url(), browser_template());
    let response = admin.post(&page, &form(&endpoint, &template)).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], page.as_str());
    let html = wait_for(&admin, &page, "done").await;
    // The unchanged built-in template makes the command line's source.
    assert!(html.contains(&source()), "{html}");
    assert!(html.contains(&username), "{html}");
    assert!(!html.contains("http-equiv=\"refresh\""), "done: no reloads");
    let rows = stored(&app.pool, &source()).await;
    let got: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(got, ["Paged 1 case:good", "Paged 2 case:good"]);

    let run = admin.get(&run_link(&html, &page)).await;
    assert_eq!(run.status(), 200);
    let run = run.text().await.unwrap();
    // Refused twice (the first answer and the one after the reason).
    assert!(run.contains("<code>not_json</code>"), "{run}");
    assert!(
        run.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || run.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the raw answer, escaped: {run}"
    );
    assert!(!run.contains("<script>alert"), "never raw: {run}");
    assert!(run.contains("{{prompt}}"), "the template's text: {run}");

    // A run whose server stopped beating shows as stopped, not running.
    sqlx::query(
        "update judge_runs set state = 'running', heartbeat_at = now() - interval '2 minutes'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let html = admin.get(&page).await.text().await.unwrap();
    assert!(
        html.contains("stopped (no heartbeat for a minute)"),
        "{html}"
    );
    assert!(!html.contains("http-equiv=\"refresh\""), "{html}");
}

#[tokio::test]
async fn a_form_with_mistakes_comes_back_with_them_and_starts_nothing() {
    let app = TestApp::spawn().await;
    let project = project_with(&app.pool, &["Mistaken case:good".to_string()]).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let page = page_of(project.id);
    let fields = [
        ("endpoint", "not a url"),
        ("model", ""),
        ("batch", ""),
        ("limit", "many"),
        ("concurrency", "0"),
        ("template", "Label this.\n{{nope}}\n"),
    ];
    let response = admin.post(&page, &fields).await;
    assert_eq!(response.status(), 400);
    let html = response.text().await.unwrap();
    for (field, words) in [
        ("endpoint", "is not a URL"),
        ("model", "the model name is empty"),
        ("limit", "is not a number of items"),
        (
            "concurrency",
            "is out of range: give a whole number from 1 to 256",
        ),
        ("template", "line 2: unknown placeholder {{nope}}"),
    ] {
        assert!(html.contains(&format!("<a href=\"#{field}\">")), "{field}");
        assert!(html.contains(words), "{words}: {html}");
    }
    for kept in [
        "name=\"endpoint\" value=\"not a url\"",
        "name=\"limit\" value=\"many\"",
        "name=\"concurrency\" value=\"0\"",
        "Label this.\n{{nope}}",
    ] {
        assert!(html.contains(kept), "{kept}: {html}");
    }
    // A batch the project does not have is found only when starting.
    let template = browser_template();
    let mut fields = form("http://127.0.0.1:9/v1", &template);
    fields[2] = ("batch", "7");
    let response = admin.post(&page, &fields).await;
    assert_eq!(response.status(), 400);
    let html = response.text().await.unwrap();
    assert!(html.contains("has no batch 7"), "{html}");
    assert!(html.contains("name=\"batch\" value=\"7\""), "{html}");
    assert_eq!(runs(&app.pool).await, 0, "nothing started");
}

#[tokio::test]
async fn one_run_at_a_time_and_only_admins_see_the_page() {
    let app = TestApp::spawn().await;
    let project = project_with(&app.pool, &["Slow case:slow".to_string()]).await;
    // Slow enough that the run is still going on when the test ends.
    let llm = FakeLlm::start(|_: &Value, _| Reply::Slow {
        delay: Duration::from_secs(60),
        then: Box::new(Reply::Content {
            text: good_answer(),
            logprob: None,
        }),
    })
    .await
    .unwrap();
    let (admin, _) = app.signed_in(Role::Admin).await;
    let page = page_of(project.id);
    let (endpoint, template) = (llm.base_url(), browser_template());
    let fields = form(&endpoint, &template);
    assert_eq!(admin.post(&page, &fields).await.status(), 303);
    let html = wait_for(&admin, &page, "running").await;
    assert!(
        html.contains("http-equiv=\"refresh\""),
        "reloads while running"
    );
    let again = admin.post(&page, &fields).await;
    assert_eq!(again.status(), 409);
    let again = again.text().await.unwrap();
    assert!(again.contains("already asking a model"), "{again}");
    assert_eq!(runs(&app.pool).await, 1);

    let run = run_link(&html, &page);
    for role in [Role::Annotator, Role::Lead] {
        let (browser, _) = app.signed_in(role).await;
        for response in [
            browser.get(&page).await,
            browser.get(&run).await,
            browser.post(&page, &fields).await,
        ] {
            assert_eq!(response.status(), 403, "{role:?}");
        }
    }
    assert_eq!(runs(&app.pool).await, 1);
}

#[tokio::test]
async fn the_page_says_whether_the_server_has_a_key_and_never_shows_it() {
    let app = TestApp::spawn().await;
    let project = project_with(&app.pool, &["Keyed case:good".to_string()]).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let html = admin.get(&page_of(project.id)).await.text().await.unwrap();
    // Read, never set: other tests run in this process at the same time.
    match std::env::var("SAFEPREF_LLM_API_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty())
    {
        None => assert!(html.contains("The server has no API key"), "{html}"),
        Some(key) => {
            assert!(html.contains("The server has an API key"), "{html}");
            assert!(!html.contains(key.trim()));
        }
    }
}

/// Two starts at the same moment: the check for a live run and the new
/// run's row are one step under the project's lock. While one start's
/// transaction holds it, the other waits, and then sees the new run.
#[tokio::test]
async fn a_second_start_waits_for_the_first_and_sees_its_run() {
    use safepref_server::db::judge::{NewRun, create_run, lock_and_check_running, save_template};
    let app = TestApp::spawn().await;
    let project = project_with(&app.pool, &["Race case:race".to_string()]).await;
    let template = Template::default_template();
    save_template(&app.pool, &template.version(), template.text())
        .await
        .unwrap();
    let mut first = app.pool.begin().await.unwrap();
    assert!(
        !lock_and_check_running(&mut first, project.id)
            .await
            .unwrap()
    );
    let pool = app.pool.clone();
    let second = tokio::spawn(async move {
        let mut tx = pool.begin().await.unwrap();
        lock_and_check_running(&mut tx, project.id).await.unwrap()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "the second start waits for the lock");
    let run = NewRun {
        id: Uuid::new_v4(),
        project_id: project.id,
        requested_by: None,
        origin: "page",
        endpoint: "http://127.0.0.1:9/v1",
        model: MODEL,
        source: &source(),
        template_version: &template.version(),
        options: serde_json::json!({}),
    };
    create_run(&mut *first, &run).await.unwrap();
    first.commit().await.unwrap();
    assert!(second.await.unwrap(), "then it sees the first start's run");
}
