//! What the lead's review reads and writes: paused annotators, requeue
//! (invalidating an annotator's annotations), send-back, the review queue's
//! candidate items, an item's annotations for the review page, and an
//! annotator's recent work. The locking rules are those of `crate::queue`.

use futures_util::stream::BoxStream;
use safepref_core::labels::Labels;
use safepref_core::suggestions::Suggestion;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

/// Shards of `project_progress` (as in `db::assignments`).
const PROGRESS_SHARDS: u8 = 16;

/// A shard for a progress change, picked from a random id.
pub fn shard_of(id: Uuid) -> i16 {
    i16::from(id.as_bytes()[15] % PROGRESS_SHARDS)
}

// ------------------------------------------------------------ pause

// Whether an annotator is paused is read by the lease statement itself
// (`db::assignments::lease`).

/// Pauses the annotator in the project; false if they were paused already.
pub async fn pause(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    annotator: Uuid,
    by: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "insert into paused_annotators (project_id, annotator_id, paused_by) values ($1, $2, $3)
         on conflict do nothing",
    )
    .bind(project_id)
    .bind(annotator)
    .bind(by)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Lets the annotator work again; false if they were not paused.
pub async fn resume(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    annotator: Uuid,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("delete from paused_annotators where project_id = $1 and annotator_id = $2")
            .bind(project_id)
            .bind(annotator)
            .execute(db)
            .await?;
    Ok(done.rows_affected() == 1)
}

// ------------------------------------------------------------ requeue

/// A batch in which the annotator has valid annotations.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkBatch {
    pub batch_seq: i32,
    pub file_name: String,
    pub annotations: i64,
}

pub async fn work_batches(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    annotator: Uuid,
) -> Result<Vec<WorkBatch>, sqlx::Error> {
    sqlx::query_as(
        "select i.batch_seq, b.file_name, count(*) as annotations
           from annotations a join items i on i.id = a.item_id join batches b on b.id = i.batch_id
          where a.project_id = $1 and a.annotator_id = $2 and a.invalidated_at is null
          group by i.batch_seq, b.file_name
          order by i.batch_seq",
    )
    .bind(project_id)
    .bind(annotator)
    .fetch_all(db)
    .await
}

/// What a requeue did.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Requeued {
    /// The annotations marked invalid.
    pub annotations: Vec<Uuid>,
    /// Items that were complete and are pending again.
    pub reopened: i64,
}

/// Marks the annotator's valid annotations on items of `batches` invalid,
/// gives their slots back (`done - 1`; a complete item is pending again
/// and `project_progress` loses it), in ONE statement. Items are locked in
/// id order first, like `db::assignments::release` (queue rule 1); the
/// progress shard is the last lock. The annotator's assignments stay
/// `submitted`, so the queue never gives them these items again.
pub async fn requeue(
    conn: &mut PgConnection,
    project_id: Uuid,
    annotator: Uuid,
    batches: &[i32],
    by: Uuid,
    reason: &str,
    shard: i16,
) -> Result<Requeued, sqlx::Error> {
    sqlx::query_as(
        "with locked as (
             select i.id, i.state from items i
              where i.id in (select a.item_id from annotations a join items j on j.id = a.item_id
                              where a.project_id = $1 and a.annotator_id = $2
                                and a.invalidated_at is null and j.batch_seq = any($3))
              order by i.id
                for no key update
         ),
         invalid as (
             update annotations a set invalidated_at = now(), invalidated_by = $4, invalid_reason = $5
               from locked
              where a.item_id = locked.id and a.annotator_id = $2 and a.invalidated_at is null
          returning a.id, a.item_id
         ),
         -- A complete item goes back to pending only if it now has fewer
         -- valid annotations than it wants: a gold item (which takes every
         -- annotator's submit) can have more, and a pending item that no
         -- one may take would never complete.
         counted as (
             update items i
                set done = i.done - 1,
                    state = case when i.state = 'complete'
                                  and i.done - 1 < (select p.annotations_per_item from projects p where p.id = $1)
                                                   + i.extra_annotations
                                 then 'pending'::item_state else i.state end
               from invalid where i.id = invalid.item_id
          returning i.id, i.state
         ),
         reopened as (
             select count(*) as n from counted join locked on locked.id = counted.id
              where locked.state = 'complete' and counted.state = 'pending'
         ),
         progress as (
             insert into project_progress as p (project_id, shard, complete)
             select $1, $6, -n from reopened where n > 0
             on conflict (project_id, shard) do update set complete = p.complete + excluded.complete
         )
         select coalesce((select array_agg(id order by id) from invalid), '{}') as annotations,
                (select n from reopened) as reopened",
    )
    .bind(project_id)
    .bind(annotator)
    .bind(batches)
    .bind(by)
    .bind(reason)
    .bind(shard)
    .fetch_one(conn)
    .await
}

