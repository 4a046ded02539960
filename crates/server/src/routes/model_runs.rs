//! The admin page for model suggestions (`judge`): a form that starts a run
//! asking a chat model for a suggestion per item, the same run as `safepref
//! suggest` but in the server's background; the project's runs with their
//! progress; and one run's page with the answers that were refused, raw.
//!
//! A model's raw answer is shown escaped like any other text (askama's
//! default): it is data a model wrote, possibly steered by the items.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::model_runs_form::{FieldError, Refusal, RunForm, refusal};
use super::registry::Routes;
use super::{Chrome, PageQuery, Pager};
use crate::app::AppState;
use crate::auth::{ActiveSession, RequireAdmin};
use crate::error::Result;
use crate::judge::ApiKey;
use crate::judge::jobs::{self, Failure, Run, RunDetail};
use crate::projects::{self, Project};

/// Runs, and a run's failures, a page.
const PER_PAGE: i64 = 25;

pub fn routes() -> Routes {
    Routes::default()
        .get("/admin/projects/{id}/model-runs", page)
        .post("/admin/projects/{id}/model-runs", start)
        .get("/admin/projects/{id}/model-runs/{run}", run_page)
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/model_runs.html")]
struct RunsPage {
    chrome: Chrome,
    project: Project,
    form: RunForm,
    errors: Vec<FieldError>,
    /// Whether the server has `SAFEPREF_LLM_API_KEY` (never its value).
    key_set: bool,
    runs: Vec<RunRow>,
    pager: Pager,
    /// Reload the page every few seconds while a run goes on.
    refresh: bool,
}

impl RunsPage {
    fn invalid(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.field == Some(field))
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/model_run.html")]
struct RunPage {
    chrome: Chrome,
    project: Project,
    run: RunRow,
    template: String,
    /// Failures by kind, with what the kind means.
    counts: Vec<(String, i64, &'static str)>,
    failures: Vec<Failure>,
    pager: Pager,
    refresh: bool,
}

/// A run as both pages show it, its words made here so that the templates
/// only place them.
struct RunRow {
    run: Run,
    started: String,
    finished: Option<String>,
    by: String,
    state: &'static str,
    /// Whether it is still going on (a stale one is not: no one runs it).
    live: bool,
    percent: i64,
    tokens: String,
    options: String,
}

impl RunRow {
    fn new(run: Run) -> RunRow {
        let live = run.state == "running" && !run.stale;
        let state = match run.state.as_str() {
            "running" if run.stale => "stopped (no heartbeat for a minute)",
            "running" => "running",
            "done" => "done",
            "failed" => "failed",
            "interrupted" => "interrupted (a new run does the rest)",
            _ => "unknown",
        };
        let percent = (run.items_done * 100)
            .checked_div(run.items_total)
            .unwrap_or(if run.state == "done" { 100 } else { 0 });
        let by = match (&run.requested_by, run.origin.as_str()) {
            (Some(name), "cli") => format!("{name} (command line)"),
            (Some(name), _) => name.clone(),
            (None, "cli") => "command line".into(),
            (None, _) => "unknown".into(),
        };
        let tokens = match (run.tokens_in, run.tokens_out) {
            (Some(i), Some(o)) => format!("{i} in, {o} out"),
            _ => "unknown".into(),
        };
        RunRow {
            started: when(run.created_at),
            finished: run.finished_at.map(when),
            by,
            state,
            live,
            percent,
            tokens,
            options: options(&run.options.0),
            run,
        }
    }
}

fn when(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        at.date(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// "batch 2, at most 10 items, 4 calls at a time"
fn options(o: &serde_json::Value) -> String {
    let batch = match o["batch"].as_i64() {
        Some(b) => format!("batch {b}"),
        None => "every batch".into(),
    };
    let limit = match o["limit"].as_i64() {
        Some(n) => format!("at most {n} items"),
        None => "every item without a suggestion".into(),
    };
    let at_once = o["concurrency"].as_i64().unwrap_or(0);
    format!("{batch}, {limit}, {at_once} calls at a time")
}

/// What each failure kind (`judge_failures.kind`) means, for the run's page.
fn meaning(kind: &str) -> &'static str {
    match kind {
        "not_json" => "the answer held no JSON object",
        "label_rules" => "JSON of the wrong shape, or labels breaking a rule",
        "unknown_category" => "a harm category the project does not have",
        "timeout" => "no answer in time, after the retries",
        "server_error" => "the server failed (5xx), after the retries",
        "rate_limited" => "the server kept answering 429",
        "connection" => "the connection failed, after the retries",
        "bad_response" => "the server refused the request or sent no chat completion",
        _ => "",
    }
}

async fn page(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> Result<RunsPage> {
    let project = projects::find(&state.pool, id).await?;
    render(&state, &session, project, q.page, None, Vec::new()).await
}

/// The page with the form as given (or a new one) and its errors.
async fn render(
    state: &AppState,
    session: &ActiveSession,
    project: Project,
    page: Option<i64>,
    form: Option<RunForm>,
    errors: Vec<FieldError>,
) -> Result<RunsPage> {
    let pager = Pager::new(page, PER_PAGE)?;
    let (total, runs) = jobs::list(&state.pool, project.id, PER_PAGE, pager.offset()).await?;
    let form = form.unwrap_or_else(|| match runs.first().filter(|_| pager.page == 1) {
        Some(last) => RunForm::new(&last.endpoint, &last.model),
        None => RunForm::new("", ""),
    });
    let runs: Vec<RunRow> = runs.into_iter().map(RunRow::new).collect();
    Ok(RunsPage {
        chrome: Chrome::new(Some(session)),
        refresh: runs.iter().any(|r| r.live),
        project,
        form,
        errors,
        key_set: ApiKey::from_env().is_some(),
        runs,
        pager: pager.with_total(total),
    })
}

/// Starts a run and goes back to the list, where it shows; a form with
/// problems comes back with them and the values as typed.
async fn start(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response> {
    let project = projects::find(&state.pool, id).await?;
    let form = RunForm::from_fields(&fields);
    let refused = match form.plan(project.clone(), session.user.id) {
        Err(errors) => (StatusCode::BAD_REQUEST, errors),
        Ok(plan) => match jobs::start(&state.pool, plan).await {
            Ok(_) => {
                let to = format!("/admin/projects/{id}/model-runs");
                return Ok(Redirect::to(&to).into_response());
            }
            Err(e) => match refusal(e)? {
                Refusal::Form(error) => (StatusCode::BAD_REQUEST, vec![error]),
                Refusal::Busy(message) => {
                    let error = FieldError {
                        field: None,
                        message,
                    };
                    (StatusCode::CONFLICT, vec![error])
                }
            },
        },
    };
    let (status, errors) = refused;
    let page = render(&state, &session, project, None, Some(form), errors).await?;
    Ok((status, page).into_response())
}

#[derive(Deserialize)]
struct RunPath {
    id: Uuid,
    run: Uuid,
}

async fn run_page(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(path): Path<RunPath>,
    Query(q): Query<PageQuery>,
) -> Result<RunPage> {
    let project = projects::find(&state.pool, path.id).await?;
    let pager = Pager::new(q.page, PER_PAGE)?;
    let RunDetail {
        run,
        template,
        counts,
        failures,
    } = jobs::detail(&state.pool, project.id, path.run, PER_PAGE, pager.offset()).await?;
    let total = counts.iter().map(|(_, n)| n).sum();
    let run = RunRow::new(run);
    Ok(RunPage {
        chrome: Chrome::new(Some(&session)),
        refresh: run.live,
        project,
        run,
        template,
        counts: counts
            .into_iter()
            .map(|(kind, n)| {
                let means = meaning(&kind);
                (kind, n, means)
            })
            .collect(),
        failures,
        pager: pager.with_total(total),
    })
}
