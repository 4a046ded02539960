//! Sign-in, sign-out, throttling, expiry, session fixation, CSRF, disabled users.

use std::time::Duration;

use safepref_server::config::Config;
use safepref_server::db::users::Role;
use safepref_tests::{TestApp, client, safepref_binary};
use serde_json::{Value, json};

/// `%XX` escapes decoded, as a query string's value is.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(byte) if bytes[i] == b'%' => {
                out.push(byte);
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("safepref_session=") || c.starts_with("__Host-safepref_session="))
        .map(str::to_string)
}

fn token_of(cookie: &str) -> &str {
    cookie
        .trim_start_matches("safepref_session=")
        .split(';')
        .next()
        .unwrap()
}

#[tokio::test]
async fn signing_in_sets_a_hardened_cookie_and_reaches_the_page_asked_for() {
    let app = TestApp::spawn().await;
    let (username, password) = app.user(Role::Admin).await;

    let anonymous = app.browser().get("/admin/users?page=1").await;
    assert_eq!(anonymous.status(), 303);
    assert_eq!(
        anonymous.headers()["location"],
        "/login?next=%2Fadmin%2Fusers%3Fpage%3D1"
    );

    let browser = app.browser();
    let response = browser
        .post_raw(
            "/login",
            &[
                ("username", &username),
                ("password", &password),
                ("next", "/admin/users?page=1"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/admin/users?page=1");
    let cookie = session_cookie(&response).expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "not Secure unless configured: {cookie}"
    );
    assert_eq!(token_of(&cookie).len(), 43, "256 random bits, base64url");

    let page = browser.get("/admin/users").await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(&username));

    // Only a hash of the token is stored.
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("select token_hash from sessions")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token_of(&cookie).as_bytes());
    assert_eq!(stored[0].len(), 32);
}

#[tokio::test]
async fn a_redirect_after_sign_in_never_leaves_the_site() {
    let app = TestApp::spawn().await;
    let (username, password) = app.user(Role::Annotator).await;
    let response = app
        .browser()
        .post_raw(
            "/login",
            &[
                ("username", &username),
                ("password", &password),
                ("next", "//evil.example/x"),
            ],
        )
        .await;
    assert_eq!(response.headers()["location"], "/");
    // Forms browsers turn into another site (a tab or newline is dropped, a
    // backslash read as a slash), encoded in the query and not: refused at
    // once for a signed-in GET /login?next=…, and after signing in.
    let bypasses = [
        "//evil.example",
        "%2F%2Fevil.example",
        "/\\evil.example",
        "/%5cevil.example",
        "/%5Cevil.example",
        "/%09/evil.example",
        "/%0A/evil.example",
        "/%0d/evil.example",
        "/%20/evil.example",
        "https:evil.example",
        "https%3Aevil.example",
        "%09//evil.example",
    ];
    let (browser, _) = app.signed_in(Role::Annotator).await;
    for next in bypasses {
        let answer = browser.get(&format!("/login?next={next}")).await;
        assert_eq!(answer.status(), 303, "{next}");
        assert_eq!(answer.headers()["location"], "/", "{next}");
    }
    let (username, password) = app.user(Role::Annotator).await;
    for next in bypasses.map(percent_decoded) {
        let answer = app
            .browser()
            .post_raw(
                "/login",
                &[
                    ("username", &username),
                    ("password", &password),
                    ("next", &next),
                ],
            )
            .await;
        assert_eq!(answer.status(), 303, "{next:?}");
        assert_eq!(answer.headers()["location"], "/", "{next:?}");
    }
    // A path of the site, query and all, is kept.
    let answer = browser.get("/login?next=/admin/users%3Fpage%3D2").await;
    assert_eq!(answer.headers()["location"], "/admin/users?page=2");
}

