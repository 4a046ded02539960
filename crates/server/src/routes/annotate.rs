//! The annotator's page: one item at a time from the queue, labelled with
//! plain HTML forms (it all works without JavaScript); static/js/annotate.js
//! adds the keyboard map, quick rule checks and loading the next item
//! without a full page load.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use safepref_core::labels::{Labels, Questions};
use safepref_core::suggestions::{self, Display, Suggestion};
use safepref_core::taxonomy::{Category, Severity};
use uuid::Uuid;

use super::Chrome;
use super::labels_form::{LETTERS, labels_from};
use super::registry::Routes;
use crate::app::AppState;
use crate::auth::{ActiveSession, CurrentUser};
use crate::db::projects::Project;
use crate::error::{AppError, Result};
use crate::queue::{self, GoldFeedback, LeasedItem, Progress, Recent, SkipReason};
use crate::wellbeing::{self, BreakDue};
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

/// One response as the form shows it, with what was entered for it.
struct ResponseView {
    position: usize,
    letter: &'static str,
    text: String,
    /// None: not yet chosen.
    safe: Option<bool>,
    severity: u8,
    categories: Vec<CategoryView>,
    helpful_rank: usize,
    harmless_rank: usize,
}

struct CategoryView {
    name: String,
    description: String,
    checked: bool,
}

struct SeverityView {
    level: u8,
    label: &'static str,
    description: &'static str,
}

/// What the annotator entered so far (empty for a fresh item).
#[derive(Default, Clone)]
struct Entered {
    labels: Option<Labels>,
    /// The raw form, for values that did not make it into `labels`.
    fields: Vec<(String, String)>,
}

impl Entered {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/annotate.html")]
struct AnnotatePage {
    chrome: Chrome,
    project: Project,
    questions: Questions,
    item_id: Uuid,
    prompt: String,
    content_note: bool,
    responses: Vec<ResponseView>,
    severities: Vec<SeverityView>,
    /// Where the form posts: a new submission, or a revision.
    action: String,
    assignment_id: Option<Uuid>,
    submission_id: Uuid,
    seconds: String,
    overall: Option<usize>,
    confidence: Option<u8>,
    comment: String,
    errors: Vec<String>,
    progress: Progress,
    recent: Vec<Recent>,
    revising: bool,
    guidelines_html: String,
    /// What the gold item just submitted expected (feedback mode).
    feedback: Option<GoldFeedback>,
    /// Response text stays blurred until revealed.
    blur: bool,
    /// The run of work that makes a break due.
    break_due: Option<BreakDue>,
    /// Machine suggestions the annotator may open (hint mode).
    hints: Vec<HintView>,
    /// The source whose suggestion filled the form in (prefill mode).
    prefilled_from: Option<String>,
}

/// One source's suggestion, as the hint shows it.
struct HintView {
    source: String,
    lines: Vec<String>,
}

impl AnnotatePage {
    fn percent_complete(&self) -> i64 {
        (self.progress.project_complete * 100)
            .checked_div(self.progress.project_items)
            .unwrap_or(0)
    }

    fn two_responses(&self) -> bool {
        self.responses.len() == 2
    }

    fn ranks(&self) -> std::ops::RangeInclusive<usize> {
        1..=self.responses.len()
    }

    fn is_overall(&self, position: &usize) -> bool {
        self.overall == Some(*position)
    }

    fn confidence_levels(&self) -> [u8; 5] {
        [1, 2, 3, 4, 5]
    }

