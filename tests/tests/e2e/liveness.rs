//! The queue's liveness rule: the lease says "nothing left" only when no
//! item exists that the annotator may take. Annotators who work one after
//! another (a small team's usual day) each get every item.

use safepref_server::queue;
use safepref_tests::TestApp;
use uuid::Uuid;

use crate::queue::{annotator, labels, project_with_items};

/// `people` annotators, one after another, each leasing and submitting
/// until the lease answers 204; returns how many items each got.
async fn one_after_another(items: usize, k: i32, people: usize) -> (Vec<usize>, i64) {
    let app = TestApp::spawn().await;
    // What `safepref serve` runs beside the app: statistics for the queue
    // tables once they outgrow their first ones.
    let statistics = tokio::spawn(queue::keep_statistics_periodically(app.pool.clone()));
    let project = project_with_items(&app.pool, items, k, 5).await;
    let mut got = Vec::new();
    for _ in 0..people {
        let me = annotator(&app.pool).await;
        let mut n = 0;
        while let Some(lease) = me.lease(&app.base, project.id).await {
            me.submit_ok(&app.base, lease.assignment, &labels()).await;
            n += 1;
            assert!(n <= items, "more leases than items");
        }
        got.push(n);
    }
    statistics.abort();
    let complete: i64 = sqlx::query_scalar(
        "select count(*) from items where project_id = $1 and state = 'complete'",
    )
    .bind(project.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    (got, complete)
}

#[tokio::test]
async fn three_annotators_one_after_another_each_get_all_150_items() {
    let (got, complete) = one_after_another(150, 3, 3).await;
    assert_eq!(got, vec![150; 3]);
    assert_eq!(complete, 150);
}

#[tokio::test]
async fn three_annotators_one_after_another_each_get_all_600_items() {
    // Six times the lease's window of started items.
    let (got, complete) = one_after_another(600, 3, 3).await;
    assert_eq!(got, vec![600; 3]);
    assert_eq!(complete, 600);
}

#[tokio::test]
async fn five_annotators_one_after_another_with_k_5_each_get_every_item() {
    let (got, complete) = one_after_another(300, 5, 5).await;
    assert_eq!(got, vec![300; 5]);
    assert_eq!(complete, 300);
}

/// The third annotator arrives while the second is half way: both are
/// given the started items the window of the first 100 no longer shows.
#[tokio::test]
async fn started_items_past_the_first_hundred_reach_every_annotator() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app.pool, 250, 2, 5).await;
    let first = annotator(&app.pool).await;
    while let Some(lease) = first.lease(&app.base, project.id).await {
        first
            .submit_ok(&app.base, lease.assignment, &labels())
            .await;
    }
    let second = annotator(&app.pool).await;
    let mut seen = std::collections::HashSet::<Uuid>::new();
    while let Some(lease) = second.lease(&app.base, project.id).await {
        assert!(seen.insert(lease.item), "an item came back twice");
        second
            .submit_ok(&app.base, lease.assignment, &labels())
            .await;
    }
    assert_eq!(seen.len(), 250, "the second annotator got every item");
}
