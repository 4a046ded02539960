//! In a real browser (headless Chromium): signing in with the keyboard, an
//! admin adding a user, hostile project text shown as text with nothing run,
//! an annotator's keyboard-only session, an admin's round (project, upload,
//! export download); and the harness's own failure artefacts.

use safepref_server::db::projects::Settings;
use safepref_server::db::users::Role;
use safepref_server::projects;
use safepref_tests::TestApp;
use safepref_tests::browser::{Key, Page, TIMEOUT};
use serde_json::Value;

#[tokio::test]
async fn signing_in_with_the_keyboard_alone_lands_on_the_page_asked_for() {
    let app = TestApp::spawn().await;
    let (username, password) = app.user(Role::Lead).await;
    let page = Page::start().await;

    // A page that needs a session sends the browser to sign in first.
    page.goto(&app.url("/account")).await;
    page.wait_for_path("/login?next=%2Faccount", TIMEOUT).await;
    page.wait_for("#username", TIMEOUT).await;
    assert_eq!(
        page.focused_element_id().await.as_deref(),
        Some("username"),
        "the form starts in its first field"
    );
    // Shift+Tab leaves it for the link before it; Tab comes back.
    page.press(&(Key::Shift + &Key::Tab)).await;
    assert_eq!(
        page.execute("return document.activeElement.getAttribute('href')")
            .await,
        "/login"
    );
    page.press(&Key::Tab).await;
    assert_eq!(page.focused_element_id().await.as_deref(), Some("username"));
    page.press(&username).await;
    page.press(&Key::Tab).await;
    assert_eq!(page.focused_element_id().await.as_deref(), Some("password"));
    page.press(&password).await;
    page.press(&Key::Enter).await;

    page.wait_for_path("/account", TIMEOUT).await;
    assert_eq!(
        page.texts_of("nav[aria-label=Main] a").await,
        ["Work", "Review", "Account"],
        "a lead's navigation"
    );
    assert_eq!(
        page.text_of("header .who").await,
        format!("{username} lead")
    );
    page.close().await;
}

#[tokio::test]
async fn an_admin_adds_a_user_and_sees_the_generated_password() {
    let app = TestApp::spawn().await;
    let (admin, admin_password) = app.user(Role::Admin).await;
    let page = Page::start().await;
    page.sign_in(&app.base, &admin, &admin_password).await;
    assert_eq!(
        page.texts_of("nav[aria-label=Main] a").await,
        ["Work", "Review", "Projects", "Users", "Account"],
        "an admin's navigation"
    );

    page.goto(&app.url("/admin/users/new")).await;
    assert_eq!(
        page.focused_element_id().await.as_deref(),
        Some("username"),
        "the form starts in its first field"
    );
    page.type_into("#username", "new.annotator").await;
    page.find("#role")
        .await
        .select_by_value("annotator")
        .await
        .unwrap();
    // The password is left empty: one is generated.
    page.click("form[action='/admin/users'] button[type=submit]")
        .await;

    let password = page.text_of("code.secret").await;
    assert_eq!(page.text_of("h1").await, "Password for new.annotator");
    assert_eq!(password.chars().count(), 20, "{password:?}");
    assert!(!password.contains(char::is_whitespace), "{password:?}");
    page.close().await;

    // The password shown is the one that works.
    let mut other = app.browser();
    assert_eq!(
        other.sign_in("new.annotator", &password).await.status(),
        303
    );
}

const HOSTILE: &str = "<script>window.__x=1</script> <img src=x onerror=\"window.__x=2\"> [a](javascript:window.__x=3)";

/// Records the page's policy violations in `window.__csp`, then inserts an
/// inline script that sets `window.__x` to 5.
const INSERT_INLINE_SCRIPT: &str = "\
    window.__csp = []; \
    document.addEventListener('securitypolicyviolation', \
        e => window.__csp.push(e.violatedDirective)); \
    const s = document.createElement('script'); \
    s.textContent = 'window.__x = 5'; \
    document.documentElement.appendChild(s);";

