//! Crowd entry: joining by a project's link, the quota and its completion
//! code, wrong and rotated tokens, rate limiting, and a crowd worker who
//! can reach nothing but their project.

use safepref_server::config::{Config, ThrottleConfig};
use safepref_server::db::projects::{Project, Settings};
use safepref_server::db::users::Role;
use safepref_tests::{Browser, TestApp, csrf_token_in};

use crate::gold::gold_project;

pub async fn items(app: &TestApp, n: usize) -> Project {
    let settings = Settings {
        annotations_per_item: 1,
        ..Settings::default()
    };
    gold_project(app, settings, n, 0).await
}

/// The admin sets the link; returns the link (path and query) the project
/// page shows.
pub async fn open_link(
    admin: &Browser,
    project: &Project,
    slug: &str,
    quota: &str,
    action: &str,
) -> Option<String> {
    let response = admin
        .post(
            &format!("/admin/projects/{}/crowd", project.id),
            &[
                ("slug", slug),
                ("quota", quota),
                ("completion_code", "DONE-4821"),
                ("action", action),
            ],
        )
        .await;
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    let page = admin
        .get(&format!("/admin/projects/{}", project.id))
        .await
        .text()
        .await
        .unwrap();
    let at = page.find("id=\"entry-link\">")? + "id=\"entry-link\">".len();
    Some(page[at..].split('<').next().unwrap().replace("&amp;", "&"))
}

pub fn with_worker(link: &str, worker: &str) -> String {
    link.replace("WORKER_ID", worker)
        .replace("STUDY_ID", "study-7")
}

/// Follows the join link in a fresh browser; (status, browser).
pub async fn join(app: &TestApp, link: &str) -> (u16, Browser) {
    let mut browser = app.browser();
    let response = browser.get(link).await;
    let status = response.status().as_u16();
    if status == 303 {
        let next = response.headers()["location"].to_str().unwrap().to_string();
        let page = browser.get(&next).await.text().await.unwrap();
        browser.csrf_token = csrf_token_in(&page);
    }
    (status, browser)
}

async fn annotate_page(worker: &Browser, project: &Project) -> String {
    worker
        .get(&format!("/annotate/{}", project.id))
        .await
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_worker_joins_by_link_and_gets_the_completion_code_after_the_quota() {
    let app = TestApp::spawn().await;
    let project = items(&app, 5).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let link = open_link(&admin, &project, "safety-study", "2", "rotate")
        .await
        .expect("the open link on the project page");
    assert!(link.starts_with("/p/safety-study/join?worker_id=WORKER_ID&study=STUDY_ID&token="));

    let (status, worker) = join(&app, &with_worker(&link, "W-1001")).await;
    assert_eq!(status, 303);
    let mut html = annotate_page(&worker, &project).await;
    for _ in 0..2 {
        assert!(html.contains("id=\"label-form\""), "{html}");
        assert!(!html.contains("DONE-4821"));
        let fields = crate::annotate::good_labels(&html);
        let refs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let done = worker
            .post(&format!("/annotate/{}/submit", project.id), &refs)
            .await;
        assert_eq!(done.status(), 303);
        html = annotate_page(&worker, &project).await;
    }
    assert!(
        html.contains("<strong id=\"completion-code\">DONE-4821</strong>"),
        "{html}"
    );
    assert!(!html.contains("id=\"label-form\""), "no more items");

    // Joining again signs the same worker in: one account, still complete.
    let (status, again) = join(&app, &with_worker(&link, "W-1001")).await;
    assert_eq!(status, 303);
    assert!(annotate_page(&again, &project).await.contains("DONE-4821"));
    let (count, role, password, bound): (i64, String, Option<String>, Option<uuid::Uuid>) =
        sqlx::query_as(
            "select count(*) over (), role::text, password_hash, crowd_project_id
               from users where external_id = 'W-1001'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        (count, role.as_str(), password, bound),
        (1, "annotator", None, Some(project.id))
    );
    // Another worker starts from zero.
    let (_, other) = join(&app, &with_worker(&link, "W-1002")).await;
    assert!(
        annotate_page(&other, &project)
            .await
            .contains("id=\"label-form\"")
    );
}

#[tokio::test]
async fn a_wrong_rotated_or_closed_token_is_refused() {
    let app = TestApp::spawn().await;
    let project = items(&app, 3).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let first = open_link(&admin, &project, "study-b", "3", "rotate")
        .await
        .unwrap();
    let token = first.rsplit("token=").next().unwrap().to_string();
    let wrong = first.replace(&token, &format!("{}x", &token[..token.len() - 1]));
    assert_eq!(join(&app, &with_worker(&wrong, "A1")).await.0, 403);
    assert_eq!(join(&app, &with_worker(&first, "A1")).await.0, 303);

    // Rotating: the old link is refused, the new one admits.
    let second = open_link(&admin, &project, "study-b", "3", "rotate")
        .await
        .unwrap();
    assert_ne!(first, second);
    assert_eq!(join(&app, &with_worker(&first, "A2")).await.0, 403);
    assert_eq!(join(&app, &with_worker(&second, "A2")).await.0, 303);
    // Saving keeps the token.
    let saved = open_link(&admin, &project, "study-b", "4", "save")
        .await
        .unwrap();
    assert_eq!(saved, second);

    // Bad ids and unknown links are named.
    let bad = app.browser().get(&with_worker(&second, "has space")).await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("worker_id"));
    let none = app
        .browser()
        .get(&second.replace("worker_id=WORKER_ID&", ""))
        .await;
    assert_eq!(none.status(), 400);
    let unknown = app
        .browser()
        .get(&with_worker(&second, "A3").replace("/p/study-b/", "/p/nothing/"))
        .await;
    assert_eq!(unknown.status(), 404);

    // Closing: nobody joins; the page says the link is closed.
    assert_eq!(
        open_link(&admin, &project, "study-b", "4", "close").await,
        None
    );
    assert_eq!(join(&app, &with_worker(&second, "A4")).await.0, 403);

    // Only admins set the link.
    let (lead, _) = app.signed_in(Role::Lead).await;
    let refused = lead
        .post(
            &format!("/admin/projects/{}/crowd", project.id),
            &[("slug", "x"), ("quota", "1"), ("action", "rotate")],
        )
        .await;
    assert_eq!(refused.status(), 403);
    // A slug that breaks the rules is named.
    let bad_slug = admin
        .post(
            &format!("/admin/projects/{}/crowd", project.id),
            &[("slug", "Bad Slug"), ("quota", "1"), ("action", "rotate")],
        )
        .await;
    assert_eq!(bad_slug.status(), 400);
    assert!(bad_slug.text().await.unwrap().contains("link name"));
}

