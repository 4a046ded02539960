//! The operations of the OpenAPI document, one function per area of the
//! API (sessions and users, tokens, projects, the queue, suggestions), and
//! the query parameters several operations share.

use serde_json::{Value, json};

use super::openapi::{
    Op, Who, id_param, no_content, object, ok, op, path_param, query, repeated, schema,
};

pub(super) fn operations() -> Vec<Op> {
    let mut ops = Vec::new();
    ops.extend(session_ops());
    ops.extend(token_ops());
    ops.extend(project_ops());
    ops.extend(queue_ops());
    ops.extend(suggestion_ops());
    ops.extend(super::openapi_review_operations::review_ops());
    ops.extend(member_ops());
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
    let token_list = || {
        ok(
            "The tokens",
            object(
                &["tokens"],
                json!({"tokens": {"type": "array", "items": schema("Token")}}),
            ),
        )
    };
    vec![
        op(
            "GET",
            "/api/v1/tokens",
            "The caller's personal API tokens, newest first (never their secrets)",
            Who::Admins,
            vec![],
            None,
            token_list(),
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
            token_list(),
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

pub(super) fn page_params() -> Vec<Value> {
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

/// A project's people: its members and its access (admins).
fn member_ops() -> Vec<Op> {
    let project = || id_param("The project's id");
    vec![
        op(
            "GET",
            "/api/v1/projects/{id}/members",
            "A project's access and its members, by username",
            Who::Admins,
            vec![project()],
            None,
            ok("The access and the members", schema("Members")),
        ),
        op(
            "POST",
            "/api/v1/projects/{id}/members",
            "Add annotators and leads as members, all or nothing: a 400 names every username that does not exist, is an admin's or a crowd worker's; audited",
            Who::Admins,
            vec![project()],
            Some(schema("NewMembers")),
            ok(
                "Who was added, and who was a member already",
                schema("MembersAdded"),
            ),
        ),
        op(
            "DELETE",
            "/api/v1/projects/{id}/members/{user_id}",
            "Remove a member: their live leases in a members-only project are released, their annotations stay and count; audited",
            Who::Admins,
            vec![project(), path_param("user_id", "The member's user id")],
            None,
            ok("The member removed", schema("MemberRemoved")),
        ),
        op(
            "PUT",
            "/api/v1/projects/{id}/access",
            "Set who may work on the project: open (every annotator and lead) or members (only its members; the live leases of everyone else are released); audited",
            Who::Admins,
            vec![project()],
            Some(schema("NewAccess")),
            ok("The access before and now", schema("AccessChanged")),
        ),
    ]
}
