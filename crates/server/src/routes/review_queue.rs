//! The review queue of a project: the items a lead should look at, filtered
//! by batch, category, severity, status, annotator or reason, a page at a
//! time. One item's page is `review_item`; the rules live in `crate::review`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use uuid::Uuid;

use super::fields::given;
use super::registry::Routes;
use super::{Chrome, Pager};
use crate::app::AppState;
use crate::auth::RequireLead;
use crate::error::{AppError, Result};
use crate::projects;
use crate::projects::Project;
use crate::review::{self, ItemState, QueueEntry, QueueFilter};

const QUEUE_PER_PAGE: i64 = 25;

pub fn routes() -> Routes {
    Routes::default().get("/review/projects/{id}/queue", queue)
}

/// The queue's query string; empty values mean "any".
#[derive(Debug, Default, Deserialize)]
struct QueueQuery {
    page: Option<String>,
    batch: Option<String>,
    category: Option<String>,
    severity: Option<String>,
    status: Option<String>,
    annotator: Option<String>,
    reason: Option<String>,
}

fn number<T: std::str::FromStr>(name: &str, value: &Option<String>) -> Result<Option<T>> {
    given(value)
        .map(|v| {
            v.parse().map_err(|_| {
                AppError::BadRequest(format!("{name} must be a whole number, not {v:?}"))
            })
        })
        .transpose()
}

impl QueueQuery {
    fn filter(&self) -> Result<QueueFilter> {
        let status = given(&self.status)
            .map(|s| {
                s.parse::<ItemState>().map_err(|_| {
                    AppError::BadRequest(format!(
                        "status must be pending, complete or adjudicated (or empty for all open items), not {s:?}"
                    ))
                })
            })
            .transpose()?;
        let severity: Option<i32> = number("severity", &self.severity)?;
        if severity.is_some_and(|s| !(0..=3).contains(&s)) {
            return Err(AppError::BadRequest(
                "severity must be 0 (safe) to 3 (severe)".into(),
            ));
        }
        let reason = given(&self.reason);
        if let Some(r) = &reason
            && !review::REASON_KINDS.contains(&r.as_str())
        {
            return Err(AppError::BadRequest(format!(
                "reason must be one of {} (or empty for any), not {r:?}",
                review::REASON_KINDS.join(", ")
            )));
        }
        Ok(QueueFilter {
            reason,
            batch: number("batch", &self.batch)?,
            status,
            category: given(&self.category),
            severity,
            annotator: given(&self.annotator),
        })
    }

    /// The filters as a query string prefix for page links ("a=b&").
    fn link_prefix(&self) -> String {
        let pairs: Vec<(&str, String)> = [
            ("batch", &self.batch),
            ("category", &self.category),
            ("severity", &self.severity),
            ("status", &self.status),
            ("annotator", &self.annotator),
            ("reason", &self.reason),
        ]
        .into_iter()
        .filter_map(|(k, v)| given(v).map(|v| (k, v)))
        .collect();
        match serde_urlencoded::to_string(&pairs) {
            Ok(s) if !s.is_empty() => format!("{s}&"),
            _ => String::new(),
        }
    }
}

struct QueueRow {
    entry: QueueEntry,
    support: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/review_queue.html")]
struct QueuePage {
    chrome: Chrome,
    project: Project,
    rows: Vec<QueueRow>,
    total: usize,
    pager: Pager,
    link_prefix: String,
    batch: String,
    category: String,
    severity: String,
    status: String,
    annotator: String,
    reason: String,
    categories: Vec<String>,
    reason_kinds: [&'static str; 7],
}

async fn queue(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path(project_id): Path<Uuid>,
    Query(query): Query<QueueQuery>,
) -> Result<QueuePage> {
    let project = projects::find_for(&state.pool, &session.user, project_id).await?;
    let filter = query.filter()?;
    let pager = Pager::new(number("page", &query.page)?, QUEUE_PER_PAGE)?;
    let (entries, total) = review::queue_page(
        &state.pool,
        &project,
        &filter,
        pager.per_page as usize,
        pager.offset() as usize,
    )
    .await?;
    let rows = entries
        .into_iter()
        .map(|entry| QueueRow {
            support: percent(entry.min_support),
            entry,
        })
        .collect();
    Ok(QueuePage {
        chrome: Chrome::new(Some(&session)),
        categories: project.category_names(),
        project,
        rows,
        total,
        pager: pager.with_total(total as i64),
        link_prefix: query.link_prefix(),
        batch: given(&query.batch).unwrap_or_default(),
        category: given(&query.category).unwrap_or_default(),
        severity: given(&query.severity).unwrap_or_default(),
        status: given(&query.status).unwrap_or_default(),
        annotator: given(&query.annotator).unwrap_or_default(),
        reason: given(&query.reason).unwrap_or_default(),
        reason_kinds: review::REASON_KINDS,
    })
}

/// A support as a whole percentage, "67%".
pub(super) fn percent(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}