// ------------------------------------------------------------ one item

/// An item's queue state, read under its lock.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LockedItem {
    pub id: Uuid,
    pub project_id: Uuid,
    pub state: String,
    pub done: i32,
    pub leased: i32,
    pub extra_annotations: i32,
    /// The routing rule completed it at one annotation.
    pub routed: bool,
}

/// Locks one item (waiting for it): the first lock of an adjudication or
/// a send-back.
pub async fn lock_item(
    db: impl PgExecutor<'_>,
    item_id: Uuid,
) -> Result<Option<LockedItem>, sqlx::Error> {
    sqlx::query_as(
        "select id, project_id, state::text as state, done, leased, extra_annotations, routed
           from items where id = $1 for no key update",
    )
    .bind(item_id)
    .fetch_optional(db)
    .await
}

/// Sets an item's state and asks for `extra` more annotations. An item
/// back to pending no longer stands on a routing decision (`routed` is
/// cleared); an adjudicated one keeps the record of it.
pub async fn set_item_state(
    db: impl PgExecutor<'_>,
    item_id: Uuid,
    state: &str,
    extra: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update items set state = $2::item_state, extra_annotations = extra_annotations + $3,
                routed = routed and $2::item_state <> 'pending'
          where id = $1",
    )
    .bind(item_id)
    .bind(state)
    .bind(extra)
    .execute(db)
    .await
    .map(drop)
}

/// Adds `delta` to the project's count of items no longer pending. Take it
/// last in a transaction (queue rule 4).
pub async fn add_progress(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    shard: i16,
    delta: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into project_progress as p (project_id, shard, complete) values ($1, $2, $3)
         on conflict (project_id, shard) do update set complete = p.complete + excluded.complete",
    )
    .bind(project_id)
    .bind(shard)
    .bind(delta)
    .execute(db)
    .await
    .map(drop)
}

/// An item as the review page shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemDetail {
    pub id: Uuid,
    pub project_id: Uuid,
    pub batch_seq: i32,
    pub external_id: Option<String>,
    pub prompt: String,
    pub prompt_source: Option<String>,
    pub state: String,
    pub done: i32,
    pub leased: i32,
    pub extra_annotations: i32,
    pub source_labels: Option<Json<Value>>,
    pub gold: Option<Json<Labels>>,
    /// (position, text), in position order.
    pub responses: Json<Vec<(i16, String)>>,
}

