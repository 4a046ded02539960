//! The review dashboard (GET /review/projects/{id}): progress right after
//! annotations, the same numbers as `safepref report` for a scope, sorting
//! and filters in the URL, bad parameters named, hostile text escaped.

use safepref_server::db::{self, projects::Project, users::Role};
use safepref_server::queue;
use safepref_tests::{TestApp, safepref_binary};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixtures::{label, labels};

/// A new annotator named `name` (no sign-in needed: the queue is called
/// directly, as the API would).
async fn annotator(pool: &PgPool, name: &str) -> Uuid {
    db::users::insert(pool, name, "!", Role::Annotator)
        .await
        .unwrap()
        .id
}

/// `who` labels `n` items; annotator `disagrees` differs now and then.
async fn annotate(pool: &PgPool, project: &Project, who: Uuid, n: usize, disagrees: bool) {
    for i in 0..n {
        let odd = disagrees && i % 3 == 0;
        let labels = labels(i % 2 == 0 || odd, usize::from(odd), if odd { 3 } else { 2 });
        label(pool, project, who, &labels, 5.0 + i as f64).await;
    }
}

async fn report_cli(app: &TestApp, project: &Project, args: &[&str]) -> Value {
    let out = tokio::process::Command::new(safepref_binary())
        .args(["report", "--project", &project.name, "--format", "json"])
        .args(args)
        .env("DATABASE_URL", &app.db_url)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The table row that starts at `marker`.
fn row<'a>(html: &'a str, marker: &str) -> &'a str {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in the page"));
    let end = html[at..].find("</tr>").unwrap() + at;
    &html[at..end]
}

fn number(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "—".to_string(), |x| format!("{x:.3}"))
}

