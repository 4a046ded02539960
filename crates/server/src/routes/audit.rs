//! The audit log page (leads and admins): read-only, newest first,
//! filtered by user, item and action. A lead reads the entries about the
//! projects they lead and those about no project; an admin every entry. Nothing in the application edits or
//! deletes audit entries (and a trigger refuses it).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use serde::Deserialize;
use uuid::Uuid;

use super::fields::given;
use super::registry::Routes;
use super::{Chrome, Pager};
use crate::app::AppState;
use crate::audit_log::{self, Entry, Filter};
use crate::auth::RequireLead;
use crate::error::{AppError, Result};

const PER_PAGE: i64 = 50;

pub fn routes() -> Routes {
    Routes::default().get("/review/audit", page)
}

#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    page: Option<String>,
    user: Option<String>,
    item: Option<String>,
    action: Option<String>,
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

/// `item` is an item id (matched as `item:<id>`) or a whole subject such
/// as `user:<id>`.
fn subject(item: &str) -> String {
    match item.parse::<Uuid>() {
        Ok(id) => crate::review::subject_item(id),
        Err(_) => item.to_string(),
    }
}

async fn page(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Query(query): Query<AuditQuery>,
) -> Result<AuditPage> {
    let requested = given(&query.page)
        .map(|p| {
            p.parse::<i64>().map_err(|_| {
                AppError::BadRequest(format!("page must be a whole number, not {p:?}"))
            })
        })
        .transpose()?;
    let filter = Filter {
        user: given(&query.user),
        subject: given(&query.item).map(|i| subject(&i)),
        action: given(&query.action),
    };
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
    let pairs: Vec<(&str, String)> = [
        ("user", &query.user),
        ("item", &query.item),
        ("action", &query.action),
    ]
    .into_iter()
    .filter_map(|(k, v)| given(v).map(|v| (k, v)))
    .collect();
    let link_prefix = match serde_urlencoded::to_string(&pairs) {
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
        user: given(&query.user).unwrap_or_default(),
        item: given(&query.item).unwrap_or_default(),
        action: given(&query.action).unwrap_or_default(),
        actions,
    })
}
