//! The agreement report (`safepref report` and GET /api/v1/projects/{id}/report):
//! reads a scope's annotations and annotator activity, and hands them to
//! `safepref_core::report`, which computes the figures.

use std::collections::{BTreeMap, HashMap};

use safepref_core::report::{self, Activity, Annotated};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::db::{self, projects::Project};
use crate::error::AppError;

pub use safepref_core::report::text;

/// Builds the report for a project, or one of its batches (by number).
pub async fn build(
    pool: &PgPool,
    project: &Project,
    batch: Option<i32>,
) -> Result<Value, AppError> {
    let rows = db::report::annotations(pool, project.id, batch).await?;
    let activity: HashMap<String, Activity> = db::report::activity(pool, project.id, batch)
        .await?
        .into_iter()
        .map(|a| {
            (
                a.annotator,
                Activity {
                    submitted: a.submitted,
                    skipped: a.skipped,
                    median_seconds: a.median_seconds,
                },
            )
        })
        .collect();
    let items = db::report::item_count(pool, project.id, batch).await?;
    let mut item_index: HashMap<uuid::Uuid, usize> = HashMap::new();
    let mut annotator_index: BTreeMap<String, usize> = BTreeMap::new();
    for row in &rows {
        let next = item_index.len();
        item_index.entry(row.item_id).or_insert(next);
        let next = annotator_index.len();
        annotator_index.entry(row.annotator.clone()).or_insert(next);
    }
    let annotated: Vec<Annotated> = rows
        .iter()
        .map(|row| Annotated {
            item: item_index[&row.item_id],
            annotator: annotator_index[&row.annotator],
            labels: &row.labels.0,
        })
        .collect();
    let names: Vec<String> = annotator_index.keys().cloned().collect();
    let categories: Vec<String> = project
        .taxonomy
        .0
        .names()
        .into_iter()
        .map(String::from)
        .collect();
    let scope = json!({"project": project.name, "project_id": project.id, "batch": batch});
    Ok(report::compute(
        scope,
        items,
        &annotated,
        &names,
        &categories,
        &activity,
        project.responses_per_item as usize,
    ))
}
