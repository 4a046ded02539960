//! What the agreement report reads: annotations and annotator activity for a
//! scope (a project; optionally one batch, a time range of submissions, a
//! set of annotators and what they saw of machine suggestions).

use futures_util::stream::BoxStream;
use safepref_core::labels::Labels;
use safepref_core::suggestions::Display;
use sqlx::postgres::{PgRow, PgValueFormat};
use sqlx::types::Json;
use sqlx::{PgExecutor, Row};
use sqlx::{TypeInfo as _, ValueRef as _};
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

/// The scope's conditions on `i` (items), `{who}` (the annotator's id), `$at`
/// (when the work was done) and `$mode` (the annotation's suggestion mode),
/// after `$1` = project: $2 batch, $3 since, $4 until, $5 annotators, $6
/// mode. Annotators are matched by id (a subquery on the small users
/// table), so no row needs a join with `users`.
fn scope_sql(who: &str, at: &str, mode: &str) -> String {
    format!(
        "i.project_id = $1 and ($2::int is null or i.batch_seq = $2) and {}",
        work_scope_sql(who, at, mode)
    )
}

/// [`scope_sql`] without the conditions on items ($1 and $2 unused).
fn work_scope_sql(who: &str, at: &str, mode: &str) -> String {
    format!(
        "($3::timestamptz is null or {at} >= $3)
         and ($4::timestamptz is null or {at} < $4)
         and (cardinality($5::text[]) = 0
              or {who} in (select id from users where username = any($5)))
         and ($6::text is null or {mode} = $6)"
    )
}

/// Binds [`scope_sql`]'s six parameters ($1–$6) from a project and scope.
macro_rules! bind_scope {
    ($query:expr, $project_id:expr, $scope:expr) => {
        $query
            .bind($project_id)
            .bind($scope.batch)
            .bind($scope.since)
            .bind($scope.until)
            .bind(&$scope.annotators)
            .bind($scope.mode())
    };
}

impl ReportScope {
    fn mode(&self) -> Option<&'static str> {
        self.suggestion_mode.map(Display::as_str)
    }
}

/// One valid annotation, as the report reads it, borrowed from its row
/// (no copy of the labels, no string per row).
#[derive(Debug)]
pub struct AnnotationRow<'r> {
    pub item_id: Uuid,
    /// The item's batch; 0 when [`annotations`] was not asked to name it.
    pub batch_seq: i32,
    pub annotator_id: Uuid,
    /// The labels' JSON text: the reader decodes it for counting
    /// (`labels::Decoded`), which costs much less than [`Labels`].
    pub labels: &'r [u8],
    /// What the annotator saw of the suggestions: blind, hint or prefill.
    pub suggestion_mode: &'r str,
    /// The active time the page measured (the annotator's median).
    pub seconds_spent: Option<f64>,
}

impl<'r> AnnotationRow<'r> {
    /// A row of [`annotations`], by position in its select order: looking
    /// every column up by name, in every row of a big scope, costs a few
    /// percent of the dashboard's pass.
    pub fn read(row: &'r PgRow) -> Result<AnnotationRow<'r>, sqlx::Error> {
        Ok(AnnotationRow {
            item_id: row.try_get(0)?,
            batch_seq: row.try_get(1)?,
            annotator_id: row.try_get(2)?,
            labels: json_text(row, 3)?,
            suggestion_mode: row.try_get(4)?,
            seconds_spent: row.try_get(5)?,
        })
    }

    /// The labels in full (a suggested item's votes, which the
    /// model-vs-people figures keep).
    pub fn full_labels(&self) -> Result<Labels, sqlx::Error> {
        serde_json::from_slice(self.labels).map_err(|e| labels_error(e.into()))
    }
}

/// A json (or jsonb) column's text, as `Json<T>` reads it before serde.
fn json_text(row: &PgRow, index: usize) -> Result<&[u8], sqlx::Error> {
    let value = row.try_get_raw(index)?;
    let jsonb = value.format() == PgValueFormat::Binary && value.type_info().name() == "JSONB";
    let bytes = value.as_bytes().map_err(labels_error)?;
    match bytes.split_first() {
        // jsonb's binary form: a version byte (1), then the text.
        Some((1, text)) if jsonb => Ok(text),
        _ if jsonb => Err(labels_error("unsupported jsonb format version".into())),
        _ => Ok(bytes),
    }
}

/// An annotation's labels that cannot be read, named as sqlx names them.
pub fn labels_error(source: sqlx::error::BoxDynError) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: "labels".into(),
        source,
    }
}

