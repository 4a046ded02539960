//! The audit log as the lead's page reads it: one page of entries, newest
//! first, filtered by user, subject and action. Entries are written where
//! the changes are made (`accounts`, `projects`, `review`), never edited.

use sqlx::PgPool;

use crate::db;
pub use crate::db::audit::{Entry, Filter};
use crate::db::users::User;

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
