//! Personal API tokens: made on the account page or through the API, shown
//! once, stored only as hashes, acting as their owner with the owner's role,
//! refused once revoked, expired or when the owner is disabled.

use reqwest::StatusCode;
use safepref_server::accounts;
use safepref_server::auth::api_tokens;
use safepref_server::auth::session::hash_token;
use safepref_server::db::users::{Role, User};
use safepref_tests::{TestApp, safepref_binary};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fixtures::user_id;

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
    let id = user_id(&app.pool, &admin).await.to_string();
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
    let id = user_id(&app.pool, &admin).await.to_string();
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

/// `accounts` revokes a disabled user's tokens; the middleware refuses a
/// disabled owner's token by itself too (an account disabled in the
/// database by hand, say), and takes the role as it is now.
#[tokio::test]
async fn a_token_acts_with_its_owners_current_role_and_never_while_the_owner_is_disabled() {
    let app = TestApp::spawn().await;
    let (lead, _, token) = user_with_token(&app, Role::Lead, "s").await;
    let users = || bearer(&app, reqwest::Method::GET, "/api/v1/users", &token).send();
    assert_eq!(users().await.unwrap().status(), 403, "only a lead");
    sqlx::query("update users set role = 'admin' where id = $1")
        .bind(lead.id)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(users().await.unwrap().status(), 200, "now an admin");

    let set_disabled = |disabled: bool| {
        sqlx::query("update users set disabled = $2 where id = $1")
            .bind(lead.id)
            .bind(disabled)
            .execute(&app.pool)
    };
    set_disabled(true).await.unwrap();
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    set_disabled(false).await.unwrap();
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
    let id = user_id(&app.pool, &username).await;
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

/// Makes a token for a new user of `role` directly (only admins may make
/// one through the app, but a demoted admin's tokens are what is tested).
/// Returns the user, the token's id and its secret.
async fn user_with_token(app: &TestApp, role: Role, name: &str) -> (User, Uuid, String) {
    let (username, _) = app.user(role).await;
    let user = accounts::find(&app.pool, &username).await.unwrap();
    let (token, secret) = api_tokens::create(&app.pool, &user, name, None)
        .await
        .unwrap();
    assert_eq!(me(app, &secret).await.0, 200);
    (user, token.id, secret)
}

/// The "api tokens revoked" entries about `user`: (actor, because, token ids).
async fn bulk_revocations(app: &TestApp, user: &User) -> Vec<(Option<Uuid>, String, Vec<String>)> {
    let rows: Vec<(Option<Uuid>, Value)> = sqlx::query_as(
        "select actor_id, after from audit_log \
         where action = 'api tokens revoked' and subject = $1 order by id",
    )
    .bind(format!("user:{}", user.id))
    .fetch_all(&app.pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(actor, after)| {
            let ids = after["tokens"].as_array().unwrap().iter();
            let ids = ids.map(|t| t["id"].as_str().unwrap().to_string());
            (
                actor,
                after["because"].as_str().unwrap().into(),
                ids.collect(),
            )
        })
        .collect()
}

/// The owner's role, the admin page's action and its form, the reason audited.
type Step = (
    Role,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[tokio::test]
async fn an_admin_resetting_a_password_disabling_or_demoting_revokes_the_users_tokens() {
    let app = TestApp::spawn().await;
    let (browser, admin) = app.signed_in(Role::Admin).await;
    let admin_id = user_id(&app.pool, &admin).await;
    // A bystander's token is untouched by all of it.
    let (_, _, bystander) = user_with_token(&app, Role::Admin, "bystander").await;

    let steps: [Step; 5] = [
        (
            Role::Admin,
            "password",
            &[("password", "a-new-long-password")],
            "password reset",
        ),
        (Role::Admin, "disable", &[], "user disabled"),
        (Role::Admin, "role", &[("role", "lead")], "role lowered"),
        (
            Role::Admin,
            "role",
            &[("role", "annotator")],
            "role lowered",
        ),
        (Role::Lead, "role", &[("role", "annotator")], "role lowered"),
    ];
    for (role, action, form, because) in steps {
        let (user, token_id, token) = user_with_token(&app, role, "script").await;
        let path = format!("/admin/users/{}/{action}", user.id);
        assert_eq!(browser.post(&path, form).await.status(), 303, "{path}");
        let (status, body) = me(&app, &token).await;
        assert_eq!(status, 401, "{role:?} then {action} {form:?}: {body}");
        let revoked = bulk_revocations(&app, &user).await;
        let expected = (
            Some(admin_id),
            because.to_string(),
            vec![token_id.to_string()],
        );
        assert_eq!(revoked, vec![expected], "{role:?} then {action} {form:?}");
    }
    assert_eq!(me(&app, &bystander).await.0, 200);
}

#[tokio::test]
async fn raising_a_role_or_enabling_an_account_revokes_nothing_and_brings_nothing_back() {
    let app = TestApp::spawn().await;
    let (browser, _) = app.signed_in(Role::Admin).await;
    let (lead, _, token) = user_with_token(&app, Role::Lead, "kept").await;
    let role = format!("/admin/users/{}/role", lead.id);
    assert_eq!(
        browser.post(&role, &[("role", "admin")]).await.status(),
        303
    );
    let users = bearer(&app, reqwest::Method::GET, "/api/v1/users", &token);
    assert_eq!(users.send().await.unwrap().status(), 200, "now an admin's");
    assert!(bulk_revocations(&app, &lead).await.is_empty());

    let disable = format!("/admin/users/{}/disable", lead.id);
    assert_eq!(browser.post(&disable, &[]).await.status(), 303);
    let enable = format!("/admin/users/{}/enable", lead.id);
    assert_eq!(browser.post(&enable, &[]).await.status(), 303);
    assert_eq!(me(&app, &token).await.0, 401, "revoked for good");
}

#[tokio::test]
async fn changing_ones_own_password_revokes_ones_tokens() {
    let app = TestApp::spawn().await;
    let (username, password) = app.user(Role::Admin).await;
    let mut browser = app.browser();
    assert_eq!(browser.sign_in(&username, &password).await.status(), 303);
    let user = accounts::find(&app.pool, &username).await.unwrap();
    let (token, secret) = api_tokens::create(&app.pool, &user, "mine", None)
        .await
        .unwrap();
    assert_eq!(me(&app, &secret).await.0, 200);

    let form = [
        ("current", password.as_str()),
        ("new", "another-long-password"),
    ];
    let changed = browser.post("/account/password", &form).await;
    assert_eq!(changed.status(), 303);
    assert_eq!(me(&app, &secret).await.0, 401);
    let expected = (
        Some(user.id),
        "password changed".into(),
        vec![token.id.to_string()],
    );
    assert_eq!(bulk_revocations(&app, &user).await, vec![expected]);
    // The browser that changed it stays signed in.
    assert_eq!(browser.get("/account").await.status(), 200);
}

#[tokio::test]
async fn the_command_line_revokes_on_disable_and_set_password() {
    let app = TestApp::spawn().await;
    for (args, because) in [
        (
            &["user", "set-password", "--password-stdin"][..],
            "password reset",
        ),
        (&["user", "disable"][..], "user disabled"),
    ] {
        let (user, _, token) = user_with_token(&app, Role::Admin, "cli").await;
        let mut child = std::process::Command::new(safepref_binary())
            .args(args)
            .arg(&user.username)
            .env("DATABASE_URL", &app.db_url)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"a-new-long-password\n").unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert_eq!(me(&app, &token).await.0, 401, "{args:?}");
        let revoked = bulk_revocations(&app, &user).await;
        assert_eq!(revoked.len(), 1, "{args:?}");
        assert_eq!(revoked[0].0, None, "the command line is no user");
        assert_eq!(revoked[0].1, because);
    }
}

/// The admin's user page: the id of a token's revoke link.
fn revoke_link(page: &str, user: Uuid, token: Uuid) -> bool {
    page.contains(&format!("/admin/users/{user}/tokens/{token}/revoke"))
}

#[tokio::test]
async fn an_admin_revokes_one_of_another_users_tokens_on_their_page_and_the_other_still_works() {
    let app = TestApp::spawn().await;
    let (browser, admin) = app.signed_in(Role::Admin).await;
    let (owner, first, first_secret) = user_with_token(&app, Role::Admin, "<b>nightly</b>").await;
    let (second, second_secret) = api_tokens::create(&app.pool, &owner, "ci", None)
        .await
        .unwrap();

    let page = browser.get(&format!("/admin/users/{}", owner.id)).await;
    let page = page.text().await.unwrap();
    assert!(page.contains("Personal API tokens"));
    assert!(page.contains("&#60;b&#62;nightly&#60;/b&#62;"), "escaped");
    assert!(!page.contains("<b>nightly"));
    assert!(revoke_link(&page, owner.id, first) && revoke_link(&page, owner.id, second.id));
    for secret in [&first_secret, &second_secret] {
        assert!(!page.contains(&secret[3..]), "never the secret");
    }

    let path = format!("/admin/users/{}/tokens/{first}/revoke", owner.id);
    let confirm = browser.get(&path).await;
    assert_eq!(confirm.status(), 200);
    let confirm = confirm.text().await.unwrap();
    assert!(confirm.contains("Revoke the token") && confirm.contains(&owner.username));
    assert_eq!(
        me(&app, &first_secret).await.0,
        200,
        "asking revokes nothing"
    );

    let done = browser.post(&path, &[]).await;
    assert_eq!(done.status(), 303);
    let back = format!("/admin/users/{}?done=token-revoked", owner.id);
    assert_eq!(done.headers()["location"], back.as_str());
    assert_eq!(me(&app, &first_secret).await.0, 401);
    assert_eq!(
        me(&app, &second_secret).await.0,
        200,
        "the other token works"
    );

    let page = browser.get(&back).await.text().await.unwrap();
    assert!(page.contains("The API token was revoked."));
    assert!(!revoke_link(&page, owner.id, first) && revoke_link(&page, owner.id, second.id));
    let audited: (Uuid, Value) = sqlx::query_as(
        "select actor_id, before from audit_log where action = 'api token revoked' and subject = $1",
    )
    .bind(format!("user:{}", owner.id))
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        audited.0,
        user_id(&app.pool, &admin).await,
        "the admin is the actor"
    );
    assert_eq!(audited.1["id"], first.to_string());
}

