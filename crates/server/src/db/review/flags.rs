//! The review queue's stored flags (`review_flags`, migration 0009): the
//! candidate items they are computed from, what changed since the last
//! refresh, and storing the new flags.

use futures_util::stream::BoxStream;
use safepref_core::labels::Labels;
use safepref_core::suggestions::Suggestion;
use sqlx::PgConnection;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

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
