//! Admin pages: users. Destructive steps (disable, reset a password) go
//! through a confirmation page; every change is audited by `accounts`.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::registry::Routes;
use super::tokens::Row as TokenRow;
use super::{Chrome, ConfirmPage, PageQuery, Pager};
use crate::accounts::{self, Entry, Role, User};
use crate::app::AppState;
use crate::auth::{ActiveSession, RequireAdmin, password, throttle};
use crate::error::{AppError, Result};

const USERS_PER_PAGE: i64 = 50;

pub fn routes() -> Routes {
    Routes::default()
        .get("/admin/users", list)
        .post("/admin/users", create)
        .get("/admin/users/new", new_form)
        .get("/admin/users/{id}", show)
        .post("/admin/users/{id}/role", change_role)
        .get("/admin/users/{id}/disable", confirm_disable)
        .post("/admin/users/{id}/disable", disable)
        .post("/admin/users/{id}/enable", enable)
        .post("/admin/users/{id}/unlock", unlock)
        .get("/admin/users/{id}/password", confirm_reset)
        .post("/admin/users/{id}/password", reset_password)
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/admin_users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<User>,
    total: i64,
    pager: Pager,
}

async fn list(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Query(query): Query<PageQuery>,
) -> Result<UsersPage> {
    let pager = Pager::new(query.page, USERS_PER_PAGE)?;
    let (users, total) = accounts::page(&state.pool, pager.offset(), pager.per_page).await?;
    Ok(UsersPage {
        chrome: Chrome::new(Some(&session)),
        users,
        total,
        pager: pager.with_total(total),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/admin_user_new.html")]
struct NewUserPage {
    chrome: Chrome,
    roles: [Role; 3],
    role: Role,
    username: String,
    min_length: usize,
    error: Option<String>,
}

impl NewUserPage {
    fn new(session: &ActiveSession, username: String, role: Role, error: Option<String>) -> Self {
        NewUserPage {
            chrome: Chrome::new(Some(session)),
            roles: Role::ALL,
            role,
            username,
            min_length: password::MIN_LENGTH,
            error,
        }
    }
}

async fn new_form(RequireAdmin(session): RequireAdmin) -> NewUserPage {
    NewUserPage::new(&session, String::new(), Role::Annotator, None)
}

#[derive(Deserialize)]
struct NewUser {
    username: String,
    role: Role,
    #[serde(default)]
    password: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/password_shown.html")]
struct PasswordShown {
    chrome: Chrome,
    username: String,
    user_id: Uuid,
    password: String,
}

impl PasswordShown {
    /// The page, which no browser or proxy may keep: the password on it is
    /// shown only this once.
    fn shown(self) -> Response {
        let mut response = self.into_response();
        response.headers_mut().insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
        response
    }
}

async fn create(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Form(form): Form<NewUser>,
) -> Result<Response> {
    let username = form.username.trim().to_string();
    match accounts::create(
        &state.pool,
        Some(session.user.id),
        &username,
        form.role,
        &form.password,
    )
    .await
    .map_err(AppError::from)
    {
        Ok((user, Some(password))) => Ok(PasswordShown {
            chrome: Chrome::new(Some(&session)).with_notice(Some("The user was created.")),
            username: user.username,
            user_id: user.id,
            password,
        }
        .shown()),
        Ok((user, None)) => {
            Ok(Redirect::to(&format!("/admin/users/{}?done=created", user.id)).into_response())
        }
        Err(err @ (AppError::BadRequest(_) | AppError::Conflict(_))) => {
            let page = NewUserPage::new(&session, username, form.role, Some(err.to_string()));
            Ok((err.status(), page).into_response())
        }
        Err(other) => Err(other),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/admin_user.html")]
struct UserPage {
    chrome: Chrome,
    user: User,
    roles: [Role; 3],
    history: Vec<Entry>,
    tokens: Vec<TokenRow>,
    /// Failed sign-ins for the username within the throttle's window.
    failed_sign_ins: i64,
    window_minutes: u64,
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

/// Fixed notices for `?done=…`: nothing from the query string is echoed.
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "created" => "The user was created.",
        "role" => "The role was changed.",
        "disabled" => "The account was disabled, its sessions ended and its API tokens revoked.",
        "enabled" => "The account was enabled.",
        "unlocked" => "The failed sign-ins were cleared; the user may sign in again.",
        "password" => {
            "The password was reset, the user's sessions ended and their API tokens revoked."
        }
        "token-revoked" => "The API token was revoked.",
        _ => return None,
    })
}

async fn show(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
    Query(query): Query<DoneQuery>,
) -> Result<UserPage> {
    let window = state.config.throttle.window.as_secs() as i64;
    let overview = accounts::overview(&state.pool, id, window).await?;
    Ok(UserPage {
        chrome: Chrome::new(Some(&session)).with_notice(notice(query.done.as_deref())),
        user: overview.user,
        roles: Role::ALL,
        history: overview.history,
        tokens: overview.tokens.iter().map(TokenRow::from).collect(),
        failed_sign_ins: overview.failed_sign_ins,
        window_minutes: window as u64 / 60,
    })
}

#[derive(Deserialize)]
struct RoleForm {
    role: Role,
}

async fn change_role(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
    Form(form): Form<RoleForm>,
) -> Result<Redirect> {
    let user = accounts::find_by_id(&state.pool, id).await?;
    accounts::set_role(&state.pool, Some(session.user.id), &user, form.role).await?;
    Ok(Redirect::to(&format!("/admin/users/{id}?done=role")))
}

async fn confirm_disable(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
) -> Result<ConfirmPage> {
    let user = accounts::find_by_id(&state.pool, id).await?;
    let name = &user.username;
    Ok(confirm_on_user(
        &session,
        id,
        format!("Disable {name}?"),
        format!(
            "{name} will be signed out at once, their API tokens revoked for good, and they cannot sign in until an admin enables the account again. Their work is kept."
        ),
        ("disable", "Disable the account"),
        false,
    ))
}

/// A confirmation page for `action` (its path under the user's page, and
/// its button's label) on the account `id`.
fn confirm_on_user(
    session: &ActiveSession,
    id: Uuid,
    title: String,
    explanation: String,
    (action, confirm_label): (&str, &'static str),
    ask_password: bool,
) -> ConfirmPage {
    ConfirmPage {
        chrome: Chrome::new(Some(session)),
        title,
        explanation,
        action: format!("/admin/users/{id}/{action}"),
        confirm_label,
        cancel_href: format!("/admin/users/{id}"),
        ask_password,
        min_length: password::MIN_LENGTH,
    }
}

async fn disable(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
) -> Result<Redirect> {
    let user = accounts::find_by_id(&state.pool, id).await?;
    accounts::set_disabled(&state.pool, Some(session.user.id), &user, true).await?;
    Ok(Redirect::to(&format!("/admin/users/{id}?done=disabled")))
}

async fn enable(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
) -> Result<Redirect> {
    let user = accounts::find_by_id(&state.pool, id).await?;
    accounts::set_disabled(&state.pool, Some(session.user.id), &user, false).await?;
    Ok(Redirect::to(&format!("/admin/users/{id}?done=enabled")))
}

/// Clears the user's failed sign-ins, and so any lock on signing in.
async fn unlock(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
) -> Result<Redirect> {
    let user = accounts::find_by_id(&state.pool, id).await?;
    throttle::unlock(&state.pool, Some(session.user.id), id, &user.username).await?;
    Ok(Redirect::to(&format!("/admin/users/{id}?done=unlocked")))
}

async fn confirm_reset(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
) -> Result<ConfirmPage> {
    let user = accounts::find_by_id(&state.pool, id).await?;
    let name = &user.username;
    Ok(confirm_on_user(
        &session,
        id,
        format!("Reset the password of {name}?"),
        format!(
            "{name}'s current password stops working, they are signed out everywhere and their API tokens are revoked. You will see the new password once."
        ),
        ("password", "Reset the password"),
        true,
    ))
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    password: String,
}

async fn reset_password(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
    Form(form): Form<ResetForm>,
) -> Result<Response> {
    let user = accounts::find_by_id(&state.pool, id).await?;
    let generated =
        accounts::reset_password(&state.pool, Some(session.user.id), &user, &form.password).await?;
    Ok(match generated {
        Some(password) => PasswordShown {
            chrome: Chrome::new(Some(&session)),
            username: user.username,
            user_id: user.id,
            password,
        }
        .shown(),
        None => Redirect::to(&format!("/admin/users/{id}?done=password")).into_response(),
    })
}