#[tokio::test]
async fn an_admin_lists_and_revokes_another_users_tokens_through_the_api() {
    let app = TestApp::spawn().await;
    let (admin, session) = api_session(&app, Role::Admin).await;
    let (owner, first, first_secret) = user_with_token(&app, Role::Admin, "one").await;
    let (_, second_secret) = api_tokens::create(&app.pool, &owner, "two", None)
        .await
        .unwrap();

    let list = format!("/api/v1/users/{}/tokens", owner.id);
    let listed: Value = bearer(&app, reqwest::Method::GET, &list, &session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["two", "one"]);
    assert!(listed["tokens"][0].get("token").is_none());
    assert!(!listed.to_string().contains(&first_secret[3..]));

    let path = format!("/api/v1/users/{}/tokens/{first}", owner.id);
    let revoked = bearer(&app, reqwest::Method::DELETE, &path, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let revoked: Value = revoked.json().await.unwrap();
    assert_eq!(revoked["active"], false);
    assert_eq!(me(&app, &first_secret).await.0, 401);
    assert_eq!(me(&app, &second_secret).await.0, 200);
    let audited = "select count(*) from audit_log a join users u on u.id = a.actor_id \
                   where a.action = 'api token revoked' and u.username = $1";
    assert_eq!(count(&app, audited, &admin).await, 1);

    // Another user's id with this token: not found, and nothing revoked.
    let (other, _, other_secret) = user_with_token(&app, Role::Admin, "other").await;
    let wrong = format!("/api/v1/users/{}/tokens/{first}", other.id);
    let response = bearer(&app, reqwest::Method::DELETE, &wrong, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let message: Value = response.json().await.unwrap();
    assert!(
        message["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&other.username)
    );
    assert_eq!(me(&app, &other_secret).await.0, 200);
}

#[tokio::test]
async fn a_lead_cannot_list_or_revoke_anyone_elses_tokens() {
    let app = TestApp::spawn().await;
    let (owner, token, secret) = user_with_token(&app, Role::Admin, "target").await;
    let (browser, _) = app.signed_in(Role::Lead).await;
    let page = format!("/admin/users/{}/tokens/{token}/revoke", owner.id);
    assert_eq!(browser.get(&page).await.status(), 403);
    assert_eq!(browser.post(&page, &[]).await.status(), 403);
    let (_, session) = api_session(&app, Role::Lead).await;
    let list = format!("/api/v1/users/{}/tokens", owner.id);
    let get = bearer(&app, reqwest::Method::GET, &list, &session);
    assert_eq!(get.send().await.unwrap().status(), 403);
    let one = format!("{list}/{token}");
    let delete = bearer(&app, reqwest::Method::DELETE, &one, &session);
    assert_eq!(delete.send().await.unwrap().status(), 403);
    assert_eq!(me(&app, &secret).await.0, 200, "still works");
}
