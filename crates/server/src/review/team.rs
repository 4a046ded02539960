//! The lead's start page: the projects they lead with their counts, and the
//! annotators, a page at a time.

use sqlx::PgPool;

use super::ReviewError;
use crate::db::{
    self,
    projects::Summary,
    users::{Role, User},
};

/// What the team page lists.
pub struct Team {
    pub projects: Vec<Summary>,
    /// One page of the annotators, by username.
    pub annotators: Vec<User>,
    /// Annotators in all, over every page.
    pub total: i64,
}

/// The projects `lead` may see (an admin: all), and `limit` annotators
/// from `offset`.
pub async fn team(
    pool: &PgPool,
    lead: &User,
    offset: i64,
    limit: i64,
) -> Result<Team, ReviewError> {
    let (annotators, total) = db::users::with_role(pool, Role::Annotator, offset, limit).await?;
    let projects = db::projects::summaries(pool, crate::projects::seen_by(lead)).await?;
    Ok(Team {
        projects,
        annotators,
        total,
    })
}
