//! Everything a project's dashboard shows for one view (filters and
//! order), read at once.

use sqlx::PgPool;
use time::OffsetDateTime;

use super::{
    Activity, AnnotatorRow, DashboardError, Filters, Pace, Progress, Shown, activity, agreement,
    annotators, last_day, pace, progress,
};
pub use crate::db::suggestions::RoutingSavings;
use crate::db::{self, projects::Project};

/// The figures of one view of the dashboard.
pub struct View {
    pub progress: Progress,
    pub activity: Activity,
    pub pace: Pace,
    /// The agreement figures, maybe stale (see [`agreement`]).
    pub shown: Shown,
    /// The annotators' table, in the view's order.
    pub annotators: Vec<AnnotatorRow>,
    /// What the project's routing rule saved; `None` when it has none.
    pub routing: Option<RoutingSavings>,
}

/// The view's figures as of `now`: the independent reads each on its own
/// connection, at once; then the annotators' table, which lists the
/// agreement report's annotators.
pub async fn view(
    pool: &PgPool,
    project: &Project,
    filters: &Filters,
    now: OffsetDateTime,
) -> Result<View, DashboardError> {
    let batch = filters.scope.batch;
    let (progress, activity, last_day, shown, routing) = tokio::try_join!(
        progress(pool, project, batch),
        activity(pool, project, &filters.scope, now),
        last_day(pool, project, batch),
        agreement(pool, project, filters),
        routing_savings(pool, project),
    )?;
    let pace = pace(last_day, &progress, now);
    let annotators = annotators(pool, project, &shown.figures.report, filters).await?;
    Ok(View {
        progress,
        activity,
        pace,
        shown,
        annotators,
        routing,
    })
}

/// Items the routing rule finished at one annotation, and the human
/// annotations that saved; `None` when the project routes nothing.
async fn routing_savings(
    pool: &PgPool,
    project: &Project,
) -> Result<Option<RoutingSavings>, DashboardError> {
    if project.suggestions.routing.is_none() {
        return Ok(None);
    }
    let k = project.annotations_per_item;
    Ok(Some(
        db::suggestions::routing_savings(pool, project.id, k).await?,
    ))
}
