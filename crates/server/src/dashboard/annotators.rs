//! The annotators' table: each annotator's work in the scope, sortable.

use std::collections::HashMap;

use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::{DashboardError, Filters, SortKey};
use crate::db::{self, projects::Project};

/// One row of the annotators' table: the report's figures and today's count.
#[derive(Debug, Clone)]
pub struct AnnotatorRow {
    pub user_id: Option<Uuid>,
    pub name: String,
    pub done: i64,
    pub today: i64,
    pub median_seconds: Option<f64>,
    pub agreement: Option<f64>,
    pub gold_accuracy: Option<f64>,
    pub skip_rate: Option<f64>,
    /// The flags' evidence texts.
    pub flags: Vec<String>,
}

impl AnnotatorRow {
    /// The value sorted on; `None` sorts last in either direction.
    fn key(&self, sort: SortKey) -> Option<f64> {
        match sort {
            SortKey::Annotator => Some(0.0),
            SortKey::Done => Some(self.done as f64),
            SortKey::Today => Some(self.today as f64),
            SortKey::Median => self.median_seconds,
            SortKey::Agreement => self.agreement,
            SortKey::Gold => self.gold_accuracy,
            SortKey::Skip => self.skip_rate,
            SortKey::Flags => Some(self.flags.len() as f64),
        }
    }
}

/// The report's annotators with today's counts, in the asked order (ties
/// by name, so the order is stable).
pub async fn annotators(
    pool: &PgPool,
    project: &Project,
    report: &Value,
    filters: &Filters,
) -> Result<Vec<AnnotatorRow>, DashboardError> {
    let listed = report["annotators"].as_array().cloned().unwrap_or_default();
    let names: Vec<String> = listed
        .iter()
        .filter_map(|a| a["annotator"].as_str().map(String::from))
        .collect();
    let today: HashMap<String, db::dashboard::Today> =
        db::dashboard::today(pool, project.id, filters.scope.batch, &names)
            .await?
            .into_iter()
            .map(|t| (t.username.clone(), t))
            .collect();
    let mut rows: Vec<AnnotatorRow> = listed
        .iter()
        .map(|a| {
            let name = a["annotator"].as_str().unwrap_or_default().to_string();
            let known = today.get(&name);
            AnnotatorRow {
                user_id: known.map(|t| t.user_id),
                today: known.map_or(0, |t| t.today),
                done: a["done"].as_i64().unwrap_or(0),
                median_seconds: a["median_seconds"].as_f64(),
                agreement: a["agreement_with_consensus"].as_f64(),
                gold_accuracy: a["gold_accuracy"].as_f64(),
                skip_rate: a["skip_rate"].as_f64(),
                flags: a["flags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|f| f["evidence"].as_str().unwrap_or("flagged").to_string())
                    .collect(),
                name,
            }
        })
        .collect();
    sort(&mut rows, filters.sort, filters.descending);
    Ok(rows)
}

pub(super) fn sort(rows: &mut [AnnotatorRow], key: SortKey, descending: bool) {
    rows.sort_by(|a, b| {
        let by_name = a.name.cmp(&b.name);
        let order = match (a.key(key), b.key(key)) {
            (Some(x), Some(y)) => {
                let o = x.total_cmp(&y);
                if descending { o.reverse() } else { o }
            }
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        let by_name = if key == SortKey::Annotator && descending {
            by_name.reverse()
        } else {
            by_name
        };
        order.then(by_name)
    });
}
