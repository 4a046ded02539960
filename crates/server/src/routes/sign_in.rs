//! The sign-in and sign-out pages.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::registry::Routes;
use super::{Chrome, local_path};
use crate::app::AppState;
use crate::auth::{MaybeUser, PeerAddr, session, sign_in};
use crate::error::{AppError, Result};

pub fn routes() -> Routes {
    Routes::default()
        .get("/login", form)
        .post("/login", submit)
        .post("/logout", sign_out)
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/login.html")]
struct LoginPage {
    chrome: Chrome,
    next: String,
    username: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn form(MaybeUser(session): MaybeUser, Query(query): Query<NextQuery>) -> Response {
    let next = local_path(query.next.as_deref());
    if session.is_some() {
        return Redirect::to(&next).into_response();
    }
    LoginPage {
        chrome: Chrome::new(None),
        next,
        username: String::new(),
        error: None,
    }
    .into_response()
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
    next: Option<String>,
}

async fn submit(
    State(state): State<AppState>,
    MaybeUser(previous): MaybeUser,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Result<Response> {
    let next = local_path(form.next.as_deref());
    match sign_in::sign_in(
        &state,
        &headers,
        peer,
        previous.as_ref(),
        &form.username,
        form.password,
    )
    .await
    {
        Ok((_, new)) => {
            let mut response = Redirect::to(&next).into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session::cookie_for(&state, &new));
            Ok(response)
        }
        Err(
            err @ (AppError::InvalidCredentials
            | AppError::TooManyRequests { .. }
            | AppError::Forbidden(_)),
        ) => {
            let status = err.status();
            let page = LoginPage {
                chrome: Chrome::new(None),
                next,
                username: form.username,
                error: Some(err.to_string()),
            };
            Ok((status, page).into_response())
        }
        Err(other) => Err(other),
    }
}

async fn sign_out(
    State(state): State<AppState>,
    MaybeUser(session): MaybeUser,
) -> Result<Response> {
    if let Some(session) = session {
        super::end_session(&state, &session).await?;
    }
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::clearing_cookie(&state));
    Ok(response)
}
