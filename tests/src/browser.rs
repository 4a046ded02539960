//! A real browser for the end-to-end tests: Debian's headless Chromium,
//! driven over WebDriver (fantoccini) through Debian's chromedriver.
//!
//! - One chromedriver per test process, started on first use on a free
//!   loopback port, in a process group of its own with every Chromium it
//!   starts. A watcher ends that group and removes the profiles' folder when
//!   the test process ends, however it ends (as the PostgreSQL watcher does).
//! - One browser session per test: [`Page::start`], with a fresh profile.
//! - A test that panics while its [`Page`] is alive leaves a screenshot, the
//!   page's HTML, its address and the browser console under
//!   `target/browser-failures/<test name>/` (see [`Page`]'s `Drop`).
//!
//! `scripts/test` installs the browser (`ensure_browser` in scripts/lib.sh);
//! `SAFEPREF_CHROMIUM` and `SAFEPREF_CHROMEDRIVER` point elsewhere if needed.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

pub use fantoccini::key::Key;

/// How long the helpers that wait ([`Page::type_into`], [`Page::click`],
/// [`Page::text_of`], [`Page::sign_in`]) wait for their element or page.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(25);

fn chromium() -> PathBuf {
    std::env::var_os("SAFEPREF_CHROMIUM").map_or_else(|| "/usr/bin/chromium".into(), PathBuf::from)
}

fn chromedriver() -> PathBuf {
    std::env::var_os("SAFEPREF_CHROMEDRIVER")
        .map_or_else(|| "/usr/bin/chromedriver".into(), PathBuf::from)
}

// ---------------------------------------------------------------------------
// chromedriver: one per test process

struct Driver {
    /// `http://127.0.0.1:<port>/`
    url: String,
    /// Profiles and chromedriver's log; removed by the watcher.
    dir: PathBuf,
    _process: Mutex<Child>,
    /// Holds the write end of the watcher's stdin for the life of the
    /// process: when the process ends, however it ends, the pipe closes and
    /// the watcher kills chromedriver's process group.
    _watcher: Mutex<Child>,
}

fn driver() -> &'static Driver {
    static DRIVER: OnceLock<Driver> = OnceLock::new();
    DRIVER.get_or_init(start_driver)
}

fn start_driver() -> Driver {
    let binary = chromedriver();
    assert!(
        binary.is_file() && chromium().is_file(),
        "{} or {} is missing: run scripts/test, or `apt-get install chromium chromium-driver`",
        binary.display(),
        chromium().display()
    );
    // Binding port 0 picks a free port; chromedriver binds it a moment later.
    // Should another process take it in between, chromedriver exits: retry.
    let mut errors = Vec::new();
    for _ in 0..3 {
        match try_start_driver(&binary) {
            Ok(driver) => return driver,
            Err(e) => errors.push(e),
        }
    }
    panic!("chromedriver did not start:\n{}", errors.join("\n"));
}

fn try_start_driver(binary: &Path) -> Result<Driver, String> {
    let dir = tempfile::Builder::new()
        .prefix("safepref-browser-")
        .tempdir()
        .expect("a temporary folder for the browser profiles")
        .keep();
    let log = dir.join("chromedriver.log");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let mut process = {
        use std::os::unix::process::CommandExt;
        Command::new(binary)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, which the Chromiums it starts join.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()))
    };
    let watcher = watch(process.id(), &dir);
    match wait_listening(&mut process, port) {
        Ok(()) => Ok(Driver {
            url: format!("http://127.0.0.1:{port}/"),
            dir,
            _process: Mutex::new(process),
            _watcher: Mutex::new(watcher),
        }),
        Err(e) => {
            process.kill().ok();
            process.wait().ok();
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            // Closing the watcher's stdin has it end the group and remove
            // this try's folder.
            drop(watcher);
            Err(format!("{e}\n{log}"))
        }
    }
}

