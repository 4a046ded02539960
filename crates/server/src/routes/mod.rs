//! HTTP routes, one module per area. Handlers parse, call the services
//! (`queue`, `review`, `accounts`, `projects` …), and choose a template or
//! JSON; they never call `db` or write SQL.

pub mod account;
pub mod admin;
pub mod annotate;
mod annotate_page;
pub mod annotators;
pub mod api;
mod api_members;
pub mod api_review;
pub mod assets;
pub mod audit;
pub mod crowd;
pub mod dashboard;
pub mod exports;
mod fields;
pub mod health;
pub mod labels_form;
pub mod model_runs;
mod model_runs_form;
pub mod openapi;
mod openapi_operations;
mod openapi_review_operations;
mod openapi_schemas;
pub mod project_batches;
mod project_members;
pub mod project_settings;
pub mod projects;
pub mod registry;
pub mod review_item;
pub mod review_queue;
pub mod sign_in;
pub mod team;
pub mod tokens;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;

use crate::accounts::{Role, User};
use crate::app::AppState;
use crate::auth::ActiveSession;
use registry::Routes;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    routes().into_router()
}

/// Every route the site serves, pages and API, each recorded with its method.
pub fn routes() -> Routes {
    Routes::default()
        .merge(sign_in::routes())
        .merge(account::routes())
        .merge(tokens::routes())
        .merge(annotate::routes())
        .merge(crowd::routes())
        .merge(team::routes())
        .merge(review_queue::routes())
        .merge(review_item::routes())
        .merge(annotators::routes())
        .merge(audit::routes())
        .merge(dashboard::routes())
        .merge(admin::routes())
        .merge(projects::routes())
        .merge(project_settings::routes())
        .merge(project_batches::routes())
        .merge(project_members::routes())
        .merge(api::routes())
        .merge(exports::routes())
        .merge(model_runs::routes())
        .merge(health::routes())
        .merge(assets::routes())
}

/// What every page's layout shows: who is signed in (navigation by role),
/// the CSRF token for its forms, and an optional notice.
pub struct Chrome {
    pub user: Option<User>,
    pub csrf_token: String,
    pub notice: Option<&'static str>,
    pub asset_version: &'static str,
}

impl Chrome {
    pub fn new(session: Option<&ActiveSession>) -> Self {
        Chrome {
            user: session.map(|s| s.user.clone()),
            csrf_token: session.map(|s| s.csrf_token.clone()).unwrap_or_default(),
            notice: None,
            asset_version: assets::version(),
        }
    }

    pub fn with_notice(mut self, notice: Option<&'static str>) -> Self {
        self.notice = notice;
        self
    }

    pub fn is_lead(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role >= Role::Lead)
    }

    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role == Role::Admin)
    }

    /// A crowd worker can reach only their project's pages, so the
    /// navigation offers them nothing else.
    pub fn crowd_project(&self) -> Option<Uuid> {
        self.user.as_ref().and_then(|u| u.crowd_project_id)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub status: String,
    pub message: String,
}

/// "Are you sure?" before a destructive step; works without JavaScript.
#[derive(Template, WebTemplate)]
#[template(path = "pages/confirm.html")]
pub struct ConfirmPage {
    pub chrome: Chrome,
    pub title: String,
    pub explanation: String,
    pub action: String,
    pub confirm_label: &'static str,
    pub cancel_href: String,
    pub ask_password: bool,
    pub min_length: usize,
}

/// A list page's `?page=N` (1-based; absent: the first).
#[derive(serde::Deserialize)]
pub struct PageQuery {
    pub page: Option<i64>,
}

/// Page numbers for a list: `page` is 1-based.
pub struct Pager {
    pub page: i64,
    pub pages: i64,
    pub per_page: i64,
}

/// Pages past this are refused: no list is that long, and the offset of a
/// page near `i64::MAX` would overflow.
const MAX_PAGE: i64 = 1_000_000_000;

impl Pager {
    /// The requested page (default 1); a 400 past [`MAX_PAGE`].
    pub fn new(requested: Option<i64>, per_page: i64) -> Result<Self, crate::error::AppError> {
        let page = requested.unwrap_or(1).max(1);
        if page > MAX_PAGE {
            return Err(crate::error::AppError::BadRequest(format!(
                "page: {page} is past the last page there could be ({MAX_PAGE})"
            )));
        }
        Ok(Pager {
            page,
            pages: 1,
            per_page,
        })
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.per_page
    }

    /// Records the total once it is known.
    pub fn with_total(mut self, total: i64) -> Self {
        self.pages = ((total + self.per_page - 1) / self.per_page).max(1);
        self
    }

    pub fn prev(&self) -> Option<i64> {
        (self.page > 1).then(|| self.page - 1)
    }

    pub fn next(&self) -> Option<i64> {
        (self.page < self.pages).then(|| self.page + 1)
    }
}

/// Signs out (page or API alike): gives back the items the user holds, so
/// others need not wait for the leases to expire, and ends the session.
/// A personal API token is no session: it ends only by being revoked.
pub async fn end_session(
    state: &AppState,
    session: &ActiveSession,
) -> Result<(), crate::error::AppError> {
    if let crate::auth::session::Via::ApiToken(_) = session.via {
        return Err(crate::error::AppError::BadRequest(
            "this request uses a personal API token, which signing out does not end; revoke it with DELETE /api/v1/tokens/{id}".into(),
        ));
    }
    crate::accounts::sign_out(&state.pool, session.user.id, session.token_hash()).await?;
    Ok(())
}

/// A redirect target taken from user input: only a path on this site. A
/// browser drops tabs and newlines from a URL and reads a backslash as a
/// slash, so `/<tab>/x` and `/\x` would lead to the host `x`: a path with
/// either, any control character or whitespace, or two leading slashes is
/// refused.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path
                    .chars()
                    .any(|c| c == '\\' || c.is_control() || c.is_whitespace()) =>
        {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

/// A query parameter that is a switch: `1` on, `0` off; anything else is
/// refused naming the parameter.
pub fn flag(name: &str, value: &str) -> Result<bool, crate::error::AppError> {
    match value {
        "1" => Ok(true),
        "0" => Ok(false),
        _ => Err(crate::error::AppError::BadRequest(format!(
            "{name}: {value:?} is not 1 or 0"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_redirects() {
        assert_eq!(
            local_path(Some("/admin/users?page=2")),
            "/admin/users?page=2"
        );
        assert_eq!(local_path(Some("//evil.example/")), "/");
        assert_eq!(local_path(Some("https://evil.example/")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn pager_counts_pages() {
        let pager = Pager::new(Some(2), 50).unwrap().with_total(101);
        assert_eq!(
            (pager.pages, pager.offset(), pager.prev(), pager.next()),
            (3, 50, Some(1), Some(3))
        );
        let first = Pager::new(Some(0), 50).unwrap().with_total(0);
        assert!(
            Pager::new(Some(i64::MAX), 50).is_err(),
            "no overflow: a 400"
        );
        assert_eq!(
            (first.page, first.pages, first.prev(), first.next()),
            (1, 1, None, None)
        );
    }
}
