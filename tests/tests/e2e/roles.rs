//! The role matrix: every route × anonymous / annotator / lead / admin.
//! A new route must be added to `ROUTES`, or this test does not cover it
//! (for /api/v1 routes, `every_api_route_has_a_row` checks that it is).
//! (POST /login and POST /logout are covered by the sign-in tests in auth.rs.)

use safepref_server::db::users::Role;
use safepref_tests::{Browser, TestApp};
use serde_json::Value;

#[derive(Clone, Copy, Debug)]
enum Method {
    Get,
    Post,
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
        Method::Delete => browser.client.delete(url).header("x-csrf-token", token),
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
    let mut who: Vec<(Option<Role>, Browser)> = vec![(None, app.browser())];
    for role in Role::ALL {
        who.push((Some(role), app.signed_in(role).await.0));
    }

    let mut failures = Vec::new();
    for &(method, pattern, least) in ROUTES {
        let path = pattern
            .replace("{id}", &target_id.to_string())
            .replace("{project}", &project.to_string())
            .replace("{batch}", &batch.to_string());
        let is_api = path.starts_with("/api/");
        for (role, browser) in &who {
            // Sign-out ends the session: only the admin's, on the last signed-in row.
            let signs_out = matches!(method, Method::Delete) && pattern == "/api/v1/session";
            if signs_out && role.is_some() && *role != Some(Role::Admin) {
                continue;
            }
            let response = call(browser, method, &path).await;
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_string());
            let body = response.text().await.unwrap();
            let verdict = match (least, role) {
                (None, _) => status < 400,
                (Some(_), None) if is_api => {
                    status == 401
                        && serde_json::from_str::<Value>(&body)
                            .is_ok_and(|v| v["error"]["code"] == "unauthorized")
                }
                (Some(_), None) => {
                    status == 303
                        && location
                            .as_deref()
                            .is_some_and(|l| l.starts_with("/login?next="))
                }
                (Some(least), Some(role)) if role < &least => {
                    status == 403
                        && if is_api {
                            serde_json::from_str::<Value>(&body)
                                .is_ok_and(|v| v["error"]["code"] == "forbidden")
                        } else {
                            body.contains("This page is for")
                        }
                }
                (Some(_), Some(_)) => {
                    status != 401
                        && status != 403
                        && !location.as_deref().is_some_and(|l| l.starts_with("/login"))
                }
            };
            if !verdict {
                failures.push(format!(
                    "{method:?} {pattern} as {role:?}: {status} {location:?}"
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

/// Every route `api::routes` registers has a row above (POST /api/v1/session
/// is the sign-in, covered in auth.rs).
#[test]
fn every_api_route_has_a_row() {
    let listed: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(method, path, _)| {
            let method = format!("{method:?}").to_uppercase();
            (method, path.replace("{project}", "{id}"))
        })
        .collect();
    let missing: Vec<String> = safepref_server::routes::api::routes()
        .registered()
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .filter(|(m, p)| !(m == "POST" && p == "/api/v1/session"))
        .filter(|route| !listed.contains(route))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(missing.is_empty(), "add to ROUTES: {missing:?}");
}

async fn project_with_a_batch(app: &TestApp) -> (uuid::Uuid, uuid::Uuid) {
    let (project, batch) = crate::import::project_with_sample(&app.pool).await;
    (project.id, batch.batch_id)
}
