//! What the admin's project pages and the API's project routes read: the
//! list, one project's overview, its settings form, its batches a page at a
//! time and where its items stand.

use sqlx::PgPool;
use uuid::Uuid;

use super::{BatchStates, Progress, Project, ProjectError, StateCounts, Summary, find};
use crate::db;

/// Every project with its counts, for the admin's list.
pub async fn summaries(pool: &PgPool) -> Result<Vec<Summary>, ProjectError> {
    Ok(db::projects::summaries(pool, None).await?)
}

/// What a project's page shows.
pub struct Overview {
    pub project: Project,
    /// Its batches with their items' progress, in batch order.
    pub batches: Vec<Progress>,
    /// Label-defining settings are frozen (the project has annotations).
    pub frozen: bool,
    /// Sources of machine suggestions, with the items each suggested for.
    pub sources: Vec<(String, i64)>,
}

pub async fn overview(pool: &PgPool, id: Uuid) -> Result<Overview, ProjectError> {
    let project = find(pool, id).await?;
    let batches = db::batches::with_progress(pool, id).await?;
    let frozen = db::projects::has_annotations(pool, id).await?;
    let sources = db::suggestions::sources(pool, id).await?;
    Ok(Overview {
        project,
        batches,
        frozen,
        sources,
    })
}

/// A project as its settings form shows it.
pub struct Editable {
    pub project: Project,
    /// Label-defining settings are frozen (the project has annotations).
    pub frozen: bool,
}

pub async fn editable(pool: &PgPool, id: Uuid) -> Result<Editable, ProjectError> {
    let project = find(pool, id).await?;
    let frozen = db::projects::has_annotations(pool, id).await?;
    Ok(Editable { project, frozen })
}

/// A page of a project's batches, with how many it has in all.
pub struct BatchPage {
    pub total: i64,
    /// The page's batches with their items' progress, in batch order.
    pub batches: Vec<Progress>,
}

pub async fn batch_page(
    pool: &PgPool,
    project: &Project,
    per_page: i64,
    offset: i64,
) -> Result<BatchPage, ProjectError> {
    let total = db::batches::count(pool, project.id).await?;
    let batches = db::batches::page_with_progress(pool, project.id, Some(per_page), offset).await?;
    Ok(BatchPage { total, batches })
}

/// Where a project's items stand, in all and per batch.
pub struct ItemStates {
    pub all: StateCounts,
    /// In batch order, batches with no items included.
    pub batches: Vec<BatchStates>,
}

pub async fn item_states(pool: &PgPool, project: &Project) -> Result<ItemStates, ProjectError> {
    let batches = db::items::states_by_batch(pool, project.id).await?;
    let all = batches
        .iter()
        .fold(StateCounts::default(), |sum, b| sum.plus(&b.counts));
    Ok(ItemStates { all, batches })
}