pub async fn item(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<ItemDetail>, sqlx::Error> {
    sqlx::query_as(
        "select i.id, i.project_id, i.batch_seq, i.external_id, i.prompt, i.prompt_source,
                i.state::text as state, i.done, i.leased, i.extra_annotations,
                i.source_labels, i.gold,
                coalesce((select json_agg(json_build_array(r.position, r.text) order by r.position)
                          from responses r where r.item_id = i.id), '[]') as responses
           from items i where i.id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// One annotation of an item, valid or not, with who made it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemAnnotation {
    pub id: Uuid,
    pub annotator_id: Uuid,
    pub annotator: String,
    pub labels: Json<Labels>,
    pub seconds_spent: Option<f64>,
    pub submitted_at: OffsetDateTime,
    pub revisions: i32,
    pub invalidated_at: Option<OffsetDateTime>,
    pub invalid_reason: Option<String>,
    pub invalidated_by: Option<String>,
}

/// Every annotation of the item (invalid ones too), oldest first.
pub async fn item_annotations(
    db: impl PgExecutor<'_>,
    item_id: Uuid,
) -> Result<Vec<ItemAnnotation>, sqlx::Error> {
    sqlx::query_as(
        "select a.id, a.annotator_id, u.username as annotator, a.labels, a.seconds_spent, a.submitted_at,
                a.revisions, a.invalidated_at, a.invalid_reason, v.username as invalidated_by
           from annotations a join users u on u.id = a.annotator_id
           left join users v on v.id = a.invalidated_by
          where a.item_id = $1
          order by a.submitted_at, a.id",
    )
    .bind(item_id)
    .fetch_all(db)
    .await
}

/// A skip of the item, with its reason.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Skip {
    pub annotator: String,
    pub reason: String,
    pub note: Option<String>,
}

pub async fn item_skips(db: impl PgExecutor<'_>, item_id: Uuid) -> Result<Vec<Skip>, sqlx::Error> {
    sqlx::query_as(
        "select u.username as annotator, s.skip_reason::text as reason, s.skip_note as note
           from assignments s join users u on u.id = s.annotator_id
          where s.item_id = $1 and s.state = 'skipped'
          order by s.ended_at",
    )
    .bind(item_id)
    .fetch_all(db)
    .await
}

// ------------------------------------------------------------ review queue

/// The review queue's filters (all optional).
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    pub batch: Option<i32>,
    /// pending | complete | adjudicated; None = not adjudicated.
    pub status: Option<String>,
    /// An item where any valid annotation ticked this category.
    pub category: Option<String>,
    /// An item where any valid annotation's highest severity is this.
    pub severity: Option<i32>,
    /// An item this annotator (username) annotated.
    pub annotator: Option<String>,
    /// An item with a reason that starts so (`review::REASON_KINDS`).
    pub reason: Option<String>,
}

/// An item's valid votes (annotators in name order), gold labels and
/// unclear skips: what its review reasons are made of.
#[derive(Debug, sqlx::FromRow)]
pub struct Candidate {
    pub id: Uuid,
    pub batch_seq: i32,
    pub seq: i32,
    pub gold: Option<Json<Labels>>,
    pub annotators: Option<Vec<String>>,
    pub labels: Option<Vec<Json<Labels>>>,
    pub unclear: i64,
    /// The machine suggestions for the item, by source.
    pub suggestions: Option<Json<Vec<Suggestion>>>,
}

/// The project's items with a valid annotation or an "unclear" skip (the
/// only ones that can need review), streamed; `ids`: only these items.
/// Many items' votes and skips are grouped per item in one pass each and
/// joined; a few items' are looked up item by item. (Looking every item up
/// depended on fresh statistics: a plan made before the first ANALYZE of a
/// bulk-loaded project, the warmer's, scanned every annotation for every
/// item, for minutes. For a few items the worst plan costs little, and one
/// pass over the project's votes would cost more than the lookups.)
pub fn candidates<'a>(
    db: &'a mut PgConnection,
    project_id: Uuid,
    ids: Option<&'a [Uuid]>,
) -> BoxStream<'a, Result<Candidate, sqlx::Error>> {
    match ids {
        Some(few) if few.len() <= FEW_ITEMS => sqlx::query_as(THESE_CANDIDATES)
            .bind(project_id)
            .bind(few)
            .fetch(db),
        _ => sqlx::query_as(MANY_CANDIDATES)
            .bind(project_id)
            .bind(ids)
            .fetch(db),
    }
}

/// Up to this many changed items are looked up one by one.
const FEW_ITEMS: usize = 1_000;

