//! What the exporter reads: a scope's items in batch and file order, each
//! with its responses, annotations and newest adjudication, as one streamed
//! query (one row per item, never the whole table in memory); and the export
//! jobs of the admin page.

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use safepref_core::labels::Labels;
use safepref_core::suggestions::{Scores, Suggestion};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, Row};
use time::OffsetDateTime;
use uuid::Uuid;

/// Which items an export reads.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub project_id: Uuid,
    /// Batch numbers; empty = every batch.
    pub batches: Vec<i32>,
    pub complete_only: bool,
    pub adjudicated_only: bool,
    pub exclude_gold: bool,
}

#[derive(Debug)]
pub struct ItemRow {
    pub id: Uuid,
    pub external_id: Option<String>,
    pub batch_seq: i32,
    pub prompt: String,
    pub prompt_source: Option<String>,
    pub texts: Vec<String>,
    pub sources: Vec<Option<String>>,
    pub gold: bool,
    /// The item's annotations as parallel arrays, in annotator order (`None`
    /// when it has none). `annotator_ids` and `labels` always; the names and
    /// the rest only when the export asked for [`Detail::Raw`].
    pub annotator_ids: Option<Vec<Uuid>>,
    pub labels: Option<Vec<Json<Labels>>>,
    pub annotators: Option<Vec<String>>,
    pub seconds: Option<Vec<Option<f64>>>,
    pub submitted: Option<Vec<OffsetDateTime>>,
    pub revisions: Option<Vec<i32>>,
    /// What each annotator saw of the suggestions (blind, hint, prefill).
    pub modes: Option<Vec<String>>,
    pub adjudication: Option<Json<Labels>>,
    /// The item's machine suggestions, when the export asked for them
    /// (empty otherwise).
    pub suggestions: Vec<Suggestion>,
}

/// What an export needs of each annotation: labels only (consolidated
/// formats, plus the newest adjudication), or everything the `raw` format
/// shows. The lean query is about half the database's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    Labels,
    Raw,
}

/// The filters shared by the count and the stream: $1 project, $2 batches,
/// $3 complete only, $4 adjudicated only, $5 exclude gold.
const WHERE: &str = "i.project_id = $1
      and (cardinality($2::int[]) = 0 or i.batch_seq = any($2))
      and (not $3 or i.state <> 'pending')
      and (not $4 or exists (select 1 from adjudications d where d.item_id = i.id))
      and (not $5 or i.gold is null)";

/// Binds [`WHERE`]'s five parameters from a scope, to any kind of query.
macro_rules! bind_scope {
    ($query:expr, $scope:expr) => {
        $query
            .bind($scope.project_id)
            .bind(&$scope.batches)
            .bind($scope.complete_only)
            .bind($scope.adjudicated_only)
            .bind($scope.exclude_gold)
    };
}

/// An item's place in export order: (batch number, position in the batch).
pub type Key = (i32, i32);

/// A key after every item's.
pub const END: Key = (i32::MAX, i32::MAX);

/// Where each range of `every` items of the scope starts, in export order,
/// and how many items the scope holds: the exporter reads range by range
/// (see [`items`]).
pub async fn ranges(
    conn: &mut PgConnection,
    scope: &Scope,
    every: i64,
) -> Result<(Vec<Key>, i64), sqlx::Error> {
    // The last row (`lead` finds it) gives the count: `count(*) over ()`
    // kept every key in a spilled tuple store first, a third of the query's
    // time, before any reader may start.
    let sql = format!(
        "select batch_seq, seq, n from (
             select i.batch_seq, i.seq, row_number() over w - 1 as n,
                    lead(true) over w is null as last
             from items i where {WHERE}
             window w as (order by i.batch_seq, i.seq)) t
         where n % $6 = 0 or last order by batch_seq, seq"
    );
    let rows: Vec<(i32, i32, i64)> = bind_scope!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), scope)
        .bind(every)
        .fetch_all(&mut *conn)
        .await?;
    let total = rows.last().map_or(0, |r| r.2 + 1);
    let starts = rows
        .into_iter()
        .filter(|r| r.2 % every == 0)
        .map(|(b, s, _)| (b, s))
        .collect();
    Ok((starts, total))
}

