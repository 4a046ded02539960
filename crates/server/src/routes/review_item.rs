//! The review page of one item: every annotation side by side, the
//! consolidated result with its support, the source labels and machine
//! suggestions, and the lead's two actions — adjudicate (final labels with a
//! reason) and send back (one more annotation). The rules live in
//! `crate::review`.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use safepref_core::consolidation::Consolidated;
use safepref_core::labels::{Labels, Questions};
use safepref_core::suggestions::{Scores, Suggestion};
use safepref_core::taxonomy::Severity;
use serde::Deserialize;
use uuid::Uuid;

use super::Chrome;
use super::fields::form_field;
use super::labels_form::{LETTERS, ResponseEntry, labels_from};
use super::registry::Routes;
use super::review_queue::percent;
use crate::app::AppState;
use crate::auth::{ActiveSession, RequireLead};
use crate::error::{AppError, Result};
use crate::projects::Project;
use crate::review::{self, Adjudication, ItemAnnotation, ItemDetail, ItemState, Skip};

pub fn routes() -> Routes {
    Routes::default()
        .get("/review/items/{item}", item)
        .post("/review/items/{item}/adjudicate", adjudicate)
        .post("/review/items/{item}/send-back", send_back)
}

/// One annotation, ready to show.
struct AnnotationView {
    annotator: String,
    seconds: String,
    submitted: String,
    invalid: Option<String>,
    responses: Vec<String>,
    helpful: String,
    harmless: String,
    extra: String,
}

impl AnnotationView {
    /// Who gave which labels; no time, no date, valid.
    fn new(annotator: String, labels: &Labels) -> AnnotationView {
        let (responses, helpful, harmless, extra) = labels_view(labels);
        AnnotationView {
            annotator,
            seconds: String::new(),
            submitted: String::new(),
            invalid: None,
            responses,
            helpful,
            harmless,
            extra,
        }
    }
}

fn order(positions: &[usize]) -> String {
    positions
        .iter()
        .map(|p| LETTERS.get(*p).copied().unwrap_or("?"))
        .collect::<Vec<_>>()
        .join(" > ")
}

fn response_summary(r: &safepref_core::labels::ResponseLabel) -> String {
    if r.safe {
        "safe".into()
    } else {
        format!(
            "unsafe, severity {} — {}",
            r.severity,
            if r.categories.is_empty() {
                "no category".into()
            } else {
                r.categories.join(", ")
            }
        )
    }
}

fn labels_view(labels: &Labels) -> (Vec<String>, String, String, String) {
    let mut extra = Vec::new();
    if let Some(o) = labels.overall {
        extra.push(format!(
            "overall: {}",
            LETTERS.get(o).copied().unwrap_or("?")
        ));
    }
    if let Some(c) = labels.confidence {
        extra.push(format!("confidence {c}/5"));
    }
    if let Some(c) = &labels.comment {
        extra.push(format!("comment: {c}"));
    }
    (
        labels.responses.iter().map(response_summary).collect(),
        order(&labels.helpfulness),
        order(&labels.harmlessness),
        extra.join("; "),
    )
}

/// A source's suggestion as a row beside the annotations: its labels, and
/// its scores in place of the time spent.
fn suggestion_view(s: &Suggestion) -> AnnotationView {
    AnnotationView {
        seconds: scores_text(&s.scores),
        ..AnnotationView::new(s.source.clone(), &s.labels)
    }
}

/// "Response A safe 0.95, severity 0.80; helpfulness 0.90", or "none".
fn scores_text(scores: &Scores) -> String {
    let mut parts: Vec<String> = scores
        .responses
        .iter()
        .enumerate()
        .filter_map(|(n, r)| {
            let fields: Vec<String> = [
                ("safe", r.safe),
                ("severity", r.severity),
                ("categories", r.categories),
            ]
            .into_iter()
            .filter_map(|(name, x)| x.map(|x| format!("{name} {x:.2}")))
            .collect();
            (!fields.is_empty()).then(|| {
                format!(
                    "Response {} {}",
                    LETTERS.get(n).copied().unwrap_or("?"),
                    fields.join(", ")
                )
            })
        })
        .collect();
    for (name, x) in [
        ("helpfulness", scores.helpfulness),
        ("harmlessness", scores.harmlessness),
        ("overall", scores.overall),
    ] {
        parts.extend(x.map(|x| format!("{name} {x:.2}")));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join("; ")
    }
}

fn when(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!("{} {:02}:{:02} UTC", at.date(), at.hour(), at.minute())
}