#[tokio::test]
async fn the_secure_flag_is_set_when_configured_for_https() {
    let app = TestApp::spawn_with(Config {
        secure_cookies: true,
        ..Config::default()
    })
    .await;
    let (username, password) = app.user(Role::Annotator).await;
    let response = app
        .browser()
        .post_raw(
            "/login",
            &[("username", &username), ("password", &password)],
        )
        .await;
    assert!(session_cookie(&response).unwrap().contains("; Secure"));
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let (username, _) = app.user(Role::Annotator).await;
    let wrong = app
        .browser()
        .post_raw(
            "/login",
            &[("username", &username), ("password", "not the password")],
        )
        .await;
    let unknown = app
        .browser()
        .post_raw(
            "/login",
            &[
                ("username", "nobody-here"),
                ("password", "not the password"),
            ],
        )
        .await;
    for response in [wrong, unknown] {
        assert_eq!(response.status(), 401);
        assert!(session_cookie(&response).is_none());
        let page = response.text().await.unwrap();
        assert!(page.contains("wrong username or password"), "{page}");
    }
    let sessions: i64 = sqlx::query_scalar("select count(*) from sessions")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(sessions, 0);
}

#[tokio::test]
async fn the_json_sign_in_gives_a_token_that_works_as_a_bearer() {
    let app = TestApp::spawn().await;
    let (username, password) = app.user(Role::Lead).await;
    let http = client();
    let response = http
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(session_cookie(&response).is_some());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["role"], "lead");
    let token = body["token"].as_str().unwrap();

    let me: Value = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], username.as_str());

    let bad = http
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": username, "password": "nope nope nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let error: Value = bad.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid_credentials");
}

#[tokio::test]
async fn throttling_counts_failures_per_username_and_says_when_to_retry() {
    let mut config = Config::default();
    config.throttle.max_failures_per_user = 3;
    let app = TestApp::spawn_with(config).await;
    let (username, password) = app.user(Role::Annotator).await;
    let browser = app.browser();
    for _ in 0..3 {
        let response = browser
            .post_raw(
                "/login",
                &[("username", &username), ("password", "wrong password!")],
            )
            .await;
        assert_eq!(response.status(), 401);
    }
    // Now even the right password waits.
    let blocked = browser
        .post_raw(
            "/login",
            &[("username", &username), ("password", &password)],
        )
        .await;
    assert_eq!(blocked.status(), 429);
    let page = blocked.text().await.unwrap();
    let seconds: u64 = page
        .split("Try again in ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no 'Try again in N seconds' in {page}"));
    assert!(
        (850..=900).contains(&seconds),
        "about 15 minutes, got {seconds}"
    );

    let api = client()
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 429);
    assert!(api.headers().contains_key("retry-after"));
    let error: Value = api.json().await.unwrap();
    assert_eq!(error["error"]["code"], "too_many_requests");

    // Another user is not affected by this user's failures.
    let (other, other_password) = app.user(Role::Annotator).await;
    let fine = browser
        .post_raw(
            "/login",
            &[("username", &other), ("password", &other_password)],
        )
        .await;
    assert_eq!(fine.status(), 303);
}

#[tokio::test]
async fn parallel_wrong_passwords_count_each_and_get_no_more_checks_than_the_limit() {
    let app = TestApp::spawn().await;
    let (username, password) = app.user(Role::Annotator).await;
    let guesses = (0..40).map(|i| {
        let (url, username) = (app.url("/api/v1/session"), username.clone());
        async move {
            let body = json!({"username": username, "password": format!("wrong guess {i}")});
            let answer = client().post(url).json(&body).send().await.unwrap();
            answer.status().as_u16()
        }
    });
    let statuses = futures_join_all(guesses).await;
    let checked = statuses.iter().filter(|&&s| s == 401).count();
    let refused = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(checked + refused, 40, "{statuses:?}");
    assert!(
        checked <= 5,
        "at most the limit of 5 had their password checked: {checked}"
    );
    let right = client()
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 429, "still refused inside the window");
}

/// Runs the futures at once on the test's runtime; their outputs in order.
async fn futures_join_all<F: Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for task in tasks {
        outputs.push(task.await.unwrap());
    }
    outputs
}

