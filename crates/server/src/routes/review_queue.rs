//! The review queue of a project: the items a lead should look at, filtered
//! by batch, category, severity, status, annotator or reason, a page at a
//! time. One item's page is `review_item`; the rules live in `crate::review`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use uuid::Uuid;

use super::registry::Routes;
use super::{Chrome, Pager};
use crate::app::AppState;
use crate::auth::RequireLead;
use crate::error::Result;
use crate::projects;
use crate::projects::Project;
use crate::review::{self, QueueEntry, QueueQuery, whole_number};

const QUEUE_PER_PAGE: i64 = 25;

pub fn routes() -> Routes {
    Routes::default().get("/review/projects/{id}/queue", queue)
}

/// The queue's query string: the page number and the filters.
#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    page: Option<String>,
    #[serde(flatten)]
    filters: QueueQuery,
}

/// The filters as a query string prefix for page links ("a=b&").
fn link_prefix(filters: &QueueQuery) -> String {
    match serde_urlencoded::to_string(filters.given()) {
        Ok(s) if !s.is_empty() => format!("{s}&"),
        _ => String::new(),
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
    Query(query): Query<PageQuery>,
) -> Result<QueuePage> {
    let project = projects::find_for(&state.pool, &session.user, project_id).await?;
    let filter = query.filters.filter()?;
    let pager = Pager::new(whole_number("page", &query.page)?, QUEUE_PER_PAGE)?;
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
        link_prefix: link_prefix(&query.filters),
        batch: value(&query.filters.batch),
        category: value(&query.filters.category),
        severity: value(&query.filters.severity),
        status: value(&query.filters.status),
        annotator: value(&query.filters.annotator),
        reason: value(&query.filters.reason),
        reason_kinds: review::REASON_KINDS,
    })
}

/// A filter's value for the form: as given, trimmed; blank for "any".
fn value(v: &Option<String>) -> String {
    review::given(v).unwrap_or_default()
}

/// A support as a whole percentage, "67%".
pub(super) fn percent(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}
