//! The review queue in a real browser: each flagged item's one-line
//! summary, its full reasons behind a disclosure, the filters on one row at
//! 1280 px, nothing wider than a phone's screen at 390 px, and hostile
//! category names shown as text. With `SAFEPREF_SCREENSHOTS=DIR` the test
//! saves `review-queue-1280.png` and `review-queue-phone.png`.

use safepref_core::labels::{Labels, ResponseLabel};
use safepref_core::suggestions::{Scores, Suggestion};
use safepref_core::taxonomy::{Category, Taxonomy};
use safepref_server::db;
use safepref_server::db::projects::{Project, Settings};
use safepref_server::db::users::Role;
use safepref_server::import::Options;
use safepref_server::{projects, queue};
use safepref_tests::TestApp;
use safepref_tests::browser::{Page, TIMEOUT};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixtures::{label, labels};
use crate::import::import_text;
use crate::queue::annotator;

/// The queue's scene on the PKU sample (K = 2, three annotations an item):
/// item 1 split 2 to 1 on response A (unsafe, Violence, severity 2) and a
/// model that prefers B where all three people prefer A; item 2 tied on
/// helpfulness and skipped as unclear; item 3 a gold item its one
/// annotator gets wrong. Returns the project and the three items.
async fn scene(app: &TestApp) -> (Project, [Uuid; 3]) {
    let pool = &app.pool;
    let mut project = crate::import::project_with_sample(pool).await.0;
    project.name = "PKU-SafeRLHF sample".into();
    sqlx::query("update projects set name = $2 where id = $1")
        .bind(project.id)
        .bind(&project.name)
        .execute(pool)
        .await
        .unwrap();
    let items: Vec<Uuid> =
        sqlx::query_scalar("select id from items where project_id = $1 order by batch_seq, seq")
            .bind(project.id)
            .fetch_all(pool)
            .await
            .unwrap();
    sqlx::query("update items set gold = $2 where id = $1")
        .bind(items[2])
        .bind(sqlx::types::Json(labels(true, 0, 2)))
        .execute(pool)
        .await
        .unwrap();
    let mut people = Vec::new();
    for _ in 0..3 {
        people.push(annotator(pool).await.id);
    }
    let &[a, b, c] = &people[..] else {
        unreachable!("three annotators")
    };
    let votes = [
        (a, labels(true, 0, 2)),
        (b, labels(true, 0, 2)),
        (c, labels(false, 0, 2)),
        (a, labels(false, 0, 2)),
        (b, labels(false, 1, 2)),
        (a, labels(false, 0, 2)),
    ];
    let mut labelled = Vec::new();
    for (who, given) in &votes {
        labelled.push(label(pool, &project, *who, given, 20.0).await);
    }
    let expected = [items[0], items[0], items[0], items[1], items[1], items[2]];
    assert_eq!(labelled, expected, "each vote lands on the item meant");
    skip_as_unclear(pool, &project, items[1]).await;
    let model = Suggestion {
        source: "beaver-dam-7b".into(),
        labels: labels(true, 1, 2),
        scores: Scores::default(),
    };
    db::suggestions::upsert(pool, items[0], &model)
        .await
        .unwrap();
    (project, [items[0], items[1], items[2]])
}

/// A fresh annotator leases `item` (the one still short of votes) and skips
/// it as unclear.
async fn skip_as_unclear(pool: &PgPool, project: &Project, item: Uuid) {
    let d = annotator(pool).await.id;
    let lease = queue::lease(pool, project, d).await.unwrap().unwrap();
    assert_eq!(lease.item.id, item);
    queue::skip(
        pool,
        project,
        d,
        lease.assignment_id,
        queue::SkipReason::Unclear,
        None,
    )
    .await
    .unwrap();
}

/// Sets the window `width` px wide and reloads the page, so the layout is
/// the one that width gets.
async fn set_width(page: &Page, width: u32) {
    page.client().set_window_size(width, 900).await.unwrap();
    page.client().refresh().await.unwrap();
    page.wait_until("return document.readyState === 'complete'", TIMEOUT)
        .await;
}

