//! The lead's work over the JSON API (leads and admins): the review queue,
//! one item with everything its review page shows, adjudicate and send
//! back, pause / resume / release / requeue an annotator, and the audit
//! log. The same `review` and `audit_log` calls as the pages, so the same
//! rules and the same audit entries; a project the caller may not see is a
//! 404 like one that does not exist.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Json;
use safepref_core::labels::Labels;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Pager;
use super::registry::Routes;
use crate::accounts::{self, User};
use crate::app::AppState;
use crate::audit_log;
use crate::auth::RequireLead;
use crate::error::{AppError, Result};
use crate::projects::{self, Project};
use crate::review::{self, ItemAnnotation, QueueEntry, QueueQuery, whole_number};

pub fn routes() -> Routes {
    use Method as M;
    Routes::default()
        .add(M::GET, "/api/v1/projects/{id}/review-queue", queue)
        .add(M::GET, "/api/v1/items/{id}/review", item)
        .add(M::POST, "/api/v1/items/{id}/adjudicate", adjudicate)
        .add(M::POST, "/api/v1/items/{id}/send-back", send_back)
        .add(
            M::POST,
            "/api/v1/projects/{id}/annotators/{user_id}/pause",
            pause,
        )
        .add(
            M::POST,
            "/api/v1/projects/{id}/annotators/{user_id}/resume",
            resume,
        )
        .add(
            M::POST,
            "/api/v1/projects/{id}/annotators/{user_id}/release",
            release,
        )
        .add(
            M::POST,
            "/api/v1/projects/{id}/annotators/{user_id}/requeue",
            requeue,
        )
        .add(M::GET, "/api/v1/audit", audit)
}

/// A JSON body as `T`, or a 400 whose message names the field that is
/// wrong (axum's rejection says where: `batches[0]: invalid type…`).
type Body<T> = std::result::Result<Json<T>, JsonRejection>;

