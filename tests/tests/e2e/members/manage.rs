//! Managing a project's people (`projects::members`) through its three
//! doors: `safepref project access|members …`, the API under
//! `/api/v1/projects/{id}/members` and `/access`, and the People section of
//! the project page. Every change is audited; a change that shuts someone
//! out releases their live leases and keeps their annotations.

use safepref_server::db::{self, projects::Access, users::Role};
use safepref_server::projects::members::{self, MembersError};
use safepref_server::queue;
use safepref_tests::{Browser, TestApp, TestDb, safepref_binary};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::fixtures::{label, labels, user_id};
use crate::import::{project, project_with_sample};

/// The audit entries of `project` with `action`: (before, after).
async fn audited(
    pool: &PgPool,
    project: Uuid,
    action: &str,
) -> Vec<(Option<Value>, Option<Value>)> {
    sqlx::query_as(
        "select before, after from audit_log where project_id = $1 and action = $2 order by id",
    )
    .bind(project)
    .bind(action)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn member_names(pool: &PgPool, project: Uuid) -> Vec<String> {
    db::members::list(pool, project)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.username)
        .collect()
}

/// A crowd worker bound to `project`.
async fn crowd_worker(app: &TestApp, project: Uuid) -> String {
    let (name, _) = app.user(Role::Annotator).await;
    sqlx::query("update users set crowd_project_id = $2 where username = $1")
        .bind(&name)
        .bind(project)
        .execute(&app.pool)
        .await
        .unwrap();
    name
}

async fn cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(safepref_binary())
        .args(args)
        .env("DATABASE_URL", &app.db_url)
        .output()
        .await
        .unwrap()
}

fn out(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn the_command_line_sets_access_and_manages_members() {
    let app = TestApp::spawn().await;
    let pool = &app.pool;
    let name = format!("cli-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let made = cli(
        &app,
        &["project", "create", "--name", &name, "--access", "members"],
    )
    .await;
    assert!(made.status.success(), "{}", err(&made));
    assert!(out(&made).contains("members only"), "{}", out(&made));
    let p = safepref_server::projects::find_by_name(pool, &name)
        .await
        .unwrap();
    assert_eq!(p.access, Access::Members);

    let (ann, _) = app.user(Role::Annotator).await;
    let (lead, _) = app.user(Role::Lead).await;
    let (admin, _) = app.user(Role::Admin).await;
    let crowd = crowd_worker(&app, p.id).await;

    let refused = cli(
        &app,
        &[
            "project",
            "members",
            "add",
            "--project",
            &name,
            &ann,
            "ghost-1",
            &admin,
            "ghost-2",
            &crowd,
        ],
    )
    .await;
    assert!(!refused.status.success());
    let message = err(&refused);
    for part in [
        "\"ghost-1\"",
        "\"ghost-2\"",
        &format!("{admin:?} is an admin"),
        &format!("{crowd:?} is a crowd worker"),
    ] {
        assert!(message.contains(part), "{part} in: {message}");
    }
    assert!(
        member_names(pool, p.id).await.is_empty(),
        "nothing was added"
    );

    let added = cli(
        &app,
        &["project", "members", "add", "--project", &name, &ann, &lead],
    )
    .await;
    assert!(added.status.success(), "{}", err(&added));
    let mut both = vec![ann.clone(), lead.clone()];
    both.sort();
    assert_eq!(member_names(pool, p.id).await, both);

    let listed = cli(&app, &["project", "members", "list", "--project", &name]).await;
    let table = out(&listed);
    assert!(
        table.contains("username") && table.contains("role"),
        "{table}"
    );
    assert!(
        table.contains(&ann) && table.contains(&lead) && table.contains("lead"),
        "{table}"
    );

    let removed = cli(
        &app,
        &["project", "members", "remove", "--project", &name, &ann],
    )
    .await;
    assert!(removed.status.success(), "{}", err(&removed));
    assert_eq!(member_names(pool, p.id).await, vec![lead.clone()]);
    let again = cli(
        &app,
        &["project", "members", "remove", "--project", &name, &ann],
    )
    .await;
    assert!(!again.status.success());
    assert!(err(&again).contains("is not a member"), "{}", err(&again));

    let projects = out(&cli(&app, &["project", "list"]).await);
    let row = projects.lines().find(|l| l.starts_with(&name)).unwrap();
    assert!(
        row[name.len()..].trim_start().starts_with("members"),
        "the list shows the access: {row}"
    );

    let opened = cli(&app, &["project", "access", "--project", &name, "open"]).await;
    assert!(opened.status.success(), "{}", err(&opened));
    let p = safepref_server::projects::find(pool, p.id).await.unwrap();
    assert_eq!(p.access, Access::Open);
    let wrong = cli(&app, &["project", "access", "--project", &name, "closed"]).await;
    assert!(!wrong.status.success());
    assert!(err(&wrong).contains("open or members"), "{}", err(&wrong));

    let changes = audited(pool, p.id, "project access changed").await;
    assert_eq!(changes.len(), 2, "members at creation, then open");
    assert_eq!(changes[1].0, Some(json!({"access": "members"})));
    assert_eq!(changes[1].1, Some(json!({"access": "open"})));
    let added = audited(pool, p.id, "project member added").await;
    assert_eq!(added.len(), 2);
    let removed = audited(pool, p.id, "project member removed").await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].0.as_ref().unwrap()["username"], json!(ann));
}