/// `$2` (the items, or null for all) is matched by `in (select …)`, a
/// hashed subplan: `= any($2)` searches the array for every row once the
/// statement's plan is generic.
const MANY_CANDIDATES: &str = "
    with wanted as (select unnest($2::uuid[]) as id)
    select i.id, i.batch_seq, i.seq, i.gold, an.annotators, an.labels,
           coalesce(sk.unclear, 0) as unclear, sg.suggestions
      from items i
      left join (
          select a.item_id, array_agg(u.username order by u.username) as annotators,
                 array_agg(a.labels order by u.username) as labels
            from annotations a join users u on u.id = a.annotator_id
           where a.project_id = $1 and a.invalidated_at is null
             and ($2::uuid[] is null or a.item_id in (select id from wanted))
           group by a.item_id) an on an.item_id = i.id
      left join (
          select s.item_id, count(*) as unclear from assignments s
           where s.project_id = $1 and s.state = 'skipped' and s.skip_reason = 'unclear'
           group by s.item_id) sk on sk.item_id = i.id
      cross join lateral (
          select jsonb_agg(jsonb_build_object('source', g.source, 'labels', g.labels,
                                              'scores', g.scores) order by g.source) as suggestions
            from suggestions g where g.item_id = i.id) sg
     where i.project_id = $1
       and ($2::uuid[] is null or i.id in (select id from wanted))
       and (an.annotators is not null or sk.unclear > 0)";

const THESE_CANDIDATES: &str = "
    select i.id, i.batch_seq, i.seq, i.gold, an.annotators, an.labels, sk.unclear, sg.suggestions
      from (select distinct unnest($2::uuid[]) as id) w
      join items i on i.id = w.id and i.project_id = $1
      cross join lateral (
          select array_agg(u.username order by u.username) as annotators,
                 array_agg(a.labels order by u.username) as labels
            from annotations a join users u on u.id = a.annotator_id
           where a.item_id = i.id and a.invalidated_at is null) an
      cross join lateral (
          select count(*) as unclear from assignments s
           where s.item_id = i.id and s.state = 'skipped' and s.skip_reason = 'unclear') sk
      cross join lateral (
          select jsonb_agg(jsonb_build_object('source', g.source, 'labels', g.labels,
                                              'scores', g.scores) order by g.source) as suggestions
            from suggestions g where g.item_id = i.id) sg
     where an.annotators is not null or sk.unclear > 0";

/// Up to when a project's review flags are computed (migration 0009).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FlagsState {
    pub refreshed_at: OffsetDateTime,
    pub settings: String,
    pub gold: String,
}

/// Serialises refreshes of one project's flags (until the transaction ends).
pub async fn lock_flags(db: &mut PgConnection, project_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('review_flags:' || $1::text, 0))")
        .bind(project_id)
        .execute(db)
        .await
        .map(drop)
}

/// The stored state, the database's clock now, and the project's gold
/// labels summarised (a gold change makes every item's flags stale).
pub async fn flags_state(
    db: &mut PgConnection,
    project_id: Uuid,
) -> Result<(Option<FlagsState>, OffsetDateTime, String), sqlx::Error> {
    let state = sqlx::query_as(
        "select refreshed_at, settings, gold from review_flags_state where project_id = $1",
    )
    .bind(project_id)
    .fetch_optional(&mut *db)
    .await?;
    // Gold items only (their partial index), not every wide item row: this
    // runs on each view of the review queue.
    let (now, gold) = sqlx::query_as(
        "select statement_timestamp(),
                concat_ws(',', count(gold), sum(hashtext(gold::text)))
           from items where project_id = $1 and gold is not null",
    )
    .bind(project_id)
    .fetch_one(&mut *db)
    .await?;
    Ok((state, now, gold))
}

/// Items whose valid votes, unclear skips or machine suggestions may have
/// changed at or after `since`: annotations submitted, revised or
/// invalidated, skips, and suggestions stored or replaced.
pub async fn changed_items(
    db: &mut PgConnection,
    project_id: Uuid,
    since: OffsetDateTime,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "select item_id from annotations where project_id = $1 and updated_at >= $2
         union
         select item_id from annotations where project_id = $1 and invalidated_at >= $2
         union
         select item_id from assignments where project_id = $1 and state = 'skipped' and ended_at >= $2
         union
         select g.item_id from suggestions g join items i on i.id = g.item_id
          where i.project_id = $1 and g.created_at >= $2",
    )
    .bind(project_id)
    .bind(since)
    .fetch_all(db)
    .await
}

