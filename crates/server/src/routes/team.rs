//! The lead's area: the projects they lead (an admin: all; each with its
//! dashboard, see `routes::dashboard`) and the annotators.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};

use super::registry::Routes;
use super::{Chrome, PageQuery, Pager};
use crate::accounts::User;
use crate::app::AppState;
use crate::auth::RequireLead;
use crate::error::Result;
use crate::projects::Summary;
use crate::review;

pub fn routes() -> Routes {
    Routes::default().get("/review", team)
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/review_team.html")]
struct TeamPage {
    chrome: Chrome,
    projects: Vec<Summary>,
    annotators: Vec<User>,
    /// Annotators in all, over every page.
    total: i64,
    pager: Pager,
}

/// Annotators listed per page of the team page.
const ANNOTATORS_PER_PAGE: i64 = 100;

async fn team(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Query(query): Query<PageQuery>,
) -> Result<TeamPage> {
    let pager = Pager::new(query.page, ANNOTATORS_PER_PAGE)?;
    let review::Team {
        projects,
        annotators,
        total,
    } = review::team(&state.pool, &session.user, pager.offset(), pager.per_page).await?;
    Ok(TeamPage {
        chrome: Chrome::new(Some(&session)),
        projects,
        annotators,
        total,
        pager: pager.with_total(total),
    })
}