#[tokio::test]
async fn joins_are_rate_limited_per_client_address() {
    let config = Config {
        throttle: ThrottleConfig {
            max_failures_per_client: 3,
            ..Config::default().throttle
        },
        ..Config::default()
    };
    let app = TestApp::spawn_with(config).await;
    let project = items(&app, 3).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let link = open_link(&admin, &project, "study-c", "3", "rotate")
        .await
        .unwrap();
    assert_eq!(join(&app, &with_worker(&link, "R1")).await.0, 303);
    assert_eq!(
        join(&app, "/p/study-c/join?worker_id=R2&token=nope")
            .await
            .0,
        403
    );
    assert_eq!(join(&app, &with_worker(&link, "R3")).await.0, 303);
    let limited = app.browser().get(&with_worker(&link, "R4")).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    let users: i64 =
        sqlx::query_scalar("select count(*) from users where crowd_project_id is not null")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(users, 2, "the refused join made no account");
}

#[tokio::test]
async fn a_crowd_worker_reaches_nothing_but_their_project() {
    let app = TestApp::spawn().await;
    let project = items(&app, 3).await;
    let other = items(&app, 3).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let link = open_link(&admin, &project, "study-d", "3", "rotate")
        .await
        .unwrap();
    let (_, worker) = join(&app, &with_worker(&link, "Z9")).await;
    let page = annotate_page(&worker, &project).await;
    // The navigation offers only their project's work.
    assert!(page.contains(&format!("<a href=\"/annotate/{}\">Work</a>", project.id)));
    for elsewhere in ["href=\"/\"", "href=\"/account\"", "href=\"/review\""] {
        assert!(!page.contains(elsewhere), "{elsewhere}");
    }
    for path in [
        format!("/annotate/{}", other.id),
        format!("/annotate/{}/guidelines", other.id),
        "/".to_string(),
        "/account".to_string(),
        "/account/tokens".to_string(),
        "/admin/projects".to_string(),
        format!("/admin/projects/{}", project.id),
        "/review".to_string(),
        format!("/review/projects/{}", project.id),
        "/api/v1/projects".to_string(),
        "/api/v1/me".to_string(),
    ] {
        let status = worker.get(&path).await.status();
        assert_eq!(status, 403, "{path}");
    }
    let lease = worker
        .client
        .post(app.url(&format!("/api/v1/projects/{}/lease", other.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(lease.status(), 403);
    // The other project's skip form, with a forged assignment id: refused too.
    let skip = worker
        .post(
            &format!("/annotate/{}/skip", other.id),
            &[
                ("assignment_id", &uuid::Uuid::now_v7().to_string()),
                ("reason", "other"),
            ],
        )
        .await;
    assert_eq!(skip.status(), 403);
}