/// One flagged item as stored.
#[derive(Debug, Clone)]
pub struct Flag {
    pub item_id: Uuid,
    pub batch_seq: i32,
    pub seq: i32,
    pub min_support: f64,
    pub annotations: i32,
    /// The reasons, one per line (stored as a text array).
    pub reasons: Vec<String>,
}

/// Drops the flags of `items` (every item of the project when None; the
/// ids by a hashed subplan: `= any($2)` searches the array for every row
/// once the statement's plan is generic, quadratic for a long list).
pub async fn clear_flags(
    db: &mut PgConnection,
    project_id: Uuid,
    items: Option<&[Uuid]>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "delete from review_flags where project_id = $1
           and ($2::uuid[] is null or item_id in (select unnest($2::uuid[])))",
    )
    .bind(project_id)
    .bind(items)
    .execute(db)
    .await
    .map(drop)
}

/// Stores flags (items whose flags were cleared first).
pub async fn insert_flags(
    db: &mut PgConnection,
    project_id: Uuid,
    flags: &[Flag],
) -> Result<(), sqlx::Error> {
    if flags.is_empty() {
        return Ok(());
    }
    // A text[] per item does not fit unnest's arrays: the reasons travel
    // as one newline-joined text (a reason never holds a newline).
    sqlx::query(
        "insert into review_flags (item_id, project_id, batch_seq, seq, min_support, annotations, reasons)
         select f.item_id, $1, f.batch_seq, f.seq, f.min_support, f.annotations,
                string_to_array(f.reasons, E'\\n')
           from unnest($2::uuid[], $3::int[], $4::int[], $5::float8[], $6::int[], $7::text[])
                as f(item_id, batch_seq, seq, min_support, annotations, reasons)",
    )
    .bind(project_id)
    .bind(flags.iter().map(|f| f.item_id).collect::<Vec<_>>())
    .bind(flags.iter().map(|f| f.batch_seq).collect::<Vec<_>>())
    .bind(flags.iter().map(|f| f.seq).collect::<Vec<_>>())
    .bind(flags.iter().map(|f| f.min_support).collect::<Vec<_>>())
    .bind(flags.iter().map(|f| f.annotations).collect::<Vec<_>>())
    .bind(flags.iter().map(|f| f.reasons.join("\n")).collect::<Vec<_>>())
    .execute(db)
    .await
    .map(drop)
}

pub async fn save_flags_state(
    db: &mut PgConnection,
    project_id: Uuid,
    state: &FlagsState,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into review_flags_state (project_id, refreshed_at, settings, gold) values ($1, $2, $3, $4)
         on conflict (project_id) do update
            set refreshed_at = excluded.refreshed_at, settings = excluded.settings, gold = excluded.gold",
    )
    .bind(project_id)
    .bind(state.refreshed_at)
    .bind(&state.settings)
    .bind(&state.gold)
    .execute(db)
    .await
    .map(drop)
}

/// One row of the review queue's page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueueEntry {
    pub item_id: Uuid,
    pub batch_seq: i32,
    pub state: String,
    pub prompt_start: String,
    pub annotations: i32,
    pub min_support: f64,
    pub reasons: Vec<String>,
}

