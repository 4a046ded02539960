//! The lead's area. Projects, agreement and adjudication arrive with later
//! issues; for now it lists the annotators.

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
    annotators: Vec<User>,
}

async fn team(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
) -> Result<TeamPage> {
    let annotators = db::users::with_role(&state.pool, Role::Annotator).await?;
    Ok(TeamPage {
        chrome: Chrome::new(Some(&session)),
        annotators,
    })
}
