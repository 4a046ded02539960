//! Access control as one table: every route (pages and API) × anonymous /
//! annotator / lead / admin, and every state-changing route refused without
//! its CSRF token. A new route must be added to `ROUTES`:
//! `every_route_of_the_router_has_a_row` reads the routes the server
//! registers (`routes::routes()`) and fails on a route without a row.
//! (POST /login, POST /logout and POST /api/v1/session are covered by the
//! sign-in tests in auth.rs.) Guessing another user's ids is tested below
//! the table (`guessing_ids_gets_nothing`).
//!
//! The last column is a crowd worker of *another* project (joined by that
//! project's entry link): every signed-in route is refused to them.
//!
//! The project dimension (`PROJECT_ROUTES`, issue 25): every route into one
//! project's data × role × member or not of a members-only project.

use safepref_server::db::users::Role;
use safepref_server::projects::Project;
use safepref_tests::{Browser, TestApp};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Method {
    Get,
    Post,
    Put,
    Delete,
}

/// (method, path with `{id}` for another user's id, `{project}` and `{batch}`
/// for a project and one of its batches; least role allowed; None = public)
const ROUTES: &[(Method, &str, Option<Role>)] = &[
    (Method::Get, "/", Some(Role::Annotator)),
    (Method::Get, "/account", Some(Role::Annotator)),
    (Method::Post, "/account/password", Some(Role::Annotator)),
    (Method::Get, "/review", Some(Role::Lead)),
    (Method::Get, "/review/projects/{project}", Some(Role::Lead)),
    (Method::Get, "/admin/users", Some(Role::Admin)),
    (Method::Post, "/admin/users", Some(Role::Admin)),
    (Method::Get, "/admin/users/new", Some(Role::Admin)),
    (Method::Get, "/admin/users/{id}", Some(Role::Admin)),
    (Method::Post, "/admin/users/{id}/role", Some(Role::Admin)),
    (Method::Get, "/admin/users/{id}/disable", Some(Role::Admin)),
    (Method::Post, "/admin/users/{id}/disable", Some(Role::Admin)),
    (Method::Post, "/admin/users/{id}/enable", Some(Role::Admin)),
    (Method::Post, "/admin/users/{id}/unlock", Some(Role::Admin)),
    (Method::Get, "/admin/users/{id}/password", Some(Role::Admin)),
    (
        Method::Post,
        "/admin/users/{id}/password",
        Some(Role::Admin),
    ),
    (Method::Get, "/admin/projects", Some(Role::Admin)),
    (Method::Post, "/admin/projects", Some(Role::Admin)),
    (Method::Get, "/admin/projects/new", Some(Role::Admin)),
    (Method::Get, "/admin/projects/{project}", Some(Role::Admin)),
    (Method::Post, "/admin/projects/{project}", Some(Role::Admin)),
    (
        Method::Post,
        "/admin/projects/{project}/crowd",
        Some(Role::Admin),
    ),
    (
        Method::Get,
        "/admin/projects/{project}/edit",
        Some(Role::Admin),
    ),
    (
        Method::Post,
        "/admin/projects/{project}/import",
        Some(Role::Admin),
    ),
    (
        Method::Get,
        "/admin/projects/{project}/batches/{batch}/delete",
        Some(Role::Admin),
    ),
    (
        Method::Post,
        "/admin/projects/{project}/batches/{batch}/delete",
        Some(Role::Admin),
    ),
    (
        Method::Get,
        "/admin/projects/{project}/exports",
        Some(Role::Admin),
    ),
    (
        Method::Post,
        "/admin/projects/{project}/exports",
        Some(Role::Admin),
    ),
    (
        Method::Get,
        "/admin/exports/{id}/files/manifest.json",
        Some(Role::Admin),
    ),
    (
        Method::Get,
        "/api/v1/projects/{project}/export",
        Some(Role::Admin),
    ),
    // Model suggestions ({id} is no run: an admin gets past the role check
    // to a 404; the POST's empty form is a 400 that starts nothing).
    (
        Method::Get,
        "/admin/projects/{project}/model-runs",
        Some(Role::Admin),
    ),
    (
        Method::Post,
        "/admin/projects/{project}/model-runs",
        Some(Role::Admin),
    ),
    (
        Method::Get,
        "/admin/projects/{project}/model-runs/{id}",
        Some(Role::Admin),
    ),
    // A project's people ({id}, an annotator who is no member: a 404 past
    // the role check; the API's bodies are missing: a 400/415).
    (
        Method::Get,
        "/admin/projects/{project}/access",
        Some(Role::Admin),
    ),
    (
        Method::Post,
        "/admin/projects/{project}/access",
        Some(Role::Admin),
    ),
    (
        Method::Post,
        "/admin/projects/{project}/members",
        Some(Role::Admin),
    ),
    (
        Method::Get,
        "/admin/projects/{project}/members/{id}/remove",
        Some(Role::Admin),
    ),
    (
        Method::Post,
        "/admin/projects/{project}/members/{id}/remove",
        Some(Role::Admin),
    ),
    (
        Method::Get,
        "/api/v1/projects/{project}/members",
        Some(Role::Admin),
    ),
    (
        Method::Post,
        "/api/v1/projects/{project}/members",
        Some(Role::Admin),
    ),
    (
        Method::Delete,
        "/api/v1/projects/{project}/members/{id}",
        Some(Role::Admin),
    ),
    (
        Method::Put,
        "/api/v1/projects/{project}/access",
        Some(Role::Admin),
    ),
    (Method::Get, "/api/v1/me", Some(Role::Annotator)),
    (Method::Get, "/api/v1/users", Some(Role::Admin)),
    (Method::Get, "/annotate/{project}", Some(Role::Annotator)),
    (
        Method::Post,
        "/annotate/{project}/submit",
        Some(Role::Annotator),
    ),
    (
        Method::Post,
        "/annotate/{project}/skip",
        Some(Role::Annotator),
    ),
    (
        Method::Get,
        "/annotate/{project}/guidelines",
        Some(Role::Annotator),
    ),
    (
        Method::Get,
        "/annotate/{project}/revise/{id}",
        Some(Role::Annotator),
    ),
    (
        Method::Post,
        "/annotate/{project}/revise/{id}",
        Some(Role::Annotator),
    ),
    (Method::Get, "/api/v1/projects", Some(Role::Annotator)),
    (
        Method::Get,
        "/api/v1/projects/{project}/report",
        Some(Role::Lead),
    ),
    (
        Method::Post,
        "/api/v1/projects/{project}/lease",
        Some(Role::Annotator),
    ),
    // {id} is no assignment: a signed-in caller gets past the role check to a 4xx.
    (
        Method::Post,
        "/api/v1/assignments/{id}/submit",
        Some(Role::Annotator),
    ),
    (
        Method::Post,
        "/api/v1/assignments/{id}/skip",
        Some(Role::Annotator),
    ),
    // {id} is no item: a caller with the role gets past the check to a 4xx.
    (
        Method::Get,
        "/api/v1/items/{id}/suggestions",
        Some(Role::Lead),
    ),
    (
        Method::Post,
        "/api/v1/items/{id}/suggestions",
        Some(Role::Admin),
    ),
    (Method::Get, "/account/tokens", Some(Role::Admin)),
    (Method::Post, "/account/tokens", Some(Role::Admin)),
    // {id} is no token of the caller's: an admin gets past the role check to a 404.
    (
        Method::Get,
        "/account/tokens/{id}/revoke",
        Some(Role::Admin),
    ),
    (
        Method::Post,
        "/account/tokens/{id}/revoke",
        Some(Role::Admin),
    ),
    (Method::Get, "/api/v1/tokens", Some(Role::Admin)),
    (Method::Post, "/api/v1/tokens", Some(Role::Admin)),
    (Method::Delete, "/api/v1/tokens/{id}", Some(Role::Admin)),
    // Another user's tokens: the second {id} is no token of theirs, so an
    // admin gets past the role check to a 404.
    (
        Method::Get,
        "/admin/users/{id}/tokens/{id}/revoke",
        Some(Role::Admin),
    ),
    (
        Method::Post,
        "/admin/users/{id}/tokens/{id}/revoke",
        Some(Role::Admin),
    ),
    (Method::Get, "/api/v1/users/{id}/tokens", Some(Role::Admin)),
    // Spelled as routed (every_api_route_has_a_row compares the text);
    // `{token}` stays as it is, no uuid, so an admin gets past the role
    // check to a 400.
    (
        Method::Delete,
        "/api/v1/users/{id}/tokens/{token}",
        Some(Role::Admin),
    ),
    (
        Method::Get,
        "/api/v1/projects/{project}",
        Some(Role::Annotator),
    ),
    (
        Method::Get,
        "/api/v1/projects/{project}/batches",
        Some(Role::Lead),
    ),
    (
        Method::Get,
        "/api/v1/projects/{project}/progress",
        Some(Role::Lead),
    ),
    (
        Method::Get,
        "/review/projects/{project}/queue",
        Some(Role::Lead),
    ),
    (
        Method::Get,
        "/review/projects/{project}/annotators/{id}",
        Some(Role::Lead),
    ),
    (
        Method::Post,
        "/review/projects/{project}/annotators/{id}/pause",
        Some(Role::Lead),
    ),
    (
        Method::Post,
        "/review/projects/{project}/annotators/{id}/resume",
        Some(Role::Lead),
    ),
    (
        Method::Post,
        "/review/projects/{project}/annotators/{id}/release",
        Some(Role::Lead),
    ),
    (
        Method::Get,
        "/review/projects/{project}/annotators/{id}/requeue",
        Some(Role::Lead),
    ),
    // No batch chosen: a lead gets past the role check to a 400.
    (
        Method::Post,
        "/review/projects/{project}/annotators/{id}/requeue",
        Some(Role::Lead),
    ),
    (
        Method::Get,
        "/review/projects/{project}/annotators/{id}/disable",
        Some(Role::Lead),
    ),
    (
        Method::Post,
        "/review/projects/{project}/annotators/{id}/disable",
        Some(Role::Lead),
    ),
    // {id} is no item: a lead gets past the role check to a 404.
    (Method::Get, "/review/items/{id}", Some(Role::Lead)),
    (
        Method::Post,
        "/review/items/{id}/adjudicate",
        Some(Role::Lead),
    ),
    (
        Method::Post,
        "/review/items/{id}/send-back",
        Some(Role::Lead),
    ),
    (Method::Get, "/review/audit", Some(Role::Lead)),
    // The review API (api_review.rs); {id} is no item: a lead gets a 404.
    (
        Method::Get,
        "/api/v1/projects/{project}/review-queue",
        Some(Role::Lead),
    ),
    (Method::Get, "/api/v1/items/{id}/review", Some(Role::Lead)),
    (
        Method::Post,
        "/api/v1/items/{id}/adjudicate",
        Some(Role::Lead),
    ),
    (
        Method::Post,
        "/api/v1/items/{id}/send-back",
        Some(Role::Lead),
    ),
    (
        Method::Post,
        "/api/v1/projects/{project}/annotators/{id}/pause",
        Some(Role::Lead),
    ),
    (
        Method::Post,
        "/api/v1/projects/{project}/annotators/{id}/resume",
        Some(Role::Lead),
    ),
    (
        Method::Post,
        "/api/v1/projects/{project}/annotators/{id}/release",
        Some(Role::Lead),
    ),
    (
        Method::Post,
        "/api/v1/projects/{project}/annotators/{id}/requeue",
        Some(Role::Lead),
    ),
    (Method::Get, "/api/v1/audit", Some(Role::Lead)),
    (Method::Get, "/api/v1/openapi.json", None),
    // Sign-out ends the session: keep it after every other signed-in row.
    (Method::Delete, "/api/v1/session", Some(Role::Annotator)),
    (Method::Get, "/login", None),
    (Method::Get, "/healthz", None),
    (Method::Get, "/readyz", None),
    (Method::Get, "/static/app.css", None),
];