fn body<T>(body: Body<T>) -> Result<T> {
    body.map(|Json(t)| t)
        .map_err(|e| AppError::BadRequest(e.body_text()))
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `page` and `per_page` (default 100, at most 1000), as the other lists.
fn pager(page: &Option<String>, per_page: &Option<String>) -> Result<Pager> {
    let per_page: i64 = whole_number("per_page", per_page)?.unwrap_or(100);
    Pager::new(whole_number("page", page)?, per_page.clamp(1, 1000))
}

#[derive(Deserialize)]
struct QueueParams {
    page: Option<String>,
    per_page: Option<String>,
    #[serde(flatten)]
    filters: QueueQuery,
}

/// The project's review queue, most disputed first, filtered as the page.
async fn queue(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path(id): Path<Uuid>,
    Query(params): Query<QueueParams>,
) -> Result<Json<Value>> {
    let project = projects::find_for(&state.pool, &session.user, id).await?;
    let filter = params.filters.filter()?;
    let pager = pager(&params.page, &params.per_page)?;
    let (entries, total) = review::queue_page(
        &state.pool,
        &project,
        &filter,
        pager.per_page as usize,
        pager.offset() as usize,
    )
    .await?;
    let pager = pager.with_total(total as i64);
    let entries: Vec<Value> = entries.iter().map(entry_json).collect();
    Ok(Json(json!({
        "project_id": project.id, "total": total, "page": pager.page, "pages": pager.pages,
        "per_page": pager.per_page, "entries": entries,
    })))
}

fn entry_json(e: &QueueEntry) -> Value {
    json!({
        "item_id": e.item_id, "batch": e.batch_seq, "state": e.state,
        "prompt_start": e.prompt_start, "annotations": e.annotations,
        "min_support": e.min_support, "summary": e.summary.join(" · "), "reasons": e.reasons,
    })
}

/// One item as its review page shows it.
async fn item(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path(id): Path<Uuid>,
) -> Result<Json<Value>> {
    let (item, project) = review::find_item_for(&state.pool, &session.user, id).await?;
    let found = review::item_review(&state.pool, &project, &item).await?;
    let responses: Vec<Value> = item
        .responses
        .0
        .iter()
        .map(|(position, text)| json!({"position": position, "text": text}))
        .collect();
    let adjudications: Vec<Value> = found
        .adjudications
        .iter()
        .map(|a| {
            json!({"lead": a.lead, "labels": a.labels.0, "reason": a.reason,
                   "created_at": rfc3339(a.created_at)})
        })
        .collect();
    let skips: Vec<Value> = found
        .skips
        .iter()
        .map(|s| json!({"annotator": s.annotator, "reason": s.reason, "note": s.note}))
        .collect();
    Ok(Json(json!({
        "item": {
            "id": item.id, "project_id": item.project_id, "batch": item.batch_seq,
            "external_id": item.external_id, "state": item.state, "prompt": item.prompt,
            "prompt_source": item.prompt_source, "responses": responses,
            "done": item.done, "leased": item.leased, "extra_annotations": item.extra_annotations,
            "source_labels": item.source_labels.as_ref().map(|j| &j.0),
            "gold": item.gold.as_ref().map(|g| &g.0),
        },
        "annotations": found.annotations.iter().map(annotation_json).collect::<Vec<_>>(),
        "skips": skips,
        "adjudications": adjudications,
        "suggestions": found.suggestions,
        "consolidated": {
            "labels": found.record.labels, "adjudicated": found.record.adjudicated,
            "support": found.from_votes.support,
        },
        "reasons": found.reasons,
    })))
}

/// An annotation with who made it, when, and whether it still counts.
fn annotation_json(a: &ItemAnnotation) -> Value {
    json!({
        "id": a.id, "annotator": a.annotator, "annotator_id": a.annotator_id,
        "labels": a.labels.0, "seconds_spent": a.seconds_spent,
        "submitted_at": rfc3339(a.submitted_at), "revisions": a.revisions,
        "valid": a.invalidated_at.is_none(),
        "invalidated_at": a.invalidated_at.map(rfc3339),
        "invalid_reason": a.invalid_reason, "invalidated_by": a.invalidated_by,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdjudicateBody {
    labels: Labels,
    reason: String,
}

/// Sets the item's final labels with a reason: 204.
async fn adjudicate(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path(id): Path<Uuid>,
    given: Body<AdjudicateBody>,
) -> Result<StatusCode> {
    let given = body(given)?;
    let (_, project) = review::find_item_for(&state.pool, &session.user, id).await?;
    review::adjudicate(
        &state.pool,
        &project,
        &session.user,
        id,
        &given.labels,
        &given.reason,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    reason: String,
}

/// Asks for one more annotation of the item: 204.
async fn send_back(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path(id): Path<Uuid>,
    given: Body<ReasonBody>,
) -> Result<StatusCode> {
    let given = body(given)?;
    let (_, project) = review::find_item_for(&state.pool, &session.user, id).await?;
    review::send_back(&state.pool, &project, &session.user, id, &given.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The project (if the caller may see it) and the annotator acted on.
async fn load(state: &AppState, ids: (Uuid, Uuid), viewer: &User) -> Result<(Project, User)> {
    let project = projects::find_for(&state.pool, viewer, ids.0).await?;
    let user = accounts::find_by_id(&state.pool, ids.1).await?;
    Ok((project, user))
}

async fn set_paused(
    state: &AppState,
    lead: &User,
    ids: (Uuid, Uuid),
    paused: bool,
) -> Result<StatusCode> {
    let (project, user) = load(state, ids, lead).await?;
    review::set_paused(&state.pool, &project, lead, &user, paused).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// No new items for the annotator in the project: 204.
async fn pause(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path(ids): Path<(Uuid, Uuid)>,
) -> Result<StatusCode> {
    set_paused(&state, &session.user, ids, true).await
}

/// The annotator may take items in the project again: 204.
async fn resume(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path(ids): Path<(Uuid, Uuid)>,
) -> Result<StatusCode> {
    set_paused(&state, &session.user, ids, false).await
}

/// Gives the annotator's open items in the project back to the queue.
async fn release(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path(ids): Path<(Uuid, Uuid)>,
) -> Result<Json<Value>> {
    let (project, user) = load(&state, ids, &session.user).await?;
    let released = review::release(&state.pool, &project, &session.user, &user).await?;
    Ok(Json(json!({ "released": released })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequeueBody {
    batches: Vec<i32>,
    reason: String,
}

/// Marks the annotator's annotations on the batches invalid and gives the
/// items to others (no confirmation step: the call is the decision).
async fn requeue(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path(ids): Path<(Uuid, Uuid)>,
    given: Body<RequeueBody>,
) -> Result<Json<Value>> {
    let given = body(given)?;
    let (project, user) = load(&state, ids, &session.user).await?;
    let done = review::requeue(
        &state.pool,
        &project,
        &session.user,
        &user,
        &given.batches,
        &given.reason,
    )
    .await?;
    Ok(Json(
        json!({"invalidated": done.invalidated, "items_reopened": done.reopened}),
    ))
}

#[derive(Deserialize)]
struct AuditParams {
    page: Option<String>,
    per_page: Option<String>,
    #[serde(flatten)]
    filters: audit_log::Query,
}

/// The audit log, newest first, filtered as the page.
async fn audit(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Query(params): Query<AuditParams>,
) -> Result<Json<Value>> {
    let pager = pager(&params.page, &params.per_page)?;
    let page = audit_log::page(
        &state.pool,
        &session.user,
        &params.filters.filter(),
        pager.per_page,
        pager.offset(),
    )
    .await?;
    let pager = pager.with_total(page.total);
    let entries: Vec<Value> = page
        .entries
        .iter()
        .map(|e| {
            json!({"actor": e.actor, "action": e.action, "subject": e.subject,
                   "before": e.before, "after": e.after, "at": rfc3339(e.at)})
        })
        .collect();
    Ok(Json(json!({
        "total": page.total, "page": pager.page, "pages": pager.pages,
        "per_page": pager.per_page, "entries": entries,
    })))
}
