//! GET /api/v1/openapi.json: an OpenAPI 3.1 document for every /api/v1
//! route, built by hand with serde_json (no generator crate: the API is
//! small and its shapes are written down once, here).
//!
//! It cannot drift from the router unnoticed: `api::routes` records the
//! (method, path) of each route as it registers it, and the test below
//! requires that set to equal the document's, apart from the routes in
//! [`EXPECTED_ELSEWHERE`].

use std::collections::BTreeSet;
use std::sync::LazyLock;

use axum::response::Json;
use serde_json::{Map, Value, json};

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
enum Who {
    Anyone,
    SignedIn,
    Leads,
    Admins,
}

/// One operation: method, path and its OpenAPI object.
struct Op {
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

fn operations() -> Vec<Op> {
    let mut ops = Vec::new();
    ops.extend(session_ops());
    ops.extend(token_ops());
    ops.extend(project_ops());
    ops.extend(queue_ops());
    ops.extend(suggestion_ops());
    ops.push(op(
        "GET",
        "/api/v1/openapi.json",
        "This OpenAPI document",
        Who::Anyone,
        vec![],
        None,
        ok("The document", json!({"type": "object"})),
    ));
    ops
}

fn session_ops() -> Vec<Op> {
    vec![
        op(
            "POST",
            "/api/v1/session",
            "Sign in: sets the session cookie and returns its token for use as a bearer",
            Who::Anyone,
            vec![],
            Some(schema("Credentials")),
            ok("Signed in", schema("SessionCreated")),
        ),
        op(
            "DELETE",
            "/api/v1/session",
            "Sign out: gives back held items and ends the session (not a personal token)",
            Who::SignedIn,
            vec![],
            None,
            no_content("Signed out"),
        ),
        op(
            "GET",
            "/api/v1/me",
            "Who the caller is",
            Who::SignedIn,
            vec![],
            None,
            ok("The caller", schema("User")),
        ),
        op(
            "GET",
            "/api/v1/users",
            "All accounts, a page at a time",
            Who::Admins,
            page_params(),
            None,
            ok("A page of accounts", schema("UserPage")),
        ),
    ]
}

fn token_ops() -> Vec<Op> {
    vec![
        op(
            "GET",
            "/api/v1/tokens",
            "The caller's personal API tokens, newest first (never their secrets)",
            Who::Admins,
            vec![],
            None,
            ok(
                "The tokens",
                object(
                    &["tokens"],
                    json!({"tokens": {"type": "array", "items": schema("Token")}}),
                ),
            ),
        ),
        op(
            "POST",
            "/api/v1/tokens",
            "Make a personal API token for the caller; the token is returned this once. \
             Refused (403) when the request itself uses a personal token.",
            Who::Admins,
            vec![],
            Some(schema("NewToken")),
            json!({"201": {"description": "The new token, with its secret",
                           "content": {"application/json": {"schema": schema("TokenCreated")}}}}),
        ),
        op(
            "DELETE",
            "/api/v1/tokens/{id}",
            "Revoke one of the caller's tokens: it stops working at once",
            Who::Admins,
            vec![id_param("The token's id")],
            None,
            ok("The token as it is now", schema("Token")),
        ),
        op(
            "GET",
            "/api/v1/users/{id}/tokens",
            "Any user's personal API tokens, newest first (never their secrets)",
            Who::Admins,
            vec![id_param("The user's id")],
            None,
            ok(
                "The tokens",
                object(
                    &["tokens"],
                    json!({"tokens": {"type": "array", "items": schema("Token")}}),
                ),
            ),
        ),
        op(
            "DELETE",
            "/api/v1/users/{id}/tokens/{token}",
            "Revoke any user's token: it stops working at once; audited with the caller as actor",
            Who::Admins,
            vec![
                id_param("The user's id"),
                path_param("token", "The token's id"),
            ],
            None,
            ok("The token as it is now", schema("Token")),
        ),
    ]
}

fn project_ops() -> Vec<Op> {
    let id = || id_param("The project's id");
    vec![
        op(
            "GET",
            "/api/v1/projects",
            "Projects to label, with progress",
            Who::SignedIn,
            vec![],
            None,
            ok(
                "The projects",
                object(
                    &["projects"],
                    json!({"projects": {"type": "array", "items": schema("ProjectListing")}}),
                ),
            ),
        ),
        op(
            "GET",
            "/api/v1/projects/{id}",
            "A project's settings and progress, with the caller's own share",
            Who::SignedIn,
            vec![id()],
            None,
            ok("The project", schema("Project")),
        ),
        op(
            "GET",
            "/api/v1/projects/{id}/batches",
            "A project's batches in import order, a page at a time",
            Who::Leads,
            [vec![id()], page_params()].concat(),
            None,
            ok("A page of batches", schema("BatchPage")),
        ),
        op(
            "GET",
            "/api/v1/projects/{id}/progress",
            "Where a project's items stand, in all and per batch",
            Who::Leads,
            vec![id()],
            None,
            ok("The progress", schema("Progress")),
        ),
        op(
            "GET",
            "/api/v1/projects/{id}/report",
            "The agreement report (the same numbers as `safepref report --format json`)",
            Who::Leads,
            [vec![id()], report_params()].concat(),
            None,
            ok("The report", schema("Report")),
        ),
        op(
            "GET",
            "/api/v1/projects/{id}/export",
            "Consolidated data as a streamed file",
            Who::Admins,
            [vec![id()], export_params()].concat(),
            None,
            json!({"200": {"description": "The file, streamed",
                           "content": {"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}}}),
        ),
    ]
}

fn queue_ops() -> Vec<Op> {
    vec![
        op(
            "POST",
            "/api/v1/projects/{id}/lease",
            "The caller's next item (their live lease, if they hold one)",
            Who::SignedIn,
            vec![id_param("The project's id")],
            None,
            json!({
                "200": {"description": "A lease", "content": {"application/json": {"schema": schema("Lease")}}},
                "204": {"description": "Nothing is left for the caller"},
                "403": {"description": "A lead has paused the caller in this project (error code `paused`)",
                        "content": {"application/json": {"schema": schema("Error")}}},
                "429": {"description": "The caller has done the project's daily cap today; Retry-After says when the next day starts (UTC)",
                        "content": {"application/json": {"schema": schema("Error")}}},
            }),
        ),
        op(
            "POST",
            "/api/v1/assignments/{id}/submit",
            "Store the labels for an assignment; idempotent on submission_id",
            Who::SignedIn,
            vec![
                id_param("The assignment's id"),
                query(
                    "next",
                    "1: answer with the caller's next lease in the project as well, saving a lease call",
                    json!({"type": "integer", "enum": [0, 1], "default": 0}),
                ),
            ],
            Some(schema("Submission")),
            ok(
                "Stored",
                object(
                    &["annotation_id", "gold_feedback"],
                    json!({"next": {"oneOf": [schema("Lease"), {"type": "null"}],
                               "description": "With next=1: the caller's next lease, as the lease call gives it; null when nothing is left. Absent when no lease could be given (paused, the daily cap, a race): the lease call says why"},
                           "annotation_id": {"type": "string", "format": "uuid"},
                           "gold_feedback": {"type": ["object", "null"],
                               "description": "When the project gives feedback and the item was a gold item: the expected labels (one line each) and whether these labels matched",
                               "properties": {"expected": {"type": "array", "items": {"type": "string"}}, "matched": {"type": "boolean"}}}}),
                ),
            ),
        ),
        op(
            "POST",
            "/api/v1/assignments/{id}/skip",
            "Give an item back, with a reason",
            Who::SignedIn,
            vec![id_param("The assignment's id")],
            Some(schema("Skip")),
            no_content("Skipped"),
        ),
    ]
}

fn suggestion_ops() -> Vec<Op> {
    let stored = |description: &str| {
        json!({"description": description, "content": {"application/json": {"schema": object(
            &["item_id", "source", "replaced"],
            json!({"item_id": {"type": "string", "format": "uuid"}, "source": {"type": "string"},
                   "replaced": {"type": "boolean"}}))}}})
    };
    vec![
        op(
            "GET",
            "/api/v1/items/{id}/suggestions",
            "Every machine suggestion for an item, by source",
            Who::Leads,
            vec![id_param("The item's id")],
            None,
            ok(
                "The suggestions",
                object(
                    &["item_id", "suggestions"],
                    json!({"item_id": {"type": "string", "format": "uuid"},
                           "suggestions": {"type": "array", "items": schema("Suggestion")}}),
                ),
            ),
        ),
        op(
            "POST",
            "/api/v1/items/{id}/suggestions",
            "Store a model's suggested labels for an item (replacing that source's earlier one)",
            Who::Admins,
            vec![id_param("The item's id")],
            Some(schema("Suggestion")),
            json!({"201": stored("Stored"), "200": stored("Stored, replacing the source's earlier suggestion")}),
        ),
    ]
}

/// An operation with the error responses its access and inputs make possible.
fn op(
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

fn schema(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn ok(description: &str, body: Value) -> Value {
    json!({"200": {"description": description, "content": {"application/json": {"schema": body}}}})
}

fn no_content(description: &str) -> Value {
    json!({"204": {"description": description}})
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties})
}

fn id_param(description: &str) -> Value {
    path_param("id", description)
}

/// A uuid in the path, named as in the route.
fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description,
           "schema": {"type": "string", "format": "uuid"}})
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

/// A query parameter that may be given several times (`?batch=1&batch=2`).
fn repeated(name: &str, description: &str, items: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description,
           "style": "form", "explode": true, "schema": {"type": "array", "items": items}})
}

fn page_params() -> Vec<Value> {
    vec![
        query(
            "page",
            "1-based page number",
            json!({"type": "integer", "minimum": 1, "default": 1}),
        ),
        query(
            "per_page",
            "Rows a page",
            json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
        ),
    ]
}

fn report_params() -> Vec<Value> {
    vec![
        query(
            "batch",
            "Only this batch (by number)",
            json!({"type": "integer", "minimum": 1}),
        ),
        query(
            "since",
            "Only annotations submitted at or after this time",
            json!({"type": "string", "format": "date-time"}),
        ),
        query(
            "until",
            "Only annotations submitted before this time",
            json!({"type": "string", "format": "date-time"}),
        ),
        repeated(
            "annotator",
            "Only these annotators (usernames)",
            json!({"type": "string"}),
        ),
        query(
            "suggestion_mode",
            "Only annotations made in this suggestion mode (what the annotator saw of machine suggestions); skips have no mode and are then not counted",
            json!({"type": "string", "enum": ["blind", "hint", "prefill"]}),
        ),
    ]
}

fn export_params() -> Vec<Value> {
    let boolean = || json!({"type": "boolean", "default": false});
    let format = json!({"type": "string", "enum": ["pku", "dpo-helpful", "dpo-harmless", "raw", "safe-rlhf", "raw-suggestions"]});
    let mut required_format = query("format", "The record format", format);
    required_format["required"] = json!(true);
    vec![
        required_format,
        query(
            "encoding",
            "The file encoding",
            json!({"type": "string", "enum": ["jsonl", "jsonl.gz", "csv", "parquet"], "default": "jsonl"}),
        ),
        repeated(
            "batch",
            "Only these batches (by number)",
            json!({"type": "integer", "minimum": 1}),
        ),
        query(
            "complete_only",
            "Only items with all their annotations",
            boolean(),
        ),
        query(
            "min_support",
            "Only records whose consolidated labels have at least this support",
            json!({"type": "number", "minimum": 0, "maximum": 1}),
        ),
        query("adjudicated_only", "Only adjudicated items", boolean()),
        query("exclude_gold", "Leave out gold items", boolean()),
        query(
            "method",
            "How annotations are consolidated",
            json!({"type": "string", "enum": ["majority", "dawid-skene"], "default": "majority"}),
        ),
        query(
            "with_usernames",
            "Usernames instead of pseudonyms (format raw only)",
            boolean(),
        ),
        query(
            "ds_source",
            "A suggestion source counted as one more annotator (method dawid-skene only; default: people only)",
            json!({"type": "string"}),
        ),
        query(
            "with_suggestions",
            "A suggestions column after the record's fields: every source's {source, labels, scores}, by source (consolidated formats only)",
            boolean(),
        ),
        query(
            "split",
            "Which split to stream: required for format safe-rlhf (a directory of two files), refused for the others; only that split is encoded",
            json!({"type": "string", "enum": ["train", "test"]}),
        ),
        query(
            "test_ratio",
            "Share of prompts in the test split (format safe-rlhf)",
            json!({"type": "number", "minimum": 0, "maximum": 1, "default": 0.1}),
        ),
    ]
}

/// A model's suggestion: the API's labels shape with an optional score per
/// field (apart from `components`, whose one `json!` would outgrow the
/// macro's recursion limit).
fn suggestion_schema() -> Value {
    json!({"type": "object", "required": ["source", "labels"], "additionalProperties": false,
                "properties": {
                    "source": {"type": "string", "pattern": "^[A-Za-z0-9._:/@+-]{1,100}$",
                               "description": "The model's name, e.g. gpt-4o-2024-08-06"},
                    "labels": schema("Labels"),
                    "scores": {"type": "object", "additionalProperties": false,
                        "description": "The model's confidence per field, 0 to 1; any may be left out",
                        "properties": {
                            "responses": {"type": "array", "items": {"type": "object", "additionalProperties": false,
                                "properties": {"safe": {"type": "number"}, "severity": {"type": "number"},
                                               "categories": {"type": "number"}}}},
                            "helpfulness": {"type": "number"}, "harmlessness": {"type": "number"},
                            "overall": {"type": "number"}}}}})
}

fn components() -> Value {
    let uuid = || json!({"type": "string", "format": "uuid"});
    let time = || json!({"type": "string", "format": "date-time"});
    let maybe_time = || json!({"type": ["string", "null"], "format": "date-time"});
    let int = || json!({"type": "integer"});
    json!({
        "securitySchemes": {
            "cookieSession": {"type": "apiKey", "in": "cookie", "name": crate::auth::session::COOKIE_NAME,
                              "description": "The browser session (named __Host-safepref_session when the site is served over https); state changes also need X-CSRF-Token"},
            "bearerToken": {"type": "http", "scheme": "bearer",
                            "description": "A session token from POST /api/v1/session, or a personal API token (sp_…)"},
        },
        "schemas": {
            "Error": object(&["error"], json!({"error": object(&["code", "message"],
                json!({"code": {"type": "string"}, "message": {"type": "string"}}))})),
            "Credentials": object(&["username", "password"],
                json!({"username": {"type": "string"}, "password": {"type": "string"}})),
            "User": object(&["id", "username", "role"], json!({"id": uuid(), "username": {"type": "string"},
                "role": {"type": "string", "enum": ["annotator", "lead", "admin"]}})),
            "SessionCreated": object(&["token", "csrf_token", "expires_at", "user"], json!({
                "token": {"type": "string"}, "csrf_token": {"type": "string"}, "expires_at": time(),
                "user": schema("User")})),
            "UserPage": object(&["total", "page", "pages", "users"], json!({"total": int(), "page": int(),
                "pages": int(), "users": {"type": "array", "items": schema("User")}})),
            "NewToken": {"type": "object", "required": ["name"], "additionalProperties": false, "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 100},
                "expires_in_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 3650,
                                    "description": "Absent or null: the token does not expire"}}},
            "Token": object(&["id", "name", "created_at", "last_used_at", "expires_at", "revoked_at", "active"], json!({
                "id": uuid(), "name": {"type": "string"}, "created_at": time(), "last_used_at": maybe_time(),
                "expires_at": maybe_time(), "revoked_at": maybe_time(), "active": {"type": "boolean"}})),
            "TokenCreated": {"allOf": [schema("Token"), object(&["token"], json!({
                "token": {"type": "string", "pattern": "^sp_", "description": "The secret; shown only this once"}}))]},
            "ProjectListing": object(&["id", "name", "responses_per_item", "annotations_per_item", "lease_seconds",
                                       "items", "complete", "done_by_me"], json!({
                "id": uuid(), "name": {"type": "string"}, "responses_per_item": int(), "annotations_per_item": int(),
                "lease_seconds": int(), "items": int(), "complete": int(), "done_by_me": int()})),
            "Project": object(&["id", "name", "guidelines", "responses_per_item", "annotations_per_item",
                                "lease_seconds", "revisable_recent", "questions", "taxonomy", "gold_rate",
                                "wellbeing", "created_at", "progress"], json!({
                "id": uuid(), "name": {"type": "string"}, "guidelines": {"type": "string", "description": "Markdown"},
                "responses_per_item": int(), "annotations_per_item": int(), "lease_seconds": int(),
                "revisable_recent": int(), "questions": {"type": "object"}, "taxonomy": {"type": "object"},
                "gold_rate": {"type": "number"}, "wellbeing": {"type": "object"},
                "suggestions": {"type": "object", "description": "What annotators see of machine suggestions (display: blind, hint or prefill; source) and the routing rule (routing: {source, threshold} or null)"},
                "created_at": time(),
                "progress": object(&["items", "complete", "done_by_me", "done_by_me_today"], json!({
                    "items": int(), "complete": int(), "done_by_me": int(), "done_by_me_today": int()}))})),
            "Batch": object(&["id", "seq", "file_name", "sha256", "rows_read", "items_imported",
                              "duplicates_skipped", "hash_mismatches", "imported_by", "imported_at",
                              "items", "annotations"], json!({
                "id": uuid(), "seq": int(), "file_name": {"type": "string"}, "sha256": {"type": "string"},
                "rows_read": int(), "items_imported": int(), "duplicates_skipped": int(), "hash_mismatches": int(),
                "imported_by": {"type": ["string", "null"], "description": "Username; null: the command line"},
                "imported_at": time(),
                "items": object(&["pending", "in_progress", "complete"], json!({
                    "pending": int(), "in_progress": int(),
                    "complete": {"type": "integer", "description": "Complete or adjudicated"}})),
                "annotations": int()})),
            "BatchPage": object(&["total", "page", "pages", "per_page", "batches"], json!({"total": int(),
                "page": int(), "pages": int(), "per_page": int(),
                "batches": {"type": "array", "items": schema("Batch")}})),
            "ItemCounts": object(&["total", "pending", "in_progress", "complete", "adjudicated"], json!({
                "total": int(), "pending": int(),
                "in_progress": {"type": "integer", "description": "Pending items with some submissions"},
                "complete": int(), "adjudicated": int()})),
            "Progress": object(&["project_id", "items", "annotations", "batches"], json!({
                "project_id": uuid(), "items": schema("ItemCounts"), "annotations": int(),
                "batches": {"type": "array", "items": object(&["batch_id", "seq", "items", "annotations"], json!({
                    "batch_id": uuid(), "seq": int(), "items": schema("ItemCounts"), "annotations": int()}))}})),
            "Report": object(&["scope", "items", "annotations", "questions", "per_category", "annotators"], json!({
                "scope": {"type": "object"}, "items": int(), "annotations": int(),
                "questions": {"type": "object"}, "per_category": {"type": "object"},
                "annotators": {"type": "array", "items": {"type": "object"}},
                "suggestion_modes": {"type": "object", "description": "Annotations by what the annotator saw of machine suggestions: blind, hint, prefill"},
                "machine": {"type": "object", "description": "Per suggestion source: agreement with the human consensus per question and category, safe and severity confusions, disagreements with a confident majority"}})),
            "Lease": object(&["assignment_id", "item", "suggestions", "expires_at"], json!({
                "assignment_id": uuid(), "expires_at": time(),
                "suggestions": {"type": "array", "items": schema("Suggestion"),
                                "description": "The machine suggestions the project shows annotators: none when blind (the default), the chosen source's (or every source's) in hint and prefill modes"},
                "item": object(&["id", "prompt", "responses", "severe"], json!({
                    "id": uuid(), "prompt": {"type": "string"}, "prompt_source": {"type": ["string", "null"]},
                    "severe": {"type": "boolean"},
                    "responses": {"type": "array", "items": object(&["position", "text"], json!({
                        "position": int(), "text": {"type": "string"}}))}}))})),
            "ResponseLabel": object(&["safe", "categories", "severity"], json!({
                "safe": {"type": "boolean"}, "categories": {"type": "array", "items": {"type": "string"}},
                "severity": {"type": "integer", "minimum": 0, "maximum": 3}})),
            "Labels": object(&["responses"], json!({
                "responses": {"type": "array", "items": schema("ResponseLabel")},
                "helpfulness": {"type": "array", "items": int(), "description": "Positions, most helpful first"},
                "harmlessness": {"type": "array", "items": int(), "description": "Positions, most harmless first"},
                "overall": int(), "confidence": {"type": "integer", "minimum": 1, "maximum": 5},
                "comment": {"type": "string"}})),
            "Suggestion": suggestion_schema(),
            "Submission": {"type": "object", "required": ["submission_id", "labels"], "additionalProperties": false,
                "properties": {"submission_id": uuid(), "labels": schema("Labels"),
                               "seconds_spent": {"type": "number", "minimum": 0}}},
            "Skip": {"type": "object", "required": ["reason"], "additionalProperties": false, "properties": {
                "reason": {"type": "string", "enum": ["unclear", "wrong_language", "too_disturbing", "other"]},
                "note": {"type": "string", "maxLength": 2000}}},
        },
    })
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
