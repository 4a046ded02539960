//! The audit log page (leads and admins): read-only, newest first,
//! filtered by user, item and action. A lead reads the entries about the
//! projects they lead and those about no project; an admin every entry. Nothing in the application edits or
//! deletes audit entries (and a trigger refuses it).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::registry::Routes;
use super::{Chrome, Pager};
use crate::app::AppState;
use crate::audit_log::{self, Entry};
use crate::auth::RequireLead;
use crate::error::Result;
use crate::review::{given, whole_number};

const PER_PAGE: i64 = 50;

pub fn routes() -> Routes {
    Routes::default().get("/review/audit", page)
}

#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    page: Option<String>,
    #[serde(flatten)]
    filters: audit_log::Query,
}

struct Row {
    entry: Entry,
    when: String,
    before: String,
    after: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/audit.html")]
struct AuditPage {
    chrome: Chrome,
    rows: Vec<Row>,
    total: i64,
    pager: Pager,
    link_prefix: String,
    user: String,
    item: String,
    action: String,
    actions: Vec<String>,
}

fn json_text(value: &Option<serde_json::Value>) -> String {
    value.as_ref().map(ToString::to_string).unwrap_or_default()
}

async fn page(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Query(query): Query<AuditQuery>,
) -> Result<AuditPage> {
    let requested = whole_number("page", &query.page)?;
    let filter = query.filters.filter();
    let pager = Pager::new(requested, PER_PAGE)?;
    let audit_log::Page {
        entries,
        total,
        actions,
    } = audit_log::page(
        &state.pool,
        &session.user,
        &filter,
        pager.per_page,
        pager.offset(),
    )
    .await?;
    let link_prefix = match serde_urlencoded::to_string(query.filters.given()) {
        Ok(s) if !s.is_empty() => format!("{s}&"),
        _ => String::new(),
    };
    Ok(AuditPage {
        chrome: Chrome::new(Some(&session)),
        rows: entries
            .into_iter()
            .map(|entry| Row {
                when: entry.when(),
                before: json_text(&entry.before),
                after: json_text(&entry.after),
                entry,
            })
            .collect(),
        total,
        pager: pager.with_total(total),
        link_prefix,
        user: given(&query.filters.user).unwrap_or_default(),
        item: given(&query.filters.item).unwrap_or_default(),
        action: given(&query.filters.action).unwrap_or_default(),
        actions,
    })
}