/// The support of every consolidated field, as "field: 67%".
fn support_lines(record: &Consolidated) -> Vec<String> {
    let s = &record.support;
    let mut out = Vec::new();
    for (n, r) in s.responses.iter().enumerate() {
        let letter = LETTERS.get(n).copied().unwrap_or("?");
        out.push(format!(
            "Response {letter} safe/unsafe: {}",
            percent(r.safe)
        ));
        out.push(format!(
            "Response {letter} severity: {}",
            percent(r.severity)
        ));
        for (name, support) in &r.categories {
            if *support < 1.0 {
                out.push(format!("Response {letter} {name}: {}", percent(*support)));
            }
        }
    }
    for (name, support) in [
        ("helpfulness", s.helpfulness),
        ("harmlessness", s.harmlessness),
        ("overall", s.overall),
    ] {
        if let Some(x) = support {
            out.push(format!("{name}: {}", percent(x)));
        }
    }
    out
}

/// One response of the adjudication form.
struct FormResponse {
    position: usize,
    letter: &'static str,
    text: String,
    safe: Option<bool>,
    severity: u8,
    categories: Vec<(String, bool)>,
    helpful_rank: usize,
    harmless_rank: usize,
}

struct SeverityChoice {
    level: u8,
    label: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/review_item.html")]
struct ItemPage {
    chrome: Chrome,
    project: Project,
    questions: Questions,
    item: ItemDetail,
    annotations: Vec<AnnotationView>,
    skips: Vec<Skip>,
    consolidated: Option<AnnotationView>,
    adjudicated: bool,
    support: Vec<String>,
    reasons: Vec<String>,
    source_labels: Vec<(String, String)>,
    /// Machine suggestions, by source; `seconds` holds the scores.
    suggestions: Vec<AnnotationView>,
    adjudications: Vec<(String, String, String, AnnotationView)>,
    form: Vec<FormResponse>,
    severities: Vec<SeverityChoice>,
    overall: Option<usize>,
    confidence: Option<u8>,
    reason: String,
    errors: Vec<String>,
    send_back_error: Option<String>,
    notice: Option<&'static str>,
}

impl ItemPage {
    fn two_responses(&self) -> bool {
        self.form.len() == 2
    }

    fn ranks(&self) -> std::ops::RangeInclusive<usize> {
        1..=self.form.len()
    }

    fn is_overall(&self, position: &usize) -> bool {
        self.overall == Some(*position)
    }