#[tokio::test]
async fn hostile_project_text_is_shown_literally_and_nothing_runs() {
    let app = TestApp::spawn().await;
    let name = format!(
        "<img src=x onerror=\"window.__x=4\"> p-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let project = projects::create(
        &app.pool,
        None,
        Settings {
            name: name.clone(),
            guidelines: HOSTILE.to_string(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (admin, password) = app.user(Role::Admin).await;
    let page = Page::start().await;
    // The control for the policy check below: where no policy forbids it,
    // an inline script inserted into the page runs.
    page.goto("about:blank").await;
    page.execute(INSERT_INLINE_SCRIPT).await;
    assert_eq!(page.execute("return window.__x").await, 5);

    page.sign_in(&app.base, &admin, &password).await;
    page.goto(&app.url(&format!("/admin/projects/{}", project.id)))
        .await;
    // Whatever might run has had its chance once the page has loaded
    // (the img's error event included: its `src` would fail at once).
    page.wait_until("return document.readyState === 'complete'", TIMEOUT)
        .await;

    assert_eq!(page.alert_text().await, None, "no dialog is open");
    assert_eq!(page.execute("return window.__x").await, Value::Null);

    // The text is there, literally.
    assert_eq!(page.text_of("h1").await, name);
    let guidelines = page.text_of(".guidelines").await;
    assert!(
        guidelines.contains("<script>window.__x=1</script>")
            && guidelines.contains("<img src=x onerror=\"window.__x=2\">"),
        "{guidelines}"
    );
    // No element was made of it: no script, no image, no javascript: link.
    let made = page
        .execute(
            "return document.querySelectorAll(\
               'main script, main img, a[href^=\"javascript:\" i], [onerror]').length",
        )
        .await;
    assert_eq!(made, 0);

    // And the Content-Security-Policy would stop an inline script that got
    // into the page anyway: one inserted now does not run.
    page.execute(INSERT_INLINE_SCRIPT).await;
    page.wait_until("return window.__csp.length > 0", TIMEOUT)
        .await;
    assert_eq!(page.execute("return window.__x").await, Value::Null);
    assert!(
        page.execute("return window.__csp[0]")
            .await
            .as_str()
            .is_some_and(|d| d.starts_with("script-src")),
        "blocked by script-src"
    );
    assert_eq!(page.alert_text().await, None);
    page.close().await;
}

/// The harness's promise: a browser test that fails leaves a screenshot and
/// the page behind. A task that panics on purpose shows it.
#[tokio::test]
async fn a_failing_browser_test_leaves_a_screenshot_and_the_page() {
    let app = TestApp::spawn().await;
    let name = format!("failure-artefacts-{}", uuid::Uuid::new_v4().simple());
    let login = app.url("/login");
    let (task_name, task_login) = (name.clone(), login.clone());
    let outcome = tokio::spawn(async move {
        let page = Page::start_as(&task_name).await;
        page.goto(&task_login).await;
        page.wait_for("#username", TIMEOUT).await;
        panic!("a deliberate failure, to test the failure artefacts");
    })
    .await;
    assert!(outcome.unwrap_err().is_panic());

    let exe = std::env::current_exe().unwrap();
    let dir = exe
        .ancestors()
        .nth(3)
        .unwrap()
        .join("browser-failures")
        .join(&name);
    let png = std::fs::read(dir.join("screenshot.png")).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let html = std::fs::read_to_string(dir.join("page.html")).expect("the page");
    assert!(html.contains("id=\"username\""), "the sign-in page");
    let url = std::fs::read_to_string(dir.join("url.txt")).expect("the address");
    assert_eq!(url.trim(), login);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Waits until the page shows an item other than `item`.
async fn next_item(page: &Page, item: &str) -> String {
    page.wait_until(
        &format!("const a = document.getElementById('annotate'); return a !== null && a.dataset.item !== '{item}';"),
        TIMEOUT,
    )
    .await;
    page.execute("return document.getElementById('annotate').dataset.item")
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn current_item(page: &Page) -> String {
    page.wait_for("#annotate", TIMEOUT).await;
    page.execute("return document.getElementById('annotate').dataset.item")
        .await
        .as_str()
        .unwrap()
        .to_string()
}

async fn annotation_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from annotations")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_annotator_labels_three_items_and_skips_one_with_the_keyboard_alone() {
    let app = TestApp::spawn().await;
    let project = crate::annotate::project_with_items(&app, 4, 1).await;
    let (annotator, password) = app.user(Role::Annotator).await;
    let page = Page::start().await;
    page.sign_in(&app.base, &annotator, &password).await;
    page.goto(&app.url(&format!("/annotate/{project}"))).await;
    let first = current_item(&page).await;

    // Submitting before choosing anything: the rules are named, nothing is sent.
    page.press(&(Key::Control + &Key::Enter)).await;
    page.wait_for("#rule-messages:not([hidden])", TIMEOUT).await;
    assert!(
        page.text_of("#rule-messages")
            .await
            .contains("Response A: choose Safe or Unsafe.")
    );
    assert_ne!(
        page.execute("return document.activeElement.tagName").await,
        "BODY",
        "focus stays on a control"
    );
    assert_eq!(annotation_count(&app).await, 0);

    // Item 1: A unsafe (moderate, Violence), B safe; A more helpful, B more harmless.
    page.press("2").await;
    page.press("c").await;
    page.press("viol").await;
    page.press(&Key::Down).await;
    page.press(" ").await;
    page.press("]").await;
    page.press("0").await;
    page.press("h").await;
    page.press("mm").await;
    page.press(&(Key::Control + &Key::Enter)).await;
    let second = next_item(&page, &first).await;
    assert_ne!(
        page.execute("return document.activeElement.tagName").await,
        "BODY",
        "focus is kept after submit"
    );
    let labels: Value = sqlx::query_scalar("select labels from annotations")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        labels["responses"][0],
        serde_json::json!({"safe": false, "categories": ["Violence"], "severity": 2})
    );
    assert_eq!(labels["harmlessness"], serde_json::json!([1, 0]));

    // Item 2: both safe.
    page.press("0]0hm").await;
    page.press(&(Key::Control + &Key::Enter)).await;
    let third = next_item(&page, &second).await;
    assert_eq!(annotation_count(&app).await, 2);

    // Item 3: skipped as unclear, with a note, from the keyboard.
    page.press("s").await;
    page.press(" ").await;
    page.press(&Key::Tab).await;
    page.press("the prompt is cut off").await;
    page.press(&Key::Enter).await;
    let fourth = next_item(&page, &third).await;
    let reason: String =
        sqlx::query_scalar("select skip_reason::text from assignments where state = 'skipped'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(reason, "unclear");

    // Item 4, then the end of the queue.
    assert_ne!(fourth, third);
    page.press("0]0hm").await;
    page.press(&(Key::Control + &Key::Enter)).await;
    page.wait_until("return document.querySelector('main h1') !== null && document.getElementById('annotate') === null", TIMEOUT).await;
    assert!(
        page.text_of("main")
            .await
            .contains("nothing left for you to label")
    );
    assert!(
        page.execute("return document.getElementById('rule-messages')")
            .await
            .is_null(),
        "a page, not an error message"
    );
    assert_eq!(annotation_count(&app).await, 3);
    page.close().await;
}

/// An admin's whole round in the browser: a new project from the form, a
/// file uploaded through the import form, and (once scripted annotators have
/// labelled it) an export job started on the Export page and its file
/// downloaded by the page's own link — the same bytes as `safepref export`.
#[tokio::test]
async fn an_admin_creates_a_project_uploads_a_file_and_downloads_an_export() {
    let app = TestApp::spawn().await;
    let (admin, password) = app.user(Role::Admin).await;
    let page = Page::start().await;
    page.sign_in(&app.base, &admin, &password).await;

    page.goto(&app.url("/admin/projects/new")).await;
    page.type_into("#name", "Browser round").await;
    page.click("form[action='/admin/projects'] button[type=submit]")
        .await;
    page.wait_for("#file", TIMEOUT).await;
    let project = safepref_server::db::projects::find_by_name(&app.pool, "Browser round")
        .await
        .unwrap()
        .expect("the form made the project");
    let landed = page.path().await;
    assert!(
        landed.starts_with(&format!("/admin/projects/{}?", project.id)),
        "{landed}"
    );

    let sample = std::fs::canonicalize(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../data/pku-saferlhf-sample.jsonl"
    ))
    .unwrap();
    let file_input = page.find("#file").await;
    file_input
        .send_keys(sample.to_str().unwrap())
        .await
        .unwrap();
    page.click("form[enctype='multipart/form-data'] button[type=submit]")
        .await;
    page.wait_until("return document.body.innerText.includes('76')", TIMEOUT)
        .await;
    let items: i64 = sqlx::query_scalar("select count(*) from items where project_id = $1")
        .bind(project.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(items, 76, "every record of the uploaded file");

    crate::export::annotate(&app, &project, 3, usize::MAX, |_, _, _| {}).await;

    let exports = app.url(&format!("/admin/projects/{}/exports", project.id));
    page.goto(&exports).await;
    page.find("#format")
        .await
        .select_by_value("pku")
        .await
        .unwrap();
    page.find("#encoding")
        .await
        .select_by_value("jsonl")
        .await
        .unwrap();
    page.click("form[action$='/exports'] button[type=submit]")
        .await;
    let link = "a[download][href$='/pku.jsonl']";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while page.find_all(link).await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "the job finished");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        page.goto(&exports).await;
    }
    // Fetched by the page itself, with the browser's session: what a click
    // on the link downloads.
    let fetched = page
        .execute(&format!(
            "const x = new XMLHttpRequest(); \
             x.open('GET', document.querySelector(\"{link}\").href, false); \
             x.send(); return [x.status, x.responseText];"
        ))
        .await;
    assert_eq!(fetched[0], 200);
    let downloaded = fetched[1].as_str().unwrap().to_string();
    page.close().await;

    let dir = tempfile::tempdir().unwrap();
    let cli = crate::export::export_ok(
        &app,
        &project,
        dir.path(),
        "pku.jsonl",
        &["--format", "pku"],
    )
    .await;
    assert_eq!(downloaded.lines().count(), 76);
    assert_eq!(downloaded, std::fs::read_to_string(cli).unwrap());
}
