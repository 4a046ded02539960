//! Scale-out: two `safepref serve` processes on one database under the load
//! generator's simulated annotators; one is killed (`kill -9`) mid-run. Its
//! annotators are gone and their leases expire (the shortest lease a
//! project allows, 30 s); the other process's annotators finish the project
//! with nothing lost, and the queue invariants hold in the database.

use std::time::Duration;

use safepref_loadgen::load::{self, Endpoint};
use safepref_server::accounts;
use safepref_server::db::users::Role;
use safepref_tests::{ServerProcess, TestDb};

const ITEMS: usize = 80;
const K: i32 = 3;
/// Per server: at least k on the survivor, so it can finish every item.
const ANNOTATORS_PER_SERVER: usize = 6;
const PASSWORD: &str = "scale-out-password";

#[tokio::test]
async fn a_killed_server_loses_nothing_and_the_other_finishes_the_project() {
    let db = TestDb::new().await;
    let project = crate::queue::project_with_items(&db.pool, ITEMS, K, 5).await;
    assert_eq!(
        project.lease_seconds, 30,
        "the shortest lease keeps the test short"
    );
    make_annotators(&db, "scale-", 2 * ANNOTATORS_PER_SERVER, PASSWORD).await;
    let mut doomed = ServerProcess::start(&db.url).await;
    let survivor = ServerProcess::start(&db.url).await;

    let options = load::Options {
        // Annotator i works through targets[i % 2]: even ones on the doomed server.
        targets: vec![doomed.base.clone(), survivor.base.clone()],
        project: project.name.clone(),
        annotators: 2 * ANNOTATORS_PER_SERVER,
        user_prefix: "scale-".into(),
        password: PASSWORD.into(),
        duration: Duration::from_secs(55),
        think: Duration::from_millis(100),
        skip_rate: 0.02,
        double_submit_rate: 0.2,
        // None: a sign-out also ends leases, and the test asks that leases *expired*.
        abandon_rate: 0.0,
        until_complete: true,
        lease_separately: false,
        database_url: Some(db.url.clone()),
        seed: 10,
    };
    let run = tokio::spawn(async move { load::run(&options).await });

    // Kill one process once work is under way on both.
    let started = tokio::time::Instant::now();
    while annotations(&db).await < 30 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no work got done"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    doomed.kill9();
    let complete_at_kill = complete_items(&db).await;
    assert!(
        complete_at_kill < ITEMS as i64,
        "the project finished before the kill"
    );

    let report = run.await.unwrap().expect("the load ran");
    println!("{}", report.render());
    let t = &report.tally;
    assert_eq!(
        t.lost_annotators, ANNOTATORS_PER_SERVER as u64,
        "every annotator of the killed server gave up, no other"
    );
    for kind in t.errors.keys() {
        assert!(
            kind.ends_with("no answer (connection)"),
            "only calls to the killed server may fail: {:?}",
            t.errors
        );
    }
    assert!(t.double_submits > 0 && t.percentiles(Endpoint::Resubmit).is_some());
    let invariants = report.invariants.as_ref().expect("checked in the database");
    assert!(invariants.hold(), "{invariants}");
    assert_eq!(invariants.items, ITEMS as i64);
    assert_eq!(
        invariants.complete, ITEMS as i64,
        "the survivor finished the project: {invariants}"
    );
    assert_eq!(invariants.annotations, ITEMS as i64 * i64::from(K));
    assert_eq!(invariants.live_leases, 0);
    // Every item has exactly k annotations, from k different annotators.
    let short: i64 = sqlx::query_scalar(
        "select count(*) from items i where i.project_id = $1
            and (select count(distinct a.annotator_id) from annotations a where a.item_id = i.id) <> $2",
    )
    .bind(project.id)
    .bind(i64::from(K))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(short, 0, "items without k annotations from k annotators");
    // The killed server's leases ran out (they were not handed back).
    let expired: i64 = sqlx::query_scalar(
        "select count(*) from assignments where project_id = $1 and state = 'expired'",
    )
    .bind(project.id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(expired > 0, "the killed server's leases expired");
}

/// `prefix0..prefix{n-1}`, sharing one password hash (hashing once keeps
/// the set-up fast).
/// `n` annotators `{prefix}0`… sharing one password (hashed once).
pub(crate) async fn make_annotators(db: &TestDb, prefix: &str, n: usize, password: &str) {
    let first = format!("{prefix}0");
    accounts::create(&db.pool, None, &first, Role::Annotator, password)
        .await
        .unwrap();
    sqlx::query(
        "insert into users (id, username, role, password_hash)
         select gen_random_uuid(), $1 || g, 'annotator', (select password_hash from users where username = $2)
           from generate_series(1, $3) g",
    )
    .bind(prefix)
    .bind(&first)
    .bind(n as i32 - 1)
    .execute(&db.pool)
    .await
    .unwrap();
}

async fn annotations(db: &TestDb) -> i64 {
    sqlx::query_scalar("select count(*) from annotations")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

async fn complete_items(db: &TestDb) -> i64 {
    sqlx::query_scalar("select count(*) from items where state = 'complete'")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}