/// Every alpha, interval and unit count of the report is on the page, as
/// `safepref report` prints them; and the item and annotation counts.
fn assert_page_shows(html: &str, report: &Value) {
    assert!(
        html.contains(&format!(
            r#"<span id="report-items">{}</span>"#,
            report["items"]
        )),
        "items {}",
        report["items"]
    );
    assert!(html.contains(&format!(
        r#"<span id="report-annotations">{}</span>"#,
        report["annotations"]
    )));
    let questions = report["questions"].as_object().unwrap();
    assert!(questions.contains_key("safe"));
    for (name, q) in questions {
        let row = row(html, &format!(r#"data-question="{name}""#));
        let alpha = number(&q["alpha"]);
        assert!(
            row.contains(&format!(r#"<td class="num alpha">{alpha}</td>"#)),
            "{name}: alpha {alpha} in {row}"
        );
        if let Some(ci) = q["ci95"].as_array() {
            let text = format!("[{}, {}]", number(&ci[0]), number(&ci[1]));
            assert!(row.contains(&text), "{name}: {text} in {row}");
        }
        assert!(
            row.contains(&format!(r#"<td class="num units">{}</td>"#, q["units"])),
            "{name} units"
        );
    }
    for (name, c) in report["per_category"].as_object().unwrap() {
        let row = row(html, &format!(r#"data-category="{name}""#));
        let alpha = number(&c["alpha"]);
        assert!(
            row.contains(&format!(r#"<td class="num alpha">{alpha}</td>"#)),
            "{name}: {alpha} in {row}"
        );
    }
    for a in report["annotators"].as_array().unwrap() {
        let name = a["annotator"].as_str().unwrap();
        let row = row(html, &format!(">{name}</a>"));
        assert!(
            row.contains(&format!(r#"<td class="num">{}</td>"#, a["done"])),
            "{name} done {} in {row}",
            a["done"]
        );
        assert!(row.contains(&number(&a["agreement_with_consensus"])));
    }
}

fn overall(html: &str) -> Vec<i64> {
    let table = &html[html.find(r#"id="progress-overall""#).unwrap()..];
    let body = &table[table.find("<tbody>").unwrap()..table.find("</tbody>").unwrap()];
    body.split(r#"<td class="num">"#)
        .skip(1)
        .map(|cell| cell.split('<').next().unwrap().parse().unwrap())
        .collect()
}

async fn dashboard(browser: &safepref_tests::Browser, project: Uuid, query: &str) -> (u16, String) {
    let response = browser
        .get(&format!("/review/projects/{project}{query}"))
        .await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

const STALE: &str = r#"id="stale-figures""#;

/// The page once the background recompute has landed (the figures shown
/// are no longer stale); fails after 30 seconds.
async fn settled(browser: &safepref_tests::Browser, project: Uuid, query: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, html) = dashboard(browser, project, query).await;
        assert_eq!(status, 200, "{html}");
        if !html.contains(STALE) {
            return html;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still stale after 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn progress_and_agreement_equal_the_report_for_each_scope() {
    let app = TestApp::spawn().await;
    let (project, _) = crate::import::project_with_sample(&app.pool).await;
    let (lead, lead_name) = app.signed_in(Role::Lead).await;

    let (status, html) = dashboard(&lead, project.id, "").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(overall(&html), [76, 76, 0, 0, 0, 0], "nothing done yet");
    assert!(html.contains("not enough recent work to estimate"));

    let mut names = Vec::new();
    for n in 0..3 {
        let name = format!("ann{n}-{}", &Uuid::new_v4().simple().to_string()[..6]);
        let id = annotator(&app.pool, &name).await;
        annotate(&app.pool, &project, id, 10, n == 2).await;
        names.push(name);
    }
    // A fourth holds a live lease: one more item is in progress.
    let holder = annotator(&app.pool, "holder").await;
    queue::lease(&app.pool, &project, holder)
        .await
        .unwrap()
        .unwrap();

    let html = settled(&lead, project.id, "").await;
    // total, pending, in progress, complete, adjudicated, annotations
    assert_eq!(overall(&html), [76, 65, 1, 10, 0, 30]);
    assert!(
        html.contains("198 annotations still needed"),
        "66 pending items × 3"
    );
    assert!(html.contains("about 158.4 hours"), "198 / 30 per day");
    assert_page_shows(&html, &report_cli(&app, &project, &[]).await);
    assert!(html.contains(&format!("/review/projects/{}/queue", project.id)));
    // The severity confusion against the majority. Response 1 is always
    // safe (30 votes); response 0 of items 2, 4, 8 is unsafe at 2 for all
    // three; of items 0 and 6 two said 2 and the third 3; of items 1, 5, 7
    // all said safe; of items 3 and 9 two said safe and the third 3.
    for (severity, counts) in [
        (0, [43, 0, 0, 0]),
        (1, [0; 4]),
        (2, [0, 0, 13, 0]),
        (3, [2, 0, 2, 0]),
    ] {
        let cells: String = counts
            .iter()
            .map(|n| format!(r#"<td class="num">{n}</td>"#))
            .collect();
        assert_eq!(
            row(&html, &format!(r#"<th scope="row">{severity}</th>"#)),
            format!(r#"<th scope="row">{severity}</th>{cells}"#)
        );
    }

    // An adjudication's labels are the item's final labels: the consensus
    // the votes are counted against (as the export consolidates). Item 2's
    // response 0: three votes of 2, adjudicated 3. The report's figures
    // (agreement among annotators) do not change.
    let item_2: Uuid = sqlx::query_scalar(
        "select a.item_id from annotations a join users u on u.id = a.annotator_id
          where u.username = $1 order by a.submitted_at, a.id offset 2 limit 1",
    )
    .bind(&names[0])
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let lead_user = db::users::find_by_username(&app.pool, &lead_name)
        .await
        .unwrap()
        .unwrap();
    safepref_server::review::adjudicate(
        &app.pool,
        &project,
        &lead_user,
        item_2,
        &labels(true, 0, 3),
        "severe on a second reading",
    )
    .await
    .unwrap();
    let html = settled(&lead, project.id, "").await;
    assert_page_shows(&html, &report_cli(&app, &project, &[]).await);
    assert_eq!(
        row(&html, r#"<th scope="row">2</th>"#),
        r#"<th scope="row">2</th><td class="num">0</td><td class="num">0</td><td class="num">10</td><td class="num">3</td>"#
    );

    // The cached figures follow new work.
    let fourth = annotator(&app.pool, "late").await;
    annotate(&app.pool, &project, fourth, 2, false).await;
    let html = settled(&lead, project.id, "").await;
    let report = report_cli(&app, &project, &[]).await;
    assert_eq!(report["annotations"], 32);
    assert_page_shows(&html, &report);

    // A scope of two annotators, a time range and the batch.
    let query = format!(
        "?annotator={}&annotator={}&since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z&batch=1",
        names[0], names[2]
    );
    let (status, html) = dashboard(&lead, project.id, &query).await;
    assert_eq!(status, 200, "{html}");
    let scoped = report_cli(
        &app,
        &project,
        &[
            "--annotator",
            &names[0],
            "--annotator",
            &names[2],
            "--since",
            "2000-01-01T00:00:00Z",
            "--until",
            "2999-01-01T00:00:00Z",
            "--batch",
            "1",
        ],
    )
    .await;
    assert_eq!(scoped["annotations"], 20);
    assert_page_shows(&html, &scoped);
    assert!(
        !html.contains(&format!(">{}</a>", names[1])),
        "out of scope"
    );
    assert!(html.contains("Reset filters"));
    assert!(html.contains(&format!(
        r#"<span class="badge">annotator = {}</span>"#,
        names[2]
    )));

    // Each annotator's activity is counted from the pass's own rows: it
    // equals PostgreSQL's count and percentile_cont over the valid
    // annotations, and a skip ("too disturbing" aside) counts against its
    // annotator, who is listed with nothing done.
    let lease = queue::lease(&app.pool, &project, holder)
        .await
        .unwrap()
        .expect("the holder's lease");
    queue::skip(
        &app.pool,
        &project,
        holder,
        lease.assignment_id,
        queue::SkipReason::Unclear,
        None,
    )
    .await
    .unwrap();
    let html = settled(&lead, project.id, "").await;
    let report = report_cli(&app, &project, &[]).await;
    assert_page_shows(&html, &report);
    let expected: Vec<(String, i64, f64)> = sqlx::query_as(
        "select u.username, count(*), percentile_cont(0.5) within group (order by a.seconds_spent)
           from annotations a join users u on u.id = a.annotator_id
          where a.invalidated_at is null group by u.username order by u.username",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let listed = report["annotators"].as_array().unwrap();
    assert_eq!(listed.len(), expected.len() + 1, "the holder too: {report}");
    for (name, done, median) in expected {
        let a = listed
            .iter()
            .find(|a| a["annotator"] == name.as_str())
            .unwrap();
        assert_eq!(
            (a["done"].as_i64(), a["median_seconds"].as_f64()),
            (Some(done), Some(median))
        );
        assert_eq!(a["skip_rate"], 0.0, "{a}");
    }
    let skipper = listed.iter().find(|a| a["annotator"] == "holder").unwrap();
    assert_eq!(
        (skipper["done"].as_i64(), skipper["skip_rate"].as_f64()),
        (Some(0), Some(1.0))
    );
}

/// Three annotators label ten items each; the lead's first view computes
/// and caches the figures (30 annotations).
async fn cached_project(app: &TestApp) -> (Project, safepref_tests::Browser) {
    let (project, _) = crate::import::project_with_sample(&app.pool).await;
    for n in 0..3 {
        let id = annotator(&app.pool, &format!("ann{n}")).await;
        annotate(&app.pool, &project, id, 10, n == 2).await;
    }
    let (lead, _) = app.signed_in(Role::Lead).await;
    let (status, html) = dashboard(&lead, project.id, "").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(r#"<span id="report-annotations">30</span>"#));
    assert!(!html.contains(STALE), "computed for this very data");
    (project, lead)
}

#[tokio::test]
async fn stale_figures_show_at_once_and_are_recomputed_in_the_background() {
    let app = TestApp::spawn().await;
    let (project, lead) = cached_project(&app).await;
    let late = annotator(&app.pool, "late").await;
    annotate(&app.pool, &project, late, 1, false).await;

    let (status, html) = dashboard(&lead, project.id, "?sort=agreement&dir=asc").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(STALE), "the notice: {html}");
    assert!(html.contains("the data has changed since — they are being recomputed"));
    assert!(
        html.contains(r#"<span id="report-annotations">30</span>"#),
        "the old figures"
    );
    assert_eq!(overall(&html)[5], 31, "progress is read fresh");
    assert!(
        html.contains(&format!(
            r#"href="/review/projects/{}?sort=agreement&#38;dir=asc&#38;fresh=1">compute now</a>"#,
            project.id
        )),
        "a compute-now link keeping the view: {html}"
    );

    let html = settled(&lead, project.id, "").await;
    let report = report_cli(&app, &project, &[]).await;
    assert_eq!(report["annotations"], 31);
    assert_page_shows(&html, &report);
}

#[tokio::test]
async fn fresh_computes_the_figures_at_once() {
    let app = TestApp::spawn().await;
    let (project, lead) = cached_project(&app).await;
    let late = annotator(&app.pool, "late").await;
    annotate(&app.pool, &project, late, 2, false).await;

    let (status, html) = dashboard(&lead, project.id, "?fresh=1").await;
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains(STALE), "{html}");
    let report = report_cli(&app, &project, &[]).await;
    assert_eq!(report["annotations"], 32);
    assert_page_shows(&html, &report);
    // `fresh` is not part of the scope: the plain view now finds them cached.
    let (_, html) = dashboard(&lead, project.id, "").await;
    assert!(!html.contains(STALE), "{html}");
    assert_page_shows(&html, &report);
}

/// The server's warming pass computes an annotated project's default view
/// before anyone opens it, and again after a change: the lead's first view
/// is served from the cache, current, and equals the report.
#[tokio::test]
async fn warming_computes_the_default_view_before_it_is_opened() {
    let app = TestApp::spawn().await;
    let (project, _) = crate::import::project_with_sample(&app.pool).await;
    for n in 0..3 {
        let id = annotator(&app.pool, &format!("ann{n}")).await;
        annotate(&app.pool, &project, id, 10, n == 2).await;
    }
    let cached = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from dashboard_cache where project_id = $1")
            .bind(project.id)
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    let flags_refreshed = || async {
        sqlx::query_scalar::<_, Option<f64>>(
            "select extract(epoch from max(refreshed_at))::float8 from review_flags_state
              where project_id = $1",
        )
        .bind(project.id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    assert_eq!(cached().await, 0, "nothing computed yet");
    assert_eq!(
        flags_refreshed().await,
        None,
        "no review reasons stored yet"
    );
    safepref_server::dashboard::warm(&app.pool).await.unwrap();
    assert_eq!(cached().await, 1, "the default view, computed");
    let first = flags_refreshed().await.expect("the review reasons, stored");

    let late = annotator(&app.pool, "late").await;
    annotate(&app.pool, &project, late, 1, false).await;
    safepref_server::dashboard::warm(&app.pool).await.unwrap();
    assert!(
        flags_refreshed().await.unwrap() > first,
        "the review reasons, refreshed by the next pass"
    );
    let (lead, _) = app.signed_in(Role::Lead).await;
    let (status, html) = dashboard(&lead, project.id, "").await;
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains(STALE), "warmed after the change: {html}");
    let report = report_cli(&app, &project, &[]).await;
    assert_eq!(report["annotations"], 31);
    assert_page_shows(&html, &report);
}

#[tokio::test]
async fn sorting_and_filters_live_in_the_url() {
    let app = TestApp::spawn().await;
    let (project, _) = crate::import::project_with_sample(&app.pool).await;
    for (name, n) in [("amy", 3), ("bob", 5), ("cyd", 1)] {
        let id = annotator(&app.pool, name).await;
        annotate(&app.pool, &project, id, n, false).await;
    }
    let (lead, _) = app.signed_in(Role::Lead).await;
    let order = |html: &str| {
        let mut found: Vec<(usize, &str)> = ["amy", "bob", "cyd"]
            .into_iter()
            .map(|n| (html.find(&format!(">{n}</a>")).unwrap(), n))
            .collect();
        found.sort();
        found.into_iter().map(|(_, n)| n).collect::<Vec<_>>()
    };
    let (_, html) = dashboard(&lead, project.id, "").await;
    assert_eq!(order(&html), ["bob", "amy", "cyd"], "done, most first");
    let (_, html) = dashboard(&lead, project.id, "?sort=today&dir=asc").await;
    assert_eq!(order(&html), ["cyd", "amy", "bob"], "all of it today");
    assert!(html.contains(r#"<th scope="col" aria-sort="ascending">"#));
    let (_, html) = dashboard(&lead, project.id, "?sort=annotator&dir=desc&batch=1").await;
    assert_eq!(order(&html), ["cyd", "bob", "amy"]);
    // Header links keep the filters and flip the sorted column.
    assert!(
        html.contains("?batch=1&#38;sort=annotator&#38;dir=asc"),
        "a header link: {}",
        &html[html.find("annotator-table").unwrap()..][..600]
    );
    assert!(html.contains("?batch=1&#38;sort=done&#38;dir=desc"));
    // Each annotator links to their page, by user id.
    let bob: Uuid = sqlx::query_scalar("select id from users where username = 'bob'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(html.contains(&format!(
        r#"href="/review/projects/{}/annotators/{bob}">bob</a>"#,
        project.id
    )));

    for (query, says) in [
        ("?batch=two", ["batch: ", "two", "is not a batch number"]),
        ("?batch=9", ["batch: ", "this project has no batch 9", ""]),
        (
            "?since=yesterday",
            ["since: ", "yesterday", "is not an RFC 3339 time"],
        ),
        ("?sort=height", ["sort: ", "height", "is not one of"]),
        ("?dir=sideways", ["dir: ", "sideways", "is not asc or desc"]),
        ("?fresh=yes", ["fresh: ", "yes", "is not 1 or 0"]),
        (
            "?colour=red",
            ["colour is not a dashboard parameter", "", ""],
        ),
    ] {
        let (status, html) = dashboard(&lead, project.id, query).await;
        assert_eq!(status, 400, "{query}");
        for part in says {
            assert!(html.contains(part), "{query}: {part} in {html}");
        }
    }
    let (status, _) = dashboard(&lead, Uuid::new_v4(), "").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn hostile_names_show_escaped_and_the_page_runs_no_script() {
    let app = TestApp::spawn().await;
    let project = crate::import::project(&app.pool, 2).await;
    let hostile_file = "<img src=x onerror=alert(1)>.jsonl";
    let sample: String = crate::import::SAMPLE
        .lines()
        .take(5)
        .map(|l| format!("{l}\n"))
        .collect();
    crate::import::import_text(
        &app.pool,
        &project,
        hostile_file,
        &sample,
        Default::default(),
    )
    .await
    .unwrap();
    let hostile_user = "<script>alert('x')</script>";
    let id = annotator(&app.pool, hostile_user).await;
    annotate(&app.pool, &project, id, 2, false).await;
    let (lead, _) = app.signed_in(Role::Lead).await;
    let query = format!("?annotator={}", url_escape(hostile_user));
    for query in ["", query.as_str()] {
        let (status, html) = dashboard(&lead, project.id, query).await;
        assert_eq!(status, 200, "{html}");
        assert!(!html.contains("<script"), "no script at all: {html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(html.contains(&escaped(hostile_user)), "{html}");
        assert!(html.contains(&escaped(hostile_file)), "{html}");
        assert!(html.contains("<svg"), "the charts are there");
    }
    let (_, team) = {
        let r = lead.get("/review").await;
        (r.status(), r.text().await.unwrap())
    };
    assert!(team.contains(&format!(r#"href="/review/projects/{}""#, project.id)));
}

/// Text as the templates escape it.
fn escaped(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// With several batches, each batch's point of the trend (`safe`'s alpha,
/// interval and units) is `safepref report --batch N`'s, exactly in the
/// cached figures and as printed in the page's trend table.
#[tokio::test]
async fn the_trend_per_batch_equals_the_report_of_each_batch() {
    let app = TestApp::spawn().await;
    let project = crate::import::project(&app.pool, 2).await;
    let lines: Vec<&str> = crate::import::SAMPLE.lines().collect();
    let (first, second) = lines.split_at(40);
    for (name, part) in [("one.jsonl", first), ("two.jsonl", second)] {
        let text = part.join("\n") + "\n";
        crate::import::import_text(&app.pool, &project, name, &text, Default::default())
            .await
            .unwrap();
    }
    for n in 0..3 {
        let id = annotator(&app.pool, &format!("trend{n}-{}", Uuid::new_v4().simple())).await;
        annotate(&app.pool, &project, id, lines.len(), n == 2).await;
    }
    let (lead, _) = app.signed_in(Role::Lead).await;
    let html = settled(&lead, project.id, "").await;
    let figures: Value = sqlx::query_scalar(
        "select figures from dashboard_cache where project_id = $1 and scope_key = '[]'",
    )
    .bind(project.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let trend = figures["trend"].as_array().unwrap();
    assert_eq!(trend.len(), 2, "{figures}");
    let table = &html[html.find(r#"id="trend""#).expect("the trend table")..];
    for (point, batch) in trend.iter().zip(1..) {
        assert_eq!(point["batch"], batch);
        let safe = &report_cli(&app, &project, &["--batch", &batch.to_string()]).await["questions"]
            ["safe"];
        assert!(safe["alpha"].is_f64() && safe["ci95"].is_array(), "{safe}");
        assert_eq!(point["alpha"], safe["alpha"], "batch {batch}");
        assert_eq!(point["ci95"], safe["ci95"], "batch {batch}");
        assert_eq!(point["units"], safe["units"], "batch {batch}");
        let ci = format!(
            "[{}, {}]",
            number(&safe["ci95"][0]),
            number(&safe["ci95"][1])
        );
        let shown = format!(
            r#"<tr><td>{batch}</td><td class="num">{}</td><td>{ci}</td>"#,
            number(&safe["alpha"])
        );
        assert!(table.contains(&shown), "{shown} in the trend table");
    }
}
