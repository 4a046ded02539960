//! The audit log as the lead's page and the API read it: one page of
//! entries, newest first, filtered by user, subject and action (`Query`, read
//! the same for both). Entries are written where the changes are made
//! (`accounts`, `projects`, `review`), never edited.

use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
pub use crate::db::audit::{Entry, Filter};
use crate::db::users::User;
use crate::review::given;

/// The log's filters as the page's query string and the API's give them;
/// empty values mean "any".
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Query {
    /// The actor's username.
    pub user: Option<String>,
    /// An item id (matched as `item:<id>`) or a whole subject such as
    /// `user:<id>`.
    pub item: Option<String>,
    pub action: Option<String>,
}

impl Query {
    pub fn filter(&self) -> Filter {
        Filter {
            user: given(&self.user),
            subject: given(&self.item).map(|i| match i.parse::<Uuid>() {
                Ok(id) => crate::review::subject_item(id),
                Err(_) => i,
            }),
            action: given(&self.action),
        }
    }

    /// The filters given, (name, value): for links that keep them.
    pub fn given(&self) -> Vec<(&'static str, String)> {
        [
            ("user", &self.user),
            ("item", &self.item),
            ("action", &self.action),
        ]
        .into_iter()
        .filter_map(|(k, v)| given(v).map(|v| (k, v)))
        .collect()
    }
}

/// What can go wrong reading the audit log: only the database, here; the
/// page's query is checked by its handler. `impl From<AuditLogError> for
/// AppError` (in `crate::error`) gives its status.
#[derive(Debug, thiserror::Error)]
pub enum AuditLogError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// One page of the log and what its filter form offers.
pub struct Page {
    /// `limit` entries from `offset`, newest first.
    pub entries: Vec<Entry>,
    /// Entries matching the filter, over every page.
    pub total: i64,
    /// Every action the log holds, for the filter's choice.
    pub actions: Vec<String>,
}

/// A page of the entries `viewer` may read: an admin every entry; a lead
/// those about the projects they lead and those about no project (accounts,
/// sign-ins).
pub async fn page(
    pool: &PgPool,
    viewer: &User,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<Page, AuditLogError> {
    let seen_by = crate::projects::seen_by(viewer);
    let (entries, total) = db::audit::page(pool, seen_by, filter, limit, offset).await?;
    let actions = db::audit::actions(pool, seen_by).await?;
    Ok(Page {
        entries,
        total,
        actions,
    })
}
