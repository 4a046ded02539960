//! CSRF protection for every state-changing request (any method but GET,
//! HEAD and OPTIONS), in two layers:
//!
//! 1. Cross-site requests are refused outright: `Sec-Fetch-Site: cross-site`,
//!    or an `Origin` that is not this host. This also covers the sign-in form,
//!    which has no session yet.
//! 2. A request signed in by cookie must carry its session's CSRF token, in an
//!    `X-CSRF-Token` header or a `csrf_token` form field (for a file upload,
//!    the multipart body's first field; never the query string, which logs
//!    and the Referer header carry). Bearer-token requests
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
/// How much of a multipart body is read to find the token as its first
/// field: the boundary, the part's headers and a 43-character token fit many
/// times over, and the file after it stays unread.
const MAX_FIRST_PART_BYTES: usize = 8 * 1024;

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
    // Origin against Host: a page of another site cannot forge Origin. A
    // DNS-rebinding page sends its own name in both, so this is sound
    // against rebinding only with the Host allow-list (`--public-host`,
    // `host_check`), which refuses that name before this check runs.
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

/// Reads the token from an urlencoded body, or from a multipart body's
/// first field (a file upload, whose file after it is left to its handler
/// to stream), then puts the body back.
async fn token_from_form(req: &mut Request) -> Result<Option<String>, AppError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if content_type.starts_with("multipart/form-data") {
        return Ok(match boundary(&content_type) {
            Some(boundary) => token_from_first_part(req, &boundary).await,
            None => None,
        });
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

/// The boundary parameter of a multipart content type.
fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.trim().split_once('=')?;
        name.eq_ignore_ascii_case("boundary")
            .then(|| value.trim_matches('"').to_string())
    })
}

/// Reads the start of a multipart body (up to [`MAX_FIRST_PART_BYTES`]) for
/// its first field, and puts what was read back in front of the rest.
async fn token_from_first_part(req: &mut Request, boundary: &str) -> Option<String> {
    use futures_util::StreamExt;
    let mut stream = std::mem::replace(req.body_mut(), Body::empty()).into_data_stream();
    let mut head = Vec::new();
    let mut failed = None;
    while head.len() < MAX_FIRST_PART_BYTES && first_field(&head, boundary).is_none() {
        match stream.next().await {
            Some(Ok(bytes)) => head.extend_from_slice(&bytes),
            Some(Err(e)) => {
                failed = Some(e);
                break;
            }
            None => break,
        }
    }
    let token = first_field(&head, boundary)
        .filter(|(name, _)| name == FORM_FIELD)
        .map(|(_, value)| value);
    let head = futures_util::stream::iter(
        std::iter::once(Ok(axum::body::Bytes::from(head))).chain(failed.map(Err)),
    );
    *req.body_mut() = Body::from_stream(head.chain(stream));
    token
}

/// The name and text of a multipart body's first part, once `head` holds it
/// whole; `None` before (or when the body is not multipart as expected).
fn first_field(head: &[u8], boundary: &str) -> Option<(String, String)> {
    let opening = format!("--{boundary}\r\n");
    let rest = head.strip_prefix(opening.as_bytes())?;
    let end_of_headers = find(rest, b"\r\n\r\n")?;
    let headers = std::str::from_utf8(&rest[..end_of_headers]).ok()?;
    let body = &rest[end_of_headers + 4..];
    let value = &body[..find(body, format!("\r\n--{boundary}").as_bytes())?];
    let name = headers.split("\r\n").find_map(|line| {
        let (header, value) = line.split_once(':')?;
        if !header.trim().eq_ignore_ascii_case("content-disposition") {
            return None;
        }
        value.split(';').find_map(|param| {
            let (key, name) = param.trim().split_once('=')?;
            (key == "name").then(|| name.trim_matches('"').to_string())
        })
    })?;
    Some((name, String::from_utf8(value.to_vec()).ok()?))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_part_is_found_once_it_is_whole() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nabc123\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jsonl\"\r\n\r\n{}\r\n--XyZ--\r\n";
        let whole = Some(("csrf_token".to_string(), "abc123".to_string()));
        assert_eq!(first_field(body.as_bytes(), "XyZ"), whole);
        assert_eq!(first_field(&body.as_bytes()[..60], "XyZ"), None);
        assert_eq!(first_field(body.as_bytes(), "other"), None);
        assert_eq!(
            boundary("multipart/form-data; boundary=\"XyZ\""),
            Some("XyZ".into())
        );
    }
}
