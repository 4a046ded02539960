//! Pages and their plumbing: headers, errors, static files, probes, and the
//! admin and account pages.

use safepref_server::db::users::Role;
use safepref_tests::{TestApp, client, csrf_token_in};
use serde_json::Value;

use crate::fixtures::user_id;

#[tokio::test]
async fn every_response_carries_the_security_headers_and_a_request_id() {
    let app = TestApp::spawn().await;
    for path in [
        "/login",
        "/",
        "/nowhere",
        "/api/v1/me",
        "/static/app.css",
        "/healthz",
    ] {
        let response = client().get(app.url(path)).send().await.unwrap();
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
        assert!(headers.contains_key("x-request-id"), "{path}");
    }
}

#[tokio::test]
async fn the_stylesheet_is_cached_and_compressed() {
    let app = TestApp::spawn().await;
    let page = client()
        .get(app.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let href = page
        .split("href=\"/static/app.css?v=")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    assert_eq!(href.len(), 12, "a content hash in the link");
    let css = client()
        .get(app.url(&format!("/static/app.css?v={href}")))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
    assert_eq!(css.headers()["content-encoding"], "gzip");
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn errors_are_a_page_for_people_and_a_json_object_for_the_api() {
    let app = TestApp::spawn().await;
    let page = client().get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(page.status(), 404);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("404 Not Found") && html.contains("There is no page at this address."),
        "{html}"
    );

    let api = client()
        .get(app.url("/api/v1/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
    let body: Value = api.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");

    // axum's own rejections are dressed the same way.
    let bad_json = client()
        .post(app.url("/api/v1/session"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_json.status(), 400);
    let body: Value = bad_json.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
    assert!(!body["error"]["message"].as_str().unwrap().is_empty());

    let wrong_method = client().put(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    let body: Value = wrong_method.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn internal_errors_reveal_nothing_to_the_client() {
    let app = TestApp::spawn().await;
    let (browser, _) = app.signed_in(Role::Admin).await;
    let (target, _) = app.user(Role::Annotator).await;
    let id = user_id(&app.pool, &target).await;
    // Break the table the page reads, as a failing database would.
    sqlx::query("alter table audit_log rename to audit_log_gone")
        .execute(&app.pool)
        .await
        .unwrap();
    let response = browser.get(&format!("/admin/users/{id}")).await;
    assert_eq!(response.status(), 500);
    let html = response.text().await.unwrap();
    assert!(html.contains("an internal error occurred"), "{html}");
    assert!(
        !html.contains("audit_log") && !html.contains("relation"),
        "no SQL in the page: {html}"
    );
}

#[tokio::test]
async fn health_and_readiness_probes() {
    let app = TestApp::spawn().await;
    let health = client().get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(
        (health.status().as_u16(), health.text().await.unwrap()),
        (200, "ok".to_string())
    );
    let ready = client().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(
        (ready.status().as_u16(), ready.text().await.unwrap()),
        (200, "ready".to_string())
    );
    app.pool.close().await;
    let down = client().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(down.status(), 503);
}

#[tokio::test]
async fn navigation_follows_the_role() {
    let app = TestApp::spawn().await;
    let (annotator, _) = app.signed_in(Role::Annotator).await;
    let (lead, _) = app.signed_in(Role::Lead).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let nav = |html: String| {
        (
            html.contains("href=\"/review\""),
            html.contains("href=\"/admin/users\""),
        )
    };
    assert_eq!(
        nav(annotator.get("/").await.text().await.unwrap()),
        (false, false)
    );
    assert_eq!(
        nav(lead.get("/").await.text().await.unwrap()),
        (true, false)
    );
    assert_eq!(
        nav(admin.get("/").await.text().await.unwrap()),
        (true, true)
    );
}

#[tokio::test]
async fn an_admin_creates_a_user_whose_generated_password_is_shown_once_and_works() {
    let app = TestApp::spawn().await;
    let (admin, admin_name) = app.signed_in(Role::Admin).await;
    let response = admin
        .post(
            "/admin/users",
            &[("username", "new.lead"), ("role", "lead"), ("password", "")],
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"],
        "no-store",
        "no browser or proxy keeps the page with the password"
    );
    let html = response.text().await.unwrap();
    let password = html
        .split("<code class=\"secret\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap()
        .to_string();
    assert_eq!(password.len(), 20);

    let mut browser = app.browser();
    assert_eq!(browser.sign_in("new.lead", &password).await.status(), 303);
    assert_eq!(browser.get("/review").await.status(), 200);

    // The user page shows the change in its history, by whom.
    let id = user_id(&app.pool, "new.lead").await;
    let page = admin
        .get(&format!("/admin/users/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("user created") && page.contains(&admin_name),
        "{page}"
    );
    assert!(
        !page.contains(&password),
        "the password is never shown again"
    );

    let taken = admin
        .post(
            "/admin/users",
            &[
                ("username", "new.lead"),
                ("role", "admin"),
                ("password", ""),
            ],
        )
        .await;
    assert_eq!(taken.status(), 409);
    assert!(taken.text().await.unwrap().contains("is taken"));
    let bad = admin
        .post(
            "/admin/users",
            &[
                ("username", "has space"),
                ("role", "admin"),
                ("password", ""),
            ],
        )
        .await;
    assert_eq!(bad.status(), 400);
    let short = admin
        .post(
            "/admin/users",
            &[
                ("username", "shorty"),
                ("role", "admin"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(short.status(), 400);
    assert!(
        short
            .text()
            .await
            .unwrap()
            .contains("at least 10 characters")
    );
}

#[tokio::test]
async fn an_admin_changes_a_role_and_the_audit_log_keeps_before_and_after() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let (target, _) = app.user(Role::Annotator).await;
    let id = user_id(&app.pool, &target).await;
    let response = admin
        .post(&format!("/admin/users/{id}/role"), &[("role", "lead")])
        .await;
    assert_eq!(response.status(), 303);
    let role: String = sqlx::query_scalar("select role::text from users where id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(role, "lead");
    let (before, after): (Value, Value) = sqlx::query_as(
        "select before, after from audit_log where subject = $1 and action = 'role changed'",
    )
    .bind(format!("user:{id}"))
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (before["role"].as_str(), after["role"].as_str()),
        (Some("annotator"), Some("lead"))
    );
    let tamper = sqlx::query("delete from audit_log")
        .execute(&app.pool)
        .await;
    assert!(tamper.is_err(), "the audit log is append-only");
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_disabled_or_demoted() {
    let app = TestApp::spawn().await;
    let (admin, name) = app.signed_in(Role::Admin).await;
    let id = user_id(&app.pool, &name).await;
    let demote = admin
        .post(&format!("/admin/users/{id}/role"), &[("role", "annotator")])
        .await;
    assert_eq!(demote.status(), 409);
    assert!(demote.text().await.unwrap().contains("only active admin"));
    let disable = admin.post(&format!("/admin/users/{id}/disable"), &[]).await;
    assert_eq!(disable.status(), 409);
    let state: (String, bool) =
        sqlx::query_as("select role::text, disabled from users where id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(state, ("admin".to_string(), false));
}

#[tokio::test]
async fn resetting_a_password_asks_first_then_ends_the_users_sessions() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let (annotator, name) = app.signed_in(Role::Annotator).await;
    let id = user_id(&app.pool, &name).await;
    let confirm = admin
        .get(&format!("/admin/users/{id}/password"))
        .await
        .text()
        .await
        .unwrap();
    assert!(confirm.contains("Reset the password") && confirm.contains("Cancel"));
    let done = admin
        .post(
            &format!("/admin/users/{id}/password"),
            &[("password", "a brand new password")],
        )
        .await;
    assert_eq!(done.status(), 303);
    assert_eq!(annotator.get("/account").await.status(), 303, "signed out");
    let mut again = app.browser();
    assert_eq!(
        again.sign_in(&name, "a brand new password").await.status(),
        303
    );
}

#[tokio::test]
async fn a_user_changes_their_own_password_and_other_devices_are_signed_out() {
    let app = TestApp::spawn().await;
    let (username, password) = app.user(Role::Annotator).await;
    let mut laptop = app.browser();
    laptop.sign_in(&username, &password).await;
    let mut phone = app.browser();
    phone.sign_in(&username, &password).await;

    let wrong = laptop
        .post(
            "/account/password",
            &[
                ("current", "not it at all"),
                ("new", "another long password"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 400);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("current password is wrong")
    );

    let ok = laptop
        .post(
            "/account/password",
            &[("current", &password), ("new", "another long password")],
        )
        .await;
    assert_eq!(ok.status(), 303);
    let page = laptop.get("/account?done=password").await;
    assert_eq!(
        page.status(),
        200,
        "the device that changed it stays signed in"
    );
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Your password was changed.")
    );
    assert_eq!(
        phone.get("/account").await.status(),
        303,
        "the other device is signed out"
    );
    assert_eq!(
        app.browser()
            .sign_in(&username, "another long password")
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn the_user_list_is_paginated() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    for n in 0..55 {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        safepref_server::db::users::insert(
            &app.pool,
            &format!("bulk-{n:02}"),
            hash,
            Role::Annotator,
        )
        .await
        .unwrap();
    }
    let first = admin.get("/admin/users").await.text().await.unwrap();
    assert!(
        first.contains("Page 1 of 2") && first.contains("?page=2"),
        "{first}"
    );
    assert_eq!(
        first.matches("<tr>").count(),
        51,
        "a header row and 50 users"
    );
    let second = admin.get("/admin/users?page=2").await.text().await.unwrap();
    assert_eq!(
        second.matches("<tr>").count(),
        7,
        "a header row and the last 6 of 56 users"
    );
    assert!(
        csrf_token_in(&second).is_some(),
        "the sign-out form carries the token"
    );
}

#[tokio::test]
async fn a_page_number_past_any_list_is_a_clear_400_not_a_500() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    for path in [
        "/admin/users?page=9223372036854775807",
        "/review/audit?page=9223372036854775807",
    ] {
        let answer = admin.get(path).await;
        assert_eq!(answer.status(), 400, "{path}");
        let text = answer.text().await.unwrap();
        assert!(text.contains("past the last page"), "{path}: {text}");
    }
    let fine = admin.get("/admin/users?page=999").await;
    assert_eq!(fine.status(), 200, "a page past the end is merely empty");
}

#[tokio::test]
async fn the_team_pages_its_annotators() {
    let app = TestApp::spawn().await;
    sqlx::query(
        "insert into users (id, username, role, password_hash)
         select gen_random_uuid(), 'team-' || lpad(g::text, 3, '0'), 'annotator', null
           from generate_series(0, 104) g",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let (lead, _) = app.signed_in(Role::Lead).await;
    let first = lead.get("/review").await.text().await.unwrap();
    assert!(
        first.contains("team-099") && !first.contains("team-100"),
        "100 on a page"
    );
    assert!(first.contains("Page 1 of 2"), "{first}");
    let second = lead.get("/review?page=2").await.text().await.unwrap();
    assert!(second.contains("team-104") && !second.contains("team-099"));
}