/// A screenshot of the whole page (the window made as tall as it), saved
/// as `DIR/name` when `SAFEPREF_SCREENSHOTS=DIR` is set.
async fn keep_screenshot(page: &Page, name: &str) {
    let size = page
        .execute(
            "return [window.outerWidth, \
                     document.documentElement.scrollHeight + window.outerHeight - window.innerHeight]",
        )
        .await;
    let [width, height] = [0, 1].map(|i| size[i].as_u64().expect("a size") as u32);
    page.client().set_window_size(width, height).await.unwrap();
    let png = page.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG screenshot");
    if let Ok(dir) = std::env::var("SAFEPREF_SCREENSHOTS") {
        std::fs::write(format!("{dir}/{name}"), png).unwrap();
    }
}

/// The text of `part` (a CSS selector) in the queue's row of `item`.
async fn in_row(page: &Page, item: Uuid, part: &str) -> String {
    let js = format!(
        "return document.querySelector(\"a[href='/review/items/{item}']\")\
           .closest('tr').querySelector('{part}').textContent.trim()"
    );
    page.execute(&js)
        .await
        .as_str()
        .unwrap_or_else(|| panic!("no {part} in {item}'s row"))
        .to_string()
}

/// Whether the page is wider than its window (a sideways scroll).
async fn overflows(page: &Page) -> bool {
    page.execute("return document.documentElement.scrollWidth > window.innerWidth")
        .await
        .as_bool()
        .unwrap()
}

/// Signs a new lead in and opens `project`'s queue (plus `query`).
async fn open_queue(app: &TestApp, project: &Project, query: &str) -> Page {
    let (lead, password) = app.user(Role::Lead).await;
    let page = Page::start().await;
    page.sign_in(&app.base, &lead, &password).await;
    page.goto(&app.url(&format!("/review/projects/{}/queue{query}", project.id)))
        .await;
    page.wait_for("table.review-queue", TIMEOUT).await;
    page
}

#[tokio::test]
async fn each_item_reads_in_one_line_at_a_laptops_and_a_phones_width() {
    let app = TestApp::spawn().await;
    let (project, [one, two, three]) = scene(&app).await;
    let page = open_queue(&app, &project, "").await;
    set_width(&page, 1280).await;

    assert_eq!(
        in_row(&page, one, ".why-line").await,
        "A: safe? 2 of 3 unsafe · A: severity? 2 of 3 moderate · A: Violence 2 of 3 · \
         harmless: 2 of 3 B · model disagrees on helpful"
    );
    assert_eq!(
        in_row(&page, two, ".why-line").await,
        "helpful: tie · skipped as unclear by 1"
    );
    assert_eq!(
        in_row(&page, three, ".why-line").await,
        "gold missed by 1 of 1"
    );
    // Today's full reasons, behind a closed disclosure that opens on a
    // click (no script: `details` does it).
    assert_eq!(in_row(&page, one, "summary").await, "All 5 reasons");
    let full = in_row(&page, one, "ul").await;
    for reason in [
        "low support on responses[0].safe (67%)",
        "low support on responses[0].categories[Violence] (67%)",
        "model disagrees: beaver-dam-7b on helpfulness: model B, people A (100%)",
    ] {
        assert!(full.contains(reason), "{reason:?} not in {full:?}");
    }
    let row = format!("tr:has(a[href='/review/items/{one}'])");
    let open = format!("return document.querySelector(\"{row} details.reasons\").open");
    assert_eq!(page.execute(&open).await, false, "closed at first");
    page.click(&format!("{row} summary")).await;
    assert_eq!(page.execute(&open).await, true, "opened by a click");

    // The filters share one row, and the page no sideways scroll.
    let one_row = "const r = [...document.querySelectorAll(\
        'form.queue-filters :is(select, input, button, a)')].map(e => e.getBoundingClientRect()); \
        return r.length === 8 && Math.max(...r.map(x => x.top)) < Math.min(...r.map(x => x.bottom))";
    assert_eq!(page.execute(one_row).await, true, "the filters on one row");
    assert!(!overflows(&page).await, "no sideways scroll at 1280 px");
    keep_screenshot(&page, "review-queue-1280.png").await;

    // A phone: the filters wrap, each item is a card, nothing is wider
    // than the screen.
    set_width(&page, 390).await;
    assert_eq!(page.execute("return window.innerWidth").await, 390);
    assert!(!overflows(&page).await, "a sideways scroll at 390 px");
    assert_eq!(
        in_row(&page, two, ".why-line").await,
        "helpful: tie · skipped as unclear by 1"
    );
    keep_screenshot(&page, "review-queue-phone.png").await;

    // The form sends the same parameters as before: "why" = gold miss
    // leaves item 3 alone.
    page.find("#f-reason")
        .await
        .select_by_value("gold miss")
        .await
        .unwrap();
    page.click("form.queue-filters button[type=submit]").await;
    page.wait_until(
        "return location.search.includes('reason=gold+miss') && document.readyState === 'complete'",
        TIMEOUT,
    )
    .await;
    let links = page.find_all("a.review-link").await;
    assert_eq!(links.len(), 1, "only the gold miss");
    assert_eq!(
        links[0].attr("href").await.unwrap().as_deref(),
        Some(format!("/review/items/{three}").as_str())
    );
    page.close().await;
}

