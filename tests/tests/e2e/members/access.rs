//! Membership enforced over HTTP (issue 25): a person who may not see a
//! members-only project cannot learn it exists — by page or API it answers
//! exactly as a random id does — and a lead of project A opens nothing of
//! project B. Members and admins can. (Every route × role × membership is
//! in roles.rs; these follow a person through the site.)

use reqwest::Method;
use safepref_core::labels::{Labels, ResponseLabel};
use safepref_server::db::{self, projects::Access, users::Role};
use safepref_server::projects::Project;
use safepref_server::queue;
use safepref_tests::{Browser, TestApp};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::import::project_with_sample;

/// A signed-in person: their id and a browser session (which calls the
/// API too, with its CSRF token in a header).
pub(crate) struct Person {
    pub id: Uuid,
    pub browser: Browser,
}

pub(crate) async fn person(app: &TestApp, role: Role) -> Person {
    let (browser, username) = app.signed_in(role).await;
    let id = crate::fixtures::user_id(&app.pool, &username).await;
    Person { id, browser }
}

/// Makes the project members only, with these members.
pub(crate) async fn members_only(pool: &PgPool, project: Uuid, members: &[Uuid]) {
    db::projects::set_access(pool, project, Access::Members)
        .await
        .unwrap();
    for member in members {
        db::members::add(pool, project, *member, None)
            .await
            .unwrap();
    }
}

/// Labels every question of the sample's projects accepts.
pub(crate) fn labels() -> Labels {
    Labels {
        responses: vec![ResponseLabel::safe(), ResponseLabel::safe()],
        helpfulness: vec![0, 1],
        harmlessness: vec![0, 1],
        overall: None,
        confidence: None,
        comment: None,
    }
}

