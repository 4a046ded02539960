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

/// An annotator ahead of the others: each lease moves their cursor up to
/// the item it gives them (every item before it is one they finished), so
/// the lease's window of started items, all theirs, is passed over from
/// there instead of being looked at item by item; the others are given
/// those started items all the same.
#[tokio::test]
async fn a_lease_moves_the_cursor_of_an_annotator_ahead_past_what_they_finished() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app.pool, 300, 3, 5).await;
    let ahead = annotator(&app.pool).await;
    let mut held = None;
    for n in 0..=150 {
        let lease = ahead.lease(&app.base, project.id).await.expect("a lease");
        if n < 150 {
            ahead
                .submit_ok(&app.base, lease.assignment, &labels())
                .await;
        } else {
            held = Some(lease.item);
        }
    }
    let (cursor, item): ((i32, i32), (i32, i32)) = sqlx::query_as::<_, (i32, i32, i32, i32)>(
        "select c.batch_seq, c.seq, i.batch_seq, i.seq
           from lease_cursors c, items i
          where c.project_id = $1 and c.annotator_id = $2 and i.id = $3",
    )
    .bind(project.id)
    .bind(ahead.id)
    .bind(held.unwrap())
    .fetch_one(&app.pool)
    .await
    .map(|(a, b, c, d)| ((a, b), (c, d)))
    .expect("the annotator ahead has a cursor");
    assert_eq!(
        cursor, item,
        "the cursor is at the item the last lease gave"
    );

    let behind = annotator(&app.pool).await;
    let first = behind.lease(&app.base, project.id).await.expect("a lease");
    let done: i32 = sqlx::query_scalar("select done from items where id = $1")
        .bind(first.item)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(done, 1, "the one behind is given a started item first");
}

/// Rule 6, finish what is started: a started item with room comes before
/// any new item, however many started items full of leases come first.
/// (When the window of 100 counted those, a lease behind 100 of them took
/// a new item.)
#[tokio::test]
async fn a_started_item_with_room_behind_a_hundred_full_ones_comes_before_a_new_one() {
    let app = TestApp::spawn().await;
    let project = project_with_items(&app.pool, 150, 2, 5).await;
    // One annotator starts the first 101 items.
    let first = annotator(&app.pool).await;
    for _ in 0..101 {
        let lease = first.lease(&app.base, project.id).await.expect("a lease");
        first
            .submit_ok(&app.base, lease.assignment, &labels())
            .await;
    }
    // A hundred others each hold one of them: with k = 2 those are full.
    for _ in 0..100 {
        let holder = annotator(&app.pool).await;
        holder.lease(&app.base, project.id).await.expect("a lease");
    }
    let last = annotator(&app.pool).await;
    let lease = last.lease(&app.base, project.id).await.expect("a lease");
    let done: i32 = sqlx::query_scalar("select done from items where id = $1")
        .bind(lease.item)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        done, 1,
        "the last annotator is given the started item with room"
    );
}