/// The filter's conditions on `f` (review_flags) and `i` (items), after
/// $1 = project: $2 batch, $3 status, $4 category, $5 severity, $6
/// annotator, $7 the start of a reason.
const QUEUE_WHERE: &str = "f.project_id = $1
    and ($2::int is null or f.batch_seq = $2)
    and (($3::text is null and i.state <> 'adjudicated') or i.state::text = $3)
    and ($4::text is null or exists (
           select 1 from annotations a, jsonb_array_elements(a.labels::jsonb->'responses') r
            where a.item_id = i.id and a.invalidated_at is null and r->'categories' ? $4))
    and ($5::int is null or exists (
           select 1 from annotations a
            where a.item_id = i.id and a.invalidated_at is null
              and (select max((r->>'severity')::int) from json_array_elements(a.labels->'responses') r) = $5))
    and ($6::text is null or exists (
           select 1 from annotations a join users u on u.id = a.annotator_id
            where a.item_id = i.id and a.invalidated_at is null and u.username = $6))
    and ($7::text is null or exists (select 1 from unnest(f.reasons) r where starts_with(r, $7)))";

/// One page of the flagged items matching the filter, lowest minimum
/// support first (then batch and file order), and how many match.
pub async fn queue_page(
    db: &mut PgConnection,
    project_id: Uuid,
    filter: &QueueFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<QueueEntry>, i64), sqlx::Error> {
    let rows_sql = format!(
        "select f.item_id, f.batch_seq, i.state::text as state, left(i.prompt, 160) as prompt_start,
                f.annotations, f.min_support, f.reasons
           from review_flags f join items i on i.id = f.item_id
          where {QUEUE_WHERE}
          order by f.min_support, f.batch_seq, f.seq
          limit $8 offset $9"
    );
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(rows_sql))
        .bind(project_id)
        .bind(filter.batch)
        .bind(filter.status.as_deref())
        .bind(filter.category.as_deref())
        .bind(filter.severity)
        .bind(filter.annotator.as_deref())
        .bind(filter.reason.as_deref())
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *db)
        .await?;
    let count_sql = format!(
        "select count(*) from review_flags f join items i on i.id = f.item_id where {QUEUE_WHERE}"
    );
    let total = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql))
        .bind(project_id)
        .bind(filter.batch)
        .bind(filter.status.as_deref())
        .bind(filter.category.as_deref())
        .bind(filter.severity)
        .bind(filter.annotator.as_deref())
        .bind(filter.reason.as_deref())
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}

// ------------------------------------------------------------ annotator's work

/// One of an annotator's annotations in a project.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Work {
    pub annotation_id: Uuid,
    pub item_id: Uuid,
    pub prompt_start: String,
    pub item_state: String,
    pub submitted_at: OffsetDateTime,
    pub seconds_spent: Option<f64>,
    pub invalidated_at: Option<OffsetDateTime>,
    pub invalid_reason: Option<String>,
}

/// The annotator's annotations in the project (invalid ones too), newest
/// first; uses `annotations_annotator_idx`.
pub async fn work(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    annotator: Uuid,
    limit: i64,
    offset: i64,
) -> Result<Vec<Work>, sqlx::Error> {
    sqlx::query_as(
        "select a.id as annotation_id, a.item_id, left(i.prompt, 120) as prompt_start,
                i.state::text as item_state, a.submitted_at, a.seconds_spent, a.invalidated_at,
                a.invalid_reason
           from annotations a join items i on i.id = a.item_id
          where a.project_id = $1 and a.annotator_id = $2
          order by a.submitted_at desc, a.id desc
          limit $3 offset $4",
    )
    .bind(project_id)
    .bind(annotator)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

/// The annotator's counts in the project.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct WorkCounts {
    pub total: i64,
    pub invalid: i64,
    pub live_leases: i64,
    pub paused: bool,
}

pub async fn work_counts(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    annotator: Uuid,
) -> Result<WorkCounts, sqlx::Error> {
    sqlx::query_as(
        "select (select count(*) from annotations where project_id = $1 and annotator_id = $2) as total,
                (select count(*) from annotations
                  where project_id = $1 and annotator_id = $2 and invalidated_at is not null) as invalid,
                (select count(*) from assignments
                  where project_id = $1 and annotator_id = $2 and state = 'leased') as live_leases,
                exists (select 1 from paused_annotators where project_id = $1 and annotator_id = $2) as paused",
    )
    .bind(project_id)
    .bind(annotator)
    .fetch_one(db)
    .await
}
