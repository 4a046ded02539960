//! The start page and the signed-in user's own account page.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Chrome;
use super::registry::Routes;
use crate::accounts::{self, AccountsError, Role};
use crate::app::AppState;
use crate::auth::{CurrentUser, password};
use crate::error::Result;
use crate::queue::{self, ProjectCounts};

pub fn routes() -> Routes {
    Routes::default()
        .get("/", home)
        .get("/account", account)
        .post("/account/password", change_password)
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/home.html")]
struct HomePage {
    chrome: Chrome,
    username: String,
    role_description: &'static str,
    projects: Vec<ProjectCounts>,
}

async fn home(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
) -> Result<HomePage> {
    let projects = queue::start_page(&state.pool, &session.user).await?;
    let role_description = match session.user.role {
        Role::Annotator => "an annotator: you label items",
        Role::Lead => "a lead: you label items, review agreement and adjudicate disputes",
        Role::Admin => {
            "an admin: you manage users, projects, imports and exports, and can do everything leads do"
        }
    };
    Ok(HomePage {
        username: session.user.username.clone(),
        role_description,
        chrome: Chrome::new(Some(&session)),
        projects,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/account.html")]
struct AccountPage {
    chrome: Chrome,
    username: String,
    role: Role,
    min_length: usize,
    error: Option<String>,
}

impl AccountPage {
    fn new(
        session: &crate::auth::ActiveSession,
        notice: Option<&'static str>,
        error: Option<String>,
    ) -> Self {
        AccountPage {
            chrome: Chrome::new(Some(session)).with_notice(notice),
            username: session.user.username.clone(),
            role: session.user.role,
            min_length: password::MIN_LENGTH,
            error,
        }
    }
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn account(
    CurrentUser(session): CurrentUser,
    query: axum::extract::Query<DoneQuery>,
) -> AccountPage {
    let notice =
        (query.done.as_deref() == Some("password")).then_some("Your password was changed.");
    AccountPage::new(&session, notice, None)
}

#[derive(Deserialize)]
struct PasswordChange {
    current: String,
    new: String,
}

async fn change_password(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    Form(form): Form<PasswordChange>,
) -> Result<Response> {
    let refuse = |message: String| {
        (
            StatusCode::BAD_REQUEST,
            AccountPage::new(&session, None, Some(message)),
        )
            .into_response()
    };
    let changed =
        accounts::change_own_password(&state.pool, &session.user, form.current, form.new).await;
    match changed {
        Ok(()) => {}
        Err(err @ AccountsError::WrongPassword) => return Ok(refuse(err.to_string())),
        Err(AccountsError::WeakPassword(problem)) => {
            return Ok(refuse(format!(
                "The new password was not saved: {problem}."
            )));
        }
        Err(other) => return Err(other.into()),
    }
    // Every session of the user ended, this one too: sign this device in again.
    let new = crate::auth::session::create(&state, &session.user, None).await?;
    let mut response = Redirect::to("/account?done=password").into_response();
    response.headers_mut().insert(
        axum::http::header::SET_COOKIE,
        crate::auth::session::cookie_for(&state, &new),
    );
    Ok(response)
}