/// What an export reads of each item besides its texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reads {
    pub detail: Detail,
    /// The item's machine suggestions, every source's.
    pub suggestions: bool,
    /// The item's newest adjudication ([`Detail::Labels`] only): left out
    /// when the scope has none ([`any_adjudication`]), which saves an index
    /// probe per item, a tenth of the database's work.
    pub adjudications: bool,
}

/// Whether any item of the scope has an adjudication.
pub async fn any_adjudication(conn: &mut PgConnection, scope: &Scope) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "select exists (select 1 from adjudications d join items i on i.id = d.item_id
                        where {WHERE})"
    );
    bind_scope!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)), scope)
        .fetch_one(conn)
        .await
}

/// The items of the scope from key `from` up to (not including) `to` (both
/// bounds always: an open range would walk the index to its end), K
/// responses each, with what an export row needs. Responses come from one
/// index lookup per item as a column per position (a join per position
/// looked the item up K times) and annotations as arrays: building JSON or
/// arrays of response texts in the database cost more than the rest of the
/// query. `most` is the range's size (at most; from [`ranges`]): with the
/// limit the planner walks `items_export_idx` and streams at once, where the
/// bounds alone look to it like most of the project (it estimates a row
/// comparison by its first column) and it sorts the whole project first.
/// Suggestions, when asked, come as three more arrays from one index
/// lookup per item in the same query.
pub fn items<'a>(
    conn: &'a mut PgConnection,
    scope: &'a Scope,
    k: usize,
    reads: Reads,
    (from, to): (Key, Key),
    most: i64,
) -> BoxStream<'a, Result<ItemRow, sqlx::Error>> {
    let mut columns = String::new();
    let mut picks = Vec::new();
    for n in 0..k {
        columns.push_str(&format!(", r.text_{n}, r.source_{n}"));
        // One row per position (the key), so `max` copies it, never compares.
        picks.push(format!(
            "max(r.text) filter (where r.position = {n}) as text_{n},
             max(r.source) filter (where r.position = {n}) as source_{n}"
        ));
    }
    let joins = match k {
        0 => String::new(),
        _ => format!(
            "cross join lateral (select {} from responses r where r.item_id = i.id) r",
            picks.join(", ")
        ),
    };
    let annotations = match reads.detail {
        // Aggregated in the order of a sorted subquery, which the index
        // gives as it is: `array_agg(... order by ...)` sorts every
        // aggregate's input again, a tenth of the database's work.
        Detail::Labels => {
            "select array_agg(a.annotator_id) as annotator_ids, array_agg(a.labels) as labels,
                    null::text[] as annotators, null::float8[] as seconds,
                    null::timestamptz[] as submitted, null::int[] as revisions,
                    null::text[] as modes
             from (select a.annotator_id, a.labels from annotations a
                   where a.item_id = i.id and a.invalidated_at is null
                   order by a.annotator_id) a"
        }
        Detail::Raw => {
            "select array_agg(a.annotator_id order by u.username) as annotator_ids,
                    array_agg(a.labels order by u.username) as labels,
                    array_agg(u.username order by u.username) as annotators,
                    array_agg(a.seconds_spent order by u.username) as seconds,
                    array_agg(a.submitted_at order by u.username) as submitted,
                    array_agg(a.revisions order by u.username) as revisions,
                    array_agg(a.suggestion_mode order by u.username) as modes
             from annotations a join users u on u.id = a.annotator_id
             where a.item_id = i.id and a.invalidated_at is null"
        }
    };
    let adjudication = match reads.detail {
        Detail::Labels if reads.adjudications => {
            "(select d.labels from adjudications d where d.item_id = i.id
              order by d.created_at desc, d.id desc limit 1)"
        }
        _ => "null::jsonb",
    };
    let (suggested, suggestions) = if reads.suggestions {
        (
            ", sg.sources, sg.suggested, sg.scores",
            "cross join lateral (
                 select array_agg(s.source order by s.source) as sources,
                        array_agg(s.labels order by s.source) as suggested,
                        array_agg(s.scores order by s.source) as scores
                 from suggestions s where s.item_id = i.id) sg",
        )
    } else {
        ("", "")
    };
    let sql = format!(
        "select i.id, i.external_id, i.batch_seq, i.prompt, i.prompt_source,
                i.gold is not null as gold {columns},
                an.annotator_ids, an.labels, an.annotators, an.seconds, an.submitted, an.revisions,
                an.modes, {adjudication} as adjudication {suggested}
         from items i {joins}
         cross join lateral ({annotations}) an {suggestions}
         where {WHERE}
           and (i.batch_seq, i.seq) >= ($6, $7)
           and (i.batch_seq, i.seq) < ($8, $9)
         order by i.batch_seq, i.seq
         limit $10"
    );
    bind_scope!(sqlx::query(sqlx::AssertSqlSafe(sql)), scope)
        .bind(from.0)
        .bind(from.1)
        .bind(to.0)
        .bind(to.1)
        .bind(most)
        .fetch(conn)
        .map(move |row| row.and_then(|row| item_row(&row, k, reads.suggestions)))
        .boxed()
}

