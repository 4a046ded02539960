//! CSRF protection for every state-changing request (any method but GET,
//! HEAD and OPTIONS), in two layers:
//!
//! 1. Cross-site requests are refused outright: `Sec-Fetch-Site: cross-site`,
//!    or an `Origin` that is not this host. This also covers the sign-in form,
//!    which has no session yet.
//! 2. A request signed in by cookie must carry its session's CSRF token, in an
//!    `X-CSRF-Token` header or a `csrf_token` form field (for a file upload, in the query string). Bearer-token requests
//!    (session or personal API token) carry no ambient credential and need no token. Sign-in itself needs
//!    none either: it does not use the session it replaces.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{Method, header};

use super::constant_time_eq;
use super::session::{ActiveSession, Via};
use crate::error::AppError;

pub const HEADER: &str = "x-csrf-token";
/// Where a session is created rather than used (see `is_sign_in`).
const SIGN_IN_PATHS: [&str; 2] = ["/login", "/api/v1/session"];
pub const FORM_FIELD: &str = "csrf_token";
/// Forms larger than this are refused before their token is looked for.
const MAX_FORM_BYTES: usize = 2 * 1024 * 1024;

pub async fn check(req: &mut Request, session: Option<&ActiveSession>) -> Result<(), AppError> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    refuse_cross_site(req)?;
    let Some(session) = session else {
        return Ok(());
    };
    if session.via != Via::Cookie || is_sign_in(req) {
        return Ok(());
    }
    let presented = match req.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        Some(token) => Some(token.to_string()),
        None => token_from_form(req).await?,
    };
    match presented {
        Some(token) if constant_time_eq(token.as_bytes(), session.csrf_token.as_bytes()) => Ok(()),
        Some(_) => Err(AppError::Forbidden(
            "the form's security token does not match your session (it may be from an older sign-in); reload the page and try again".into(),
        )),
        None => Err(AppError::Forbidden("the request has no security (CSRF) token; reload the page and try again".into())),
    }
}

/// Signing in does not act with the current session, it replaces it; a
/// page left open from an earlier session must still be able to sign in.
fn is_sign_in(req: &Request) -> bool {
    *req.method() == Method::POST && SIGN_IN_PATHS.contains(&req.uri().path())
}

fn refuse_cross_site(req: &Request) -> Result<(), AppError> {
    let headers = req.headers();
    let refused = || AppError::Forbidden("cross-site requests are not accepted".into());
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v == "cross-site")
    {
        return Err(refused());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, rest)| rest);
        if origin_host != Some(host) {
            return Err(refused());
        }
    }
    Ok(())
}

/// Reads the token from an urlencoded body (then puts the body back), or,
/// for a file upload (multipart), from the query string: an upload's body is
/// streamed to disk by its handler and is not read here.
async fn token_from_form(req: &mut Request) -> Result<Option<String>, AppError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if content_type.starts_with("multipart/form-data") {
        return Ok(field_in(req.uri().query().unwrap_or_default().as_bytes()));
    }
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Ok(None);
    }
    let body = std::mem::replace(req.body_mut(), Body::empty());
    let bytes = to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| {
        AppError::BadRequest(format!("the form is larger than {MAX_FORM_BYTES} bytes"))
    })?;
    let token = field_in(&bytes);
    *req.body_mut() = Body::from(bytes);
    Ok(token)
}

fn field_in(urlencoded: &[u8]) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(urlencoded)
        .ok()
        .and_then(|pairs| {
            pairs
                .into_iter()
                .find(|(k, _)| k == FORM_FIELD)
                .map(|(_, v)| v)
        })
}
