//! The append-only `audit_log` (a trigger refuses updates and deletes).

use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

/// Records that `actor` did `action` to `subject`, with the state before and after.
pub async fn record(
    db: impl PgExecutor<'_>,
    actor: Option<Uuid>,
    action: &str,
    subject: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into audit_log (actor_id, action, subject, before, after) values ($1, $2, $3, $4, $5)")
        .bind(actor)
        .bind(action)
        .bind(subject)
        .bind(before)
        .bind(after)
        .execute(db)
        .await?;
    Ok(())
}

#[derive(Debug, sqlx::FromRow)]
pub struct Entry {
    pub actor: Option<String>,
    pub action: String,
    pub subject: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub at: time::OffsetDateTime,
}

impl Entry {
    /// When, to the minute, in UTC: what a person reading the history needs.
    pub fn when(&self) -> String {
        let at = self.at.to_offset(time::UtcOffset::UTC);
        format!("{} {:02}:{:02} UTC", at.date(), at.hour(), at.minute())
    }
}

/// The newest entries about one subject.
pub async fn for_subject(
    db: impl PgExecutor<'_>,
    subject: &str,
    limit: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    sqlx::query_as(
        "select u.username as actor, a.action, a.subject, a.before, a.after, a.at
         from audit_log a left join users u on u.id = a.actor_id
         where a.subject = $1 order by a.id desc limit $2",
    )
    .bind(subject)
    .bind(limit)
    .fetch_all(db)
    .await
}