    fn confidence_levels(&self) -> [u8; 5] {
        [1, 2, 3, 4, 5]
    }
}

/// What the adjudication form shows: the lead's entry after a refusal,
/// else the consolidated labels as a starting point.
#[derive(Default)]
struct Prefill {
    labels: Option<Labels>,
    fields: Vec<(String, String)>,
    reason: String,
    errors: Vec<String>,
    send_back_error: Option<String>,
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

async fn item(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path(item_id): Path<Uuid>,
    Query(done): Query<DoneQuery>,
) -> Result<ItemPage> {
    let notice = match done.done.as_deref() {
        Some("adjudicated") => Some("Saved: the item is adjudicated with your labels."),
        Some("sent-back") => Some("Sent back: the item is in the queue for one more annotation."),
        _ => None,
    };
    item_page(&state, &session, item_id, Prefill::default(), notice).await
}

async fn item_page(
    state: &AppState,
    session: &ActiveSession,
    item_id: Uuid,
    prefill: Prefill,
    notice: Option<&'static str>,
) -> Result<ItemPage> {
    let pool = &state.pool;
    let (item, project) = review::find_item_for(pool, &session.user, item_id).await?;
    let found = review::item_review(pool, &project, &item).await?;
    let record = &found.record;
    let annotations = found.annotations.iter().map(annotation_view).collect();
    let consolidated = record.labels.as_ref().map(|l| {
        let who = if record.adjudicated {
            "adjudicated"
        } else {
            "majority vote"
        };
        AnnotationView::new(who.into(), l)
    });
    let start = prefill.labels.clone().or_else(|| {
        prefill
            .fields
            .is_empty()
            .then(|| record.labels.clone())
            .flatten()
    });
    let form = form_responses(&project, &item, start.as_ref(), &prefill.fields);
    Ok(ItemPage {
        suggestions: found.suggestions.iter().map(suggestion_view).collect(),
        chrome: Chrome::new(Some(session)),
        questions: project.questions,
        adjudicated: record.adjudicated,
        support: support_lines(&found.from_votes),
        overall: start.as_ref().and_then(|l| l.overall),
        confidence: start.as_ref().and_then(|l| l.confidence),
        project,
        annotations,
        skips: found.skips,
        consolidated,
        reasons: found.reasons,
        source_labels: source_label_rows(&item),
        adjudications: found.adjudications.iter().map(adjudication_view).collect(),
        form,
        severities: severity_choices(),
        reason: prefill.reason,
        errors: prefill.errors,
        send_back_error: prefill.send_back_error,
        notice,
        item,
    })
}

/// A person's annotation: its labels, time spent, when, and whether (and
/// why) it no longer counts.
fn annotation_view(a: &ItemAnnotation) -> AnnotationView {
    AnnotationView {
        seconds: a
            .seconds_spent
            .map_or("not measured".into(), |s| format!("{s:.0} s")),
        submitted: when(a.submitted_at),
        invalid: a.invalidated_at.map(|at| {
            format!(
                "invalid since {} ({}{})",
                when(at),
                a.invalid_reason.clone().unwrap_or_default(),
                a.invalidated_by
                    .as_ref()
                    .map(|by| format!(", by {by}"))
                    .unwrap_or_default()
            )
        }),
        ..AnnotationView::new(a.annotator.clone(), &a.labels.0)
    }
}

/// One earlier adjudication: lead, date, reason and the labels given.
fn adjudication_view(a: &Adjudication) -> (String, String, String, AnnotationView) {
    (
        a.lead.clone(),
        when(a.created_at),
        a.reason.clone(),
        AnnotationView {
            submitted: when(a.created_at),
            ..AnnotationView::new(a.lead.clone(), &a.labels.0)
        },
    )
}

/// The dataset's own labels of the item, one row per top-level field.
fn source_label_rows(item: &ItemDetail) -> Vec<(String, String)> {
    match item.source_labels.as_ref().map(|j| &j.0) {
        Some(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect(),
        Some(other) => vec![("labels".into(), other.to_string())],
        None => vec![],
    }
}

/// The severities an unsafe response can be given (not 0, "safe").
fn severity_choices() -> Vec<SeverityChoice> {
    Severity::ALL[1..]
        .iter()
        .map(|s| SeverityChoice {
            level: u8::from(*s),
            label: s.label(),
        })
        .collect()
}

/// The form's responses, filled from `labels` or else from raw fields.
fn form_responses(
    project: &Project,
    item: &ItemDetail,
    labels: Option<&Labels>,
    fields: &[(String, String)],
) -> Vec<FormResponse> {
    item.responses
        .0
        .iter()
        .enumerate()
        .map(|(position, (_, text))| {
            let entry = ResponseEntry::new(labels, fields, position);
            FormResponse {
                position,
                letter: LETTERS.get(position).copied().unwrap_or("?"),
                text: text.clone(),
                safe: entry.safe,
                severity: entry.severity,
                categories: project
                    .taxonomy
                    .categories
                    .iter()
                    .map(|c| (c.name.clone(), entry.ticked(&c.name)))
                    .collect(),
                helpful_rank: entry.helpful_rank,
                harmless_rank: entry.harmless_rank,
            }
        })
        .collect()
}

async fn project_of_item(
    state: &AppState,
    session: &ActiveSession,
    item_id: Uuid,
) -> Result<Project> {
    let (_, project) = review::find_item_for(&state.pool, &session.user, item_id).await?;
    Ok(project)
}

async fn adjudicate(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path(item_id): Path<Uuid>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response> {
    let project = project_of_item(&state, &session, item_id).await?;
    let k = project.responses_per_item;
    let reason = form_field(&fields, "reason").unwrap_or("").to_string();
    let outcome = match labels_from(&fields, k, &project.questions) {
        Ok(labels) => review::adjudicate(
            &state.pool,
            &project,
            &session.user,
            item_id,
            &labels,
            &reason,
        )
        .await
        .map_err(|e| (Some(labels), AppError::from(e))),
        Err(problems) => Err((None, AppError::BadRequest(problems.join("\n")))),
    };
    match outcome {
        Ok(()) => {
            Ok(Redirect::to(&format!("/review/items/{item_id}?done=adjudicated")).into_response())
        }
        Err((labels, err @ (AppError::BadRequest(_) | AppError::Conflict(_)))) => {
            let status = err.status();
            let prefill = Prefill {
                labels,
                errors: err.to_string().lines().map(String::from).collect(),
                fields,
                reason,
                send_back_error: None,
            };
            let page = item_page(&state, &session, item_id, prefill, None).await?;
            Ok((status, page).into_response())
        }
        Err((_, other)) => Err(other),
    }
}

async fn send_back(
    State(state): State<AppState>,
    RequireLead(session): RequireLead,
    Path(item_id): Path<Uuid>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response> {
    let project = project_of_item(&state, &session, item_id).await?;
    let reason = form_field(&fields, "reason").unwrap_or("");
    let outcome = review::send_back(&state.pool, &project, &session.user, item_id, reason).await;
    match outcome.map_err(AppError::from) {
        Ok(()) => {
            Ok(Redirect::to(&format!("/review/items/{item_id}?done=sent-back")).into_response())
        }
        Err(err @ (AppError::BadRequest(_) | AppError::Conflict(_))) => {
            let status: StatusCode = err.status();
            let prefill = Prefill {
                send_back_error: Some(err.to_string()),
                ..Prefill::default()
            };
            let page = item_page(&state, &session, item_id, prefill, None).await?;
            Ok((status, page).into_response())
        }
        Err(other) => Err(other),
    }
}
