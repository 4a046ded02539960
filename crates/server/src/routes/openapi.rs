//! GET /api/v1/openapi.json: an OpenAPI 3.1 document for every /api/v1
//! route, built by hand with serde_json (no generator crate: the API is
//! small and its shapes are written down once, here).
//!
//! It cannot drift from the router unnoticed: `api::routes` records the
//! (method, path) of each route as it registers it, and the test below
//! requires that set to equal the document's, apart from the routes in
//! [`EXPECTED_ELSEWHERE`].
//!
//! This file holds the document's frame, the operation builder and the
//! small JSON builders; `openapi_operations` lists the operations by area,
//! `openapi_schemas` the shared schemas (`components`).

use std::collections::BTreeSet;
use std::sync::LazyLock;

use axum::response::Json;
use serde_json::{Map, Value, json};

use super::openapi_operations::operations;
use super::openapi_schemas::components;

/// Routes the document describes that another change adds to the router.
/// When you route one of these in `api::routes`, delete its line here: the
/// test fails while a route is in both.
pub const EXPECTED_ELSEWHERE: &[(&str, &str)] = &[];

/// The document is the same for every request: build it once.
static DOCUMENT: LazyLock<Value> = LazyLock::new(document);

pub async fn serve() -> Json<Value> {
    Json(DOCUMENT.clone())
}

/// Who may call an operation.
#[derive(Clone, Copy)]
pub(super) enum Who {
    Anyone,
    SignedIn,
    Leads,
    Admins,
}

/// One operation: method, path and its OpenAPI object.
pub(super) struct Op {
    method: &'static str,
    path: &'static str,
    value: Value,
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in operations() {
        let item = paths
            .entry(op.path)
            .or_insert_with(|| Value::Object(Map::new()));
        item[op.method.to_lowercase()] = op.value;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "safepref JSON API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Human annotation of LLM safety preference data. Sign in with \
                POST /api/v1/session (the cookie, or its token as a bearer), or use a personal \
                API token (`sp_…`, made by an admin on the account page or with POST \
                /api/v1/tokens) as `Authorization: Bearer <token>`. Requests signed in by \
                cookie that change state need the session's CSRF token in `X-CSRF-Token`; \
                bearer requests do not. Errors are {\"error\": {\"code\", \"message\"}}.",
        },
        "paths": paths,
        "components": components(),
        "security": [{"cookieSession": []}, {"bearerToken": []}],
    })
}

/// (METHOD, path) of every operation in a document.
pub fn operations_in(document: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let Some(paths) = document["paths"].as_object() else {
        return found;
    };
    for (path, item) in paths {
        for method in item.as_object().into_iter().flat_map(|m| m.keys()) {
            found.insert((method.to_uppercase(), path.clone()));
        }
    }
    found
}
/// An operation with the error responses its access and inputs make possible.
pub(super) fn op(
    method: &'static str,
    path: &'static str,
    summary: &str,
    who: Who,
    parameters: Vec<Value>,
    body: Option<Value>,
    success: Value,
) -> Op {
    let mut responses = success;
    let mut error = |status: &str, why: &str| {
        responses[status] = json!({"description": why, "content": {"application/json": {"schema": schema("Error")}}});
    };
    if body.is_some() || parameters.iter().any(|p| p["in"] == "query") {
        error(
            "400",
            "The request is malformed or breaks a rule (the message says which)",
        );
    }
    let needs = match who {
        Who::Anyone => None,
        Who::SignedIn => Some("signed-in users"),
        Who::Leads => Some("leads and admins"),
        Who::Admins => Some("admins"),
    };
    if needs.is_some() {
        error(
            "401",
            "Not signed in, or the token is unknown, expired or revoked",
        );
    }
    if matches!(who, Who::Leads | Who::Admins) {
        error("403", "The caller's role may not do this");
    }
    if path.contains('{') {
        error("404", "There is no such resource (of the caller's)");
    }
    let mut value = json!({
        "summary": summary,
        "operationId": operation_id(method, path),
        "parameters": parameters,
        "responses": responses,
    });
    match needs {
        None => value["security"] = json!([]),
        Some(who) => value["description"] = json!(format!("For {who}.")),
    }
    if let Some(body) = body {
        value["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": body}}});
    }
    Op {
        method,
        path,
        value,
    }
}

/// `get_api_v1_projects_id_report` and the like: unique and stable.
fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<&str> = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    format!("{}_{}", method.to_lowercase(), words.join("_"))
}

pub(super) fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

pub(super) fn ok(description: &str, body: Value) -> Value {
    json!({"200": {"description": description, "content": {"application/json": {"schema": body}}}})
}

pub(super) fn no_content(description: &str) -> Value {
    json!({"204": {"description": description}})
}

pub(super) fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties})
}

pub(super) fn id_param(description: &str) -> Value {
    path_param("id", description)
}

/// A uuid in the path, named as in the route.
pub(super) fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description,
           "schema": {"type": "string", "format": "uuid"}})
}

pub(super) fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

/// A query parameter that may be given several times (`?batch=1&batch=2`).
pub(super) fn repeated(name: &str, description: &str, items: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description,
           "style": "form", "explode": true, "schema": {"type": "array", "items": items}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routed() -> BTreeSet<(String, String)> {
        super::super::api::routes()
            .registered()
            .iter()
            .map(|(method, path)| (method.as_str().to_string(), path.to_string()))
            .collect()
    }

    fn elsewhere() -> BTreeSet<(String, String)> {
        EXPECTED_ELSEWHERE
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect()
    }

    #[test]
    fn the_document_describes_exactly_the_routed_api() {
        let documented = operations_in(&document());
        let routed = routed();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "routed in api::routes but not in the OpenAPI document: {undocumented:?}"
        );
        let unrouted: Vec<_> = documented
            .difference(&routed)
            .filter(|r| !elsewhere().contains(*r))
            .collect();
        assert!(
            unrouted.is_empty(),
            "in the OpenAPI document but not routed (nor in EXPECTED_ELSEWHERE): {unrouted:?}"
        );
        let now_routed: Vec<_> = elsewhere().intersection(&routed).cloned().collect();
        assert!(
            now_routed.is_empty(),
            "now routed: delete from openapi::EXPECTED_ELSEWHERE: {now_routed:?}"
        );
        let not_documented: Vec<_> = elsewhere().difference(&documented).cloned().collect();
        assert!(
            not_documented.is_empty(),
            "EXPECTED_ELSEWHERE names routes the document lacks: {not_documented:?}"
        );
    }

    #[test]
    fn every_route_is_under_api_v1_and_routed_once() {
        let registered = super::super::api::routes().registered().to_vec();
        assert!(registered.iter().all(|(_, p)| p.starts_with("/api/v1/")));
        assert_eq!(routed().len(), registered.len(), "a route added twice");
    }

    #[test]
    fn path_parameters_are_declared_and_operation_ids_unique() {
        let doc = document();
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                assert!(ids.insert(op["operationId"].as_str().unwrap().to_string()));
                let declared: BTreeSet<&str> = op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|p| p["in"] == "path")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect();
                let in_path: BTreeSet<&str> = path
                    .split('/')
                    .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                    .collect();
                assert_eq!(declared, in_path, "{method} {path}");
                assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
            }
        }
    }

    #[test]
    fn every_schema_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"").skip(1) {
            let name = reference
                .split('"')
                .next()
                .unwrap()
                .trim_start_matches("#/components/schemas/");
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "unresolved $ref {name}"
            );
        }
    }
}
