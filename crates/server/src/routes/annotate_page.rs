//! What the annotator's page shows: the item with its responses, the form
//! filled with what was entered (or a machine suggestion in prefill mode),
//! hints, progress and recent work; the page without an item; the
//! guidelines. The handlers are in `annotate`.

use askama::Template;
use askama_web::WebTemplate;
use safepref_core::labels::{Labels, Questions};
use safepref_core::suggestions::{self, Display, Suggestion};
use safepref_core::taxonomy::{Category, Severity};
use uuid::Uuid;

use super::Chrome;
use super::fields::form_field;
use super::labels_form::{LETTERS, ResponseEntry};
use crate::app::AppState;
use crate::auth::ActiveSession;
use crate::error::Result;
use crate::markdown;
use crate::projects::Project;
use crate::queue::{self, GoldFeedback, LeasedItem, Progress, Recent};
use crate::wellbeing::BreakDue;

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

pub(super) struct SeverityView {
    level: u8,
    label: &'static str,
    description: &'static str,
}

/// What the annotator entered so far (empty for a fresh item).
#[derive(Default, Clone)]
pub(super) struct Entered {
    pub(super) labels: Option<Labels>,
    /// The raw form, for values that did not make it into `labels`.
    pub(super) fields: Vec<(String, String)>,
}

impl Entered {
    fn field(&self, name: &str) -> Option<&str> {
        form_field(&self.fields, name)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/annotate.html")]
pub(super) struct AnnotatePage {
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
    pub(super) feedback: Option<GoldFeedback>,
    /// Response text stays blurred until revealed.
    blur: bool,
    /// The run of work that makes a break due.
    pub(super) break_due: Option<BreakDue>,
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
pub(super) struct NothingLeft {
    pub(super) chrome: Chrome,
    pub(super) project: Project,
    pub(super) progress: Progress,
    pub(super) recent: Vec<Recent>,
    pub(super) feedback: Option<GoldFeedback>,
    /// The daily cap is reached: why there is no item.
    pub(super) capped: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/guidelines.html")]
pub(super) struct GuidelinesPage {
    pub(super) chrome: Chrome,
    pub(super) project: Project,
    pub(super) guidelines_html: String,
    pub(super) categories: Vec<Category>,
    pub(super) severities: Vec<SeverityView>,
}

pub(super) fn severities() -> Vec<SeverityView> {
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
pub(super) async fn render(
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
    let taxonomy = project.taxonomy.clone();
    let k = item.responses.len();
    let shown = queue::shown_suggestions(&state.pool, &project, item.id).await?;
    let prefill = prefill(&project, &shown, &entered, assignment_id);
    let prefilled_from = prefill.as_ref().map(|s| s.source.clone());
    let labels = entered.labels.clone().or(prefill.map(|s| s.labels));
    let hints = match project.suggestions.display {
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
            let entry = ResponseEntry::new(labels.as_ref(), &entered.fields, position);
            ResponseView {
                position,
                letter: LETTERS[position],
                text: response.text.clone(),
                safe: entry.safe,
                severity: entry.severity,
                categories: taxonomy
                    .categories
                    .iter()
                    .map(|c| CategoryView {
                        name: c.name.clone(),
                        description: c.description.clone(),
                        checked: entry.ticked(&c.name),
                    })
                    .collect(),
                helpful_rank: entry.helpful_rank,
                harmless_rank: entry.harmless_rank,
            }
        })
        .collect();
    let submission_id = entered
        .field("submission_id")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(Uuid::new_v4);
    Ok(AnnotatePage {
        chrome: Chrome::new(Some(session)),
        questions: project.questions,
        guidelines_html: markdown::render(&project.guidelines),
        content_note: item.severe && project.wellbeing.content_note_for_severe,
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
        blur: project.wellbeing.blur_responses,
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
    if project.suggestions.display != Display::Prefill || !fresh {
        return None;
    }
    let mut suggestion = shown.first()?.clone();
    suggestion.labels.comment = None;
    suggestion.labels.confidence = None;
    Some(suggestion)
}
