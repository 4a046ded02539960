//! The application: shared state, the router, and the middleware stack.

use std::sync::Arc;

use axum::Router;
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Redirect, Response};
use sqlx::PgPool;
use tower::ServiceBuilder;
use tower_http::ServiceBuilderExt;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::MakeRequestUuid;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::session::{self, SessionSlot};
use crate::config::Config;
use crate::error::ErrorInfo;
use crate::pg::supervise::Outage;
use crate::routes::{self, Chrome, ErrorPage};

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<Config>,
    /// Set by the embedded cluster's supervisor while it cannot start it.
    pub outage: Outage,
}

impl AppState {
    pub fn new(pool: PgPool, config: Config) -> Self {
        AppState {
            pool,
            config: Arc::new(config),
            outage: Outage::default(),
        }
    }
}

/// The whole service as a `Router`, ready for `axum::serve` or for tests.
pub fn app(state: AppState) -> Router {
    let timeout = state.config.request_timeout;
    routes::router()
        .fallback(|| async { crate::error::AppError::NotFound("There is no page at this address.".into()) })
        .layer(
            // Outermost first.
            ServiceBuilder::new()
                .set_x_request_id(MakeRequestUuid)
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                    let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                }))
                .propagate_x_request_id()
                .layer(CompressionLayer::new())
                .layer(middleware::from_fn_with_state(state.clone(), security_headers))
                .layer(middleware::from_fn(render_errors))
                .layer(middleware::from_fn_with_state(state.clone(), crate::host_check::check_host))
                .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, timeout))
                .layer(middleware::from_fn_with_state(state.clone(), session::load_session)),
        )
        .with_state(state)
}

/// Serves `app` on a bound listener until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
}

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One year: a browser that once reached the site over https keeps to https,
/// so a network attacker cannot turn a later visit into plain http and read
/// the cookie. No `includeSubDomains`: other sites of the domain are not ours.
const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    if state.config.secure_cookies {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        );
    }
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Turns every error response into its final form: the JSON error object
/// under /api/, otherwise a sign-in redirect (401) or a plain HTML page.
/// Bare errors from axum's own rejections (bad JSON, unknown method…) and
/// the timeout layer are dressed the same way.
async fn render_errors(req: Request, next: Next) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    let is_get = req.method() == axum::http::Method::GET;
    let here = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_else(|| "/".into());
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || already_rendered(&response) {
        return response;
    }
    let session = response
        .extensions()
        .get::<SessionSlot>()
        .and_then(|s| s.0.clone());
    let info = match response.extensions().get::<ErrorInfo>().cloned() {
        Some(info) => info,
        None => bare_error_info(response).await,
    };
    let mut rendered = if is_api {
        (
            status,
            Json(serde_json::json!({"error": {"code": info.code, "message": info.message}})),
        )
            .into_response()
    } else if status == StatusCode::UNAUTHORIZED {
        let next = if is_get { here } else { "/".into() };
        Redirect::to(&format!("/login?next={}", urlencode(&next))).into_response()
    } else {
        let page = ErrorPage {
            chrome: Chrome::new(session.as_ref()),
            status: format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ),
            message: info.message,
        };
        (status, page).into_response()
    };
    if let Some(seconds) = info.retry_after_seconds {
        rendered
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    rendered
}

/// A handler that drew its own error (the sign-in form showing "wrong
/// password", say) knows best; leave its page alone.
fn already_rendered(response: &Response) -> bool {
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    response.extensions().get::<ErrorInfo>().is_none()
        && (content_type.starts_with("text/html") || content_type.starts_with("application/json"))
}

/// An error response that did not come from `AppError`: keep its text if it
/// is short plain text (axum's rejections explain themselves well).
async fn bare_error_info(response: Response) -> ErrorInfo {
    let status = response.status();
    let is_text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/plain"));
    let body = if is_text {
        to_bytes(response.into_body(), 4096).await.ok()
    } else {
        None
    };
    let text = body
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .filter(|t| !t.is_empty());
    let code = match status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "error",
    };
    let message = match (status, text) {
        (StatusCode::SERVICE_UNAVAILABLE, None) => {
            "the request took too long; please try again".into()
        }
        (s, _) if s.is_server_error() => "an internal error occurred".into(),
        (_, Some(text)) => text,
        (s, None) => s.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    ErrorInfo {
        code,
        message,
        retry_after_seconds: None,
    }
}

/// Percent-encodes a path for use as a query value.
pub fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s[1..].to_string())
        .unwrap_or_default()
}
