//! The account area's "API tokens" pages (admins): list, create (the token
//! is shown once), revoke after a confirmation; and an admin's revoking of
//! another user's token, listed on that user's admin page (`admin`). The
//! JSON counterparts are in `api`; all go through `auth::api_tokens`.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::registry::Routes;
use super::{Chrome, ConfirmPage};
use crate::accounts::{self, ApiToken};
use crate::app::AppState;
use crate::auth::{ActiveSession, RequireAdmin, api_tokens, password};
use crate::error::{AppError, Result};

pub fn routes() -> Routes {
    Routes::default()
        .get("/account/tokens", list)
        .post("/account/tokens", create)
        .get("/account/tokens/{id}/revoke", confirm_revoke)
        .post("/account/tokens/{id}/revoke", revoke)
        .get(
            "/admin/users/{id}/tokens/{token}/revoke",
            confirm_revoke_of_user,
        )
        .post("/admin/users/{id}/tokens/{token}/revoke", revoke_of_user)
}

/// One token as the lists show it (never the secret), times already in words.
pub(super) struct Row {
    pub id: Uuid,
    pub name: String,
    pub created: String,
    pub last_used: String,
    pub expires: String,
    pub status: &'static str,
    pub active: bool,
}

impl From<&ApiToken> for Row {
    fn from(t: &ApiToken) -> Self {
        let or_never = |at: Option<OffsetDateTime>| at.map_or_else(|| "never".into(), minute);
        let status = match (t.revoked_at, t.is_active()) {
            (Some(_), _) => "revoked",
            (None, false) => "expired",
            (None, true) => "active",
        };
        Row {
            id: t.id,
            name: t.name.clone(),
            created: minute(t.created_at),
            last_used: or_never(t.last_used_at),
            expires: or_never(t.expires_at),
            status,
            active: t.is_active(),
        }
    }
}

/// When, to the minute, in UTC (as the audit history shows times).
fn minute(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!("{} {:02}:{:02} UTC", at.date(), at.hour(), at.minute())
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/api_tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tokens: Vec<Row>,
    name: String,
    expires_in_days: String,
    max_days: i64,
    max_name: usize,
    error: Option<String>,
}

impl TokensPage {
    async fn new(
        state: &AppState,
        session: &ActiveSession,
        notice: Option<&'static str>,
    ) -> Result<Self> {
        let tokens = api_tokens::list(&state.pool, &session.user).await?;
        Ok(TokensPage {
            chrome: Chrome::new(Some(session)).with_notice(notice),
            tokens: tokens.iter().map(Row::from).collect(),
            name: String::new(),
            expires_in_days: String::new(),
            max_days: api_tokens::MAX_EXPIRY_DAYS,
            max_name: api_tokens::MAX_NAME_CHARS,
            error: None,
        })
    }
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Query(query): Query<DoneQuery>,
) -> Result<TokensPage> {
    // A fixed notice: nothing from the query string is echoed.
    let notice = (query.done.as_deref() == Some("revoked")).then_some("The token was revoked.");
    TokensPage::new(&state, &session, notice).await
}

#[derive(Deserialize)]
struct NewToken {
    name: String,
    /// Empty: no expiry.
    #[serde(default)]
    expires_in_days: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/api_token_shown.html")]
struct TokenShown {
    chrome: Chrome,
    name: String,
    token: String,
    expires: String,
}

async fn create(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Form(form): Form<NewToken>,
) -> Result<Response> {
    let made = async {
        api_tokens::check_may_create(&session)?;
        let days = parse_days(&form.expires_in_days)?;
        api_tokens::create(&state.pool, &session.user, &form.name, days).await
    };
    match made.await {
        Ok((token, secret)) => {
            let page = TokenShown {
                chrome: Chrome::new(Some(&session)),
                expires: token.expires_at.map_or_else(|| "never".into(), minute),
                name: token.name,
                token: secret,
            };
            // The secret must not linger in the browser's cache or history.
            Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
        }
        Err(err @ (AppError::BadRequest(_) | AppError::Forbidden(_))) => {
            let mut page = TokensPage::new(&state, &session, None).await?;
            page.name = form.name;
            page.expires_in_days = form.expires_in_days;
            page.error = Some(err.to_string());
            Ok((err.status(), page).into_response())
        }
        Err(other) => Err(other),
    }
}

/// The form's expiry field: empty for none, else a whole number of days.
fn parse_days(field: &str) -> Result<Option<i64>> {
    let field = field.trim();
    if field.is_empty() {
        return Ok(None);
    }
    field.parse().map(Some).map_err(|_| {
        AppError::BadRequest("the expiry is a whole number of days, or empty for none".into())
    })
}

async fn confirm_revoke(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
) -> Result<ConfirmPage> {
    let token = api_tokens::find(&state.pool, &session.user, &session.user, id).await?;
    Ok(ConfirmPage {
        chrome: Chrome::new(Some(&session)),
        title: format!("Revoke the token “{}”?", token.name),
        explanation: "Scripts using this token are refused from the next request on. This cannot be undone; make a new token if one is needed again.".into(),
        action: format!("/account/tokens/{id}/revoke"),
        confirm_label: "Revoke the token",
        cancel_href: "/account/tokens".into(),
        ask_password: false,
        min_length: password::MIN_LENGTH,
    })
}

async fn revoke(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
) -> Result<Redirect> {
    api_tokens::revoke(&state.pool, &session.user, &session.user, id).await?;
    Ok(Redirect::to("/account/tokens?done=revoked"))
}

async fn confirm_revoke_of_user(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path((user_id, id)): Path<(Uuid, Uuid)>,
) -> Result<ConfirmPage> {
    let owner = accounts::find_by_id(&state.pool, user_id).await?;
    let token = api_tokens::find(&state.pool, &session.user, &owner, id).await?;
    Ok(ConfirmPage {
        chrome: Chrome::new(Some(&session)),
        title: format!("Revoke {}'s token “{}”?", owner.username, token.name),
        explanation: format!(
            "Scripts using this token are refused from the next request on; {}'s other tokens keep working. This cannot be undone, and it is recorded in the audit log.",
            owner.username
        ),
        action: format!("/admin/users/{user_id}/tokens/{id}/revoke"),
        confirm_label: "Revoke the token",
        cancel_href: format!("/admin/users/{user_id}"),
        ask_password: false,
        min_length: password::MIN_LENGTH,
    })
}

async fn revoke_of_user(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path((user_id, id)): Path<(Uuid, Uuid)>,
) -> Result<Redirect> {
    let owner = accounts::find_by_id(&state.pool, user_id).await?;
    api_tokens::revoke(&state.pool, &session.user, &owner, id).await?;
    Ok(Redirect::to(&format!(
        "/admin/users/{user_id}?done=token-revoked"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_field_is_empty_or_whole_days() {
        assert_eq!(parse_days(" ").unwrap(), None);
        assert_eq!(parse_days("30").unwrap(), Some(30));
        assert!(parse_days("1.5").is_err());
        assert!(parse_days("soon").is_err());
    }
}