/// The scope's annotations, as a stream of rows (each read with
/// [`AnnotationRow::read`]; the report reads them one at a time into
/// compact counts instead of holding every row), in item order: the
/// report's bootstrap draws items by index, so a fixed order
/// makes it reproducible, and the dashboard's pass (the same order) can
/// consolidate an item at a time. The order comes from the valid
/// annotations' index (migration 0017), merged on the item id with the
/// items' index when the batch is wanted, so rows stream as soon as the
/// query starts, with no sort and no read of the wide item rows. Only the
/// items of `range` are read (two readers split the scope so).
pub fn annotations<'e, E>(
    db: E,
    project_id: Uuid,
    scope: &'e ReportScope,
    range: ItemRange,
    batches: Batches,
) -> BoxStream<'e, Result<PgRow, sqlx::Error>>
where
    E: PgExecutor<'e> + 'e,
{
    // Without a batch to filter on or to name, the join with the items
    // index is left out: a fifth of the pass's PostgreSQL time (EXPLAIN
    // ANALYZE on 300,000 annotations: 106-117 ms instead of 154-224 ms).
    let (who, at, mode) = ("a.annotator_id", "a.submitted_at", "a.suggestion_mode");
    let (batch_seq, join, conditions) = if scope.batch.is_some() || batches == Batches::Named {
        (
            "i.batch_seq",
            "join items i on i.id = a.item_id",
            scope_sql(who, at, mode),
        )
    } else {
        (
            "0",
            "",
            format!("$2::int is null and {}", work_scope_sql(who, at, mode)),
        )
    };
    let sql = format!(
        "select a.item_id, {batch_seq} as batch_seq, a.annotator_id, a.labels, a.suggestion_mode,
                a.seconds_spent
         from annotations a
         {join}
         where a.project_id = $1 and a.invalidated_at is null and {conditions}
           and ($7::uuid is null or a.item_id >= $7)
           and ($8::uuid is null or a.item_id < $8)
         order by a.item_id"
    );
    bind_scope!(sqlx::query(sqlx::AssertSqlSafe(sql)), project_id, scope)
        .bind(range.from)
        .bind(range.to)
        .fetch(db)
}

/// Whether [`annotations`]' rows must name their item's batch (the
/// dashboard's trend per batch); otherwise `batch_seq` is 0 unless the
/// scope is one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batches {
    Named,
    Unnamed,
}

/// Items by id: from `from` (included; `None`: the first) to `to`
/// (excluded; `None`: past the last).
#[derive(Debug, Clone, Copy, Default)]
pub struct ItemRange {
    pub from: Option<Uuid>,
    pub to: Option<Uuid>,
}

/// The id of the scope's item at `offset` in id order (`None` past the
/// last), read from the items index alone.
pub async fn item_at(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    batch_seq: Option<i32>,
    offset: i64,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "select id from items where project_id = $1 and ($2::int is null or batch_seq = $2)
          order by id offset $3 limit 1",
    )
    .bind(project_id)
    .bind(batch_seq)
    .bind(offset)
    .fetch_optional(db)
    .await
}

/// Skips per annotator in the scope ("too disturbing" never counts against
/// the annotator). A skip has no suggestion mode: with a mode, none count.
pub async fn skips(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    scope: &ReportScope,
) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
    let sql = format!(
        "select s.annotator_id, count(*)
         from assignments s
         join items i on i.id = s.item_id
         where s.project_id = $1 and s.state = 'skipped'
           and s.skip_reason is distinct from 'too_disturbing' and {}
         group by s.annotator_id",
        scope_sql("s.annotator_id", "s.ended_at", "null")
    );
    bind_scope!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), project_id, scope)
        .fetch_all(db)
        .await
}

/// The scope's gold items' expected labels, as stored (the report skips a
/// value that is not a labels object rather than fail).
pub async fn gold(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    batch_seq: Option<i32>,
) -> Result<Vec<(Uuid, Json<serde_json::Value>)>, sqlx::Error> {
    sqlx::query_as(
        "select id, gold from items
          where project_id = $1 and gold is not null and ($2::int is null or batch_seq = $2)",
    )
    .bind(project_id)
    .bind(batch_seq)
    .fetch_all(db)
    .await
}

/// Accounts by id, in the database's order of their names (the report
/// lists annotators so).
pub async fn names(
    db: impl PgExecutor<'_>,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as("select id, username from users where id = any($1) order by username")
        .bind(ids)
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