/// Reads columns by position (the query's order: six item columns, a text
/// and a source per response, then the annotations' arrays, the
/// adjudication and the suggestions' arrays): looking names up cost more
/// than decoding them.
fn item_row(row: &PgRow, k: usize, suggested: bool) -> Result<ItemRow, sqlx::Error> {
    let mut texts = Vec::with_capacity(k);
    let mut sources = Vec::with_capacity(k);
    for n in 0..k {
        texts.push(
            row.try_get::<Option<String>, _>(6 + 2 * n)?
                .unwrap_or_default(),
        );
        sources.push(row.try_get(7 + 2 * n)?);
    }
    let at = 6 + 2 * k;
    Ok(ItemRow {
        id: row.try_get(0)?,
        external_id: row.try_get(1)?,
        batch_seq: row.try_get(2)?,
        prompt: row.try_get(3)?,
        prompt_source: row.try_get(4)?,
        gold: row.try_get(5)?,
        texts,
        sources,
        annotator_ids: row.try_get(at)?,
        labels: row.try_get(at + 1)?,
        annotators: row.try_get(at + 2)?,
        seconds: row.try_get(at + 3)?,
        submitted: row.try_get(at + 4)?,
        revisions: row.try_get(at + 5)?,
        modes: row.try_get(at + 6)?,
        adjudication: row.try_get(at + 7)?,
        suggestions: if suggested {
            suggestions(row, at + 8)?
        } else {
            Vec::new()
        },
    })
}

/// The suggestions' parallel arrays (sources, labels, scores) from column
/// `at` on.
fn suggestions(row: &PgRow, at: usize) -> Result<Vec<Suggestion>, sqlx::Error> {
    let sources: Option<Vec<String>> = row.try_get(at)?;
    let labels: Option<Vec<Json<Labels>>> = row.try_get(at + 1)?;
    let scores: Option<Vec<Json<Scores>>> = row.try_get(at + 2)?;
    Ok(sources
        .unwrap_or_default()
        .into_iter()
        .zip(labels.unwrap_or_default())
        .zip(scores.unwrap_or_default())
        .map(|((source, labels), scores)| Suggestion {
            source,
            labels: labels.0,
            scores: scores.0,
        })
        .collect())
}

/// One annotation's labels, for fitting Dawid–Skene before the export pass.
#[derive(Debug, sqlx::FromRow)]
pub struct VoteRow {
    pub item_id: Uuid,
    pub annotator_id: Uuid,
    pub labels: Json<Labels>,
    /// The item's suggestion from the source counted as an annotator, on
    /// each of its rows (`None` without a source, or none for the item).
    pub source_labels: Option<Json<Labels>>,
}

