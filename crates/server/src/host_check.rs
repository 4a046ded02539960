//! The `Host` allow-list (`--public-host`). A page on another site can make
//! its own name resolve to this server (DNS rebinding); the browser then
//! treats this server as that site, sends `Host: evil.example` and an
//! `Origin` of the same name, and the CSRF check (which compares the two)
//! would let its requests through. Refusing every `Host` that is not one of
//! the site's names closes that door. Loopback names always pass: a
//! rebinding page cannot make the browser send them. The probes pass too,
//! since orchestrators call them by address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::config::{self, Config};
use crate::error::ErrorInfo;

/// Paths served whatever `Host` says (see `routes::health`).
const PROBES: [&str; 2] = ["/healthz", "/readyz"];

/// The middleware: lets a request through if its host is allowed, else 421.
pub async fn check_host(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let allowed = &state.config.public_hosts;
    if allowed.is_empty() || PROBES.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    match requested_host(&req) {
        Some(host) if is_loopback_name(&host) || allowed.contains(&host) => next.run(req).await,
        host => misdirected(host),
    }
}

/// The host part of the one `Host` header (or, in HTTP/2, of the request's
/// authority), normalised as `config::public_host` keeps the allowed names.
fn requested_host(req: &Request) -> Option<String> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let value = match (hosts.next(), hosts.next()) {
        (Some(value), None) => value.to_str().ok()?,
        (None, _) => req.uri().authority()?.as_str(),
        (Some(_), Some(_)) => return None,
    };
    config::public_host(without_port(value)?).ok()
}

/// `name:8080` → `name`, `[::1]:8080` → `[::1]`; `None` if what follows
/// the name is not a port.
fn without_port(host: &str) -> Option<&str> {
    let (name, rest) = match host.find(']') {
        Some(end) if host.starts_with('[') => host.split_at(end + 1),
        _ => host.split_at(host.find(':').unwrap_or(host.len())),
    };
    let port = rest.strip_prefix(':').unwrap_or(rest);
    port.chars().all(|c| c.is_ascii_digit()).then_some(name)
}

fn is_loopback_name(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || bare.parse::<IpAddr>().is_ok_and(config::is_loopback)
}

/// 421 Misdirected Request, drawn by the error renderer like any error.
fn misdirected(host: Option<String>) -> Response {
    let message = match host {
        Some(host) => format!(
            "this server does not answer to the host name {host:?}; if it is a name of this site, \
             its administrator must add it with --public-host (SAFEPREF_PUBLIC_HOSTS)"
        ),
        None => "the request has no single, valid Host header".into(),
    };
    let info = ErrorInfo {
        code: "misdirected_request",
        message,
        retry_after_seconds: None,
    };
    let mut response = (StatusCode::MISDIRECTED_REQUEST, info.message.clone()).into_response();
    response.extensions_mut().insert(info);
    response
}

/// At start: a server reachable from other machines without an allow-list
/// answers to any name, including a rebinding page's.
pub fn warn_if_open(config: &Config, bind: SocketAddr) {
    if config.public_hosts.is_empty() && !config::is_loopback(bind.ip()) {
        tracing::warn!(
            %bind,
            "safepref answers to any host name: set --public-host NAME (SAFEPREF_PUBLIC_HOSTS) \
             to the names users reach it by, so that a DNS-rebinding page cannot pass as this site"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_headers_lose_their_port_and_loopback_names_are_known() {
        assert_eq!(without_port("Example.org:8080"), Some("Example.org"));
        assert_eq!(without_port("[::1]:8080"), Some("[::1]"));
        assert_eq!(without_port("[::1]"), Some("[::1]"));
        assert_eq!(without_port("10.0.0.5"), Some("10.0.0.5"));
        assert_eq!(without_port("example.org:evil"), None);
        assert_eq!(without_port("example.org:80:80"), None);
        for host in ["localhost", "127.0.0.1", "127.9.9.9", "[::1]"] {
            assert!(is_loopback_name(host), "{host}");
        }
        for host in [
            "example.org",
            "10.0.0.5",
            "localhost.example.org",
            "[2001:db8::1]",
        ] {
            assert!(!is_loopback_name(host), "{host}");
        }
    }
}
