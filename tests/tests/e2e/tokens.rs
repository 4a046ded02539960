//! Personal API tokens: made on the account page or through the API, shown
//! once, stored only as hashes, acting as their owner with the owner's role,
//! refused once revoked, expired or when the owner is disabled.

use reqwest::StatusCode;
use safepref_server::accounts;
use safepref_server::auth::session::hash_token;
use safepref_server::db::users::Role;
use safepref_tests::TestApp;
use serde_json::{Value, json};
use uuid::Uuid;

/// Signs in through the JSON API; returns the session token (a bearer).
pub async fn api_session(app: &TestApp, role: Role) -> (String, String) {
    let (username, password) = app.user(role).await;
    let body: Value = reqwest::Client::new()
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (username, body["token"].as_str().unwrap().to_string())
}

pub fn bearer(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, app.url(path))
        .bearer_auth(token)
}

async fn me(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let response = bearer(app, reqwest::Method::GET, "/api/v1/me", token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Makes a token through the API with a session bearer; returns its JSON.
async fn api_token(app: &TestApp, session: &str, body: Value) -> Value {
    let response = bearer(app, reqwest::Method::POST, "/api/v1/tokens", session)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

/// The token on the "shown once" page.
fn token_on_page(html: &str) -> Option<String> {
    let at = html.find("value=\"sp_")? + "value=\"".len();
    Some(html[at..].split('"').next()?.to_string())
}

async fn user_id(app: &TestApp, username: &str) -> Uuid {
    sqlx::query_scalar("select id from users where username = $1")
        .bind(username)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: &'static str, bind: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_makes_a_token_on_the_page_it_is_shown_once_and_works_as_a_bearer() {
    let app = TestApp::spawn().await;
    let (browser, admin) = app.signed_in(Role::Admin).await;
    let account = browser.get("/account").await.text().await.unwrap();
    assert!(account.contains("href=\"/account/tokens\""));

    let response = browser
        .post(
            "/account/tokens",
            &[("name", "nightly <export>"), ("expires_in_days", "30")],
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let page = response.text().await.unwrap();
    assert!(page.contains("shown only this once"));
    assert!(
        page.contains("nightly &#60;export&#62;"),
        "the name is escaped"
    );
    assert!(!page.contains("nightly <export>"));
    let token = token_on_page(&page).expect("the token on the page");
    assert!(token.starts_with("sp_") && token.len() > 40);

    // Shown once: the list never shows it again.
    let list = browser.get("/account/tokens").await.text().await.unwrap();
    assert!(list.contains("nightly &#60;export&#62;"));
    assert!(!list.contains(&token));
    assert!(!list.contains(&token[3..]));

    let (status, body) = me(&app, &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["username"], admin.as_str());
    assert_eq!(body["role"], "admin");

    // Only the hash is stored, and the audit log never saw the secret.
    let hashed = sqlx::query_scalar::<_, i64>(
        "select count(*) from api_tokens where token_hash = $1 and last_used_at is not null \
         and expires_at between now() + interval '29 days' and now() + interval '31 days'",
    )
    .bind(hash_token(&token))
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(hashed, 1);
    let secret = &token[3..];
    let leaked = "select (select count(*) from api_tokens t where t::text like '%' || $1 || '%') \
                  + (select count(*) from audit_log a where a::text like '%' || $1 || '%')";
    assert_eq!(count(&app, leaked, secret).await, 0);
    let audited = "select count(*) from audit_log where action = 'api token created' and subject = 'user:' || $1";
    let id = user_id(&app, &admin).await.to_string();
    assert_eq!(count(&app, audited, &id).await, 1);
}

#[tokio::test]
async fn tokens_made_through_the_api_are_listed_without_secrets_and_revoked_tokens_get_401() {
    let app = TestApp::spawn().await;
    let (admin, session) = api_session(&app, Role::Admin).await;
    let made = api_token(&app, &session, json!({"name": "ci"})).await;
    let token = made["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("sp_"));
    assert_eq!(made["name"], "ci");
    assert_eq!(made["expires_at"], Value::Null);
    assert_eq!(made["active"], true);
    assert_eq!(me(&app, &token).await.0, 200);

    let list: Value = bearer(&app, reqwest::Method::GET, "/api/v1/tokens", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tokens = list["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1);
    assert!(tokens[0].get("token").is_none(), "no secret in the list");
    assert!(!list.to_string().contains(&token[3..]));
    assert!(tokens[0]["last_used_at"].is_string());

    let path = format!("/api/v1/tokens/{}", made["id"].as_str().unwrap());
    let revoked = bearer(&app, reqwest::Method::DELETE, &path, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let revoked: Value = revoked.json().await.unwrap();
    assert!(revoked["revoked_at"].is_string());
    assert_eq!(revoked["active"], false);

    let (status, body) = me(&app, &token).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    let id = user_id(&app, &admin).await.to_string();
    let audited = "select count(*) from audit_log where action = 'api token revoked' and subject = 'user:' || $1";
    assert_eq!(count(&app, audited, &id).await, 1);
    // Revoking again changes nothing and is not audited twice.
    let again = bearer(&app, reqwest::Method::DELETE, &path, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(count(&app, audited, &id).await, 1);
}

#[tokio::test]
async fn revoking_on_the_page_asks_first_and_then_refuses_the_token() {
    let app = TestApp::spawn().await;
    let (browser, _) = app.signed_in(Role::Admin).await;
    let page = browser
        .post(
            "/account/tokens",
            &[("name", "laptop"), ("expires_in_days", "")],
        )
        .await
        .text()
        .await
        .unwrap();
    let token = token_on_page(&page).unwrap();
    let id: Uuid = sqlx::query_scalar("select id from api_tokens where token_hash = $1")
        .bind(hash_token(&token))
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let list = browser.get("/account/tokens").await.text().await.unwrap();
    assert!(list.contains(&format!("/account/tokens/{id}/revoke")));

    let confirm = browser.get(&format!("/account/tokens/{id}/revoke")).await;
    assert_eq!(confirm.status(), 200);
    let confirm = confirm.text().await.unwrap();
    assert!(confirm.contains("Revoke the token"));
    assert!(confirm.contains("laptop"));
    assert_eq!(me(&app, &token).await.0, 200, "asking revokes nothing");

    let done = browser
        .post(&format!("/account/tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()["location"], "/account/tokens?done=revoked");
    assert_eq!(me(&app, &token).await.0, 401);
    let list = browser
        .get("/account/tokens?done=revoked")
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains("The token was revoked."));
    assert!(list.contains("revoked"));
    assert!(!list.contains(&format!("/account/tokens/{id}/revoke")));
}

#[tokio::test]
async fn leads_cannot_make_tokens_on_the_page_or_through_the_api() {
    let app = TestApp::spawn().await;
    let (browser, _) = app.signed_in(Role::Lead).await;
    assert_eq!(browser.get("/account/tokens").await.status(), 403);
    let account = browser.get("/account").await.text().await.unwrap();
    assert!(!account.contains("/account/tokens"));
    let page = browser.post("/account/tokens", &[("name", "x")]).await;
    assert_eq!(page.status(), 403);
    let (_, session) = api_session(&app, Role::Lead).await;
    let api = bearer(&app, reqwest::Method::POST, "/api/v1/tokens", &session)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 403);
    let made: i64 = sqlx::query_scalar("select count(*) from api_tokens")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(made, 0);
}

#[tokio::test]
async fn a_token_acts_with_its_owners_current_role_and_stops_while_the_owner_is_disabled() {
    let app = TestApp::spawn().await;
    let (owner, session) = api_session(&app, Role::Admin).await;
    let (other_admin, _) = app.user(Role::Admin).await;
    let actor = Some(user_id(&app, &other_admin).await);
    let token =
        api_token(&app, &session, json!({"name": "s", "expires_in_days": 7})).await["token"]
            .as_str()
            .unwrap()
            .to_string();
    let users = || bearer(&app, reqwest::Method::GET, "/api/v1/users", &token).send();
    assert_eq!(users().await.unwrap().status(), 200);

    let user = accounts::find(&app.pool, &owner).await.unwrap();
    accounts::set_role(&app.pool, actor, &user, Role::Lead)
        .await
        .unwrap();
    assert_eq!(users().await.unwrap().status(), 403, "now only a lead");
    assert_eq!(me(&app, &token).await.1["role"], "lead");

    let user = accounts::find(&app.pool, &owner).await.unwrap();
    accounts::set_disabled(&app.pool, actor, &user, true)
        .await
        .unwrap();
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    // The account comes back, and with it the token (revoke it to end it).
    accounts::set_disabled(&app.pool, actor, &user, false)
        .await
        .unwrap();
    assert_eq!(me(&app, &token).await.0, 200);
}

#[tokio::test]
async fn expired_tokens_get_401() {
    let app = TestApp::spawn().await;
    let (_, session) = api_session(&app, Role::Admin).await;
    let made = api_token(
        &app,
        &session,
        json!({"name": "short", "expires_in_days": 1}),
    )
    .await;
    let token = made["token"].as_str().unwrap();
    assert_eq!(me(&app, token).await.0, 200);
    sqlx::query("update api_tokens set expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(me(&app, token).await.0, 401);
}

#[tokio::test]
async fn a_token_needs_no_csrf_token_but_cannot_make_tokens_or_sign_out() {
    let app = TestApp::spawn().await;
    let (_, session) = api_session(&app, Role::Admin).await;
    let token = api_token(&app, &session, json!({"name": "bot"})).await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let (project, _) = crate::import::project_with_sample(&app.pool).await;
    let lease_path = format!("/api/v1/projects/{}/lease", project.id);

    let lease = bearer(&app, reqwest::Method::POST, &lease_path, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(lease.status(), 200, "no CSRF token needed for a bearer");
    let cross_site = bearer(&app, reqwest::Method::POST, &lease_path, &token)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403, "cross-site is still refused");

    let more = bearer(&app, reqwest::Method::POST, "/api/v1/tokens", &token)
        .json(&json!({"name": "another"}))
        .send()
        .await
        .unwrap();
    assert_eq!(more.status(), 403);
    let sign_out = bearer(&app, reqwest::Method::DELETE, "/api/v1/session", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(sign_out.status(), 400);
    assert_eq!(
        me(&app, &token).await.0,
        200,
        "still works: only revoking ends it"
    );
}

#[tokio::test]
async fn names_and_expiries_are_checked_and_others_tokens_are_not_found() {
    let app = TestApp::spawn().await;
    let (_, session) = api_session(&app, Role::Admin).await;
    for body in [
        json!({"name": "   "}),
        json!({"name": "x".repeat(101)}),
        json!({"name": "x", "expires_in_days": 0}),
        json!({"name": "x", "expires_in_days": 100000}),
        json!({"name": "x", "scopes": ["all"]}),
    ] {
        let response = bearer(&app, reqwest::Method::POST, "/api/v1/tokens", &session)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
    }
    let (browser, _) = app.signed_in(Role::Admin).await;
    let page = browser
        .post(
            "/account/tokens",
            &[("name", "x"), ("expires_in_days", "soon")],
        )
        .await;
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("whole number of days"));

    let mine = api_token(&app, &session, json!({"name": "mine"})).await;
    let path = format!("/api/v1/tokens/{}", mine["id"].as_str().unwrap());
    let (_, other) = api_session(&app, Role::Admin).await;
    let response = bearer(&app, reqwest::Method::DELETE, &path, &other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let confirm = format!("/account/tokens/{}/revoke", mine["id"].as_str().unwrap());
    assert_eq!(browser.get(&confirm).await.status(), 404);
    assert_eq!(me(&app, mine["token"].as_str().unwrap()).await.0, 200);
}

/// One session token in 262,144 starts with `sp_` by chance; it must still
/// work as a session.
#[tokio::test]
async fn a_session_token_that_happens_to_start_with_the_prefix_still_works() {
    let app = TestApp::spawn().await;
    let (username, _) = app.user(Role::Annotator).await;
    let id = user_id(&app, &username).await;
    let token = format!("sp_{}", &safepref_server::auth::random_token()[3..]);
    sqlx::query(
        "insert into sessions (token_hash, user_id, csrf_token, expires_at) values ($1, $2, 'csrf', now() + interval '1 hour')",
    )
    .bind(hash_token(&token))
    .bind(id)
    .execute(&app.pool)
    .await
    .unwrap();
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["username"], username.as_str());
}