/// Every annotation of the scope's items, in item order; with `source`, each
/// beside that source's suggestion for the item.
pub fn votes<'a>(
    conn: &'a mut PgConnection,
    scope: &'a Scope,
    source: Option<&'a str>,
) -> BoxStream<'a, Result<VoteRow, sqlx::Error>> {
    let (suggested, join) = match source {
        Some(_) => (
            "s.labels",
            "left join suggestions s on s.item_id = i.id and s.source = $6",
        ),
        None => ("null::jsonb", ""),
    };
    let sql = format!(
        "select a.item_id, a.annotator_id, a.labels, {suggested} as source_labels
         from items i join annotations a on a.item_id = i.id {join}
         where a.invalidated_at is null and {WHERE}
         order by i.batch_seq, i.seq, a.annotator_id"
    );
    let query = bind_scope!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), scope);
    match source {
        Some(name) => query.bind(name).fetch(conn),
        None => query.fetch(conn),
    }
}

// ------------------------------------------------------------ export jobs

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Job {
    pub id: Uuid,
    pub project_id: Uuid,
    pub requested_by: Option<String>,
    pub options: Json<Value>,
    /// running | done | failed | interrupted (running, but its process
    /// stopped beating).
    pub state: String,
    pub items_total: i64,
    pub items_done: i64,
    pub error: Option<String>,
    pub manifest: Option<Json<Value>>,
    pub created_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
}

const JOB_COLUMNS: &str = "j.id, j.project_id, u.username as requested_by, j.options,
    case when j.state = 'running' and j.heartbeat_at < now() - interval '2 minutes'
         then 'interrupted' else j.state::text end as state,
    j.items_total, j.items_done, j.error, j.manifest, j.created_at, j.finished_at";

pub async fn create_job(
    db: impl PgExecutor<'_>,
    id: Uuid,
    project_id: Uuid,
    requested_by: Uuid,
    options: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into export_jobs (id, project_id, requested_by, options) values ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(project_id)
    .bind(requested_by)
    .bind(Json(options))
    .execute(db)
    .await
    .map(drop)
}

/// Progress, and the heartbeat that says the job's process is alive.
pub async fn job_progress(
    db: impl PgExecutor<'_>,
    id: Uuid,
    done: i64,
    total: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update export_jobs set items_done = $2, items_total = $3, heartbeat_at = now() where id = $1",
    )
    .bind(id)
    .bind(done)
    .bind(total)
    .execute(db)
    .await
    .map(drop)
}

pub async fn finish_job(
    db: impl PgExecutor<'_>,
    id: Uuid,
    outcome: Result<&Value, &str>,
) -> Result<(), sqlx::Error> {
    let (state, manifest, error) = match outcome {
        Ok(manifest) => ("done", Some(Json(manifest)), None),
        Err(message) => ("failed", None, Some(message)),
    };
    sqlx::query(
        "update export_jobs set state = $2::export_state, manifest = $3, error = $4,
                finished_at = now(), heartbeat_at = now()
         where id = $1",
    )
    .bind(id)
    .bind(state)
    .bind(manifest)
    .bind(error)
    .execute(db)
    .await
    .map(drop)
}

pub async fn job(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Job>, sqlx::Error> {
    let sql = format!(
        "select {JOB_COLUMNS} from export_jobs j left join users u on u.id = j.requested_by where j.id = $1"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// A project's export jobs, newest first.
pub async fn jobs(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    limit: i64,
    offset: i64,
) -> Result<Vec<Job>, sqlx::Error> {
    let sql = format!(
        "select {JOB_COLUMNS} from export_jobs j left join users u on u.id = j.requested_by
         where j.project_id = $1 order by j.created_at desc, j.id desc limit $2 offset $3"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(project_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(db)
        .await
}

pub async fn job_count(db: impl PgExecutor<'_>, project_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from export_jobs where project_id = $1")
        .bind(project_id)
        .fetch_one(db)
        .await
}

/// Deletes a project's finished jobs (done, failed or interrupted) past the
/// newest `keep`, and returns their ids: their files are the caller's to
/// remove. Running jobs are never deleted.
pub async fn prune_jobs(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    keep: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "delete from export_jobs where id in (
             select id from export_jobs
             where project_id = $1
               and (state <> 'running' or heartbeat_at < now() - interval '2 minutes')
             order by created_at desc, id desc
             offset $2)
         returning id",
    )
    .bind(project_id)
    .bind(keep)
    .fetch_all(db)
    .await
}