async fn call(browser: &Browser, method: Method, path: &str) -> reqwest::Response {
    let url = format!("{}{path}", browser.base);
    let token = browser.csrf_token.clone().unwrap_or_default();
    let request = match method {
        Method::Get => browser.client.get(url),
        Method::Post => browser
            .client
            .post(url)
            .form(&[("csrf_token", token.as_str())]),
        Method::Put => browser.client.put(url).header("x-csrf-token", token),
        Method::Delete => browser.client.delete(url).header("x-csrf-token", token),
    };
    request.send().await.unwrap()
}

/// The same request with no CSRF token (a cookie session, as a forged
/// cross-site form would be sent).
async fn call_without_csrf(browser: &Browser, method: Method, path: &str) -> reqwest::Response {
    let url = format!("{}{path}", browser.base);
    let request = match method {
        Method::Get => browser.client.get(url),
        Method::Post => browser.client.post(url).form(&[("x", "y")]),
        Method::Put => browser.client.put(url),
        Method::Delete => browser.client.delete(url),
    };
    request.send().await.unwrap()
}

#[tokio::test]
async fn every_route_answers_each_role_as_it_should() {
    let app = TestApp::spawn().await;
    let (target, _) = app.user(Role::Annotator).await;
    let target_id: uuid::Uuid = sqlx::query_scalar("select id from users where username = $1")
        .bind(&target)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let (project, batch) = project_with_a_batch(&app).await;
    let mut who: Vec<(Caller, Browser)> = vec![(Caller::Anonymous, app.browser())];
    for role in Role::ALL {
        who.push((Caller::Role(role), app.signed_in(role).await.0));
    }
    who.push((
        Caller::CrowdWorker,
        crowd_worker_of_another_project(&app).await,
    ));

    let mut failures = Vec::new();
    for &(method, pattern, least) in ROUTES {
        let path = pattern
            .replace("{id}", &target_id.to_string())
            .replace("{project}", &project.to_string())
            .replace("{batch}", &batch.to_string());
        let is_api = path.starts_with("/api/");
        if !matches!(method, Method::Get) {
            let admin = &who
                .iter()
                .find(|(c, _)| *c == Caller::Role(Role::Admin))
                .unwrap()
                .1;
            let refused = call_without_csrf(admin, method, &path).await;
            let status = refused.status().as_u16();
            let body = refused.text().await.unwrap();
            if status != 403 || !body.contains("CSRF") {
                failures.push(format!(
                    "{method:?} {pattern} without its CSRF token: {status}"
                ));
            }
        }
        for (caller, browser) in &who {
            // Sign-out ends the session: only the admin's, on the last signed-in row.
            let signs_out = matches!(method, Method::Delete) && pattern == "/api/v1/session";
            if signs_out && !matches!(caller, Caller::Anonymous | Caller::Role(Role::Admin)) {
                continue;
            }
            let response = call(browser, method, &path).await;
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_string());
            let body = response.text().await.unwrap();
            let verdict = match (least, *caller) {
                (None, _) => status < 400,
                (Some(_), Caller::CrowdWorker) => status == 403,
                (Some(_), Caller::Anonymous) if is_api => {
                    status == 401
                        && serde_json::from_str::<Value>(&body)
                            .is_ok_and(|v| v["error"]["code"] == "unauthorized")
                }
                (Some(_), Caller::Anonymous) => {
                    status == 303
                        && location
                            .as_deref()
                            .is_some_and(|l| l.starts_with("/login?next="))
                }
                (Some(least), Caller::Role(role)) if role < least => {
                    status == 403
                        && if is_api {
                            serde_json::from_str::<Value>(&body)
                                .is_ok_and(|v| v["error"]["code"] == "forbidden")
                        } else {
                            body.contains("This page is for")
                        }
                }
                (Some(_), Caller::Role(_)) => {
                    status != 401
                        && status != 403
                        && !location.as_deref().is_some_and(|l| l.starts_with("/login"))
                }
            };
            if !verdict {
                failures.push(format!(
                    "{method:?} {pattern} as {caller:?}: {status} {location:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "wrong answers:\n{}",
        failures.join("\n")
    );
}

/// Routes without a row, and where they are tested instead.
const NOT_IN_THE_TABLE: [(&str, &str); 5] = [
    ("POST", "/login"),          // auth.rs: sign-in
    ("POST", "/logout"),         // auth.rs: sign-out ends the session
    ("POST", "/api/v1/session"), // auth.rs: the JSON sign-in
    ("GET", "/p/{slug}/join"),   // crowd.rs: joining by a project's link
    ("POST", "/p/{slug}/join"),  // crowd.rs: joining after "sign out and join"
];

/// A path with each `{name}` made `{}`, to compare paths whatever their
/// parameters are called.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut in_brace = false;
    for c in path.chars() {
        match c {
            '{' => in_brace = true,
            '}' => {
                in_brace = false;
                out.push_str("{}");
            }
            _ if !in_brace => out.push(c),
            _ => {}
        }
    }
    out
}

/// Every route the server registers (pages and API) has a row: a route
/// added without one fails here.
#[test]
fn every_route_of_the_router_has_a_row() {
    let declared: Vec<(String, String)> = safepref_server::routes::routes()
        .registered()
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert!(declared.len() > 40, "the routes were found: {declared:?}");
    let listed: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p, _)| (format!("{m:?}").to_uppercase(), shape(p)))
        .collect();
    // A row's concrete segment (`manifest.json`, `app.css`) stands for a
    // declared parameter (`{name}`, `{*file}`).
    let covers = |row: &str, declared: &str| {
        let (row, declared) = (row.split('/'), declared.split('/'));
        row.clone().count() == declared.clone().count()
            && row.zip(declared).all(|(r, d)| r == d || d == "{}")
    };
    let missing: Vec<String> = declared
        .iter()
        .filter(|(m, p)| !NOT_IN_THE_TABLE.contains(&(m.as_str(), p.as_str())))
        .filter(|(m, p)| {
            let p = shape(p);
            !listed.iter().any(|(lm, lp)| lm == m && covers(lp, &p))
        })
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(missing.is_empty(), "add to ROUTES: {missing:?}");
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Caller {
    Anonymous,
    Role(Role),
    /// Joined by the entry link of a project other than the table's.
    CrowdWorker,
}

async fn crowd_worker_of_another_project(app: &TestApp) -> Browser {
    let their_project = crate::crowd::items(app, 2).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let link = crate::crowd::open_link(&admin, &their_project, "roles-study", "2", "rotate")
        .await
        .expect("the project page shows the entry link");
    let (status, worker) = crate::crowd::join(app, &crate::crowd::with_worker(&link, "R1")).await;
    assert_eq!(status, 303, "the worker joined");
    worker
}

async fn project_with_a_batch(app: &TestApp) -> (uuid::Uuid, uuid::Uuid) {
    let (project, batch) = crate::import::project_with_sample(&app.pool).await;
    (project.id, batch.batch_id)
}

/// Ids are not secrets: an annotator who knows (or guesses) another's
/// annotation, assignment or item id gets nothing from it, by page or by
/// API, and changes nothing.
#[tokio::test]
async fn guessing_ids_gets_nothing() {
    use safepref_core::labels::{Labels, ResponseLabel};
    use safepref_server::queue;

    let app = TestApp::spawn().await;
    let (project, _) = crate::import::project_with_sample(&app.pool).await;
    let (owner_name, _) = app.user(Role::Annotator).await;
    let owner: uuid::Uuid = sqlx::query_scalar("select id from users where username = $1")
        .bind(&owner_name)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let secret = "the owner's private comment";
    let labels = Labels {
        responses: vec![ResponseLabel::safe(), ResponseLabel::safe()],
        helpfulness: vec![0, 1],
        harmlessness: vec![0, 1],
        overall: None,
        confidence: None,
        comment: Some(secret.into()),
    };
    let done = queue::lease(&app.pool, &project, owner)
        .await
        .unwrap()
        .unwrap();
    let annotation = queue::submit(
        &app.pool,
        &project,
        owner,
        done.assignment_id,
        uuid::Uuid::new_v4(),
        &labels,
        9.0,
    )
    .await
    .unwrap();
    let live = queue::lease(&app.pool, &project, owner)
        .await
        .unwrap()
        .unwrap();
    let stored = || async {
        sqlx::query_as::<_, (i64, Value, i64)>(
            "select (select count(*) from annotations), \
                    (select labels from annotations where id = $1), \
                    (select count(*) from assignments where state = 'leased')",
        )
        .bind(annotation)
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    let before = stored().await;

    let (guesser, _) = app.signed_in(Role::Annotator).await;
    let (_, token) = crate::tokens::api_session(&app, Role::Annotator).await;
    let p = project.id;
    // The owner's annotation, to read or to revise.
    let page = guesser
        .get(&format!("/annotate/{p}/revise/{annotation}"))
        .await;
    assert_eq!(page.status(), 404);
    assert!(!page.text().await.unwrap().contains(secret));
    let revise = guesser
        .post(
            &format!("/annotate/{p}/revise/{annotation}"),
            &[("r0_safe", "unsafe"), ("r0_severity", "3")],
        )
        .await;
    assert!(
        [400, 404].contains(&revise.status().as_u16()),
        "{}",
        revise.status()
    );
    // The owner's live assignment, to submit into or to skip.
    let submit = crate::tokens::bearer(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/assignments/{}/submit", live.assignment_id),
        &token,
    )
    .json(&serde_json::json!({"submission_id": uuid::Uuid::new_v4(), "labels": labels}))
    .send()
    .await
    .unwrap();
    assert_eq!(submit.status(), 404);
    let skip = crate::tokens::bearer(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/assignments/{}/skip", live.assignment_id),
        &token,
    )
    .json(&serde_json::json!({"reason": "unclear"}))
    .send()
    .await
    .unwrap();
    assert_eq!(skip.status(), 404);
    // Consolidated data and exports, by page and by API.
    for path in [
        format!("/api/v1/projects/{p}/report"),
        format!("/api/v1/projects/{p}/export?format=pku"),
        format!("/review/items/{}", done.item.id),
    ] {
        let by_token = crate::tokens::bearer(&app, reqwest::Method::GET, &path, &token)
            .send()
            .await
            .unwrap();
        let by_page = guesser.get(&path).await;
        for response in [by_token, by_page] {
            assert_eq!(response.status(), 403, "{path}");
            assert!(!response.text().await.unwrap().contains(secret), "{path}");
        }
    }
    assert_eq!(stored().await, before, "nothing changed");
}

// The project dimension (issue 25).

/// What a row sends: a form with only the CSRF token (as `ROUTES`), or a
/// valid JSON body, so that the project check is what answers.
#[derive(Clone, Copy, Debug)]
enum Body {
    Form,
    Labels,
    SkipReason,
    /// The review API's bodies: a reason; labels and a reason; no batch.
    Reason,
    Adjudication,
    Requeue,
}

/// Every route (but the admins') that reaches one project's data, called
/// on a members-only project by every role, as a member and as no member.
/// `{project}` is the project; `{item}` one of its items; `{assignment}`
/// and `{annotation}` the caller's own in it (from before the project was
/// made members only); `{id}` an annotator. Allowed: an answer unlike the
/// one for ids that do not exist. Denied: the very same answer, so a hidden
/// project is not disclosed. Below the least role: 403, as in `ROUTES`.
/// (Admin-only routes stay in `ROUTES` alone: admins see every project.)
const PROJECT_ROUTES: &[(Method, &str, Role, Body)] = &[
    (
        Method::Get,
        "/annotate/{project}",
        Role::Annotator,
        Body::Form,
    ),
    (
        Method::Post,
        "/annotate/{project}/submit",
        Role::Annotator,
        Body::Form,
    ),
    (
        Method::Post,
        "/annotate/{project}/skip",
        Role::Annotator,
        Body::Form,
    ),
    (
        Method::Get,
        "/annotate/{project}/guidelines",
        Role::Annotator,
        Body::Form,
    ),
    (
        Method::Get,
        "/annotate/{project}/revise/{annotation}",
        Role::Annotator,
        Body::Form,
    ),
    (
        Method::Post,
        "/annotate/{project}/revise/{annotation}",
        Role::Annotator,
        Body::Form,
    ),
    (
        Method::Get,
        "/api/v1/projects/{project}",
        Role::Annotator,
        Body::Form,
    ),
    (
        Method::Post,
        "/api/v1/projects/{project}/lease",
        Role::Annotator,
        Body::Form,
    ),
    (
        Method::Post,
        "/api/v1/assignments/{assignment}/submit",
        Role::Annotator,
        Body::Labels,
    ),
    (
        Method::Post,
        "/api/v1/assignments/{assignment}/skip",
        Role::Annotator,
        Body::SkipReason,
    ),
    (
        Method::Get,
        "/api/v1/projects/{project}/report",
        Role::Lead,
        Body::Form,
    ),
    (
        Method::Get,
        "/api/v1/projects/{project}/batches",
        Role::Lead,
        Body::Form,
    ),
    (
        Method::Get,
        "/api/v1/projects/{project}/progress",
        Role::Lead,
        Body::Form,
    ),
    (
        Method::Get,
        "/api/v1/items/{item}/suggestions",
        Role::Lead,
        Body::Form,
    ),
    (
        Method::Get,
        "/review/projects/{project}",
        Role::Lead,
        Body::Form,
    ),
    (
        Method::Get,
        "/review/projects/{project}/queue",
        Role::Lead,
        Body::Form,
    ),
    (
        Method::Get,
        "/review/projects/{project}/annotators/{id}",
        Role::Lead,
        Body::Form,
    ),
    (
        Method::Post,
        "/review/projects/{project}/annotators/{id}/pause",
        Role::Lead,
        Body::Form,
    ),
    (
        Method::Post,
        "/review/projects/{project}/annotators/{id}/resume",
        Role::Lead,
        Body::Form,
    ),
    (
        Method::Post,
        "/review/projects/{project}/annotators/{id}/release",
        Role::Lead,
        Body::Form,
    ),
    (
        Method::Get,
        "/review/projects/{project}/annotators/{id}/requeue",
        Role::Lead,
        Body::Form,
    ),
    (
        Method::Post,
        "/review/projects/{project}/annotators/{id}/requeue",
        Role::Lead,
        Body::Form,
    ),
    (
        Method::Get,
        "/review/projects/{project}/annotators/{id}/disable",
        Role::Lead,
        Body::Form,
    ),
    (
        Method::Post,
        "/review/projects/{project}/annotators/{id}/disable",
        Role::Lead,
        Body::Form,
    ),
    (Method::Get, "/review/items/{item}", Role::Lead, Body::Form),
    (
        Method::Post,
        "/review/items/{item}/adjudicate",
        Role::Lead,
        Body::Form,
    ),
    (
        Method::Post,
        "/review/items/{item}/send-back",
        Role::Lead,
        Body::Form,
    ),
    (
        Method::Get,
        "/api/v1/projects/{project}/review-queue",
        Role::Lead,
        Body::Form,
    ),
    (
        Method::Get,
        "/api/v1/items/{item}/review",
        Role::Lead,
        Body::Form,
    ),
    (
        Method::Post,
        "/api/v1/items/{item}/adjudicate",
        Role::Lead,
        Body::Adjudication,
    ),
    (
        Method::Post,
        "/api/v1/items/{item}/send-back",
        Role::Lead,
        Body::Reason,
    ),
    (
        Method::Post,
        "/api/v1/projects/{project}/annotators/{id}/pause",
        Role::Lead,
        Body::Reason,
    ),
    (
        Method::Post,
        "/api/v1/projects/{project}/annotators/{id}/resume",
        Role::Lead,
        Body::Reason,
    ),
    (
        Method::Post,
        "/api/v1/projects/{project}/annotators/{id}/release",
        Role::Lead,
        Body::Reason,
    ),
    (
        Method::Post,
        "/api/v1/projects/{project}/annotators/{id}/requeue",
        Role::Lead,
        Body::Requeue,
    ),
];

/// Lists of projects (or of what happened in them), with the least role:
/// allowed, the project is in the list; denied, it is left out.
const PROJECT_LISTS: [(&str, Role); 4] = [
    ("/", Role::Annotator),
    ("/api/v1/projects", Role::Annotator),
    ("/review", Role::Lead),
    ("/review/audit?action=project+created", Role::Lead),
];

/// Every non-admin row of `ROUTES` that reaches a project's data (by the
/// project, an item, an assignment or an annotation) is in `PROJECT_ROUTES`.
#[test]
fn every_route_into_a_project_has_a_project_row() {
    let into_a_project = |path: &str| {
        path.contains("{project}")
            || ["/review/items/", "/api/v1/assignments/", "/api/v1/items/"]
                .iter()
                .any(|start| path.starts_with(start))
    };
    let missing: Vec<String> = ROUTES
        .iter()
        .filter(|(_, path, least)| into_a_project(path) && *least != Some(Role::Admin))
        .filter(|(method, path, _)| {
            !PROJECT_ROUTES
                .iter()
                .any(|(m, p, ..)| m == method && shape(p) == shape(path))
        })
        .map(|(method, path, _)| format!("{method:?} {path}"))
        .collect();
    assert!(missing.is_empty(), "add to PROJECT_ROUTES: {missing:?}");
}

/// One caller of the project dimension, with their own assignment and
/// annotation in the project.
struct ProjectCaller {
    role: Role,
    member: bool,
    person: crate::members::access::Person,
    assignment: uuid::Uuid,
    annotation: uuid::Uuid,
}

impl ProjectCaller {
    /// Leases and submits one item, and leases another, while the project
    /// is still open.
    async fn new(app: &TestApp, project: &Project, role: Role, member: bool) -> Self {
        use safepref_server::queue;
        let person = crate::members::access::person(app, role).await;
        let lease = || async {
            let lease = queue::lease(&app.pool, project, person.id).await.unwrap();
            lease.expect("an item is left").assignment_id
        };
        let done = lease().await;
        let labels = crate::members::access::labels();
        let annotation = queue::submit(
            &app.pool,
            project,
            person.id,
            done,
            uuid::Uuid::new_v4(),
            &labels,
            5.0,
        )
        .await
        .unwrap();
        let assignment = lease().await;
        ProjectCaller {
            role,
            member,
            person,
            assignment,
            annotation,
        }
    }

    /// The row's path with this caller's ids, or with ids of nothing.
    fn path(&self, pattern: &str, project: uuid::Uuid, item: uuid::Uuid, real: bool) -> String {
        let (assignment, annotation) = if real {
            (self.assignment, self.annotation)
        } else {
            (uuid::Uuid::now_v7(), uuid::Uuid::now_v7())
        };
        pattern
            .replace("{project}", &project.to_string())
            .replace("{item}", &item.to_string())
            .replace("{assignment}", &assignment.to_string())
            .replace("{annotation}", &annotation.to_string())
    }

    async fn call(&self, method: Method, path: &str, body: Body) -> (u16, String) {
        let browser = &self.person.browser;
        let json = match body {
            Body::Form => None,
            Body::Labels => Some(serde_json::json!({
                "submission_id": uuid::Uuid::new_v4(),
                "labels": crate::members::access::labels(),
            })),
            Body::SkipReason => Some(serde_json::json!({"reason": "unclear"})),
            Body::Reason => Some(serde_json::json!({"reason": "a check of who may"})),
            Body::Adjudication => Some(serde_json::json!({
                "labels": crate::members::access::labels(),
                "reason": "a check of who may",
            })),
            Body::Requeue => Some(serde_json::json!({"batches": [], "reason": "a check"})),
        };
        match json {
            None => crate::members::access::answer(call(browser, method, path).await).await,
            Some(json) => {
                let post = reqwest::Method::POST;
                crate::members::access::api(&self.person, post, path, json).await
            }
        }
    }
}

#[tokio::test]
async fn every_route_into_a_project_answers_members_and_others_as_it_should() {
    let app = TestApp::spawn().await;
    let (project, _) = crate::import::project_with_sample(&app.pool).await;
    let target = crate::members::access::person(&app, Role::Annotator).await;
    let mut callers = Vec::new();
    for (role, member) in [
        (Role::Annotator, true),
        (Role::Annotator, false),
        (Role::Lead, true),
        (Role::Lead, false),
        (Role::Admin, false),
    ] {
        callers.push(ProjectCaller::new(&app, &project, role, member).await);
    }
    let members: Vec<uuid::Uuid> = callers
        .iter()
        .filter(|c| c.member)
        .map(|c| c.person.id)
        .chain([target.id])
        .collect();
    crate::members::access::members_only(&app.pool, project.id, &members).await;
    let item = crate::members::access::an_item(&app.pool, project.id).await;

    let mut failures = Vec::new();
    for &(method, pattern, least, body) in PROJECT_ROUTES {
        let pattern = pattern.replace("{id}", &target.id.to_string());
        for caller in &callers {
            let real = caller.path(&pattern, project.id, item, true);
            let nowhere = caller.path(&pattern, uuid::Uuid::now_v7(), uuid::Uuid::now_v7(), false);
            let seen = caller.call(method, &real, body).await;
            let of_nothing = caller.call(method, &nowhere, body).await;
            let allowed = caller.member || caller.role == Role::Admin;
            let verdict = if caller.role < least {
                seen.0 == 403
            } else if allowed {
                seen != of_nothing && ![401, 403].contains(&seen.0) && seen.0 < 500
            } else {
                seen == of_nothing && seen.0 == 404
            };
            if !verdict {
                let who = format!("{:?} (member: {})", caller.role, caller.member);
                failures.push(format!("{method:?} {pattern} as {who}: {}", seen.0));
            }
        }
    }
    for (path, least) in PROJECT_LISTS {
        for caller in &callers {
            let (status, body) = caller.call(Method::Get, path, Body::Form).await;
            let verdict = if caller.role < least {
                status == 403
            } else {
                let allowed = caller.member || caller.role == Role::Admin;
                status == 200 && body.contains(&project.name) == allowed
            };
            if !verdict {
                let who = format!("{:?} (member: {})", caller.role, caller.member);
                failures.push(format!("GET {path} as {who}: {status}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "wrong answers:\n{}",
        failures.join("\n")
    );
}
