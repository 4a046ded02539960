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

/// The audit page's filters (all optional, exact matches).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The actor's username.
    pub user: Option<String>,
    pub subject: Option<String>,
    pub action: Option<String>,
}

/// The entries `$1` may read: with a viewer, those about a project they may
/// see (`project_visible`) and those about no project; with none (an
/// admin), all. The visible projects are listed once per query, not asked
/// per entry.
const SEEN_BY: &str = "($1::uuid is null or a.project_id is null
          or a.project_id in (select p.id from projects p where project_visible(p.id, p.access, $1)))";

/// One page of the entries `viewer` may read (None: all) matching the
/// filter, newest first, and the total.
pub async fn page(
    db: &sqlx::PgPool,
    viewer: Option<Uuid>,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Entry>, i64), sqlx::Error> {
    let matching = format!(
        "{SEEN_BY} and ($2::text is null or u.username = $2)
          and ($3::text is null or a.subject = $3)
          and ($4::text is null or a.action = $4)"
    );
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select u.username as actor, a.action, a.subject, a.before, a.after, a.at
           from audit_log a left join users u on u.id = a.actor_id
          where {matching} order by a.id desc limit $5 offset $6"
    )))
    .bind(viewer)
    .bind(filter.user.as_deref())
    .bind(filter.subject.as_deref())
    .bind(filter.action.as_deref())
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select count(*) from audit_log a left join users u on u.id = a.actor_id where {matching}"
    )))
    .bind(viewer)
    .bind(filter.user.as_deref())
    .bind(filter.subject.as_deref())
    .bind(filter.action.as_deref())
    .fetch_one(db)
    .await?;
    Ok((rows, total))
}

/// The distinct actions of the entries `viewer` may read (None: all), for
/// the filter's choices.
pub async fn actions(
    db: impl PgExecutor<'_>,
    viewer: Option<Uuid>,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select distinct a.action from audit_log a where {SEEN_BY} order by a.action"
    )))
    .bind(viewer)
    .fetch_all(db)
    .await
}
