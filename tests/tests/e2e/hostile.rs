//! Hostile data, in a real browser: records whose prompts and responses hold
//! HTML and JavaScript (script tags, event handlers, javascript: URLs, SVG,
//! Markdown links), very long lines, right-to-left overrides, zero-width and
//! control characters and a 1 MB text; a project whose name and Markdown
//! guidelines are hostile; comments, skip notes and adjudication reasons
//! that are hostile. On every page that shows them (annotation, review item,
//! review queue, dashboard, project page, guidelines) nothing runs — no
//! dialog, no marker set, no request to a loopback listener the payloads
//! aim at — and the text shows literally.

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fantoccini::wd::TimeoutConfiguration;
use safepref_core::labels::Labels;
use safepref_server::db::projects::{Project, Settings};
use safepref_server::db::users::Role;
use safepref_server::import::Options;
use safepref_server::queue::{self, SkipReason};
use safepref_server::{db, projects, review};
use safepref_tests::TestApp;
use safepref_tests::browser::{Page, TIMEOUT};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fixtures::{labels, user_id};

/// A loopback listener that counts every connection made to it: payloads
/// that would load something point here, and it must stay at zero.
struct Listener {
    port: u16,
    hits: Arc<AtomicUsize>,
}

impl Listener {
    fn start() -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counter.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut stream) = stream {
                    // Read the request and close: the browser gets nothing.
                    stream
                        .set_read_timeout(Some(Duration::from_millis(200)))
                        .ok();
                    let mut buf = [0u8; 1024];
                    let _ = stream.read(&mut buf);
                }
            }
        });
        Listener { port, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Markup and script, each of which sets `window.__pwned` (or the title, or
/// opens a dialog, or loads from the listener) if it ever runs.
fn markup(port: u16) -> String {
    let at = format!("http://127.0.0.1:{port}");
    [
        "<script>window.__pwned='script';document.title='pwned'</script>".to_string(),
        "<img src=x onerror=\"window.__pwned='img';alert('img')\">".to_string(),
        "<svg onload=\"window.__pwned='svg'\"><script>window.__pwned='svg-script'</script></svg>"
            .to_string(),
        "<a href=\"javascript:window.__pwned='js-url'\">click</a>".to_string(),
        "<iframe src=\"javascript:parent.__pwned='iframe'\"></iframe>".to_string(),
        "<input autofocus onfocus=\"window.__pwned='focus';confirm('focus')\">".to_string(),
        "\"><script>window.__pwned='attr'</script><b x=\"".to_string(),
        "'--></textarea></div><script>window.__pwned='breakout'</script>".to_string(),
        format!("<img src=\"{at}/img\"><script src=\"{at}/script.js\"></script>"),
        format!("<link rel=stylesheet href=\"{at}/css\"><style>@import url({at}/import);</style>"),
        format!("<meta http-equiv=\"refresh\" content=\"0;url={at}/meta\">"),
        format!("<object data=\"{at}/object\"></object><embed src=\"{at}/embed\">"),
    ]
    .join("\n")
}

/// Markdown: links and images with javascript:, data: and the listener.
fn markdown(port: u16) -> String {
    format!(
        "# Guidelines <script>window.__pwned='md-heading'</script>\n\n\
         [click me](javascript:window.__pwned='md-link') \
         [spaced](  java\tscript:window.__pwned='md-tab') \
         [data](data:text/html,<script>window.__pwned='data'</script>) \
         ![pic](http://127.0.0.1:{port}/md-image) \
         <a href=\"javascript:window.__pwned='md-raw'\">raw</a>\n\n\
         <img src=x onerror=\"window.__pwned='md-img'\">\n\n{}",
        markup(port)
    )
}

/// Right-to-left override, zero-width characters, control characters.
const UNICODE: &str = "evil\u{202E}txt.exe\u{202C} zero\u{200B}wi\u{200C}d\u{200D}th\u{FEFF} \
     bell\u{7} escape\u{1B}[31mred\u{1B}[0m back\u{8}space tab\there \u{1}\u{1F}\u{7F}\u{85}\u{2028}\u{2029} end";

/// The comment, skip note and adjudication reason: markup again, short.
fn note(port: u16) -> String {
    format!(
        "<script>window.__pwned='note'</script><img src=\"http://127.0.0.1:{port}/note\" onerror=\"alert(1)\"> [x](javascript:alert(2)) \u{202E}"
    )
}

struct Fixture {
    app: TestApp,
    project: Project,
    listener: Listener,
    /// (item id, prompt, responses) as imported.
    items: Vec<(Uuid, String, Vec<String>)>,
}

/// Imports three hostile items into a project with a hostile name and
/// guidelines.
async fn fixture() -> Fixture {
    let listener = Listener::start();
    let port = listener.port;
    let app = TestApp::spawn().await;
    let project = projects::create(
        &app.pool,
        None,
        Settings {
            name: format!(
                "<img src=x onerror=\"window.__pwned='name'\"> \u{202E}p-{}",
                &Uuid::new_v4().simple().to_string()[..8]
            ),
            guidelines: markdown(port),
            annotations_per_item: 2,
            ..Settings::default()
        },
    )
    .await
    .unwrap();

    // A 1 MB response (markup repeated), and a 20,000-character line.
    let big: String = "<b onmouseover=alert(1)>bold</b> &amp; ".repeat((1 << 20) / 39 + 1);
    let long_line = format!("{}{}", "W".repeat(20_000), markup(port));
    let rows = [
        json!({"id": "markup", "prompt": markup(port),
               "responses": [markdown(port), format!("{UNICODE}\n{}", markup(port))]}),
        json!({"id": "unicode", "prompt": UNICODE, "responses": [long_line, "short"]}),
        json!({"id": "big", "prompt": long_line_prompt(), "responses": ["small", big]}),
    ];
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    crate::import::import_text(
        &app.pool,
        &project,
        "hostile.jsonl",
        &text,
        Options::default(),
    )
    .await
    .expect("the hostile records are valid records");
    let mut items = Vec::new();
    for row in &rows {
        let id: Uuid = sqlx::query_scalar("select id from items where external_id = $1")
            .bind(row["id"].as_str().unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
        let responses = row["responses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
        items.push((id, row["prompt"].as_str().unwrap().to_string(), responses));
    }
    Fixture {
        app,
        project,
        listener,
        items,
    }
}

/// Two annotators label every item (with hostile comments), except one the
/// second skips with a hostile note; a lead adjudicates one item with a
/// hostile reason.
async fn annotate_and_adjudicate(fixture: &Fixture) {
    let (app, project, items) = (&fixture.app, &fixture.project, &fixture.items);
    let port = fixture.listener.port;
    // Two annotators: every item labelled with a hostile comment, except
    // one the second skips with a hostile note.
    for skipper in [false, true] {
        let (name, _) = app.user(Role::Annotator).await;
        let who = user_id(&app.pool, &name).await;
        while let Some(lease) = queue::lease(&app.pool, project, who).await.unwrap() {
            if skipper && lease.item.id == items[2].0 {
                queue::skip(
                    &app.pool,
                    project,
                    who,
                    lease.assignment_id,
                    SkipReason::Other,
                    Some(&note(port)),
                )
                .await
                .unwrap();
                continue;
            }
            let labels = Labels {
                comment: Some(note(port)),
                ..labels(false, 0, 0)
            };
            queue::submit(
                &app.pool,
                project,
                who,
                lease.assignment_id,
                Uuid::new_v4(),
                &labels,
                12.0,
            )
            .await
            .unwrap();
        }
    }
    let (lead_name, _) = app.user(Role::Lead).await;
    let lead = db::users::find_by_username(&app.pool, &lead_name)
        .await
        .unwrap()
        .unwrap();
    review::adjudicate(
        &app.pool,
        project,
        &lead,
        items[0].0,
        &labels(false, 0, 0),
        &note(port),
    )
    .await
    .unwrap();
}

fn long_line_prompt() -> String {
    format!(
        "{}<script>window.__pwned='long'</script>",
        "x".repeat(30_000)
    )
}

/// Opens `path`, lets whatever might run have its chance, and checks that
/// nothing did: no dialog, no marker, title untouched, no request to the
/// listener, no element made of the data (script without our src, iframe,
/// object, embed, an `on…` attribute, a javascript: link).
async fn visit_and_check(page: &Page, fixture: &Fixture, path: &str) {
    page.goto(&fixture.app.url(path)).await;
    page.wait_until("return document.readyState === 'complete'", TIMEOUT)
        .await;
    // Error and focus events fire at once; give a slow one a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(page.alert_text().await, None, "{path}: no dialog is open");
    assert_eq!(
        page.execute("return window.__pwned === undefined ? null : String(window.__pwned)")
            .await,
        Value::Null,
        "{path}: nothing in the data ran"
    );
    assert_ne!(
        page.execute("return document.title").await,
        "pwned",
        "{path}"
    );
    assert_eq!(
        fixture.listener.hits(),
        0,
        "{path}: no request was injected"
    );
    let made = page
        .execute(
            "const origin = location.origin; \
             const bad = []; \
             for (const e of document.querySelectorAll('*')) { \
               for (const a of e.attributes) { \
                 if (a.name.startsWith('on')) bad.push(e.tagName + '[' + a.name + ']'); \
               } \
             } \
             for (const s of document.scripts) { \
               if (!s.src.startsWith(origin + '/static/')) bad.push('script ' + s.src); \
             } \
             for (const e of document.querySelectorAll('iframe, object, embed, meta[http-equiv]')) \
               bad.push(e.tagName); \
             for (const a of document.querySelectorAll('a[href]')) { \
               if (!/^(https?:|mailto:)/i.test(a.href)) bad.push('a ' + a.href); \
             } \
             return bad;",
        )
        .await;
    assert_eq!(made, json!([]), "{path}: elements made of the data");
}

/// The text of every element matching `css`, exactly as in the DOM.
async fn texts(page: &Page, css: &str) -> Vec<String> {
    let value = page
        .execute(&format!(
            "return Array.from(document.querySelectorAll({css:?}), e => e.textContent);"
        ))
        .await;
    serde_json::from_value(value).unwrap()
}

/// The page's rendered text (what a reader sees).
async fn inner_text(page: &Page) -> String {
    page.execute("return document.body.innerText")
        .await
        .as_str()
        .unwrap()
        .to_string()
}

/// The text shown for an item is the imported text, character for character.
async fn shows_item_literally(page: &Page, item: &(Uuid, String, Vec<String>), path: &str) {
    let (_, prompt, responses) = item;
    let shown = texts(page, ".prompt .text").await;
    assert_eq!(shown.len(), 1, "{path}: one prompt");
    assert!(shown[0] == *prompt, "{path}: the prompt shows literally");
    let shown = texts(page, ".response .text").await;
    assert_eq!(shown.len(), responses.len(), "{path}");
    for (i, (shown, imported)) in shown.iter().zip(responses).enumerate() {
        assert!(
            shown == imported,
            "{path}: response {i} shows literally ({} vs {} chars)",
            shown.chars().count(),
            imported.chars().count()
        );
    }
    // A long line wraps instead of widening the page.
    let overflow = page
        .execute("return document.documentElement.scrollWidth - window.innerWidth")
        .await;
    assert!(
        overflow.as_i64().is_some_and(|o| o <= 0),
        "{path}: the page is {overflow} px wider than the window"
    );
}

#[tokio::test]
async fn hostile_records_guidelines_and_notes_show_literally_and_nothing_runs() {
    let fixture = fixture().await;
    let port = fixture.listener.port;
    let project = fixture.project.id;
    let page = Page::start().await;
    // Laying out a megabyte of wrapped text takes a while on a busy machine.
    page.client()
        .update_timeouts(TimeoutConfiguration::new(
            Some(Duration::from_secs(30)),
            Some(Duration::from_secs(90)),
            Some(Duration::ZERO),
        ))
        .await
        .unwrap();

    // Controls: in a page without the app's policy, a payload does run and
    // the listener does count a request, so the checks below can fail.
    page.goto("about:blank").await;
    page.execute(&format!(
        "document.body.innerHTML = {:?}; \
         const s = document.createElement('script'); \
         s.textContent = \"window.__pwned = 'control'\"; document.body.appendChild(s);",
        format!("<img src=\"http://127.0.0.1:{port}/control\">")
    ))
    .await;
    assert_eq!(page.execute("return window.__pwned").await, "control");
    page.wait_until("return true", TIMEOUT).await;
    let deadline = std::time::Instant::now() + TIMEOUT;
    while fixture.listener.hits() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(fixture.listener.hits(), 1, "the listener sees a request");
    fixture.listener.hits.store(0, Ordering::SeqCst);

    // An annotator sees each item in turn (skipping each to see the next).
    let (annotator, password) = fixture.app.user(Role::Annotator).await;
    page.sign_in(&fixture.app.base, &annotator, &password).await;
    let path = format!("/annotate/{project}");
    let who = user_id(&fixture.app.pool, &annotator).await;
    let mut seen = Vec::new();
    for _ in 0..fixture.items.len() {
        visit_and_check(&page, &fixture, &path).await;
        let id = page
            .execute("const a = document.getElementById('annotate'); return a && a.dataset.item;")
            .await;
        let Some(id) = id.as_str().map(|s| s.parse::<Uuid>().unwrap()) else {
            break;
        };
        let item = fixture.items.iter().find(|i| i.0 == id).unwrap();
        shows_item_literally(&page, item, &path).await;
        seen.push(id);
        // Give it back so the next visit shows another item.
        let lease = queue::lease(&fixture.app.pool, &fixture.project, who)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(lease.item.id, id);
        queue::skip(
            &fixture.app.pool,
            &fixture.project,
            who,
            lease.assignment_id,
            SkipReason::Unclear,
            None,
        )
        .await
        .unwrap();
    }
    assert_eq!(
        seen.len(),
        fixture.items.len(),
        "every hostile item was shown"
    );
    visit_and_check(&page, &fixture, &format!("/annotate/{project}/guidelines")).await;
    assert_guidelines_literal(&page, port).await;
    annotate_and_adjudicate(&fixture).await;

    // A lead: the review item pages (annotations, comments, skip notes,
    // adjudication reasons), the queue, the dashboard.
    sign_out(&page).await;
    let (lead, password) = fixture.app.user(Role::Lead).await;
    page.sign_in(&fixture.app.base, &lead, &password).await;
    for item in &fixture.items {
        let path = format!("/review/items/{}", item.0);
        visit_and_check(&page, &fixture, &path).await;
        shows_item_literally(&page, item, &path).await;
        let text = inner_text(&page).await;
        let note = note(port);
        let shown_note = note.trim_end_matches('\u{202E}').trim();
        assert!(
            text.contains(&format!("comment: {shown_note}")),
            "{path}: the comments show literally"
        );
    }
    let first = inner_text(&page).await; // the last item: the skipped one
    let note = note(port);
    let shown_note = note.trim_end_matches('\u{202E}').trim();
    assert!(
        first.contains(&format!("— {shown_note}")),
        "the skip note shows literally"
    );
    page.goto(
        &fixture
            .app
            .url(&format!("/review/items/{}", fixture.items[0].0)),
    )
    .await;
    assert!(
        inner_text(&page).await.contains(shown_note),
        "the adjudication reason shows literally"
    );
    for path in [
        format!("/review/projects/{project}"),
        format!("/review/projects/{project}/queue"),
        "/review".to_string(),
        "/".to_string(),
    ] {
        visit_and_check(&page, &fixture, &path).await;
        assert!(
            inner_text(&page)
                .await
                .contains("<img src=x onerror=\"window.__pwned='name'\">"),
            "{path}: the project's name shows literally"
        );
    }

    // An admin: the project page with its guidelines.
    sign_out(&page).await;
    let (admin, password) = fixture.app.user(Role::Admin).await;
    page.sign_in(&fixture.app.base, &admin, &password).await;
    let path = format!("/admin/projects/{project}");
    visit_and_check(&page, &fixture, &path).await;
    assert_guidelines_literal(&page, port).await;
    assert_eq!(fixture.listener.hits(), 0);
    page.close().await;
}

async fn sign_out(page: &Page) {
    page.click("form[action='/logout'] button").await;
    page.wait_for_path("/login", TIMEOUT).await;
}

/// The Markdown's raw HTML shows as text, and its javascript: and data:
/// links are not links.
async fn assert_guidelines_literal(page: &Page, port: u16) {
    let text = texts(page, ".guidelines").await.concat();
    for literal in [
        "<script>window.__pwned='md-heading'</script>".to_string(),
        "<img src=x onerror=\"window.__pwned='md-img'\">".to_string(),
        "<a href=\"javascript:window.__pwned='md-raw'\">".to_string(),
        format!("<meta http-equiv=\"refresh\" content=\"0;url=http://127.0.0.1:{port}/meta\">"),
    ] {
        assert!(text.contains(&literal), "guidelines show {literal:?}");
    }
    assert!(text.contains("click me") && text.contains("pic"), "{text}");
}

/// A NUL cannot be stored: such a record is refused at import, naming the
/// line and field, and nothing is written. Other control characters are
/// kept (the browser test above shows them).
#[tokio::test]
async fn a_nul_character_is_refused_at_import_naming_the_line_and_field() {
    let app = TestApp::spawn().await;
    let project = crate::import::project(&app.pool, 2).await;
    let rows = [
        json!({"prompt": "fine \u{1}\u{7}\u{1B}", "responses": ["a", "b"]}),
        json!({"prompt": "p", "responses": ["a", "nul \u{0} here"]}),
    ];
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let error =
        crate::import::import_text(&app.pool, &project, "nul.jsonl", &text, Options::default())
            .await
            .expect_err("a NUL is refused");
    let message = error.to_string();
    assert!(
        message.contains("line 2") && message.contains("responses[1]") && message.contains("NUL"),
        "{message}"
    );
    let items: i64 = sqlx::query_scalar("select count(*) from items")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(items, 0, "nothing imported");
}