/// A JSON sign-in from `address` (through one trusted proxy); its status.
async fn sign_in_from(app: &TestApp, address: &str, username: &str, password: &str) -> u16 {
    client()
        .post(app.url("/api/v1/session"))
        .header("x-forwarded-for", address)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn behind_one_proxy() -> Config {
    Config {
        trusted_proxy_hops: 1,
        ..Config::default()
    }
}

#[tokio::test]
async fn a_strangers_failures_lock_out_the_stranger_not_the_user() {
    let app = TestApp::spawn_with(behind_one_proxy()).await;
    let (username, password) = app.user(Role::Annotator).await;
    for _ in 0..5 {
        assert_eq!(
            sign_in_from(&app, "198.51.100.1", &username, "wrong guess!").await,
            401
        );
    }
    let stranger = sign_in_from(&app, "198.51.100.1", &username, &password).await;
    assert_eq!(stranger, 429, "the address that guessed is locked out");
    let user = sign_in_from(&app, "203.0.113.5", &username, &password).await;
    assert_eq!(user, 200, "the user, elsewhere, is not");

    // The lock was logged for the admins, once.
    let locked: Vec<String> =
        sqlx::query_scalar("select subject from audit_log where action = 'sign-in locked'")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let id = crate::fixtures::user_id(&app.pool, &username).await;
    assert_eq!(locked, vec![format!("user:{id}")]);
}

#[tokio::test]
async fn guesses_from_many_addresses_lock_a_username_at_a_higher_count() {
    let mut config = behind_one_proxy();
    config.throttle.max_failures_per_user_anywhere = 8;
    let app = TestApp::spawn_with(config).await;
    let (username, password) = app.user(Role::Annotator).await;
    for n in 0..8 {
        let from = format!("198.51.100.{n}");
        assert_eq!(
            sign_in_from(&app, &from, &username, "wrong guess!").await,
            401
        );
    }
    let answer = client()
        .post(app.url("/api/v1/session"))
        .header("x-forwarded-for", "203.0.113.5")
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 429);
    let error: Value = answer.json().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("for this username."), "{message}");
}

