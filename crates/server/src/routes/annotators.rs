//! A lead's actions on one annotator in one project: their recent work,
//! pause / resume, release their leases, disable (confirmed first), and
//! requeue their work on chosen batches (chosen, then confirmed). The rules
//! live in `crate::review`; every action is audited there.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::fields::form_field;
use super::registry::Routes;
use super::{Chrome, ConfirmPage, Pager};
use crate::accounts::User;
use crate::app::AppState;
use crate::auth::{ActiveSession, RequireLead, password};
use crate::error::{AppError, Result};
use crate::projects::Project;
use crate::review::{self, Work, WorkBatch, WorkCounts};
use crate::{accounts, projects};

const WORK_PER_PAGE: i64 = 50;

pub fn routes() -> Routes {
    Routes::default()
        .get("/review/projects/{id}/annotators/{user}", show)
        .post("/review/projects/{id}/annotators/{user}/pause", pause)
        .post("/review/projects/{id}/annotators/{user}/resume", resume)
        .post("/review/projects/{id}/annotators/{user}/release", release)
        .get(
            "/review/projects/{id}/annotators/{user}/disable",
            confirm_disable,
        )
        .post("/review/projects/{id}/annotators/{user}/disable", disable)
        .get(
            "/review/projects/{id}/annotators/{user}/requeue",
            requeue_form,
        )
        .post("/review/projects/{id}/annotators/{user}/requeue", requeue)
}

/// The requeue step on the page: choosing, or confirming the choice.
struct Requeue {
    batches: Vec<WorkBatch>,
    chosen: Vec<i32>,
    reason: String,
    confirming: bool,
    error: Option<String>,
}

impl Requeue {
    fn is_chosen(&self, seq: &i32) -> bool {
        self.chosen.contains(seq)
    }

    /// Annotations in the chosen batches.
    fn chosen_annotations(&self) -> i64 {
        self.batches
            .iter()
            .filter(|b| self.chosen.contains(&b.batch_seq))
            .map(|b| b.annotations)
            .sum()
    }
}

