//! The database's half of membership: `project_visible` (the one rule every
//! query asks) and the audit log's `project_id`, filled by a trigger.

use safepref_server::db::{self, projects::Access, users::Role};
use safepref_server::{accounts, projects};
use safepref_tests::TestDb;
use sqlx::PgPool;
use uuid::Uuid;

use crate::import::project;

async fn person(pool: &PgPool, role: Role) -> Uuid {
    let name = format!(
        "{}-{}",
        role.as_str(),
        &Uuid::new_v4().simple().to_string()[..8]
    );
    let (user, _) = accounts::create(pool, None, &name, role, "a long enough password")
        .await
        .unwrap();
    user.id
}

async fn sees(pool: &PgPool, project: Uuid, viewer: Uuid) -> bool {
    // The rule itself, as every query asks it; false for no such project.
    sqlx::query_scalar::<_, bool>(
        "select coalesce((select project_visible(p.id, p.access, $2) from projects p where p.id = $1), false)",
    )
    .bind(project)
    .bind(viewer)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn members_only_projects_are_seen_by_admins_and_members_alone() {
    let db = TestDb::new().await;
    let pool = &db.pool;
    let open = project(pool, 2).await;
    let closed = project(pool, 2).await;
    db::projects::set_access(pool, closed.id, Access::Members)
        .await
        .unwrap();
    let admin = person(pool, Role::Admin).await;
    let (lead, member_lead) = (
        person(pool, Role::Lead).await,
        person(pool, Role::Lead).await,
    );
    let (annotator, member) = (
        person(pool, Role::Annotator).await,
        person(pool, Role::Annotator).await,
    );
    for who in [member_lead, member] {
        assert!(
            db::members::add(pool, closed.id, who, Some(admin))
                .await
                .unwrap()
        );
    }
    assert!(
        !db::members::add(pool, closed.id, member, Some(admin))
            .await
            .unwrap(),
        "twice"
    );

    for who in [admin, lead, member_lead, annotator, member] {
        assert!(
            sees(pool, open.id, who).await,
            "an open project is everyone's"
        );
    }
    for (who, expected) in [
        (admin, true),
        (member_lead, true),
        (member, true),
        (lead, false),
        (annotator, false),
    ] {
        assert_eq!(sees(pool, closed.id, who).await, expected);
        let found = db::projects::find_visible(pool, closed.id, who)
            .await
            .unwrap();
        assert_eq!(found.is_some(), expected, "find_visible agrees");
        let listed = db::projects::summaries(pool, Some(who)).await.unwrap();
        assert_eq!(
            listed.iter().any(|p| p.id == closed.id),
            expected,
            "the list agrees"
        );
    }
    assert!(!sees(pool, Uuid::now_v7(), admin).await, "no such project");

    assert!(db::members::remove(pool, closed.id, member).await.unwrap());
    assert!(!sees(pool, closed.id, member).await, "removed");
    let members = db::members::list(pool, closed.id).await.unwrap();
    assert_eq!(
        members.iter().map(|m| m.user_id).collect::<Vec<_>>(),
        [member_lead]
    );
}

#[tokio::test]
async fn a_crowd_worker_sees_only_the_project_they_joined() {
    let db = TestDb::new().await;
    let pool = &db.pool;
    let (joined, other) = (project(pool, 2).await, project(pool, 2).await);
    db::projects::set_access(pool, joined.id, Access::Members)
        .await
        .unwrap();
    let worker = person(pool, Role::Annotator).await;
    sqlx::query("update users set crowd_project_id = $2 where id = $1")
        .bind(worker)
        .bind(joined.id)
        .execute(pool)
        .await
        .unwrap();
    assert!(sees(pool, joined.id, worker).await);
    assert!(!sees(pool, other.id, worker).await, "not even an open one");
}

async fn audit_project(pool: &PgPool, action: &str) -> Option<Uuid> {
    sqlx::query_scalar(
        "select project_id from audit_log where action = $1 order by id desc limit 1",
    )
    .bind(action)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn each_audit_entry_knows_the_project_it_is_about() {
    let db = TestDb::new().await;
    let pool = &db.pool;
    let p = project(pool, 2).await;
    let item: Uuid = Uuid::now_v7();
    let entries: [(&str, String, Option<serde_json::Value>); 4] = [
        ("test: project", projects::subject(p.id), None),
        (
            "test: named",
            "user:x".into(),
            Some(serde_json::json!({"project": p.id})),
        ),
        ("test: account", format!("user:{}", Uuid::now_v7()), None),
        ("test: unknown item", format!("item:{item}"), None),
    ];
    for (action, subject, after) in &entries {
        db::audit::record(pool, None, action, subject, None, after.clone())
            .await
            .unwrap();
    }
    assert_eq!(audit_project(pool, "test: project").await, Some(p.id));
    assert_eq!(audit_project(pool, "test: named").await, Some(p.id));
    assert_eq!(audit_project(pool, "test: account").await, None);
    assert_eq!(audit_project(pool, "test: unknown item").await, None);
}