/// A response as the comparisons need it: status and body.
pub(crate) async fn answer(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Calls the API with the person's browser session.
pub(crate) async fn api(who: &Person, method: Method, path: &str, body: Value) -> (u16, String) {
    let browser = &who.browser;
    let request = browser
        .client
        .request(method.clone(), format!("{}{path}", browser.base))
        .header(
            "x-csrf-token",
            browser.csrf_token.clone().unwrap_or_default(),
        );
    let request = if method == Method::GET {
        request
    } else {
        request.json(&body)
    };
    answer(request.send().await.unwrap()).await
}

async fn page(who: &Person, path: &str) -> (u16, String) {
    answer(who.browser.get(path).await).await
}

/// A live lease of the annotator's in the project (taken while they could
/// still see it).
async fn leased(pool: &PgPool, project: &Project, annotator: Uuid) -> Uuid {
    queue::lease(pool, project, annotator)
        .await
        .unwrap()
        .expect("an item is left")
        .assignment_id
}

#[tokio::test]
async fn a_non_member_cannot_learn_that_a_members_only_project_exists() {
    let app = TestApp::spawn().await;
    let pool = &app.pool;
    let (project, _) = project_with_sample(pool).await;
    let (outsider, member) = (
        person(&app, Role::Annotator).await,
        person(&app, Role::Annotator).await,
    );
    // Leased while the project was open: removed from it since, in effect.
    let assignment = leased(pool, &project, outsider.id).await;
    members_only(pool, project.id, &[member.id]).await;
    let (p, nowhere) = (project.id, Uuid::now_v7());

    for (home, listed) in [(&outsider, false), (&member, true)] {
        let (_, start) = page(home, "/").await;
        assert_eq!(start.contains(&project.name), listed, "the start page");
        let (_, list) = api(home, Method::GET, "/api/v1/projects", Value::Null).await;
        assert_eq!(list.contains(&p.to_string()), listed, "the API's list");
    }

    // Each request about the project answers as the same about no project.
    let hidden = |path: String| {
        (
            path.replace("{p}", &p.to_string()),
            path.replace("{p}", &nowhere.to_string()),
        )
    };
    for path in ["/annotate/{p}", "/annotate/{p}/guidelines"] {
        let (real, random) = hidden(path.into());
        let seen = page(&outsider, &real).await;
        assert_eq!(seen.0, 404, "{real}");
        assert_eq!(seen, page(&outsider, &random).await, "{path}");
        assert_eq!(page(&member, &real).await.0, 200, "a member: {real}");
    }
    let fields = [
        ("assignment_id", assignment.to_string()),
        ("submission_id", Uuid::now_v7().to_string()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (real, random) = hidden("/annotate/{p}/submit".into());
    let submitted = answer(outsider.browser.post(&real, &fields).await).await;
    assert_eq!(submitted.0, 404);
    assert_eq!(
        submitted,
        answer(outsider.browser.post(&random, &fields).await).await
    );

    for (method, path) in [
        (Method::GET, "/api/v1/projects/{p}"),
        (Method::POST, "/api/v1/projects/{p}/lease"),
    ] {
        let (real, random) = hidden(path.into());
        let seen = api(&outsider, method.clone(), &real, json!({})).await;
        assert_eq!(seen.0, 404, "{real}");
        assert_eq!(
            seen,
            api(&outsider, method.clone(), &random, json!({})).await
        );
        assert!(!seen.1.contains(&project.name));
        let by_member = api(&member, method, &real, json!({})).await;
        assert_eq!(by_member.0, 200, "a member: {real}: {}", by_member.1);
    }

    // Their own lease in it: submitting or skipping is as for no assignment.
    let body = json!({"submission_id": Uuid::now_v7(), "labels": labels()});
    for (action, body) in [("submit", body), ("skip", json!({"reason": "unclear"}))] {
        let path = |id: Uuid| format!("/api/v1/assignments/{id}/{action}");
        let seen = api(&outsider, Method::POST, &path(assignment), body.clone()).await;
        assert_eq!(seen.0, 404, "{action}");
        assert_eq!(
            seen,
            api(&outsider, Method::POST, &path(Uuid::now_v7()), body).await
        );
    }
    let annotations: i64 =
        sqlx::query_scalar("select count(*) from annotations where annotator_id = $1")
            .bind(outsider.id)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(annotations, 0, "nothing was stored");
}

/// The id of one of the project's items.
pub(crate) async fn an_item(pool: &PgPool, project: Uuid) -> Uuid {
    sqlx::query_scalar("select id from items where project_id = $1 order by id limit 1")
        .bind(project)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// What a lead reaches of one project: (method, path) with
/// `{p}` the project, `{i}` one of its items, `{u}` an annotator.
const LEAD_REACHES: [(Method, &str); 12] = [
    (Method::GET, "/review/projects/{p}"),
    (Method::GET, "/review/projects/{p}/queue"),
    (Method::GET, "/review/items/{i}"),
    (Method::POST, "/review/items/{i}/adjudicate"),
    (Method::POST, "/review/items/{i}/send-back"),
    (Method::GET, "/review/projects/{p}/annotators/{u}"),
    (Method::POST, "/review/projects/{p}/annotators/{u}/pause"),
    (Method::GET, "/review/projects/{p}/annotators/{u}/requeue"),
    (Method::GET, "/api/v1/projects/{p}/report"),
    (Method::GET, "/api/v1/projects/{p}/progress"),
    (Method::GET, "/api/v1/projects/{p}/batches"),
    (Method::GET, "/api/v1/items/{i}/suggestions"),
];

async fn reach(who: &Person, method: &Method, path: &str) -> (u16, String) {
    if *method == Method::GET {
        page(who, path).await
    } else {
        answer(who.browser.post(path, &[]).await).await
    }
}

#[tokio::test]
async fn a_lead_of_one_project_opens_nothing_of_another() {
    let app = TestApp::spawn().await;
    let pool = &app.pool;
    let ((a, _), (b, _)) = (
        project_with_sample(pool).await,
        project_with_sample(pool).await,
    );
    let (lead, admin) = (
        person(&app, Role::Lead).await,
        person(&app, Role::Admin).await,
    );
    let annotator = person(&app, Role::Annotator).await;
    members_only(pool, a.id, &[lead.id, annotator.id]).await;
    members_only(pool, b.id, &[annotator.id]).await;
    let (item_a, item_b) = (an_item(pool, a.id).await, an_item(pool, b.id).await);
    let path = |pattern: &str, project: Uuid, item: Uuid| {
        pattern
            .replace("{p}", &project.to_string())
            .replace("{i}", &item.to_string())
            .replace("{u}", &annotator.id.to_string())
    };

    for (method, pattern) in &LEAD_REACHES {
        let of_b = reach(&lead, method, &path(pattern, b.id, item_b)).await;
        let of_none = reach(
            &lead,
            method,
            &path(pattern, Uuid::now_v7(), Uuid::now_v7()),
        )
        .await;
        assert_eq!(of_b.0, 404, "{pattern} of B");
        assert_eq!(of_b, of_none, "{pattern}: B answers as no project");
        assert!(!of_b.1.contains(&b.name), "{pattern}");
        for (who, project, item) in [(&lead, a.id, item_a), (&admin, b.id, item_b)] {
            let (status, body) = reach(who, method, &path(pattern, project, item)).await;
            let refused = [401, 403, 404].contains(&status) || status >= 500;
            assert!(!refused, "{pattern}: {status} {body}");
        }
    }

    // The team page and the audit log: A's, never B's; the admin's, both.
    let sent_back = admin
        .browser
        .post(
            &format!("/review/items/{item_b}/send-back"),
            &[("reason", "unclear")],
        )
        .await;
    assert_eq!(sent_back.status(), 303);
    let created = "/review/audit?action=project+created";
    for (who, sees_b) in [(&lead, false), (&admin, true)] {
        for listing in ["/review", created] {
            let (status, body) = page(who, listing).await;
            assert_eq!(status, 200);
            assert!(body.contains(&a.name), "{listing} shows A");
            assert_eq!(body.contains(&b.name), sees_b, "{listing} and B");
        }
    }
    let sent_back = "/review/audit?action=item+sent+back";
    assert!(!page(&lead, sent_back).await.1.contains(&item_b.to_string()));
    assert!(
        page(&admin, sent_back)
            .await
            .1
            .contains(&item_b.to_string())
    );
}