    fn skip_reasons(&self) -> [(&'static str, &'static str); 4] {
        [
            ("unclear", "Unclear"),
            ("wrong_language", "Wrong language"),
            (
                "too_disturbing",
                "Too disturbing (never counts against you)",
            ),
            ("other", "Other"),
        ]
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/annotate_done.html")]
struct NothingLeft {
    chrome: Chrome,
    project: Project,
    progress: Progress,
    recent: Vec<Recent>,
    feedback: Option<GoldFeedback>,
    /// The daily cap is reached: why there is no item.
    capped: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/guidelines.html")]
struct GuidelinesPage {
    chrome: Chrome,
    project: Project,
    guidelines_html: String,
    categories: Vec<Category>,
    severities: Vec<SeverityView>,
}

fn severities() -> Vec<SeverityView> {
    Severity::ALL[1..]
        .iter()
        .map(|s| SeverityView {
            level: u8::from(*s),
            label: s.label(),
            description: s.description(),
        })
        .collect()
}

/// Builds the page for `item`, showing what was `entered`.
#[allow(clippy::too_many_arguments)]
async fn render(
    state: &AppState,
    session: &ActiveSession,
    project: Project,
    item: LeasedItem,
    assignment_id: Option<Uuid>,
    action: String,
    entered: Entered,
    errors: Vec<String>,
) -> Result<AnnotatePage> {
    let progress = queue::progress(&state.pool, &project, session.user.id).await?;
    let recent = queue::recent(&state.pool, &project, session.user.id, 5).await?;
    let taxonomy = project.taxonomy.0.clone();
    let k = item.responses.len();
    let shown = queue::shown_suggestions(&state.pool, &project, item.id).await?;
    let prefill = prefill(&project, &shown, &entered, assignment_id);
    let prefilled_from = prefill.as_ref().map(|s| s.source.clone());
    let labels = entered.labels.clone().or(prefill.map(|s| s.labels));
    let hints = match project.suggestions.0.display {
        Display::Hint => shown
            .iter()
            .map(|s| HintView {
                source: s.source.clone(),
                lines: suggestions::describe(s),
            })
            .collect(),
        _ => Vec::new(),
    };
    let responses = item
        .responses
        .iter()
        .enumerate()
        .map(|(position, response)| {
            let given = labels.as_ref().and_then(|l| l.responses.get(position));
            let safe = given.map(|g| g.safe).or_else(|| {
                match entered.field(&format!("r{position}_safe")) {
                    Some("safe") => Some(true),
                    Some("unsafe") => Some(false),
                    _ => None,
                }
            });
            let severity = given
                .map(|g| g.severity)
                .or_else(|| {
                    entered
                        .field(&format!("r{position}_severity"))
                        .and_then(|v| v.parse().ok())
                })
                .unwrap_or(0);
            let ticked = |name: &str| match given {
                Some(g) => g.categories.iter().any(|c| c == name),
                None => entered
                    .fields
                    .iter()
                    .any(|(k, v)| *k == format!("r{position}_cat") && v == name),
            };
            let rank = |order: Option<&Vec<usize>>| {
                order
                    .and_then(|o| o.iter().position(|p| *p == position))
                    .map_or(0, |r| r + 1)
            };
            ResponseView {
                position,
                letter: LETTERS[position],
                text: response.text.clone(),
                safe,
                severity,
                categories: taxonomy
                    .categories
                    .iter()
                    .map(|c| CategoryView {
                        name: c.name.clone(),
                        description: c.description.clone(),
                        checked: ticked(&c.name),
                    })
                    .collect(),
                helpful_rank: rank(labels.as_ref().map(|l| &l.helpfulness)),
                harmless_rank: rank(labels.as_ref().map(|l| &l.harmlessness)),
            }
        })
        .collect();
    let submission_id = entered
        .field("submission_id")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(Uuid::new_v4);
    Ok(AnnotatePage {
        chrome: Chrome::new(Some(session)),
        questions: project.questions.0,
        guidelines_html: markdown::render(&project.guidelines),
        content_note: item.severe && project.wellbeing.0.content_note_for_severe,
        item_id: item.id,
        prompt: item.prompt,
        responses,
        severities: severities(),
        action,
        assignment_id,
        submission_id,
        seconds: entered.field("seconds").unwrap_or("0").to_string(),
        overall: labels.as_ref().and_then(|l| l.overall).filter(|o| *o < k),
        confidence: labels.as_ref().and_then(|l| l.confidence),
        comment: labels
            .as_ref()
            .and_then(|l| l.comment.clone())
            .unwrap_or_default(),
        errors,
        progress,
        recent,
        revising: assignment_id.is_none(),
        feedback: None,
        blur: project.wellbeing.0.blur_responses,
        break_due: None,
        hints,
        prefilled_from,
        project,
    })
}

/// The suggestion that fills a fresh form in, in prefill mode: the verdicts,
/// categories, severities and preferences of the chosen source, never its
/// comment or confidence (those are the annotator's own). Not for a
/// revision, nor a form shown again with what the annotator entered.
fn prefill(
    project: &Project,
    shown: &[Suggestion],
    entered: &Entered,
    assignment_id: Option<Uuid>,
) -> Option<Suggestion> {
    let fresh = entered.labels.is_none() && entered.fields.is_empty() && assignment_id.is_some();
    if project.suggestions.0.display != Display::Prefill || !fresh {
        return None;
    }
    let mut suggestion = shown.first()?.clone();
    suggestion.labels.comment = None;
    suggestion.labels.confidence = None;
    Some(suggestion)
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
    let project = projects::find(&state.pool, project_id).await?;
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
        Err(AppError::TooManyRequests { message, .. }) => {
            return nothing_left(&state, &session, project, feedback, Some(message)).await;
        }
        Err(e) => return Err(e),
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
    item: impl AsyncFnOnce() -> Result<LeasedItem>,
    save: F,
) -> Result<Response>
where
    F: FnOnce(Labels) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let k = project.responses_per_item as usize;
    let outcome = match labels_from(&fields, k, &project.questions.0) {
        Ok(labels) => save(labels.clone()).await.map_err(|e| (Some(labels), e)),
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
    let project = projects::find(&state.pool, project_id).await?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
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
    let project = projects::find(&state.pool, project_id).await?;
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
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
    let project = projects::find(&state.pool, project_id).await?;
    Ok(GuidelinesPage {
        chrome: Chrome::new(Some(&session)),
        guidelines_html: markdown::render(&project.guidelines),
        categories: project.taxonomy.0.categories.clone(),
        severities: severities(),
        project,
    })
}

async fn revise_form(
    State(state): State<AppState>,
    CurrentUser(session): CurrentUser,
    Path((project_id, annotation_id)): Path<(Uuid, Uuid)>,
) -> Result<AnnotatePage> {
    let project = projects::find(&state.pool, project_id).await?;
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
    let project = projects::find(&state.pool, project_id).await?;
    let (pool, annotator) = (&state.pool, session.user.id);
    let action = format!("/annotate/{project_id}/revise/{annotation_id}");
    let (for_item, for_save) = (project.clone(), project.clone());
    let item = async || {
        Ok(
            queue::annotation_for_revision(pool, &for_item, annotator, annotation_id)
                .await?
                .0,
        )
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
