//! The OpenAPI document's `components`: its security schemes and the
//! schemas operations refer to by name (`schema("Lease")`).

use serde_json::{Value, json};

use super::openapi::{object, schema};

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

pub(super) fn components() -> Value {
    let mut value = base_components();
    if let Some(schemas) = value["schemas"].as_object_mut() {
        schemas.extend(review_schemas());
    }
    value
}

fn base_components() -> Value {
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
            "Access": {"type": "string", "enum": ["open", "members"],
                       "description": "open: every annotator and lead may work on the project; members: only its members (admins always)"},
            "Member": object(&["user_id", "username", "role", "disabled", "added_at"], json!({
                "user_id": uuid(), "username": {"type": "string"},
                "role": {"type": "string", "enum": ["annotator", "lead"]},
                "disabled": {"type": "boolean"}, "added_at": time()})),
            "Members": object(&["project_id", "access", "members"], json!({
                "project_id": uuid(), "access": schema("Access"),
                "members": {"type": "array", "items": schema("Member")}})),
            "NewMembers": {"type": "object", "required": ["usernames"], "additionalProperties": false,
                "properties": {"usernames": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 200}}},
            "MembersAdded": object(&["added", "already_members"], json!({
                "added": {"type": "array", "items": {"type": "string"}},
                "already_members": {"type": "array", "items": {"type": "string"}}})),
            "MemberRemoved": object(&["removed", "leases_released"], json!({
                "removed": {"type": "string", "description": "The username"}, "leases_released": int()})),
            "NewAccess": {"type": "object", "required": ["access"], "additionalProperties": false,
                "properties": {"access": schema("Access")}},
            "AccessChanged": object(&["before", "access", "leases_released"], json!({
                "before": schema("Access"), "access": schema("Access"), "leases_released": int()})),
        },
    })
}

/// The lead's work (`api_review`): the queue's page, one item under
/// review, the audit log's page.
fn review_schemas() -> serde_json::Map<String, Value> {
    let uuid = || json!({"type": "string", "format": "uuid"});
    let time = || json!({"type": "string", "format": "date-time"});
    let int = || json!({"type": "integer"});
    let text = || json!({"type": "string"});
    let nullable = |t: &str| json!({"type": [t, "null"]});
    let list = |items: Value| json!({"type": "array", "items": items});
    let state = || json!({"type": "string", "enum": ["pending", "complete", "adjudicated"]});
    let page = |name: &str, items: Value| {
        object(
            &["total", "page", "pages", "per_page", name],
            json!({"total": int(), "page": int(),
            "pages": int(), "per_page": int(), name: list(items)}),
        )
    };
    let entry = object(
        &[
            "item_id",
            "batch",
            "state",
            "prompt_start",
            "annotations",
            "min_support",
            "summary",
            "reasons",
        ],
        json!({
        "item_id": uuid(), "batch": int(), "state": state(), "prompt_start": text(), "annotations": int(),
        "min_support": {"type": "number", "description": "The lowest support of any field, 0 to 1"},
        "summary": {"type": "string", "description": "The reasons in one line, as the queue page shows them, e.g. \"A: safe? 2 of 3 unsafe · helpful: tie\""},
        "reasons": list(text())}),
    );
    let annotation = object(
        &[
            "id",
            "annotator",
            "annotator_id",
            "labels",
            "submitted_at",
            "valid",
        ],
        json!({
        "id": uuid(), "annotator": text(), "annotator_id": uuid(), "labels": schema("Labels"),
        "seconds_spent": nullable("number"), "submitted_at": time(), "revisions": int(),
        "valid": {"type": "boolean", "description": "False once a lead requeued it (kept, not counted)"},
        "invalidated_at": nullable("string"), "invalid_reason": nullable("string"),
        "invalidated_by": nullable("string")}),
    );
    let item = object(
        &["id", "project_id", "batch", "state", "prompt", "responses"],
        json!({
        "id": uuid(), "project_id": uuid(), "batch": int(), "external_id": nullable("string"),
        "state": state(), "prompt": text(), "prompt_source": nullable("string"),
        "responses": list(object(&["position", "text"], json!({"position": int(), "text": text()}))),
        "done": int(), "leased": int(), "extra_annotations": int(),
        "source_labels": {"description": "The dataset's own labels, as imported"},
        "gold": {"description": "The gold labels of a gold item, else null"}}),
    );
    let review = object(
        &[
            "item",
            "annotations",
            "skips",
            "adjudications",
            "suggestions",
            "consolidated",
            "reasons",
        ],
        json!({
        "item": item, "annotations": list(annotation),
        "skips": list(object(&["annotator", "reason"], json!({"annotator": text(), "reason": text(),
            "note": nullable("string")}))),
        "adjudications": list(object(&["lead", "labels", "reason", "created_at"], json!({
            "lead": text(), "labels": schema("Labels"), "reason": text(), "created_at": time()}))),
        "suggestions": list(schema("Suggestion")),
        "consolidated": object(&["labels", "adjudicated", "support"], json!({
            "labels": {"description": "The final labels (the newest adjudication wins); null when a tie or conflict leaves none"},
            "adjudicated": {"type": "boolean"},
            "support": {"type": "object", "description": "The people's support of each field, 0 to 1"}})),
        "reasons": {"type": "array", "items": text(), "description": "Why the item needs review, as the queue words it"}}),
    );
    let audit = object(
        &["action", "subject", "at"],
        json!({
        "actor": nullable("string"), "action": text(), "subject": text(),
        "before": {"description": "The state before, or null"}, "after": {"description": "The state after, or null"},
        "at": time()}),
    );
    let mut schemas = serde_json::Map::new();
    schemas.insert("ReviewQueuePage".into(), page("entries", entry));
    schemas.insert("ItemReview".into(), review);
    schemas.insert("AuditPage".into(), page("entries", audit));
    schemas
}
