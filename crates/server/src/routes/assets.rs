//! The stylesheet (and later small scripts), compiled into the binary so the
//! server needs no files beside it. Pages link them with `?v=<content hash>`,
//! so browsers may cache them for a year and still see every change.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::registry::Routes;
use crate::error::AppError;

const FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../../../static/app.css"),
    ),
    (
        "js/annotate.js",
        "text/javascript; charset=utf-8",
        include_str!("../../../../static/js/annotate.js"),
    ),
];

static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hasher = Sha256::new();
    for (_, _, body) in FILES {
        hasher.update(body.as_bytes());
    }
    hex::encode(&hasher.finalize()[..6])
});

/// A short hash of every asset, for cache-busting links.
pub fn version() -> &'static str {
    &VERSION
}

pub fn routes() -> Routes {
    Routes::default().get("/static/{*file}", asset)
}

async fn asset(Path(file): Path<String>) -> Result<Response, AppError> {
    let (_, content_type, body) = FILES
        .iter()
        .find(|(name, _, _)| *name == file)
        .ok_or_else(|| AppError::NotFound(format!("no static file named {file}")))?;
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(response)
}
