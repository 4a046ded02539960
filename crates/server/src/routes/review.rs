//! The lead's area: the projects (each with its dashboard, see
//! `routes::dashboard`) and the annotators.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::routing::get;

use super::Chrome;
use crate::app::AppState;
use crate::auth::RequireLead;
use crate::db::{
    self,
    projects::Summary,
    users::{Role, User},
};
use crate::error::Result;

pub fn router() -> Router<AppState> {
    Router::new().route("/review", get(team))
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/review_team.html")]
struct TeamPage {
    chrome: Chrome,
    projects: Vec<Summary>,
    annotators: Vec<User>,
}

async fn team(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
) -> Result<TeamPage> {
    let annotators = db::users::with_role(&state.pool, Role::Annotator).await?;
    let projects = db::projects::summaries(&state.pool).await?;
    Ok(TeamPage {
        chrome: Chrome::new(Some(&session)),
        projects,
        annotators,
    })
}
