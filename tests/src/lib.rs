//! The test harness: real PostgreSQL, real HTTP.
//!
//! - One private PostgreSQL cluster per test process, made and started by the
//!   same supervisor `safepref serve` uses, in a temporary folder; a watcher
//!   stops it and removes the folder when the process ends, however it ends.
//! - One fresh database per test, cloned from a migrated template database,
//!   so a test starts in milliseconds and sees no other test's rows.
//! - [`TestApp::spawn`] serves the whole app on 127.0.0.1:0; [`Browser`] is a
//!   cookie-aware HTTP client that fills in CSRF tokens like a page would.

pub mod browser;
mod processes;

pub use processes::{OwnCluster, ServerProcess, Standby};

use std::path::PathBuf;
use std::process::Child;
use std::sync::{Mutex, OnceLock};

use reqwest::redirect::Policy;
use safepref_server::AppState;
use safepref_server::accounts;
use safepref_server::config::Config;
use safepref_server::db::{self, quote_ident, users::Role};
use safepref_server::pg::{BinSearch, Cluster, ClusterOptions};
use sqlx::{Connection, PgConnection, PgPool};

const TEMPLATE: &str = "safepref_template";

struct TestCluster {
    cluster: Cluster,
    /// Held open for the life of the process; its end stops the cluster.
    _watcher: Mutex<Child>,
}

fn test_cluster() -> &'static TestCluster {
    static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("safepref-test-")
            .tempdir()
            .expect("a temporary folder for the test cluster")
            .keep();
        let options = ClusterOptions { unsafe_fast: true };
        let mut cluster = Cluster::prepare(&dir, &BinSearch::Default, &options)
            .expect("preparing the test cluster");
        cluster.ensure_running().expect("starting the test cluster");
        let watcher = cluster
            .stop_when_process_exits(Some(&dir))
            .expect("starting the cluster watcher");
        TestCluster {
            cluster,
            _watcher: Mutex::new(watcher),
        }
    })
}

/// A fresh, migrated database of its own.
pub struct TestDb {
    pub url: String,
    pub pool: PgPool,
}

impl TestDb {
    pub async fn new() -> Self {
        let cluster = &test_cluster().cluster;
        let mut admin = PgConnection::connect(&cluster.database_url("postgres"))
            .await
            .expect("connecting to the test cluster");
        ensure_template(&mut admin, cluster).await;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let sql = format!("create database {} template {TEMPLATE}", quote_ident(&name));
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await
            .expect("cloning the template database");
        admin.close().await.ok();
        let url = cluster.database_url(&name);
        let pool = db::pool_for(&url)
            .await
            .expect("connecting to the test database");
        TestDb { url, pool }
    }

    /// The URL of a new, empty (unmigrated) database in the test cluster.
    pub async fn empty_url() -> String {
        let cluster = &test_cluster().cluster;
        let name = format!("e_{}", uuid::Uuid::new_v4().simple());
        db::create_database_if_missing(&cluster.database_url("postgres"), &name)
            .await
            .expect("creating a database");
        cluster.database_url(&name)
    }
}

/// Builds the migrated template once per cluster; an advisory lock keeps
/// concurrent tests from building it twice.
async fn ensure_template(admin: &mut PgConnection, cluster: &Cluster) {
    const LOCK: i64 = 7_311_024;
    sqlx::query("select pg_advisory_lock($1)")
        .bind(LOCK)
        .execute(&mut *admin)
        .await
        .expect("template lock");
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(TEMPLATE)
            .fetch_one(&mut *admin)
            .await
            .expect("looking for the template");
    if !exists {
        db::create_database_if_missing(&cluster.database_url("postgres"), TEMPLATE)
            .await
            .expect("creating the template");
        let pool = db::pool_for(&cluster.database_url(TEMPLATE))
            .await
            .expect("connecting to the template");
        db::migrate(&pool).await.expect("migrating the template");
        pool.close().await;
    }
    sqlx::query("select pg_advisory_unlock($1)")
        .bind(LOCK)
        .execute(&mut *admin)
        .await
        .expect("template unlock");
}

/// The app served on a loopback port, with its own database.
pub struct TestApp {
    pub base: String,
    pub pool: PgPool,
    pub db_url: String,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Config::default()).await
    }

    pub async fn spawn_with(config: Config) -> Self {
        let db = TestDb::new().await;
        Self::serve(db, config).await
    }

    /// Serves the app in this process on `db`.
    pub async fn serve(db: TestDb, config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(db.pool.clone(), config);
        tokio::spawn(safepref_server::serve(
            listener,
            state,
            std::future::pending(),
        ));
        TestApp {
            base,
            pool: db.pool,
            db_url: db.url,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A new user with a random name and password.
    pub async fn user(&self, role: Role) -> (String, String) {
        let username = format!(
            "{}-{}",
            role.as_str(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
        accounts::create(&self.pool, None, &username, role, &password)
            .await
            .expect("creating a test user");
        (username, password)
    }

    /// A browser with no session.
    pub fn browser(&self) -> Browser {
        Browser {
            client: client(),
            base: self.base.clone(),
            csrf_token: None,
        }
    }

    /// A browser signed in through the sign-in form as a new user of `role`.
    pub async fn signed_in(&self, role: Role) -> (Browser, String) {
        let (username, password) = self.user(role).await;
        let mut browser = self.browser();
        let response = browser.sign_in(&username, &password).await;
        assert_eq!(response.status(), 303, "signing in as {username}");
        (browser, username)
    }
}

/// A cookie-keeping client that does not follow redirects (tests look at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .expect("an HTTP client")
}

/// A cookie-aware client that behaves like a page: it posts forms with the
/// CSRF token the pages gave it.
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
    pub csrf_token: Option<String>,
}

impl Browser {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET")
    }

    /// Signs in through the form, then picks up the CSRF token from a page.
    pub async fn sign_in(&mut self, username: &str, password: &str) -> reqwest::Response {
        let response = self
            .post_raw("/login", &[("username", username), ("password", password)])
            .await;
        if response.status() == 303 {
            let page = self.get("/account").await.text().await.unwrap();
            self.csrf_token = csrf_token_in(&page);
        }
        response
    }

    /// Posts a form with the session's CSRF token added.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf_token.clone().unwrap_or_default();
        let mut all = fields.to_vec();
        all.push(("csrf_token", &token));
        self.post_raw(path, &all).await
    }

    /// Posts a form exactly as given.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .expect("POST")
    }
}

/// The value of the first `csrf_token` hidden field in a page.
pub fn csrf_token_in(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf_token\" value=\"")? + "name=\"csrf_token\" value=\"".len();
    Some(html[at..].split('"').next()?.to_string())
}

/// The `safepref` binary built beside the test executable (`cargo build`
/// makes it; the README's test command runs that first).
pub fn safepref_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let target_profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let binary = target_profile_dir.join("safepref");
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo build` before the tests",
        binary.display()
    );
    binary
}

/// Runs `script` (which starts by reading standard input to its end) in
/// `sh`, holding its standard input: when this process ends, however it
/// ends, the input closes and the script does its cleaning up.
pub(crate) fn watcher(script: &str, what: &str) -> Child {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir("/")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what}: {e}"))
}
