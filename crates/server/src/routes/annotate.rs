//! The annotator's page: one item at a time from the queue, labelled with
//! plain HTML forms (it all works without JavaScript); static/js/annotate.js
//! adds the keyboard map, quick rule checks and loading the next item
//! without a full page load.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use safepref_core::labels::Labels;
use uuid::Uuid;

use super::Chrome;
use super::annotate_page::{
    AnnotatePage, Entered, GuidelinesPage, NothingLeft, render, severities,
};
use super::fields::form_field;
use super::labels_form::labels_from;
use super::registry::Routes;
use crate::app::AppState;
use crate::auth::{ActiveSession, CurrentUser};
use crate::error::{AppError, Result};
use crate::projects::Project;
use crate::queue::{self, GoldFeedback, LeasedItem, QueueError, SkipReason};
use crate::wellbeing::{self, WellbeingError};
use crate::{markdown, projects};

pub fn routes() -> Routes {
    Routes::default()
        .get("/annotate/{project}", page)
        .post("/annotate/{project}/submit", submit)
        .post("/annotate/{project}/skip", skip)
        .get("/annotate/{project}/guidelines", guidelines)
        .get("/annotate/{project}/revise/{annotation}", revise_form)
        .post("/annotate/{project}/revise/{annotation}", revise)
}

/// `after`: the assignment just submitted, for gold feedback.
#[derive(serde::Deserialize)]
struct PageQuery {
    after: Option<Uuid>,
}

async fn page(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    Path(project_id): Path<Uuid>,
    Query(query): Query<PageQuery>,
) -> Result<Response> {
    let project = projects::find_for(&state.pool, &session.user, project_id).await?;
    let feedback = match query.after {
        Some(after) => queue::gold_feedback(&state.pool, &project, session.user.id, after).await?,
        None => None,
    };
    // A crowd worker past the project's quota gets the completion code.
    if let Some(done) =
        super::crowd::completion_page(&state, &session, &project, feedback.clone()).await?
    {
        return Ok(done);
    }
    let lease = match queue::lease(&state.pool, &project, session.user.id).await {
        Ok(lease) => lease,
        Err(QueueError::Wellbeing(cap @ WellbeingError::DailyCapReached { .. })) => {
            let message = cap.to_string();
            return nothing_left(&state, &session, project, feedback, Some(message)).await;
        }
        Err(e) => return Err(e.into()),
    };
    let Some(lease) = lease else {
        return nothing_left(&state, &session, project, feedback, None).await;
    };
    let break_due = wellbeing::break_reminder(&state.pool, &project, session.user.id).await?;
    let action = format!("/annotate/{project_id}/submit");
    let mut page = render(
        &state,
        &session,
        project,
        lease.item,
        Some(lease.assignment_id),
        action,
        Entered::default(),
        vec![],
    )
    .await?;
    page.feedback = feedback;
    page.break_due = break_due;
    Ok(page.into_response())
}

/// The page without an item: nothing left, or the daily cap (`capped`).
async fn nothing_left(
    state: &AppState,
    session: &ActiveSession,
    project: Project,
    feedback: Option<GoldFeedback>,
    capped: Option<String>,
) -> Result<Response> {
    let progress = queue::progress(&state.pool, &project, session.user.id).await?;
    let recent = queue::recent(&state.pool, &project, session.user.id, 5).await?;
    Ok(NothingLeft {
        chrome: Chrome::new(Some(session)),
        project,
        progress,
        recent,
        feedback,
        capped,
    }
    .into_response())
}

/// Reads the labels and hands them to `save`, then goes to `next`; a
/// refusal (a broken rule, a late submit that lost its slot) shows the same
/// item again with what was entered and why.
#[allow(clippy::too_many_arguments)]
async fn save_or_show_again<F, Fut>(
    state: &AppState,
    session: &ActiveSession,
    project: Project,
    fields: Vec<(String, String)>,
    assignment_id: Option<Uuid>,
    action: String,
    next: String,
    item: impl AsyncFnOnce() -> Result<LeasedItem, QueueError>,
    save: F,
) -> Result<Response>
where
    F: FnOnce(Labels) -> Fut,
    Fut: Future<Output = Result<(), QueueError>>,
{
    let k = project.responses_per_item;
    let outcome = match labels_from(&fields, k, &project.questions) {
        Ok(labels) => save(labels.clone())
            .await
            .map_err(|e| (Some(labels), AppError::from(e))),
        Err(problems) => Err((None, AppError::BadRequest(problems.join("\n")))),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to(&next).into_response()),
        Err((labels, err @ (AppError::BadRequest(_) | AppError::Conflict(_)))) => {
            let status = err.status();
            let errors = err.to_string().lines().map(String::from).collect();
            let entered = Entered { labels, fields };
            let page = render(
                state,
                session,
                project,
                item().await?,
                assignment_id,
                action,
                entered,
                errors,
            )
            .await?;
            Ok((status, page).into_response())
        }
        Err((_, other)) => Err(other),
    }
}