#[tokio::test]
async fn an_admin_clears_a_lock_on_the_users_page_and_from_the_command_line() {
    let app = TestApp::spawn_with(behind_one_proxy()).await;
    let (username, password) = app.user(Role::Annotator).await;
    let id = crate::fixtures::user_id(&app.pool, &username).await;
    let lock = || async {
        for _ in 0..5 {
            sign_in_from(&app, "198.51.100.1", &username, "wrong guess!").await;
        }
        assert_eq!(
            sign_in_from(&app, "198.51.100.1", &username, &password).await,
            429
        );
    };
    lock().await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let page = admin
        .get(&format!("/admin/users/{id}"))
        .await
        .text()
        .await
        .unwrap();
    // Five wrong passwords, and the right one refused while locked.
    assert!(
        page.contains("6 failed sign-ins in the last 15 minutes"),
        "{page}"
    );
    let cleared = admin.post(&format!("/admin/users/{id}/unlock"), &[]).await;
    assert_eq!(cleared.status(), 303);
    assert_eq!(
        sign_in_from(&app, "198.51.100.1", &username, &password).await,
        200
    );

    lock().await;
    let out = std::process::Command::new(safepref_binary())
        .args(["user", "unlock", &username])
        .env("DATABASE_URL", &app.db_url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Cleared 6 failed sign-ins"));
    assert_eq!(
        sign_in_from(&app, "198.51.100.1", &username, &password).await,
        200
    );
    let cleared: i64 = sqlx::query_scalar(
        "select count(*) from audit_log where action = 'sign-in lock cleared' and subject = $1",
    )
    .bind(format!("user:{id}"))
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(cleared, 2, "both clearings are audited");
}

#[tokio::test]
async fn a_huge_username_at_sign_in_is_stored_no_longer_than_a_username_can_be() {
    let app = TestApp::spawn().await;
    let huge = "é".repeat(100_000);
    let answer = client()
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": huge, "password": "whatever it is"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    let longest: i32 =
        sqlx::query_scalar("select max(char_length(username)) from sign_in_failures")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(longest, 64);
}

#[tokio::test]
async fn behind_a_proxy_the_address_it_saw_is_counted_not_what_the_client_wrote() {
    let mut config = Config::default();
    config.throttle.max_failures_per_client = 3;
    config.trusted_proxy_hops = 1;
    let app = TestApp::spawn_with(config).await;
    let attempt = |forwarded: String, n: usize| {
        let url = app.url("/api/v1/session");
        async move {
            let body = json!({"username": format!("nobody-{n}"), "password": "wrong password!"});
            let answer = client()
                .post(url)
                .header("x-forwarded-for", forwarded)
                .json(&body)
                .send()
                .await
                .unwrap();
            answer.status().as_u16()
        }
    };
    // The client writes a new address of its own each time; the proxy
    // appends the one it saw, 203.0.113.7.
    for n in 0..3 {
        let status = attempt(format!("198.51.100.{n}, 203.0.113.7"), n).await;
        assert_eq!(status, 401);
    }
    assert_eq!(attempt("198.51.100.9, 203.0.113.7".into(), 9).await, 429);
    // Someone else behind the same proxy is not locked out.
    assert_eq!(attempt("203.0.113.8".into(), 10).await, 401);
}

#[tokio::test]
async fn throttling_counts_failures_per_client_address() {
    let mut config = Config::default();
    config.throttle.max_failures_per_client = 4;
    let app = TestApp::spawn_with(config).await;
    let browser = app.browser();
    for n in 0..4 {
        let name = format!("nobody-{n}");
        let response = browser
            .post_raw(
                "/login",
                &[("username", &name), ("password", "wrong password!")],
            )
            .await;
        assert_eq!(response.status(), 401);
    }
    let (username, password) = app.user(Role::Annotator).await;
    let blocked = browser
        .post_raw(
            "/login",
            &[("username", &username), ("password", &password)],
        )
        .await;
    assert_eq!(blocked.status(), 429);
    assert!(blocked.text().await.unwrap().contains("from your address"));
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let app = TestApp::spawn().await;
    let (browser, _) = app.signed_in(Role::Annotator).await;
    let response = browser.post("/logout", &[]).await;
    assert_eq!(response.status(), 303);
    let cleared = session_cookie(&response).unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let sessions: i64 = sqlx::query_scalar("select count(*) from sessions")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(sessions, 0);
    assert_eq!(browser.get("/account").await.status(), 303);
}

#[tokio::test]
async fn a_stolen_cookie_is_worthless_after_sign_out() {
    let app = TestApp::spawn().await;
    let (username, password) = app.user(Role::Annotator).await;
    let response = app
        .browser()
        .post_raw(
            "/login",
            &[("username", &username), ("password", &password)],
        )
        .await;
    let token = token_of(&session_cookie(&response).unwrap()).to_string();
    let with_token = || {
        reqwest::Client::new()
            .get(app.url("/api/v1/me"))
            .header("cookie", format!("safepref_session={token}"))
    };
    assert_eq!(with_token().send().await.unwrap().status(), 200);
    reqwest::Client::new()
        .delete(app.url("/api/v1/session"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token().send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn idle_sessions_expire() {
    let app = TestApp::spawn_with(Config {
        session_idle: Duration::from_secs(1),
        ..Config::default()
    })
    .await;
    let (browser, _) = app.signed_in(Role::Annotator).await;
    assert_eq!(browser.get("/account").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(browser.get("/account").await.status(), 303);
}

#[tokio::test]
async fn sessions_expire_at_their_absolute_limit_however_active() {
    let app = TestApp::spawn().await;
    let (browser, _) = app.signed_in(Role::Annotator).await;
    assert_eq!(browser.get("/account").await.status(), 200);
    sqlx::query("update sessions set expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(browser.get("/account").await.status(), 303);
}

#[tokio::test]
async fn sign_in_always_issues_a_new_token_and_ends_a_planted_one() {
    let app = TestApp::spawn().await;
    // The attacker signs in and plants their token in the victim's browser.
    let (attacker, attacker_password) = app.user(Role::Annotator).await;
    let planted = app
        .browser()
        .post_raw(
            "/login",
            &[("username", &attacker), ("password", &attacker_password)],
        )
        .await;
    let planted_token = token_of(&session_cookie(&planted).unwrap()).to_string();

    let (victim, victim_password) = app.user(Role::Annotator).await;
    let response = client()
        .post(app.url("/login"))
        .header("cookie", format!("safepref_session={planted_token}"))
        .form(&[
            ("username", victim.as_str()),
            ("password", victim_password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let fresh = token_of(&session_cookie(&response).unwrap()).to_string();
    assert_ne!(fresh, planted_token);
    let planted_now = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&planted_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        planted_now.status(),
        401,
        "the planted session ended at sign-in"
    );

    // Signing in again gives yet another token.
    let again = app
        .browser()
        .post_raw(
            "/login",
            &[("username", &victim), ("password", &victim_password)],
        )
        .await;
    assert_ne!(token_of(&session_cookie(&again).unwrap()), fresh);
}

async fn user_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from users")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn state_changes_without_the_right_csrf_token_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (browser, _) = app.signed_in(Role::Admin).await;
    let before = user_count(&app).await;
    let fields = [
        ("username", "sneaky"),
        ("role", "admin"),
        ("password", "a long password"),
    ];

    let missing = browser.post_raw("/admin/users", &fields).await;
    assert_eq!(missing.status(), 403);
    assert!(
        missing
            .text()
            .await
            .unwrap()
            .contains("security (CSRF) token")
    );

    let mut wrong = fields.to_vec();
    wrong.push(("csrf_token", "not-the-token"));
    assert_eq!(browser.post_raw("/admin/users", &wrong).await.status(), 403);

    let header_wrong = browser
        .client
        .post(format!("{}/logout", browser.base))
        .header("x-csrf-token", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(header_wrong.status(), 403);

    let cross_site = browser
        .client
        .post(format!("{}/admin/users", browser.base))
        .header("origin", "http://evil.example")
        .form(
            &[
                fields.as_slice(),
                &[("csrf_token", browser.csrf_token.as_deref().unwrap())],
            ]
            .concat(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    assert_eq!(user_count(&app).await, before, "nothing was created");
    assert_eq!(
        browser.get("/account").await.status(),
        200,
        "still signed in after the refused sign-out"
    );

    // The same form with the right token works.
    let ok = browser.post("/admin/users", &fields).await;
    assert_eq!(ok.status(), 303);
    assert_eq!(user_count(&app).await, before + 1);
}

#[tokio::test]
async fn the_sign_in_form_refuses_cross_site_posts() {
    let app = TestApp::spawn().await;
    let (username, password) = app.user(Role::Annotator).await;
    let response = client()
        .post(app.url("/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("username", username.as_str()),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(session_cookie(&response).is_none());
}

#[tokio::test]
async fn json_requests_by_cookie_need_the_csrf_header_and_bearer_requests_do_not() {
    let app = TestApp::spawn().await;
    let (username, password) = app.user(Role::Annotator).await;
    let http = client();
    let body: Value = http
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let without = http
        .delete(app.url("/api/v1/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), 403);
    let error: Value = without.json().await.unwrap();
    assert_eq!(error["error"]["code"], "forbidden");
    let with = http
        .delete(app.url("/api/v1/session"))
        .header("x-csrf-token", body["csrf_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), 204);

    let second: Value = client()
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = reqwest::Client::new()
        .delete(app.url("/api/v1/session"))
        .bearer_auth(second["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 204);
}

#[tokio::test]
async fn a_disabled_user_is_signed_out_at_the_next_request() {
    let app = TestApp::spawn().await;
    let (annotator, username) = app.signed_in(Role::Annotator).await;
    assert_eq!(annotator.get("/account").await.status(), 200);
    let (admin, _) = app.signed_in(Role::Admin).await;
    let id: uuid::Uuid = sqlx::query_scalar("select id from users where username = $1")
        .bind(&username)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let confirm = admin.get(&format!("/admin/users/{id}/disable")).await;
    assert_eq!(confirm.status(), 200);
    assert!(
        confirm
            .text()
            .await
            .unwrap()
            .contains("Disable the account")
    );
    assert_eq!(
        admin
            .post(&format!("/admin/users/{id}/disable"), &[])
            .await
            .status(),
        303
    );

    assert_eq!(annotator.get("/account").await.status(), 303);
    let sessions: i64 = sqlx::query_scalar("select count(*) from sessions where user_id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(sessions, 0);
}

#[tokio::test]
async fn a_disabled_user_with_the_right_password_is_told_the_account_is_disabled() {
    let app = TestApp::spawn().await;
    let (username, password) = app.user(Role::Annotator).await;
    sqlx::query("update users set disabled = true where username = $1")
        .bind(&username)
        .execute(&app.pool)
        .await
        .unwrap();
    let response = app
        .browser()
        .post_raw(
            "/login",
            &[("username", &username), ("password", &password)],
        )
        .await;
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("disabled"));
}

#[tokio::test]
async fn stored_password_hashes_are_argon2id_phc_strings() {
    let app = TestApp::spawn().await;
    let (username, password) = app.user(Role::Annotator).await;
    let hash: String = sqlx::query_scalar("select password_hash from users where username = $1")
        .bind(&username)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    assert!(!hash.contains(&password));
}

// Secure cookies, HSTS and the Host allow-list (issue 23, items 8 and 15).

/// The value of the session cookie a response sets under `name`, with its
/// attributes.
fn set_cookie_named(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

/// A GET with a cookie header written by hand (a client's cookie store
/// would not send a Secure cookie over the tests' plain http).
async fn get_with_cookie(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    client()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_secure_site_names_its_cookie_host_only_reads_only_that_name_and_sends_hsts() {
    let app = TestApp::spawn_with(Config {
        secure_cookies: true,
        ..Config::default()
    })
    .await;
    let (username, password) = app.user(Role::Annotator).await;
    let form = [("username", username.as_str()), ("password", &password)];
    let signed_in = app.browser().post_raw("/login", &form).await;
    assert_eq!(signed_in.status(), 303);
    let hsts = signed_in.headers()["strict-transport-security"]
        .to_str()
        .unwrap();
    let max_age: u64 = hsts.strip_prefix("max-age=").unwrap().parse().unwrap();
    assert!(max_age >= 180 * 24 * 3600, "{hsts}");

    let cookie = set_cookie_named(&signed_in, "__Host-safepref_session").expect("a __Host- cookie");
    assert!(set_cookie_named(&signed_in, "safepref_session").is_none());
    // What browsers require of a __Host- cookie.
    assert!(
        cookie.contains("; Secure") && cookie.contains("; Path=/;"),
        "{cookie}"
    );
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
    let token = cookie["__Host-safepref_session=".len()..]
        .split(';')
        .next()
        .unwrap();

    let prefixed = format!("__Host-safepref_session={token}");
    let account = get_with_cookie(&app, "/account", &prefixed).await;
    assert_eq!(account.status(), 200);
    // The unprefixed name, which a sibling subdomain or an http page could
    // set, is not read.
    let plain = get_with_cookie(&app, "/account", &format!("safepref_session={token}")).await;
    assert_eq!(plain.status(), 303);
    assert!(
        plain.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );

    let csrf = safepref_tests::csrf_token_in(&account.text().await.unwrap()).unwrap();
    let signed_out = client()
        .post(app.url("/logout"))
        .header("cookie", &prefixed)
        .form(&[("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 303);
    let cleared = set_cookie_named(&signed_out, "__Host-safepref_session").expect("cleared");
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("; Secure"),
        "{cleared}"
    );
}

#[tokio::test]
async fn a_site_served_over_http_on_loopback_sends_no_hsts() {
    let app = TestApp::spawn().await;
    let page = app.browser().get("/login").await;
    assert_eq!(page.status(), 200);
    assert!(page.headers().get("strict-transport-security").is_none());
}

/// `safepref serve` on every address of the machine with these extra
/// arguments and environment; returns the sign-in's `Set-Cookie` for the
/// session and the server's log.
async fn sign_in_to_a_server_bound_to_every_address(
    db: &safepref_tests::TestDb,
    args: &[&str],
    env: &[(&str, &str)],
) -> (String, String) {
    let (username, password) = ("wide-bind-user", "a long enough password");
    if let Err(e) =
        safepref_server::accounts::create(&db.pool, None, username, Role::Annotator, password).await
    {
        assert!(
            e.to_string().contains("exists") || e.to_string().contains("taken"),
            "{e}"
        );
    }
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut server = tokio::process::Command::new(safepref_tests::safepref_binary())
        .args(["serve", "--bind", &format!("0.0.0.0:{port}")])
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env_remove("SAFEPREF_SECURE_COOKIES")
        .env_remove("SAFEPREF_PUBLIC_HOSTS")
        .envs(env.iter().copied())
        .stdout(log.reopen().unwrap())
        .stderr(log.reopen().unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = client();
    for _ in 0..600 {
        let up = http.get(format!("{base}/healthz")).send().await;
        if up.is_ok_and(|r| r.status() == 200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let response = http
        .post(format!("{base}/login"))
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .expect("the server answers");
    server.kill().await.unwrap();
    let log = std::fs::read_to_string(log.path()).unwrap();
    assert_eq!(response.status(), 303, "{log}");
    let cookie = set_cookie_named(&response, "__Host-safepref_session")
        .or_else(|| set_cookie_named(&response, "safepref_session"))
        .expect("a session cookie");
    (cookie, log)
}

#[tokio::test]
async fn beyond_loopback_the_cookie_is_secure_unless_turned_off_and_the_log_recommends_public_hosts()
 {
    let db = safepref_tests::TestDb::new().await;
    let (cookie, log) = sign_in_to_a_server_bound_to_every_address(&db, &[], &[]).await;
    assert!(
        cookie.starts_with("__Host-safepref_session=") && cookie.contains("; Secure"),
        "{cookie}"
    );
    assert!(
        log.contains("--public-host"),
        "a warning that recommends it: {log}"
    );

    // Plain http behind a TLS-terminating proxy, on purpose (docker-compose.yml).
    let by_flag = ["--secure-cookies=false"];
    let by_env = [("SAFEPREF_SECURE_COOKIES", "false")];
    for (args, env) in [(&by_flag[..], &[][..]), (&[], &by_env[..])] {
        let (cookie, _) = sign_in_to_a_server_bound_to_every_address(&db, args, env).await;
        assert!(
            cookie.starts_with("safepref_session=") && !cookie.contains("Secure"),
            "{args:?} {env:?}: {cookie}"
        );
    }

    let named = ["--public-host", "annotate.example.org"];
    let (_, log) = sign_in_to_a_server_bound_to_every_address(&db, &named, &[]).await;
    assert!(
        !log.contains("--public-host"),
        "no warning once names are given: {log}"
    );
}

fn with_public_host() -> Config {
    Config {
        public_hosts: vec!["annotate.example.org".into()],
        ..Config::default()
    }
}

/// A request naming `host` in its `Host` header.
async fn get_as(app: &TestApp, path: &str, host: &str) -> reqwest::Response {
    client()
        .get(app.url(path))
        .header("host", host)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn with_public_hosts_a_foreign_host_is_refused_and_names_of_the_site_and_probes_pass() {
    let app = TestApp::spawn_with(with_public_host()).await;
    let port = app.base.rsplit(':').next().unwrap().to_string();
    // A DNS-rebinding page's own name, or any other name or address.
    for host in [
        "evil.example",
        "evil.example:8080",
        "annotate.example.org.evil.example",
        "10.0.0.5",
    ] {
        let refused = get_as(&app, "/login", host).await;
        assert_eq!(refused.status(), 421, "{host}");
        let page = refused.text().await.unwrap();
        assert!(
            page.contains("does not answer to the host name") && page.contains("--public-host"),
            "{host}: {page}"
        );
    }
    let malformed = get_as(&app, "/login", "annotate.example.org:x").await;
    assert_eq!(malformed.status(), 421);
    assert!(
        malformed
            .text()
            .await
            .unwrap()
            .contains("no single, valid Host")
    );
    let api = get_as(&app, "/api/v1/projects", "evil.example").await;
    assert_eq!(api.status(), 421);
    let error: Value = api.json().await.unwrap();
    assert_eq!(error["error"]["code"], "misdirected_request");

    // The rebinding page signs in with a guessed password: its Origin
    // matches its Host, so only the allow-list stops it.
    let (username, password) = app.user(Role::Annotator).await;
    let rebound = client()
        .post(app.url("/login"))
        .header("host", "evil.example")
        .header("origin", "http://evil.example")
        .form(&[("username", &username), ("password", &password)])
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 421);
    assert!(set_cookie_named(&rebound, "safepref_session").is_none());

    let allowed = [
        "annotate.example.org".to_string(),
        "Annotate.Example.ORG:8443".into(),
        "annotate.example.org.".into(),
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    for host in allowed {
        assert_eq!(get_as(&app, "/login", &host).await.status(), 200, "{host}");
    }
    for probe in ["/healthz", "/readyz"] {
        assert_eq!(
            get_as(&app, probe, "evil.example").await.status(),
            200,
            "{probe}"
        );
    }
    // The tests' own browser reaches the site as 127.0.0.1.
    let (browser, _) = app.signed_in(Role::Admin).await;
    assert_eq!(browser.get("/admin/users").await.status(), 200);
}

#[tokio::test]
async fn without_public_hosts_any_host_is_served_as_before() {
    let app = TestApp::spawn().await;
    let (username, password) = app.user(Role::Annotator).await;
    assert_eq!(get_as(&app, "/login", "evil.example").await.status(), 200);
    let rebound = client()
        .post(app.url("/login"))
        .header("host", "evil.example")
        .header("origin", "http://evil.example")
        .form(&[("username", &username), ("password", &password)])
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 303, "what --public-host is for");
}
