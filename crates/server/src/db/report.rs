//! What the agreement report reads: annotations and annotator activity for a
//! scope (a project; optionally one batch, a time range of submissions, a
//! set of annotators and what they saw of machine suggestions).

use futures_util::stream::BoxStream;
use safepref_core::labels::Labels;
use safepref_core::suggestions::Display;
use sqlx::PgExecutor;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

/// Which annotations a report counts.
#[derive(Debug, Clone, Default)]
pub struct ReportScope {
    pub batch: Option<i32>,
    /// Submitted (or skipped) at or after.
    pub since: Option<OffsetDateTime>,
    /// Submitted (or skipped) before.
    pub until: Option<OffsetDateTime>,
    /// Usernames; empty = everyone.
    pub annotators: Vec<String>,
    /// Only annotations made in this suggestion mode (blind, hint,
    /// prefill), so anchored labels can be measured apart from blind ones.
    /// Skips have no mode: with a mode, none are counted.
    pub suggestion_mode: Option<Display>,
}

/// The scope's conditions on `i` (items), `u` (users), `$at` (when the
/// work was done) and `$mode` (the annotation's suggestion mode), after
/// `$1` = project: $2 batch, $3 since, $4 until, $5 annotators, $6 mode.
pub(crate) fn scope_sql(at: &str, mode: &str) -> String {
    format!(
        "i.project_id = $1 and ($2::int is null or i.batch_seq = $2)
         and ($3::timestamptz is null or {at} >= $3)
         and ($4::timestamptz is null or {at} < $4)
         and (cardinality($5::text[]) = 0 or u.username = any($5))
         and ($6::text is null or {mode} = $6)"
    )
}

impl ReportScope {
    fn mode(&self) -> Option<&'static str> {
        self.suggestion_mode.map(Display::as_str)
    }
}

/// One annotation, with its annotator's name.
#[derive(Debug, sqlx::FromRow)]
pub struct AnnotationRow {
    pub item_id: Uuid,
    pub batch_seq: i32,
    pub annotator: String,
    pub labels: Json<Labels>,
    /// The item's expected labels, when it is a gold item (as stored: the
    /// report skips a value that is not a labels object rather than fail).
    pub gold: Option<Json<serde_json::Value>>,
    /// What the annotator saw of the suggestions: blind, hint or prefill.
    pub suggestion_mode: String,
}

/// The scope's annotations, as a stream of rows (the report reads them one
/// at a time into compact counts instead of holding every row), in item
/// order: the report's bootstrap draws items by index, so a fixed order
/// makes it reproducible, and the dashboard's pass (the same order) can
/// consolidate an item at a time.
pub fn annotations<'e, E>(
    db: E,
    project_id: Uuid,
    scope: &'e ReportScope,
) -> BoxStream<'e, Result<AnnotationRow, sqlx::Error>>
where
    E: PgExecutor<'e> + 'e,
{
    let sql = format!(
        "select a.item_id, i.batch_seq, u.username as annotator, a.labels, i.gold,
                a.suggestion_mode
         from annotations a
         join items i on i.id = a.item_id
         join users u on u.id = a.annotator_id
         where a.invalidated_at is null and {}
         order by a.item_id",
        scope_sql("a.submitted_at", "a.suggestion_mode")
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(project_id)
        .bind(scope.batch)
        .bind(scope.since)
        .bind(scope.until)
        .bind(&scope.annotators)
        .bind(scope.mode())
        .fetch(db)
}

/// What one annotator did in the scope.
#[derive(Debug, sqlx::FromRow)]
pub struct Activity {
    pub annotator: String,
    pub submitted: i64,
    pub skipped: i64,
    pub median_seconds: Option<f64>,
}

pub async fn activity(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    scope: &ReportScope,
) -> Result<Vec<Activity>, sqlx::Error> {
    let sql = format!(
        "select u.username as annotator,
                count(*) filter (where s.state = 'submitted') as submitted,
                count(*) filter (where s.state = 'skipped') as skipped,
                percentile_cont(0.5) within group (order by an.seconds_spent) as median_seconds
         from assignments s
         join items i on i.id = s.item_id
         join users u on u.id = s.annotator_id
         left join annotations an on an.assignment_id = s.id
         where {}
           and s.state in ('submitted', 'skipped')
           -- a \"too disturbing\" skip never counts against the annotator
           and s.skip_reason is distinct from 'too_disturbing'
           and an.invalidated_at is null
         group by u.username
         order by u.username",
        scope_sql(
            "coalesce(an.submitted_at, s.ended_at)",
            "an.suggestion_mode"
        )
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(project_id)
        .bind(scope.batch)
        .bind(scope.since)
        .bind(scope.until)
        .bind(&scope.annotators)
        .bind(scope.mode())
        .fetch_all(db)
        .await
}

/// Items in the scope.
pub async fn item_count(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    batch_seq: Option<i32>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select count(*) from items where project_id = $1 and ($2::int is null or batch_seq = $2)",
    )
    .bind(project_id)
    .bind(batch_seq)
    .fetch_one(db)
    .await
}
