//! The `annotations` table: what annotators submitted, their progress, and
//! revisions.

use sqlx::PgExecutor;
use time::OffsetDateTime;
use uuid::Uuid;

use super::assignments::{ItemContent, item_content};

/// An annotator's counts in a project.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct ProgressRow {
    pub done_today: i64,
    pub done_in_project: i64,
    pub project_items: i64,
    pub project_complete: i64,
}

/// "Today" is the UTC day. The project's counts come from its batches and
/// `project_progress`, not from counting items.
pub async fn progress(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    annotator: Uuid,
) -> Result<ProgressRow, sqlx::Error> {
    sqlx::query_as(
        "select
             (select count(*) from annotations
               where project_id = $1 and annotator_id = $2
                 and submitted_at >= date_trunc('day', now() at time zone 'UTC') at time zone 'UTC') as done_today,
             (select count(*) from annotations
               where project_id = $1 and annotator_id = $2 and invalidated_at is null) as done_in_project,
             (select coalesce(sum(items_imported), 0)::int8 from batches where project_id = $1) as project_items,
             (select coalesce(sum(complete), 0)::int8 from project_progress where project_id = $1) as project_complete",
    )
    .bind(project_id)
    .bind(annotator)
    .fetch_one(db)
    .await
}

/// One of an annotator's submissions, newest first.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecentRow {
    pub annotation_id: Uuid,
    pub item_id: Uuid,
    pub prompt_start: String,
    pub submitted_at: OffsetDateTime,
    pub revisable: bool,
}

/// The annotator's newest `limit` submissions in the project; the first
/// `revisable_recent` of all their submissions may be revised while their
/// item is not adjudicated.
pub async fn recent(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    annotator: Uuid,
    revisable_recent: i32,
    limit: i64,
) -> Result<Vec<RecentRow>, sqlx::Error> {
    sqlx::query_as(
        "select r.id as annotation_id, r.item_id, left(i.prompt, 120) as prompt_start, r.submitted_at,
                (r.rank <= $3 and i.state <> 'adjudicated') as revisable
           from (select an.id, an.item_id, an.submitted_at,
                        row_number() over (order by an.submitted_at desc, an.id desc) as rank
                   from annotations an
                  where an.project_id = $1 and an.annotator_id = $2 and an.invalidated_at is null
                  order by an.submitted_at desc, an.id desc
                  limit $4) r
           join items i on i.id = r.item_id
          order by r.rank",
    )
    .bind(project_id)
    .bind(annotator)
    .bind(i64::from(revisable_recent))
    .bind(limit)
    .fetch_all(db)
    .await
}

/// One of the annotator's annotations with its item.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OwnAnnotation {
    pub labels: serde_json::Value,
    #[sqlx(flatten)]
    pub item: ItemContent,
}

pub async fn own_with_item(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    annotator: Uuid,
    annotation_id: Uuid,
) -> Result<Option<OwnAnnotation>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select an.labels, ",
        item_content!(),
        " from annotations an join items i on i.id = an.item_id
          where an.id = $1 and an.annotator_id = $2 and an.project_id = $3"
    ))
    .bind(annotation_id)
    .bind(annotator)
    .bind(project_id)
    .fetch_optional(db)
    .await
}

/// An annotation about to be revised, read with its item locked against
/// adjudication (`for share`: the only item lock a revision takes, and the
/// first lock of its transaction).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Revisable {
    pub labels: serde_json::Value,
    pub adjudicated: bool,
    /// The item is a gold item.
    pub gold: bool,
    /// How many of the annotator's submissions in the project are newer.
    pub newer: i64,
}

pub async fn lock_for_revision(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    annotator: Uuid,
    annotation_id: Uuid,
) -> Result<Option<Revisable>, sqlx::Error> {
    sqlx::query_as(
        "select an.labels, i.state = 'adjudicated' as adjudicated, i.gold is not null as gold,
                (select count(*) from annotations o
                  where o.project_id = an.project_id and o.annotator_id = an.annotator_id
                    and o.invalidated_at is null
                    and (o.submitted_at, o.id) > (an.submitted_at, an.id)) as newer
           from annotations an join items i on i.id = an.item_id
          where an.id = $1 and an.annotator_id = $2 and an.project_id = $3
            and an.invalidated_at is null
            for share of i",
    )
    .bind(annotation_id)
    .bind(annotator)
    .bind(project_id)
    .fetch_optional(db)
    .await
}

pub async fn set_labels(
    db: impl PgExecutor<'_>,
    annotation_id: Uuid,
    labels: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update annotations set labels = $2, revisions = revisions + 1, updated_at = now() where id = $1",
    )
    .bind(annotation_id)
    .bind(labels)
    .execute(db)
    .await?;
    Ok(())
}

/// A project as an annotator's list shows it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct ProjectListing {
    pub id: Uuid,
    pub name: String,
    pub responses_per_item: i32,
    pub annotations_per_item: i32,
    pub lease_seconds: i32,
    pub items: i64,
    pub complete: i64,
    pub done_by_me: i64,
}

/// The projects `annotator` may see (`project_visible`), with their counts
/// and the annotator's own.
pub async fn project_listings(
    db: impl PgExecutor<'_>,
    annotator: Uuid,
) -> Result<Vec<ProjectListing>, sqlx::Error> {
    sqlx::query_as(
        "select p.id, p.name, p.responses_per_item, p.annotations_per_item, p.lease_seconds,
                (select coalesce(sum(b.items_imported), 0)::int8 from batches b where b.project_id = p.id) as items,
                (select coalesce(sum(g.complete), 0)::int8 from project_progress g where g.project_id = p.id) as complete,
                (select count(*) from annotations an
                  where an.project_id = p.id and an.annotator_id = $1 and an.invalidated_at is null) as done_by_me
           from projects p
          where project_visible(p.id, p.access, $1)
          order by p.name",
    )
    .bind(annotator)
    .fetch_all(db)
    .await
}

/// How many items the annotator has submitted in the project, invalidated
/// ones included (the gold draw's counter: it only ever grows).
pub async fn submitted_count(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    annotator: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select count(*) from annotations where project_id = $1 and annotator_id = $2",
    )
    .bind(project_id)
    .bind(annotator)
    .fetch_one(db)
    .await
}

/// The labels the annotator submitted on an assignment and the item's gold
/// labels, when the item is a gold item.
pub async fn gold_of_submission(
    db: impl PgExecutor<'_>,
    assignment_id: Uuid,
    annotator: Uuid,
) -> Result<Option<(serde_json::Value, serde_json::Value)>, sqlx::Error> {
    sqlx::query_as(
        "select an.labels, i.gold
           from annotations an join items i on i.id = an.item_id
          where an.assignment_id = $1 and an.annotator_id = $2 and i.gold is not null",
    )
    .bind(assignment_id)
    .bind(annotator)
    .fetch_optional(db)
    .await
}

/// The annotator's newest `limit` submission times in the project, newest
/// first (break reminders).
pub async fn submission_times(
    db: impl PgExecutor<'_>,
    project_id: Uuid,
    annotator: Uuid,
    limit: i64,
) -> Result<Vec<OffsetDateTime>, sqlx::Error> {
    sqlx::query_scalar(
        "select submitted_at from annotations where project_id = $1 and annotator_id = $2
          order by submitted_at desc limit $3",
    )
    .bind(project_id)
    .bind(annotator)
    .bind(limit)
    .fetch_all(db)
    .await
}