struct WorkRow {
    work: Work,
    submitted: String,
    seconds: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/annotator_work.html")]
struct WorkPage {
    chrome: Chrome,
    project: Project,
    annotator: User,
    counts: WorkCounts,
    rows: Vec<WorkRow>,
    pager: Pager,
    link_prefix: String,
    requeue: Option<Requeue>,
}

#[derive(Deserialize)]
struct ShowQuery {
    page: Option<i64>,
    done: Option<String>,
}

fn when(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!("{} {:02}:{:02} UTC", at.date(), at.hour(), at.minute())
}

/// The project, if the lead may see it (else 404, as for no project), and
/// the annotator.
async fn load(
    state: &AppState,
    session: &ActiveSession,
    project_id: Uuid,
    user_id: Uuid,
) -> Result<(Project, User)> {
    let project = projects::find_for(&state.pool, &session.user, project_id).await?;
    let user = accounts::find_by_id(&state.pool, user_id).await?;
    Ok((project, user))
}

async fn page(
    state: &AppState,
    session: &ActiveSession,
    project: Project,
    annotator: User,
    page: Option<i64>,
    notice: Option<&'static str>,
    requeue: Option<Requeue>,
) -> Result<WorkPage> {
    let pool = &state.pool;
    let counts = review::work_counts(pool, &project, &annotator).await?;
    let pager = Pager::new(page, WORK_PER_PAGE)?.with_total(counts.total);
    let pager =
        Pager::new(Some(pager.page.min(pager.pages)), WORK_PER_PAGE)?.with_total(counts.total);
    let rows = review::work(pool, &project, &annotator, pager.per_page, pager.offset())
        .await?
        .into_iter()
        .map(|work| WorkRow {
            submitted: when(work.submitted_at),
            seconds: work
                .seconds_spent
                .map_or("—".into(), |s| format!("{s:.0} s")),
            work,
        })
        .collect();
    Ok(WorkPage {
        chrome: Chrome::new(Some(session)).with_notice(notice),
        project,
        annotator,
        counts,
        rows,
        pager,
        link_prefix: String::new(),
        requeue,
    })
}

async fn show(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path((project_id, user_id)): Path<(Uuid, Uuid)>,
    Query(query): Query<ShowQuery>,
) -> Result<WorkPage> {
    let (project, user) = load(&state, &session, project_id, user_id).await?;
    let notice = match query.done.as_deref() {
        Some("paused") => Some("Paused: they get no new items in this project until resumed."),
        Some("resumed") => Some("Resumed: they can take items in this project again."),
        Some("released") => Some("Their open items in this project went back to the queue."),
        Some("disabled") => {
            Some("The account was disabled, signed out and its open items released.")
        }
        Some("requeued") => Some(
            "Their annotations on the chosen batches are marked invalid and the items are back in the queue for others.",
        ),
        _ => None,
    };
    page(&state, &session, project, user, query.page, notice, None).await
}

fn back(project: Uuid, user: Uuid, done: &str) -> Redirect {
    Redirect::to(&format!(
        "/review/projects/{project}/annotators/{user}?done={done}"
    ))
}

async fn pause(
    state: State<AppState>,
    lead: RequireLead,
    ids: Path<(Uuid, Uuid)>,
) -> Result<Redirect> {
    set_paused(state, lead, ids, true).await
}

async fn resume(
    state: State<AppState>,
    lead: RequireLead,
    ids: Path<(Uuid, Uuid)>,
) -> Result<Redirect> {
    set_paused(state, lead, ids, false).await
}

async fn set_paused(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path((project_id, user_id)): Path<(Uuid, Uuid)>,
    paused: bool,
) -> Result<Redirect> {
    let (project, user) = load(&state, &session, project_id, user_id).await?;
    review::set_paused(&state.pool, &project, &session.user, &user, paused).await?;
    Ok(back(
        project_id,
        user_id,
        if paused { "paused" } else { "resumed" },
    ))
}

async fn release(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path((project_id, user_id)): Path<(Uuid, Uuid)>,
) -> Result<Redirect> {
    let (project, user) = load(&state, &session, project_id, user_id).await?;
    review::release(&state.pool, &project, &session.user, &user).await?;
    Ok(back(project_id, user_id, "released"))
}

async fn confirm_disable(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path((project_id, user_id)): Path<(Uuid, Uuid)>,
) -> Result<ConfirmPage> {
    let (_, user) = load(&state, &session, project_id, user_id).await?;
    Ok(ConfirmPage {
        chrome: Chrome::new(Some(&session)),
        title: format!("Disable {}?", user.username),
        explanation: format!(
            "{} will be signed out at once, the items they hold go back to the queue, and they cannot sign in until an admin enables the account again. Their annotations are kept.",
            user.username
        ),
        action: format!("/review/projects/{project_id}/annotators/{user_id}/disable"),
        confirm_label: "Disable the account",
        cancel_href: format!("/review/projects/{project_id}/annotators/{user_id}"),
        ask_password: false,
        min_length: password::MIN_LENGTH,
    })
}

async fn disable(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path((project_id, user_id)): Path<(Uuid, Uuid)>,
) -> Result<Redirect> {
    let (_, user) = load(&state, &session, project_id, user_id).await?;
    review::disable(&state.pool, &session.user, &user).await?;
    Ok(back(project_id, user_id, "disabled"))
}

async fn requeue_form(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path((project_id, user_id)): Path<(Uuid, Uuid)>,
) -> Result<WorkPage> {
    let (project, user) = load(&state, &session, project_id, user_id).await?;
    let batches = review::work_batches(&state.pool, &project, &user).await?;
    let requeue = Requeue {
        batches,
        chosen: vec![],
        reason: String::new(),
        confirming: false,
        error: None,
    };
    page(&state, &session, project, user, None, None, Some(requeue)).await
}

/// Choosing posts without `confirmed`: the page asks to confirm the
/// choice; confirming posts it again with `confirmed=yes`.
async fn requeue(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path((project_id, user_id)): Path<(Uuid, Uuid)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response> {
    let (project, user) = load(&state, &session, project_id, user_id).await?;
    let mut chosen = Vec::new();
    for (key, value) in fields.iter().filter(|(k, _)| k == "batch") {
        chosen.push(value.parse::<i32>().map_err(|_| {
            AppError::BadRequest(format!("{key} must be a batch number, not {value:?}"))
        })?);
    }
    let get = |name: &str| form_field(&fields, name).unwrap_or("");
    let reason = get("reason").to_string();
    let confirmed = get("confirmed") == "yes";
    let batches = review::work_batches(&state.pool, &project, &user).await?;
    let mut step = Requeue {
        batches,
        chosen: chosen.clone(),
        reason: reason.clone(),
        confirming: true,
        error: None,
    };
    if chosen.is_empty() || reason.trim().is_empty() {
        step.confirming = false;
        step.error = Some("Choose at least one batch and give a reason.".into());
        let page = page(&state, &session, project, user, None, None, Some(step)).await?;
        return Ok((axum::http::StatusCode::BAD_REQUEST, page).into_response());
    }
    if !confirmed {
        let page = page(&state, &session, project, user, None, None, Some(step)).await?;
        return Ok(page.into_response());
    }
    let outcome = review::requeue(
        &state.pool,
        &project,
        &session.user,
        &user,
        &chosen,
        &reason,
    )
    .await;
    match outcome.map_err(AppError::from) {
        Ok(_) => Ok(back(project_id, user_id, "requeued").into_response()),
        Err(err @ (AppError::BadRequest(_) | AppError::Conflict(_))) => {
            let status = err.status();
            step.confirming = false;
            step.error = Some(err.to_string());
            let page = page(&state, &session, project, user, None, None, Some(step)).await?;
            Ok((status, page).into_response())
        }
        Err(other) => Err(other),
    }
}