async fn submit(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    Path(project_id): Path<Uuid>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response> {
    let project = projects::find_for(&state.pool, &session.user, project_id).await?;
    let field = |name: &str| form_field(&fields, name);
    let uuid = |name: &str| field(name).and_then(|v| v.parse::<Uuid>().ok());
    let (Some(assignment_id), Some(submission_id)) = (uuid("assignment_id"), uuid("submission_id"))
    else {
        return Err(AppError::BadRequest(
            "the form is missing its assignment; reload the page".into(),
        ));
    };
    let seconds: f64 = field("seconds").and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let (pool, annotator) = (&state.pool, session.user.id);
    let action = format!("/annotate/{project_id}/submit");
    // In feedback mode every submit leads to the page with `after`, gold or
    // not, so the address tells nothing before the feedback itself.
    let next = if project.gold_feedback {
        format!("/annotate/{project_id}?after={assignment_id}")
    } else {
        format!("/annotate/{project_id}")
    };
    let item = async || queue::assigned_item(pool, annotator, assignment_id).await;
    let project_for_save = project.clone();
    let save = async move |labels: Labels| {
        queue::submit(
            pool,
            &project_for_save,
            annotator,
            assignment_id,
            submission_id,
            &labels,
            seconds,
        )
        .await
        .map(|_| ())
    };
    save_or_show_again(
        &state,
        &session,
        project,
        fields,
        Some(assignment_id),
        action,
        next,
        item,
        save,
    )
    .await
}

async fn skip(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    Path(project_id): Path<Uuid>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Redirect> {
    let project = projects::find_for(&state.pool, &session.user, project_id).await?;
    let get = |name: &str| form_field(&fields, name);
    let assignment_id = get("assignment_id")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            AppError::BadRequest("the form is missing its assignment; reload the page".into())
        })?;
    let reason = match get("reason") {
        Some("unclear") => SkipReason::Unclear,
        Some("wrong_language") => SkipReason::WrongLanguage,
        Some("too_disturbing") => SkipReason::TooDisturbing,
        Some("other") => SkipReason::Other,
        _ => return Err(AppError::BadRequest("choose why you skip this item".into())),
    };
    let note = get("note").map(str::trim).filter(|n| !n.is_empty());
    queue::skip(
        &state.pool,
        &project,
        session.user.id,
        assignment_id,
        reason,
        note,
    )
    .await?;
    Ok(Redirect::to(&format!("/annotate/{project_id}")))
}

async fn guidelines(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    Path(project_id): Path<Uuid>,
) -> Result<GuidelinesPage> {
    let project = projects::find_for(&state.pool, &session.user, project_id).await?;
    Ok(GuidelinesPage {
        chrome: Chrome::new(Some(&session)),
        guidelines_html: markdown::render(&project.guidelines),
        categories: project.taxonomy.categories.clone(),
        severities: severities(),
        project,
    })
}

async fn revise_form(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    Path((project_id, annotation_id)): Path<(Uuid, Uuid)>,
) -> Result<AnnotatePage> {
    let project = projects::find_for(&state.pool, &session.user, project_id).await?;
    let (item, labels) =
        queue::annotation_for_revision(&state.pool, &project, session.user.id, annotation_id)
            .await?;
    let action = format!("/annotate/{project_id}/revise/{annotation_id}");
    let entered = Entered {
        labels: Some(labels),
        fields: vec![],
    };
    render(
        &state,
        &session,
        project,
        item,
        None,
        action,
        entered,
        vec![],
    )
    .await
}

async fn revise(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    Path((project_id, annotation_id)): Path<(Uuid, Uuid)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response> {
    let project = projects::find_for(&state.pool, &session.user, project_id).await?;
    let (pool, annotator) = (&state.pool, session.user.id);
    let action = format!("/annotate/{project_id}/revise/{annotation_id}");
    let (for_item, for_save) = (project.clone(), project.clone());
    let item = async || {
        queue::annotation_for_revision(pool, &for_item, annotator, annotation_id)
            .await
            .map(|(item, _)| item)
    };
    let save = async move |labels: Labels| {
        queue::revise(pool, &for_save, annotator, annotation_id, &labels).await
    };
    let next = format!("/annotate/{project_id}");
    save_or_show_again(
        &state, &session, project, fields, None, action, next, item, save,
    )
    .await
}