/// A shell that waits for its stdin to close (the test process ended), then
/// ends chromedriver's process group and removes `dir`. It ignores SIGINT and
/// SIGHUP, so a Ctrl-C that kills the tests does not kill it first.
fn watch(process_group: u32, dir: &Path) -> Child {
    let script = format!(
        "trap '' INT HUP; cat >/dev/null; \
         kill -TERM -{process_group} 2>/dev/null; \
         for _ in 1 2 3 4 5 6 7 8 9 10; do \
           kill -0 -{process_group} 2>/dev/null || break; sleep 0.1; \
         done; \
         kill -KILL -{process_group} 2>/dev/null; \
         rm -rf '{}'",
        dir.display()
    );
    crate::watcher(&script, "the chromedriver watcher")
}

fn wait_listening(process: &mut Child, port: u16) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = process.try_wait() {
            return Err(format!("chromedriver exited ({status})"));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("chromedriver is not listening on port {port}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// A browser session

/// One headless Chromium window (1280×900, a fresh profile), for one test.
///
/// Helpers panic with a message naming what they looked for, as assertions
/// do. If the test panics while the page is alive, its `Drop` saves
/// `screenshot.png`, `page.html`, `url.txt`, `console.txt` (and `alert.txt`
/// if a dialog was open) under
/// `target/browser-failures/<test name>/` and says so on stderr. It also
/// ends the browser session if [`Page::close`] was not called.
pub struct Page {
    client: Client,
    session: String,
    /// The test's name, for the failure folder.
    name: String,
    /// Removed after the session ends (the browser writes into it until then).
    profile: Option<tempfile::TempDir>,
    closed: bool,
}

impl Page {
    /// A new browser session, named after the running test (libtest names
    /// each test's thread after the test; a `#[tokio::test]` body runs there).
    pub async fn start() -> Page {
        let name = std::thread::current()
            .name()
            .unwrap_or("unnamed-test")
            .to_string();
        Page::start_as(&name).await
    }

    /// A new browser session whose failure artefacts go under `name`.
    pub async fn start_as(name: &str) -> Page {
        let driver = driver();
        let profile = tempfile::Builder::new()
            .prefix("profile-")
            .tempdir_in(&driver.dir)
            .expect("a browser profile folder");
        let capabilities = json!({
            "browserName": "chrome",
            // An alert stays open (instead of being dismissed by the next
            // command), so a test can see that one was opened.
            "unhandledPromptBehavior": "ignore",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": chromium(),
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--no-first-run",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("starting a browser session: {e}"));
        client
            .update_timeouts(TimeoutConfiguration::new(
                Some(Duration::from_secs(10)),
                Some(Duration::from_secs(20)),
                Some(Duration::ZERO),
            ))
            .await
            .expect("setting the session's timeouts");
        let session = client
            .session_id()
            .await
            .ok()
            .flatten()
            .expect("the session's id");
        let name = name.replace("::", ".");
        std::fs::remove_dir_all(failure_dir(&name)).ok();
        Page {
            client,
            session,
            name,
            profile: Some(profile),
            closed: false,
        }
    }

    /// The fantoccini client, for anything the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// The address of the page now shown.
    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("the current address")
            .to_string()
    }

    /// The path and query of the page now shown (`/login?next=%2Faccount`).
    pub async fn path(&self) -> String {
        let url = self
            .client
            .current_url()
            .await
            .expect("the current address");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Waits until the page shown has this path (and query, if given):
    /// after a click or Enter that navigates.
    pub async fn wait_for_path(&self, path: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.path().await;
            let matches = if path.contains('?') {
                now == path
            } else {
                now.split('?').next() == Some(path)
            };
            if matches {
                return;
            }
            if Instant::now() > deadline {
                panic!("waited {timeout:?} for {path}, still on {now}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The first element matching `css`, now.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("finding {css}: {e}"))
    }

    /// Every element matching `css`, now.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("finding {css}: {e}"))
    }

    /// Waits until an element matches `css`, then returns it.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        self.client
            .wait()
            .at_most(timeout)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("waited {timeout:?} for {css}: {e}"))
    }

    /// Waits until `js` (a function body, say `return x > 1`) returns true.
    pub async fn wait_until(&self, js: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.execute(js).await == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                panic!("waited {timeout:?} for `{js}` to be true");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Types `text` into the element matching `css` (waiting for it), as a
    /// person would: it takes the focus, and keys are sent one by one.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.wait_for(css, TIMEOUT)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    /// Clicks the element matching `css` (waiting for it).
    pub async fn click(&self, css: &str) {
        self.wait_for(css, TIMEOUT)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Presses keys with the focus where it is, as the keyboard would:
    /// `"a"`, `&Key::Tab`, `&(Key::Control + &Key::Enter)`. As in WebDriver's
    /// send-keys, a modifier (Shift, Control, Alt, Meta) stays down until the
    /// end or a `Key::Null`, so Control + Enter is Ctrl+Enter.
    pub async fn press(&self, keys: &str) {
        const MODIFIERS: [Key; 4] = [Key::Shift, Key::Control, Key::Alt, Key::Meta];
        let is_modifier = |c: char| MODIFIERS.iter().any(|&m| char::from(m) == c);
        let mut actions = KeyActions::new("keyboard".to_string());
        let mut held: Vec<char> = Vec::new();
        for c in keys.chars() {
            if c == char::from(Key::Null) {
                for m in held.drain(..).rev() {
                    actions = actions.then(KeyAction::Up { value: m });
                }
            } else if is_modifier(c) {
                if !held.contains(&c) {
                    held.push(c);
                    actions = actions.then(KeyAction::Down { value: c });
                }
            } else {
                actions = actions
                    .then(KeyAction::Down { value: c })
                    .then(KeyAction::Up { value: c });
            }
        }
        for m in held.into_iter().rev() {
            actions = actions.then(KeyAction::Up { value: m });
        }
        self.client
            .perform_actions(actions)
            .await
            .unwrap_or_else(|e| panic!("pressing {keys:?}: {e}"));
    }

    /// The rendered text of the element matching `css` (waiting for it).
    pub async fn text_of(&self, css: &str) -> String {
        self.wait_for(css, TIMEOUT)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("reading the text of {css}: {e}"))
    }

    /// The rendered text of every element matching `css`, now.
    pub async fn texts_of(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self.find_all(css).await {
            texts.push(
                element
                    .text()
                    .await
                    .unwrap_or_else(|e| panic!("reading the text of {css}: {e}")),
            );
        }
        texts
    }

    /// The `id` of the element that has the focus (None: no id, or the body).
    pub async fn focused_element_id(&self) -> Option<String> {
        let id = self
            .execute(
                "const e = document.activeElement; \
                 return e && e !== document.body ? e.id : null;",
            )
            .await;
        id.as_str().filter(|id| !id.is_empty()).map(str::to_string)
    }

    /// Runs `js` (a function body: `return …` gives the value) in the page.
    /// For reading the page's state; a test acts through keys and clicks.
    pub async fn execute(&self, js: &str) -> Value {
        self.client
            .execute(js, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("running `{js}`: {e}"))
    }

    /// The page's HTML as it is now (the DOM, not the bytes received).
    pub async fn html(&self) -> String {
        self.client.source().await.expect("the page's HTML")
    }

    /// The text of the open alert, confirm or prompt dialog, if any.
    pub async fn alert_text(&self) -> Option<String> {
        match self.client.get_alert_text().await {
            Ok(text) => Some(text),
            Err(e) if e.is_no_such_alert() => None,
            Err(e) => panic!("looking for an alert: {e}"),
        }
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        self.client.screenshot().await.expect("a screenshot")
    }

    /// Signs in through the sign-in form at `base` (clicking its button),
    /// and waits until the form has sent the browser on.
    pub async fn sign_in(&self, base: &str, username: &str, password: &str) {
        self.goto(&format!("{base}/login")).await;
        self.type_into("#username", username).await;
        self.type_into("#password", password).await;
        self.click("form[action='/login'] button[type=submit]")
            .await;
        let deadline = Instant::now() + TIMEOUT;
        while self.path().await.starts_with("/login") {
            if Instant::now() > deadline {
                let error = self
                    .execute(
                        "const e = document.querySelector('.error'); return e && e.textContent;",
                    )
                    .await;
                panic!("signing in as {username} failed: {error}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Ends the browser session. Dropping the page does so too, but cannot
    /// wait for it as nicely.
    pub async fn close(mut self) {
        self.closed = true;
        self.client
            .clone()
            .close()
            .await
            .expect("ending the browser session");
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if self.closed && !panicking {
            return;
        }
        // Drop cannot await, and this thread may be inside the test's runtime
        // (whose thread it blocks), so the fantoccini client cannot be used:
        // talk to chromedriver directly from a thread with a runtime of its own.
        let session_url = format!("{}session/{}", driver().url, self.session);
        let save_to = panicking.then(|| failure_dir(&self.name));
        let end_session = !self.closed;
        let saved = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .ok()?;
                let saved = match save_to {
                    Some(dir) => Some(save_failure(&http, &session_url, &dir).await),
                    None => None,
                };
                if end_session {
                    http.delete(&session_url).send().await.ok();
                }
                saved
            })
        })
        .join()
        .ok()
        .flatten();
        if let Some(report) = saved {
            eprintln!("{report}");
        }
        // Only now that the browser is gone may its profile go.
        if let Some(profile) = self.profile.take() {
            profile.close().ok();
        }
    }
}

/// `target/browser-failures/<name>`, beside the test binary's profile folder.
fn failure_dir(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let target = exe
        .ancestors()
        .nth(3) // target/<profile>/deps/<exe>
        .expect("the target folder");
    target.join("browser-failures").join(name)
}

/// Saves what the browser shows; returns a line saying what was saved where.
async fn save_failure(http: &reqwest::Client, session_url: &str, dir: &Path) -> String {
    async fn value(request: reqwest::RequestBuilder) -> Option<Value> {
        let body: Value = request.send().await.ok()?.json().await.ok()?;
        Some(body["value"].clone())
    }
    if let Err(e) = std::fs::create_dir_all(dir) {
        return format!(
            "browser failure artefacts: cannot create {}: {e}",
            dir.display()
        );
    }
    let mut saved = Vec::new();
    // An open dialog blocks everything else: note its text, then dismiss it.
    if let Some(alert) = value(http.get(format!("{session_url}/alert/text"))).await
        && let Some(alert) = alert.as_str()
        && std::fs::write(dir.join("alert.txt"), format!("{alert}\n")).is_ok()
    {
        saved.push("alert.txt");
        let dismiss = http.post(format!("{session_url}/alert/dismiss"));
        value(dismiss.json(&json!({}))).await;
    }
    let screenshot = value(http.get(format!("{session_url}/screenshot"))).await;
    if let Some(png) = screenshot
        .as_ref()
        .and_then(Value::as_str)
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        && std::fs::write(dir.join("screenshot.png"), png).is_ok()
    {
        saved.push("screenshot.png");
    }
    if let Some(html) = value(http.get(format!("{session_url}/source"))).await
        && let Some(html) = html.as_str()
        && std::fs::write(dir.join("page.html"), html).is_ok()
    {
        saved.push("page.html");
    }
    if let Some(url) = value(http.get(format!("{session_url}/url"))).await
        && let Some(url) = url.as_str()
        && std::fs::write(dir.join("url.txt"), format!("{url}\n")).is_ok()
    {
        saved.push("url.txt");
    }
    // chromedriver's own extension: the browser console (errors, CSP reports).
    let log = http
        .post(format!("{session_url}/se/log"))
        .json(&json!({"type": "browser"}));
    if let Some(Value::Array(entries)) = value(log).await {
        let text: String = entries
            .iter()
            .map(|e| {
                format!(
                    "{} {}\n",
                    e["level"].as_str().unwrap_or("?"),
                    e["message"].as_str().unwrap_or("")
                )
            })
            .collect();
        if std::fs::write(dir.join("console.txt"), text).is_ok() {
            saved.push("console.txt");
        }
    }
    if saved.is_empty() {
        format!(
            "browser failure artefacts: the browser gave nothing to save in {}",
            dir.display()
        )
    } else {
        format!(
            "browser failure artefacts: {} in {}",
            saved.join(", "),
            dir.display()
        )
    }
}