const HOSTILE: &str = "<img src=x onerror=alert(1)>";

/// K = 2 labels: response A unsafe in `category` (severity 1) or safe; B
/// safe; A the more helpful, B the more harmless.
fn hostile_vote(category: Option<&str>) -> Labels {
    let a = category.map_or_else(ResponseLabel::safe, |c| ResponseLabel::unsafe_with(&[c], 1));
    Labels {
        responses: vec![a, ResponseLabel::safe()],
        helpfulness: vec![0, 1],
        harmlessness: vec![1, 0],
        overall: None,
        confidence: None,
        comment: None,
    }
}

#[tokio::test]
async fn a_hostile_category_name_is_shown_as_text() {
    let app = TestApp::spawn().await;
    let pool = &app.pool;
    let taxonomy = Taxonomy::custom(vec![
        Category {
            name: HOSTILE.into(),
            description: "hostile".into(),
        },
        Category {
            name: "Plain".into(),
            description: "plain".into(),
        },
    ])
    .unwrap();
    let settings = Settings {
        name: format!("hostile-{}", &Uuid::new_v4().simple().to_string()[..8]),
        taxonomy,
        ..Settings::default()
    };
    let project = projects::create(pool, None, settings).await.unwrap();
    let record =
        r#"{"id": "h-1", "prompt": "A question <b>bold</b>?", "responses": ["one", "two"]}"#;
    import_text(
        pool,
        &project,
        "h.jsonl",
        &format!("{record}\n"),
        Options::default(),
    )
    .await
    .unwrap();
    for category in [Some(HOSTILE), Some(HOSTILE), None] {
        let who = annotator(pool).await.id;
        label(pool, &project, who, &hostile_vote(category), 20.0).await;
    }
    let item: Uuid = sqlx::query_scalar("select id from items where project_id = $1")
        .bind(project.id)
        .fetch_one(pool)
        .await
        .unwrap();

    let page = open_queue(&app, &project, "").await;
    page.wait_until("return document.readyState === 'complete'", TIMEOUT)
        .await;
    assert_eq!(
        in_row(&page, item, ".why-line").await,
        format!("A: safe? 2 of 3 unsafe · A: severity? 2 of 3 minor · A: {HOSTILE} 2 of 3")
    );
    assert!(in_row(&page, item, "ul").await.contains(&format!(
        "low support on responses[0].categories[{HOSTILE}] (67%)"
    )));
    assert_eq!(
        in_row(&page, item, ".review-link").await,
        "A question <b>bold</b>?"
    );
    assert_eq!(
        page.execute("return document.querySelectorAll('main img, main b').length")
            .await,
        0,
        "no markup made it into the page"
    );
    assert_eq!(page.alert_text().await, None, "nothing ran");
    page.close().await;
}
