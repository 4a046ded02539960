//! Crowd entry: joining by a project's link, the quota and its completion
//! code, wrong and rotated tokens, rate limiting, and a crowd worker who
//! can reach nothing but their project.

use safepref_server::config::{Config, ThrottleConfig};
use safepref_server::db::projects::{Project, Settings};
use safepref_server::db::users::Role;
use safepref_tests::{Browser, ServerProcess, TestApp, csrf_token_in};

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
    let status = join_in(&mut browser, link).await;
    (status, browser)
}

/// Follows the join link in `browser`; once in, it picks up the new
/// session's CSRF token from the page it was sent to.
pub async fn join_in(browser: &mut Browser, link: &str) -> u16 {
    let response = browser.get(link).await;
    let status = response.status().as_u16();
    if status == 303 {
        let next = response.headers()["location"].to_str().unwrap().to_string();
        let page = browser.get(&next).await.text().await.unwrap();
        browser.csrf_token = csrf_token_in(&page);
    }
    status
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

    let (status, mut worker) = join(&app, &with_worker(&link, "W-1001")).await;
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

    // Joining again from the same browser signs the same worker in: one
    // account, still complete.
    assert_eq!(
        join_in(&mut worker, &with_worker(&link, "W-1001")).await,
        303
    );
    assert!(annotate_page(&worker, &project).await.contains("DONE-4821"));
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

/// Sessions of the user with this name.
async fn sessions_of(app: &TestApp, username: &str) -> i64 {
    sqlx::query_scalar(
        "select count(*) from sessions s join users u on u.id = s.user_id where u.username = $1",
    )
    .bind(username)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn crowd_accounts(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from users where crowd_project_id is not null")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn another_browser_cannot_join_as_a_worker_who_joined_elsewhere() {
    let app = TestApp::spawn().await;
    let project = items(&app, 3).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let link = open_link(&admin, &project, "study-e", "3", "rotate")
        .await
        .unwrap();
    let link = with_worker(&link, "V-1");
    let mut worker = app.browser();
    let first = worker.get(&link).await;
    assert_eq!(first.status(), 303);
    let binding = first
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("safepref_crowd_browser="))
        .expect("the browser's crowd cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(binding.contains(attribute), "{binding}");
    }
    let bound: Option<Vec<u8>> =
        sqlx::query_scalar("select crowd_browser_hash from users where external_id = 'V-1'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(bound.map(|hash| hash.len()), Some(32), "a SHA-256 is kept");

    // Someone else with the link and the worker id, in their own browser:
    // refused, told why, and not signed in.
    let intruder = app.browser();
    let refused = intruder.get(&link).await;
    assert_eq!(refused.status(), 403);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("has already joined this study from another browser"),
        "{page}"
    );
    let work = intruder.get(&format!("/annotate/{}", project.id)).await;
    assert_eq!(work.status(), 303, "sent to sign in");
    assert_eq!(sessions_of(&app, "study-e:V-1").await, 1);
    let logged: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where action = 'crowd join refused: another browser'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(logged, 1);

    // The worker's own browser joins again and carries on.
    assert_eq!(join_in(&mut worker, &link).await, 303);
    assert!(
        annotate_page(&worker, &project)
            .await
            .contains("id=\"label-form\"")
    );

    // An account not bound yet (made before binding existed) is bound by
    // its next join, and then only that browser gets in.
    sqlx::query("update users set crowd_browser_hash = null where external_id = 'V-1'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(join(&app, &link).await.0, 303);
    assert_eq!(join_in(&mut worker, &link).await, 403);
}

/// The action of the page's form, as a path with its query.
fn form_action(page: &str) -> String {
    let marker = "<form method=\"post\" action=\"";
    let at = page
        .find(marker)
        .unwrap_or_else(|| panic!("a form in {page}"))
        + marker.len();
    // Askama writes `&` as `&#38;`.
    page[at..].split('"').next().unwrap().replace("&#38;", "&")
}

#[tokio::test]
async fn a_browser_signed_in_as_someone_else_is_asked_before_switching() {
    let app = TestApp::spawn().await;
    let project = items(&app, 3).await;
    let (mut admin, admin_name) = app.signed_in(Role::Admin).await;
    let link = open_link(&admin, &project, "study-f", "3", "rotate")
        .await
        .unwrap();
    let first = with_worker(&link, "S-1");
    let asked = admin.get(&first).await;
    assert_eq!(asked.status(), 200);
    let page = asked.text().await.unwrap();
    assert!(
        page.contains(&format!("This browser is signed in as {admin_name}.")),
        "{page}"
    );
    assert!(page.contains("Sign out and join"), "{page}");
    // Nothing has changed yet: still the admin, no worker account.
    assert_eq!(admin.get("/admin/projects").await.status(), 200);
    assert_eq!(crowd_accounts(&app).await, 0);

    // The form without its CSRF token is refused and changes nothing.
    let action = form_action(&page);
    assert_eq!(action, first);
    assert_eq!(admin.post_raw(&action, &[]).await.status(), 403);
    assert_eq!(sessions_of(&app, &admin_name).await, 1);

    // With it: the admin's session ends and the worker's begins.
    let switched = admin.post(&action, &[]).await;
    assert_eq!(switched.status(), 303);
    assert_eq!(
        switched.headers()["location"],
        format!("/annotate/{}", project.id).as_str()
    );
    assert_eq!(sessions_of(&app, &admin_name).await, 0);
    assert_eq!(sessions_of(&app, "study-f:S-1").await, 1);
    assert_eq!(admin.get("/admin/projects").await.status(), 403);

    // A worker of another id, in the same browser, is asked too, and the
    // question names the worker signed in now.
    let asked = admin.get(&with_worker(&link, "S-2")).await;
    assert_eq!(asked.status(), 200);
    let page = asked.text().await.unwrap();
    assert!(page.contains("signed in as study-f:S-1."), "{page}");
    assert_eq!(sessions_of(&app, "study-f:S-1").await, 1);
    // The same worker again needs no question.
    assert_eq!(join_in(&mut admin, &first).await, 303);
}

#[tokio::test]
async fn a_join_counts_only_as_a_page_of_its_own() {
    let app = TestApp::spawn().await;
    let project = items(&app, 3).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let link = open_link(&admin, &project, "study-g", "3", "rotate")
        .await
        .unwrap();
    let link = app.url(&with_worker(&link, "N-1"));
    let fetch = |browser: &Browser, mode: &str, dest: &str| {
        browser
            .client
            .get(&link)
            .header("sec-fetch-site", "cross-site")
            .header("sec-fetch-mode", mode)
            .header("sec-fetch-dest", dest)
            .send()
    };
    // Another site's image, script request or frame.
    let anonymous = app.browser();
    for (mode, dest) in [
        ("no-cors", "image"),
        ("cors", "empty"),
        ("navigate", "iframe"),
    ] {
        let refused = fetch(&anonymous, mode, dest).await.unwrap();
        assert_eq!(refused.status(), 403, "{mode} {dest}");
        let page = refused.text().await.unwrap();
        assert!(page.contains("opened as a page of its own"), "{page}");
    }
    assert_eq!(crowd_accounts(&app).await, 0);
    // An image on another site does not end a signed-in session either.
    let refused = fetch(&admin, "no-cors", "image").await.unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(admin.get("/admin/projects").await.status(), 200);

    // The platform sending the worker over: a top-level navigation from
    // another site.
    let arrived = fetch(&anonymous, "navigate", "document").await.unwrap();
    assert_eq!(arrived.status(), 303);
    assert_eq!(crowd_accounts(&app).await, 1);
}

#[tokio::test]
async fn housekeeping_removes_joins_that_no_longer_count() {
    let app = TestApp::spawn().await;
    sqlx::query(
        "insert into crowd_joins (client, at)
         values ('198.51.100.1', now() - interval '1 day'), ('198.51.100.2', now())",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    // `safepref serve` runs its first round of housekeeping as it starts.
    let _server = ServerProcess::start(&app.db_url).await;
    let mut left: Vec<String> = Vec::new();
    for _ in 0..50 {
        left = sqlx::query_scalar("select client from crowd_joins order by client")
            .fetch_all(&app.pool)
            .await
            .unwrap();
        if left.len() < 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, vec!["198.51.100.2".to_string()]);
}
