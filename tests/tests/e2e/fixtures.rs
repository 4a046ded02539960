//! Labels and set-ups that several areas' tests share.

use safepref_core::labels::{Labels, ResponseLabel};
use safepref_server::db::projects::Project;
use safepref_server::queue;
use sqlx::PgPool;
use uuid::Uuid;

/// Valid labels for K = 2: response A unsafe (Violence, at `severity`) or
/// safe, B safe; `helpful` is the more helpful position, and the safe
/// response is the more harmless one (A when both are safe).
pub fn labels(a_unsafe: bool, helpful: usize, severity: u8) -> Labels {
    let a = if a_unsafe {
        ResponseLabel::unsafe_with(&["Violence"], severity)
    } else {
        ResponseLabel::safe()
    };
    Labels {
        responses: vec![a, ResponseLabel::safe()],
        helpfulness: vec![helpful, 1 - helpful],
        harmlessness: if a_unsafe { vec![1, 0] } else { vec![0, 1] },
        overall: None,
        confidence: None,
        comment: None,
    }
}

/// Leases `who`'s next item through the queue (as the API would) and
/// submits `labels` for it; returns the item.
pub async fn label(
    pool: &PgPool,
    project: &Project,
    who: Uuid,
    labels: &Labels,
    seconds: f64,
) -> Uuid {
    let lease = queue::lease(pool, project, who)
        .await
        .unwrap()
        .expect("an item to label");
    queue::submit(
        pool,
        project,
        who,
        lease.assignment_id,
        Uuid::new_v4(),
        labels,
        seconds,
    )
    .await
    .unwrap();
    lease.item.id
}

/// The id of the account named `username`.
pub async fn user_id(pool: &PgPool, username: &str) -> Uuid {
    sqlx::query_scalar("select id from users where username = $1")
        .bind(username)
        .fetch_one(pool)
        .await
        .unwrap()
}