/// Sends `body` as JSON with the browser's session and CSRF token.
async fn send(
    b: &Browser,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = b
        .client
        .request(method, format!("{}{path}", b.base))
        .header("x-csrf-token", b.csrf_token.clone().unwrap_or_default());
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_api_manages_members_and_access_for_admins_only() {
    let app = TestApp::spawn().await;
    let p = project(&app.pool, 2).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let (ann, _) = app.user(Role::Annotator).await;
    let (lead, _) = app.user(Role::Lead).await;
    let base = format!("/api/v1/projects/{}", p.id);
    use reqwest::Method as M;

    let (status, body) = send(
        &admin,
        M::PUT,
        &format!("{base}/access"),
        Some(json!({"access": "members"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"before": "open", "access": "members", "leases_released": 0})
    );

    let (status, body) = send(
        &admin,
        M::POST,
        &format!("{base}/members"),
        Some(json!({"usernames": [ann, lead, "nobody-here"]})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"nobody-here\""),
        "{body}"
    );
    let (status, body) = send(
        &admin,
        M::POST,
        &format!("{base}/members"),
        Some(json!({"usernames": [ann, lead]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["added"].as_array().unwrap().len(), 2, "{body}");

    let (status, body) = send(&admin, M::GET, &format!("{base}/members"), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["access"], "members");
    let names: Vec<&str> = body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["username"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&ann.as_str()) && names.contains(&lead.as_str()),
        "{body}"
    );

    let ann_id = user_id(&app.pool, &ann).await;
    let (status, body) = send(&admin, M::DELETE, &format!("{base}/members/{ann_id}"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["removed"], json!(ann));
    let (status, _) = send(&admin, M::DELETE, &format!("{base}/members/{ann_id}"), None).await;
    assert_eq!(status, 404, "not a member any more");
    let (status, _) = send(
        &admin,
        M::PUT,
        &format!("{base}/access"),
        Some(json!({"access": "closed"})),
    )
    .await;
    assert_eq!(status, 400);

    for role in [Role::Annotator, Role::Lead] {
        let (caller, _) = app.signed_in(role).await;
        for (method, path, body) in [
            (M::GET, format!("{base}/members"), None),
            (
                M::POST,
                format!("{base}/members"),
                Some(json!({"usernames": [ann]})),
            ),
            (M::DELETE, format!("{base}/members/{ann_id}"), None),
            (
                M::PUT,
                format!("{base}/access"),
                Some(json!({"access": "open"})),
            ),
        ] {
            let (status, answer) = send(&caller, method.clone(), &path, body).await;
            assert_eq!(
                (status, answer["error"]["code"].as_str()),
                (403, Some("forbidden")),
                "{role:?} {method} {path}"
            );
        }
    }

    let (_, doc) = send(&admin, M::GET, "/api/v1/openapi.json", None).await;
    for (path, method) in [
        ("/api/v1/projects/{id}/members", "get"),
        ("/api/v1/projects/{id}/members", "post"),
        ("/api/v1/projects/{id}/members/{user_id}", "delete"),
        ("/api/v1/projects/{id}/access", "put"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} in the OpenAPI document"
        );
    }
    assert_eq!(
        audited(&app.pool, p.id, "project member added").await.len(),
        2
    );
    assert_eq!(
        audited(&app.pool, p.id, "project member removed")
            .await
            .len(),
        1
    );
}

async fn lease_state(pool: &PgPool, annotator: Uuid, project: Uuid) -> Vec<String> {
    sqlx::query_scalar("select state::text from assignments where annotator_id = $1 and project_id = $2 order by leased_at")
        .bind(annotator)
        .bind(project)
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn shutting_people_out_releases_their_leases_and_keeps_their_annotations() {
    let db = TestDb::new().await;
    let pool = &db.pool;
    let (p, _) = project_with_sample(pool).await;
    let person = |role| async move {
        let name = format!(
            "{}-{}",
            Role::as_str(role),
            &Uuid::new_v4().simple().to_string()[..8]
        );
        safepref_server::accounts::create(pool, None, &name, role, "a long enough password")
            .await
            .unwrap()
            .0
    };
    let (member, outsider, admin) = (
        person(Role::Annotator).await,
        person(Role::Annotator).await,
        person(Role::Admin).await,
    );
    members::add(
        pool,
        Some(admin.id),
        &p,
        std::slice::from_ref(&member.username),
    )
    .await
    .unwrap();
    let labelled = label(pool, &p, member.id, &labels(true, 0, 2), 3.0).await;
    for who in [member.id, outsider.id, admin.id] {
        queue::lease(pool, &p, who).await.unwrap().expect("an item");
    }
    let leased_before: i64 =
        sqlx::query_scalar("select sum(leased)::bigint from items where project_id = $1")
            .bind(p.id)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(leased_before, 3);

    assert_eq!(
        members::leases_lost_by(pool, &p, Access::Members)
            .await
            .unwrap(),
        1,
        "the outsider's"
    );
    let change = members::set_access(pool, Some(admin.id), &p, Access::Members)
        .await
        .unwrap();
    assert_eq!(change.released, 1);
    assert_eq!(lease_state(pool, outsider.id, p.id).await, ["expired"]);
    assert_eq!(
        lease_state(pool, member.id, p.id).await,
        ["submitted", "leased"],
        "a member keeps theirs"
    );
    assert_eq!(
        lease_state(pool, admin.id, p.id).await,
        ["leased"],
        "an admin needs no membership"
    );

    let p = safepref_server::projects::find(pool, p.id).await.unwrap();
    let removed = members::remove(pool, Some(admin.id), &p, member.id)
        .await
        .unwrap();
    assert_eq!(removed.released, 1);
    assert_eq!(
        lease_state(pool, member.id, p.id).await,
        ["submitted", "expired"]
    );
    let leased_after: i64 =
        sqlx::query_scalar("select sum(leased)::bigint from items where project_id = $1")
            .bind(p.id)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(
        leased_after, 1,
        "the slots were freed; the admin's lease stays"
    );
    let (done, kept): (i32, i64) = sqlx::query_as(
        "select i.done, (select count(*) from annotations a where a.item_id = i.id and a.annotator_id = $2 and a.invalidated_at is null)
           from items i where i.id = $1",
    )
    .bind(labelled)
    .bind(member.id)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!((done, kept), (1, 1), "their annotation stays and counts");

    assert!(matches!(
        members::remove(pool, Some(admin.id), &p, member.id).await,
        Err(MembersError::NotMember(name)) if name == member.username
    ));
    let removals = audited(pool, p.id, "project member removed").await;
    assert_eq!(removals.len(), 1);
}

/// The People section and its confirmations, as an admin's browser uses them.
#[tokio::test]
async fn the_people_section_searches_adds_several_and_removes_after_confirming() {
    let app = TestApp::spawn().await;
    let (p, _) = project_with_sample(&app.pool).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let tag = &Uuid::new_v4().simple().to_string()[..6];
    let mut people = Vec::new();
    for (i, role) in [Role::Annotator, Role::Annotator, Role::Lead]
        .into_iter()
        .enumerate()
    {
        let name = format!("team{tag}-{i}");
        safepref_server::accounts::create(&app.pool, None, &name, role, "a long enough password")
            .await
            .unwrap();
        people.push(name);
    }
    let hidden_admin = format!("team{tag}-admin");
    safepref_server::accounts::create(
        &app.pool,
        None,
        &hidden_admin,
        Role::Admin,
        "a long enough password",
    )
    .await
    .unwrap();
    let page = format!("/admin/projects/{}", p.id);

    let html = admin.get(&page).await.text().await.unwrap();
    assert!(
        html.contains("id=\"people\"") && html.contains("No members yet"),
        "the section is there"
    );
    let found = admin
        .get(&format!("{page}?q=team{tag}"))
        .await
        .text()
        .await
        .unwrap();
    for name in &people {
        assert!(
            found.contains(&format!("value=\"{name}\"")),
            "{name} is offered"
        );
    }
    assert!(!found.contains(&hidden_admin), "admins are not offered");

    let response = admin
        .post(
            &format!("{page}/members"),
            &[("user", &people[0]), ("user", &people[2])],
        )
        .await;
    assert_eq!(response.status(), 303);
    let html = admin
        .get(&format!("{page}?done=added"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("are members now"));
    let mut expected = vec![people[0].clone(), people[2].clone()];
    expected.sort();
    assert_eq!(member_names(&app.pool, p.id).await, expected);
    let refused = admin
        .post(
            &format!("{page}/members"),
            &[("user", "nobody-at-all"), ("q", "team")],
        )
        .await;
    assert_eq!(refused.status(), 400);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("no user is named &#34;nobody-at-all&#34;")
            || html.contains("no user is named &quot;nobody-at-all&quot;"),
        "the refusal is shown, escaped"
    );

    // An outsider holds a lease: switching to members only says so first.
    let outsider = user_id(&app.pool, &people[1]).await;
    queue::lease(&app.pool, &p, outsider)
        .await
        .unwrap()
        .expect("an item");
    let confirm = admin
        .get(&format!("{page}/access?access=members"))
        .await
        .text()
        .await
        .unwrap();
    assert!(confirm.contains("1 live lease(s)"), "{confirm}");
    assert_eq!(
        safepref_server::projects::find(&app.pool, p.id)
            .await
            .unwrap()
            .access,
        Access::Open,
        "not before confirming"
    );
    let switched = admin
        .post(&format!("{page}/access?access=members"), &[])
        .await;
    assert_eq!(switched.status(), 303);
    assert_eq!(
        safepref_server::projects::find(&app.pool, p.id)
            .await
            .unwrap()
            .access,
        Access::Members
    );
    assert_eq!(lease_state(&app.pool, outsider, p.id).await, ["expired"]);

    let removed_id = user_id(&app.pool, &people[0]).await;
    let confirm = admin
        .get(&format!("{page}/members/{removed_id}/remove"))
        .await;
    assert_eq!(confirm.status(), 200);
    let confirm = confirm.text().await.unwrap();
    assert!(
        confirm.contains(&format!("Remove {}", people[0])) && confirm.contains("stay and count"),
        "{confirm}"
    );
    assert_eq!(
        member_names(&app.pool, p.id).await.len(),
        2,
        "not before confirming"
    );
    let response = admin
        .post(&format!("{page}/members/{removed_id}/remove"), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(member_names(&app.pool, p.id).await, [people[2].clone()]);

    for action in [
        "project access changed",
        "project member added",
        "project member removed",
    ] {
        assert!(
            !audited(&app.pool, p.id, action).await.is_empty(),
            "{action} is audited"
        );
    }
    let (lead, _) = app.signed_in(Role::Lead).await;
    assert_eq!(
        lead.get(&format!("{page}/access?access=open"))
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn a_long_member_list_comes_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    let p = project(&app.pool, 2).await;
    let (admin, _) = app.signed_in(Role::Admin).await;
    let tag = &Uuid::new_v4().simple().to_string()[..6];
    let mut names = Vec::new();
    for i in 0..30 {
        let name = format!("m{tag}-{i:02}");
        safepref_server::accounts::create(
            &app.pool,
            None,
            &name,
            Role::Annotator,
            "a long enough password",
        )
        .await
        .unwrap();
        names.push(name);
    }
    members::add(&app.pool, None, &p, &names).await.unwrap();
    let page = format!("/admin/projects/{}", p.id);
    let first = admin.get(&page).await.text().await.unwrap();
    assert!(
        first.contains("Members (30)") && first.contains("Page 1 of 2"),
        "paged"
    );
    assert!(first.contains(&names[24]) && !first.contains(&names[25]));
    let second = admin
        .get(&format!("{page}?members_page=2"))
        .await
        .text()
        .await
        .unwrap();
    assert!(second.contains(&names[29]) && !second.contains(&format!(">{}<", names[0])));
}
