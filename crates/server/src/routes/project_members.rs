//! The People section of a project's admin page: who may work on the
//! project (open or members only, changed after a confirmation), its
//! members a page at a time with a Remove button each (confirmed), and
//! "Add people": a search by username prefix (a GET form, so it works
//! without JavaScript) whose matches are added several at once by
//! checkbox. The rules are `projects::members`'s.

use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::fields::form_field;
use super::projects::project_page_for;
use super::registry::Routes;
use super::{Chrome, ConfirmPage, Pager};
use crate::app::AppState;
use crate::auth::{ActiveSession, RequireAdmin};
use crate::db::{members::Member, people::Person, projects::Access};
use crate::error::{AppError, Result};
use crate::projects::{self, Project, members};

/// Members shown per page of the People section.
const MEMBERS_PER_PAGE: i64 = 25;

pub fn routes() -> Routes {
    Routes::default()
        .get("/admin/projects/{id}/access", confirm_access)
        .post("/admin/projects/{id}/access", set_access)
        .post("/admin/projects/{id}/members", add)
        .get(
            "/admin/projects/{id}/members/{user_id}/remove",
            confirm_remove,
        )
        .post("/admin/projects/{id}/members/{user_id}/remove", remove)
}

/// What the People section shows.
pub(super) struct People {
    pub access: Access,
    pub members: Vec<Member>,
    /// How many members there are in all.
    pub total: i64,
    pub pager: Pager,
    /// The search as typed, and its matches (None: no search yet).
    pub query: String,
    pub found: Option<Vec<Person>>,
    /// Why the last "add" was refused.
    pub error: Option<String>,
}

impl People {
    /// The link to another page of members, keeping the search.
    pub fn members_page_href(&self, page: &i64) -> String {
        match self.found {
            Some(_) => format!(
                "?members_page={page}&q={}#people",
                crate::app::urlencode(&self.query)
            ),
            None => format!("?members_page={page}#people"),
        }
    }
}

/// The People section for `project`: members page `members_page`, and the
/// matches of `search` if one was made (a blank search lists the first
/// people by username).
pub(super) async fn people(
    state: &AppState,
    project: &Project,
    members_page: Option<i64>,
    search: Option<String>,
    error: Option<String>,
) -> Result<People> {
    let pager = Pager::new(members_page, MEMBERS_PER_PAGE)?;
    let (list, total) = members::page(&state.pool, project, pager.offset(), pager.per_page).await?;
    let found = match &search {
        Some(prefix) => Some(members::search(&state.pool, project, prefix).await?),
        None => None,
    };
    Ok(People {
        access: project.access,
        members: list,
        total,
        pager: pager.with_total(total),
        query: search.unwrap_or_default(),
        found,
        error,
    })
}

#[derive(Deserialize)]
struct AccessQuery {
    access: String,
}

fn access_in(query: &AccessQuery) -> Result<Access> {
    query.access.parse().map_err(AppError::BadRequest)
}

/// "Make this project members only?" (or open), saying what it releases.
async fn confirm_access(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
    Query(query): Query<AccessQuery>,
) -> Result<ConfirmPage> {
    let access = access_in(&query)?;
    let project = projects::find(&state.pool, id).await?;
    let (title, explanation) = match access {
        Access::Members => {
            let lost = members::leases_lost_by(&state.pool, &project, access).await?;
            (
                format!("Make {} members only?", project.name),
                format!(
                    "Only its members (and admins) will see it and work on it; to everyone else it will look as if it did not exist. \
                     {lost} live lease(s) held by people who are not members will be released now; the annotations they made stay and count."
                ),
            )
        }
        Access::Open => (
            format!("Open {} to everyone?", project.name),
            "Every annotator and lead will see it and may work on it. The member list is kept, for when it is members only again.".to_string(),
        ),
    };
    let label = match access {
        Access::Members => "Make it members only",
        Access::Open => "Open it to everyone",
    };
    let action = format!("/admin/projects/{id}/access?access={access}");
    Ok(confirm(&session, id, title, explanation, action, label))
}

/// A confirmation whose Cancel goes back to the People section.
fn confirm(
    session: &ActiveSession,
    project_id: Uuid,
    title: String,
    explanation: String,
    action: String,
    confirm_label: &'static str,
) -> ConfirmPage {
    ConfirmPage {
        chrome: Chrome::new(Some(session)),
        title,
        explanation,
        action,
        confirm_label,
        cancel_href: format!("/admin/projects/{project_id}#people"),
        ask_password: false,
        min_length: 0,
    }
}

async fn set_access(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
    Query(query): Query<AccessQuery>,
) -> Result<Redirect> {
    let access = access_in(&query)?;
    let project = projects::find(&state.pool, id).await?;
    members::set_access(&state.pool, Some(session.user.id), &project, access).await?;
    Ok(Redirect::to(&format!(
        "/admin/projects/{id}?done=access#people"
    )))
}

/// Adds the people checked (`user`, repeated); a refusal shows the
/// project page again with the reason and the same search.
async fn add(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response> {
    let project = projects::find(&state.pool, id).await?;
    let usernames: Vec<String> = fields
        .iter()
        .filter(|(k, _)| k == "user")
        .map(|(_, v)| v.clone())
        .collect();
    match members::add(&state.pool, Some(session.user.id), &project, &usernames).await {
        Ok(_) => {
            Ok(Redirect::to(&format!("/admin/projects/{id}?done=added#people")).into_response())
        }
        Err(err) => {
            let err = AppError::from(err);
            if !matches!(err, AppError::BadRequest(_)) {
                return Err(err);
            }
            let search = form_field(&fields, "q").map(String::from);
            let people = people(&state, &project, None, search, Some(err.to_string())).await?;
            let page = project_page_for(&state, &session, project, None, None, people).await?;
            Ok((axum::http::StatusCode::BAD_REQUEST, page).into_response())
        }
    }
}

/// "Remove NAME from this project?", saying what it releases.
async fn confirm_remove(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path((id, user_id)): Path<(Uuid, Uuid)>,
) -> Result<ConfirmPage> {
    let project = projects::find(&state.pool, id).await?;
    let member = members::member(&state.pool, &project, user_id).await?;
    let leases = members::live_leases(&state.pool, &project, user_id).await?;
    let effect = match project.access {
        Access::Members => format!(
            "They will no longer see it; their {leases} live lease(s) here will be released."
        ),
        Access::Open => {
            "The project is open, so they may still work on it until it is made members only."
                .to_string()
        }
    };
    Ok(confirm(
        &session,
        id,
        format!("Remove {} from {}?", member.username, project.name),
        format!("{effect} The annotations they made stay and count."),
        format!("/admin/projects/{id}/members/{user_id}/remove"),
        "Remove",
    ))
}

async fn remove(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path((id, user_id)): Path<(Uuid, Uuid)>,
) -> Result<Redirect> {
    let project = projects::find(&state.pool, id).await?;
    members::remove(&state.pool, Some(session.user.id), &project, user_id).await?;
    Ok(Redirect::to(&format!(
        "/admin/projects/{id}?done=removed#people"
    )))
}
