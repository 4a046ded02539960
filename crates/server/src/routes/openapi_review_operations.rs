//! The OpenAPI operations of the lead's work (`routes::api_review`): the
//! review queue, one item, its two decisions, the actions on an annotator,
//! and the audit log.

use serde_json::{Value, json};

use super::openapi::{Op, Who, id_param, no_content, object, ok, op, path_param, query, schema};
use super::openapi_operations::page_params;

/// The lead's work (`api_review`): the queue, one item, its two decisions,
/// the actions on an annotator, and the audit log.
pub(super) fn review_ops() -> Vec<Op> {
    let item = || id_param("The item's id");
    let reason = || {
        json!({"type": "string", "minLength": 1, "maxLength": 2000,
                           "description": "Why: it goes to the audit log"})
    };
    let annotator = |action: &'static str, summary: &str, body: Option<Value>, success: Value| {
        let path: &'static str = match action {
            "pause" => "/api/v1/projects/{id}/annotators/{user_id}/pause",
            "resume" => "/api/v1/projects/{id}/annotators/{user_id}/resume",
            "release" => "/api/v1/projects/{id}/annotators/{user_id}/release",
            _ => "/api/v1/projects/{id}/annotators/{user_id}/requeue",
        };
        let params = vec![
            id_param("The project's id"),
            path_param("user_id", "The annotator's id"),
        ];
        op("POST", path, summary, Who::Leads, params, body, success)
    };
    let closed = |required: &[&str], properties: Value| {
        let mut value = object(required, properties);
        value["additionalProperties"] = json!(false);
        value
    };
    vec![
        op(
            "GET",
            "/api/v1/projects/{id}/review-queue",
            "The project's review queue, most disputed first, with the review page's filters",
            Who::Leads,
            [
                vec![id_param("The project's id")],
                review_queue_params(),
                page_params(),
            ]
            .concat(),
            None,
            ok("A page of the queue", schema("ReviewQueuePage")),
        ),
        op(
            "GET",
            "/api/v1/items/{id}/review",
            "An item as its review page shows it: prompt, responses, every annotation, skips, adjudications, suggestions",
            Who::Leads,
            vec![item()],
            None,
            ok("The item under review", schema("ItemReview")),
        ),
        op(
            "POST",
            "/api/v1/items/{id}/adjudicate",
            "Set the item's final labels with a reason (audited; the newest adjudication wins)",
            Who::Leads,
            vec![item()],
            Some(closed(
                &["labels", "reason"],
                json!({"labels": schema("Labels"), "reason": reason()}),
            )),
            no_content("Adjudicated"),
        ),
        op(
            "POST",
            "/api/v1/items/{id}/send-back",
            "Ask for one more annotation of the item (audited; 409 for an adjudicated item)",
            Who::Leads,
            vec![item()],
            Some(closed(&["reason"], json!({"reason": reason()}))),
            no_content("Sent back"),
        ),
        annotator(
            "pause",
            "Pause the annotator in the project: no new items there (audited)",
            None,
            no_content("Paused"),
        ),
        annotator(
            "resume",
            "Let a paused annotator take items in the project again (audited)",
            None,
            no_content("Resumed"),
        ),
        annotator(
            "release",
            "Give the annotator's open items in the project back to the queue (audited)",
            None,
            ok(
                "How many leases ended",
                object(&["released"], json!({"released": {"type": "integer"}})),
            ),
        ),
        annotator(
            "requeue",
            "Mark the annotator's annotations on the batches invalid and give the items to others (audited)",
            Some(closed(
                &["batches", "reason"],
                json!({
                "batches": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1},
                            "description": "Batch numbers"},
                "reason": reason()}),
            )),
            ok(
                "What changed",
                object(
                    &["invalidated", "items_reopened"],
                    json!({
                "invalidated": {"type": "integer"}, "items_reopened": {"type": "integer"}}),
                ),
            ),
        ),
        op(
            "GET",
            "/api/v1/audit",
            "The audit log, newest first, with the audit page's filters",
            Who::Leads,
            [audit_params(), page_params()].concat(),
            None,
            ok("A page of the log", schema("AuditPage")),
        ),
    ]
}

/// The review queue's filters, named as on its page.
fn review_queue_params() -> Vec<Value> {
    let text = || json!({"type": "string"});
    vec![
        query(
            "batch",
            "Only this batch (by number)",
            json!({"type": "integer", "minimum": 1}),
        ),
        query(
            "category",
            "Only items where a valid annotation ticked this category",
            text(),
        ),
        query(
            "severity",
            "Only items whose highest severity in a valid annotation is this",
            json!({"type": "integer", "minimum": 0, "maximum": 3}),
        ),
        query(
            "status",
            "Only items in this state (absent: every item not adjudicated)",
            json!({"type": "string", "enum": ["pending", "complete", "adjudicated"]}),
        ),
        query(
            "annotator",
            "Only items this annotator (username) annotated",
            text(),
        ),
        query(
            "reason",
            "Only items with a reason of this kind",
            json!({"type": "string", "enum": crate::review::REASON_KINDS}),
        ),
    ]
}

/// The audit log's filters, named as on its page.
fn audit_params() -> Vec<Value> {
    let text = || json!({"type": "string"});
    vec![
        query("user", "Only changes by this user (username)", text()),
        query(
            "item",
            "Only entries about this item (its id) or subject (e.g. user:<id>)",
            text(),
        ),
        query(
            "action",
            "Only this action, e.g. \"item adjudicated\"",
            text(),
        ),
    ]
}
