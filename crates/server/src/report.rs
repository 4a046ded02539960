//! The agreement report (`safepref report` and GET /api/v1/projects/{id}/report):
//! reads a scope's annotations and annotator activity, and hands them to
//! `safepref_core::report`, which computes the figures.

use std::collections::HashMap;

use futures_util::TryStreamExt;

use safepref_core::report::{self, Activity};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::db::{self, projects::Project};
use crate::error::AppError;

pub use safepref_core::report::text;

/// Builds the report for a project, or one of its batches (by number).
/// Annotations stream from the database into the core's compact
/// `report::Builder`; no row is kept.
pub async fn build(
    pool: &PgPool,
    project: &Project,
    batch: Option<i32>,
) -> Result<Value, AppError> {
    let activity_rows = db::report::activity(pool, project.id, batch).await?;
    // Annotators are numbered in name order (the activity query's), so the
    // report lists them alphabetically; anyone else follows as met.
    let mut names: Vec<String> = activity_rows.iter().map(|a| a.annotator.clone()).collect();
    let mut annotator_index: HashMap<String, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i))
        .collect();
    let activity: HashMap<String, Activity> = activity_rows
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
    let categories: Vec<String> = project
        .taxonomy
        .0
        .names()
        .into_iter()
        .map(String::from)
        .collect();
    let mut builder = report::Builder::new(project.responses_per_item as usize, &categories);
    let mut item_index: HashMap<uuid::Uuid, usize> = HashMap::new();
    let mut rows = db::report::annotations(pool, project.id, batch);
    while let Some(row) = rows.try_next().await? {
        let next = item_index.len();
        let item = *item_index.entry(row.item_id).or_insert(next);
        let annotator = match annotator_index.get(&row.annotator) {
            Some(&i) => i,
            None => {
                names.push(row.annotator.clone());
                annotator_index.insert(row.annotator, names.len() - 1);
                names.len() - 1
            }
        };
        builder.add(item, annotator, &row.labels.0);
    }
    let scope = json!({"project": project.name, "project_id": project.id, "batch": batch});
    Ok(builder.finish(scope, items, &names, &activity))
}
