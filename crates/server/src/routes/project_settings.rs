//! Creating a project and editing its settings: the form's fields as text
//! (`FormValues`) to and from `Settings`, and the handlers. Label-defining
//! settings freeze once annotations exist (`crate::projects`).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use safepref_core::labels::Questions;
use safepref_core::suggestions::{Display, Policy, Routing};
use safepref_core::taxonomy::{Category, Preset, Taxonomy};
use uuid::Uuid;

use super::Chrome;
use super::fields::form_field;
use super::registry::Routes;
use crate::app::AppState;
use crate::auth::{ActiveSession, RequireAdmin};
use crate::error::{AppError, Result};
use crate::projects::{self, Editable, Project, ProjectError, Settings, Wellbeing};

/// The form pages; the form posts to `/admin/projects` (create) and
/// `/admin/projects/{id}` (update), routed with the pages they answer.
pub fn routes() -> Routes {
    Routes::default()
        .get("/admin/projects/new", new_form)
        .get("/admin/projects/{id}/edit", edit_form)
}

/// The settings form, filled with `values`.
#[derive(Template, WebTemplate)]
#[template(path = "pages/project_form.html")]
struct ProjectForm {
    chrome: Chrome,
    title: String,
    action: String,
    submit_label: &'static str,
    /// Label-defining settings are frozen (annotations exist).
    frozen: bool,
    frozen_reason: &'static str,
    error: Option<String>,
    values: FormValues,
}

/// The form's fields as text, as the browser sends them back.
#[derive(Debug, Clone, Default)]
struct FormValues {
    name: String,
    guidelines: String,
    responses_per_item: String,
    annotations_per_item: String,
    lease_minutes: String,
    revisable_recent: String,
    q_safety: bool,
    q_helpfulness: bool,
    q_harmlessness: bool,
    q_overall: bool,
    q_confidence: bool,
    q_comment: bool,
    taxonomy: String,
    custom_categories: String,
    gold_percent: String,
    gold_feedback: bool,
    review_percent: String,
    blur_responses: bool,
    content_note_for_severe: bool,
    break_every_items: String,
    break_every_minutes: String,
    daily_cap: String,
    suggestion_display: String,
    suggestion_source: String,
    routing_source: String,
    routing_threshold: String,
}

fn optional_number(n: Option<u32>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

impl From<&Settings> for FormValues {
    fn from(s: &Settings) -> Self {
        let custom = if s.taxonomy.preset == Preset::Custom {
            s.taxonomy
                .categories
                .iter()
                .map(|c| format!("{}: {}", c.name, c.description))
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            String::new()
        };
        FormValues {
            name: s.name.clone(),
            guidelines: s.guidelines.clone(),
            responses_per_item: s.responses_per_item.to_string(),
            annotations_per_item: s.annotations_per_item.to_string(),
            lease_minutes: format_minutes(s.lease_seconds),
            revisable_recent: s.revisable_recent.to_string(),
            q_safety: s.questions.safety,
            q_helpfulness: s.questions.helpfulness,
            q_harmlessness: s.questions.harmlessness,
            q_overall: s.questions.overall,
            q_confidence: s.questions.confidence,
            q_comment: s.questions.comment,
            taxonomy: preset_name(s.taxonomy.preset).into(),
            custom_categories: custom,
            gold_percent: format!("{}", (s.gold_rate * 1000.0).round() / 10.0),
            gold_feedback: s.gold_feedback,
            review_percent: format!("{}", (s.review_min_support * 1000.0).round() / 10.0),
            blur_responses: s.wellbeing.blur_responses,
            content_note_for_severe: s.wellbeing.content_note_for_severe,
            break_every_items: optional_number(s.wellbeing.break_every_items),
            break_every_minutes: optional_number(s.wellbeing.break_every_minutes),
            daily_cap: optional_number(s.wellbeing.daily_cap),
            suggestion_display: s.suggestions.display.as_str().into(),
            suggestion_source: s.suggestions.source.clone().unwrap_or_default(),
            routing_source: s
                .suggestions
                .routing
                .as_ref()
                .map(|r| r.source.clone())
                .unwrap_or_default(),
            routing_threshold: s
                .suggestions
                .routing
                .as_ref()
                .map(|r| r.threshold.to_string())
                .unwrap_or_default(),
        }
    }
}
/// Minutes as the form and the project page show them: whole, or to two places.
pub(super) fn format_minutes(seconds: i32) -> String {
    if seconds % 60 == 0 {
        (seconds / 60).to_string()
    } else {
        format!("{:.2}", f64::from(seconds) / 60.0)
    }
}

fn preset_name(preset: Preset) -> &'static str {
    match preset {
        Preset::Pku19 => "pku19",
        Preset::Beavertails14 => "beavertails14",
        Preset::Custom => "custom",
    }
}

impl FormValues {
    fn from_fields(fields: &[(String, String)]) -> Self {
        let text = |name: &str| form_field(fields, name).unwrap_or_default().to_string();
        let ticked = |name: &str| fields.iter().any(|(k, _)| k == name);
        FormValues {
            name: text("name"),
            guidelines: text("guidelines"),
            responses_per_item: text("responses_per_item"),
            annotations_per_item: text("annotations_per_item"),
            lease_minutes: text("lease_minutes"),
            revisable_recent: text("revisable_recent"),
            q_safety: ticked("q_safety"),
            q_helpfulness: ticked("q_helpfulness"),
            q_harmlessness: ticked("q_harmlessness"),
            q_overall: ticked("q_overall"),
            q_confidence: ticked("q_confidence"),
            q_comment: ticked("q_comment"),
            taxonomy: text("taxonomy"),
            custom_categories: text("custom_categories"),
            gold_percent: text("gold_percent"),
            gold_feedback: ticked("gold_feedback"),
            review_percent: text("review_percent"),
            blur_responses: ticked("blur_responses"),
            content_note_for_severe: ticked("content_note_for_severe"),
            break_every_items: text("break_every_items"),
            break_every_minutes: text("break_every_minutes"),
            daily_cap: text("daily_cap"),
            suggestion_display: text("suggestion_display"),
            suggestion_source: text("suggestion_source"),
            routing_source: text("routing_source"),
            routing_threshold: text("routing_threshold"),
        }
    }

    /// The settings these values describe; `frozen` supplies K, the
    /// taxonomy and the questions when the form could not change them.
    fn settings(&self, frozen: Option<&Settings>) -> Result<Settings, String> {
        let number = |what: &str, text: &str| -> Result<i32, String> {
            text.trim()
                .parse()
                .map_err(|_| format!("{what} must be a whole number, not {text:?}"))
        };
        let optional = |what: &str, text: &str| -> Result<Option<u32>, String> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse()
                .map(Some)
                .map_err(|_| format!("{what} must be a whole number or empty, not {text:?}"))
        };
        let lease_minutes: f64 = self.lease_minutes.trim().parse().map_err(|_| {
            format!(
                "the lease time must be minutes, not {:?}",
                self.lease_minutes
            )
        })?;
        let gold_percent: f64 = if self.gold_percent.trim().is_empty() {
            0.0
        } else {
            self.gold_percent.trim().parse().map_err(|_| {
                format!(
                    "the gold rate must be a percentage, not {:?}",
                    self.gold_percent
                )
            })?
        };
        let (responses_per_item, annotations_per_item, questions, taxonomy) = match frozen {
            Some(s) => (
                s.responses_per_item,
                s.annotations_per_item,
                s.questions,
                s.taxonomy.clone(),
            ),
            None => (
                number("responses per item (K)", &self.responses_per_item)?,
                number("annotations per item (k)", &self.annotations_per_item)?,
                self.questions(),
                self.taxonomy()?,
            ),
        };
        Ok(Settings {
            name: self.name.clone(),
            guidelines: self.guidelines.replace("\r\n", "\n"),
            responses_per_item,
            annotations_per_item,
            lease_seconds: (lease_minutes * 60.0).round() as i32,
            // Empty (or left out by a script): the default.
            revisable_recent: if self.revisable_recent.trim().is_empty() {
                Settings::default().revisable_recent
            } else {
                number(
                    "the number of recent submissions that may be revised",
                    &self.revisable_recent,
                )?
            },
            questions,
            taxonomy,
            gold_rate: gold_percent / 100.0,
            gold_feedback: self.gold_feedback,
            // Empty (or left out by a script): the default.
            review_min_support: if self.review_percent.trim().is_empty() {
                Settings::default().review_min_support
            } else {
                self.review_percent.trim().parse::<f64>().map_err(|_| {
                    format!(
                        "the review threshold must be a percentage, not {:?}",
                        self.review_percent
                    )
                })? / 100.0
            },
            wellbeing: Wellbeing {
                blur_responses: self.blur_responses,
                content_note_for_severe: self.content_note_for_severe,
                break_every_items: optional("a break every N items", &self.break_every_items)?,
                break_every_minutes: optional(
                    "a break every N minutes",
                    &self.break_every_minutes,
                )?,
                daily_cap: optional("the daily cap", &self.daily_cap)?,
            },
            suggestions: self.suggestion_policy()?,
        })
    }

    /// Empty fields (or fields a script left out): blind, no routing.
    fn suggestion_policy(&self) -> Result<Policy, String> {
        let display = match self.suggestion_display.trim() {
            "" => Display::default(),
            name => Display::parse(name).ok_or_else(|| {
                format!("what annotators see of suggestions must be blind, hint or prefill, not {name:?}")
            })?,
        };
        let text = |t: &str| Some(t.trim().to_string()).filter(|t| !t.is_empty());
        let routing = match text(&self.routing_source) {
            None => None,
            Some(source) => Some(Routing {
                source,
                threshold: self.routing_threshold.trim().parse().map_err(|_| {
                    format!(
                        "the routing threshold must be a score from 0 to 1, not {:?}",
                        self.routing_threshold
                    )
                })?,
            }),
        };
        Ok(Policy {
            display,
            source: text(&self.suggestion_source),
            routing,
        })
    }

    fn questions(&self) -> Questions {
        Questions {
            safety: self.q_safety,
            helpfulness: self.q_helpfulness,
            harmlessness: self.q_harmlessness,
            overall: self.q_overall,
            confidence: self.q_confidence,
            comment: self.q_comment,
        }
    }

    fn taxonomy(&self) -> Result<Taxonomy, String> {
        match self.taxonomy.as_str() {
            "pku19" | "" => Ok(Taxonomy::pku19()),
            "beavertails14" => Ok(Taxonomy::beavertails14()),
            "custom" => {
                let categories = self
                    .custom_categories
                    .lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty())
                    .map(|line| {
                        let (name, description) = line.split_once(':').unwrap_or((line, ""));
                        Category {
                            name: name.trim().to_string(),
                            description: description.trim().to_string(),
                        }
                    })
                    .collect();
                Taxonomy::custom(categories).map_err(|e| format!("custom taxonomy: {e}"))
            }
            other => Err(format!("unknown taxonomy {other:?}")),
        }
    }
}

impl ProjectForm {
    fn new_project(session: &ActiveSession, values: FormValues, error: Option<String>) -> Self {
        ProjectForm {
            chrome: Chrome::new(Some(session)),
            title: "New project".into(),
            action: "/admin/projects".into(),
            submit_label: "Create project",
            frozen: false,
            frozen_reason: projects::FROZEN_REASON,
            error,
            values,
        }
    }

    fn edit(
        session: &ActiveSession,
        project: &Project,
        frozen: bool,
        values: FormValues,
        error: Option<String>,
    ) -> Self {
        ProjectForm {
            chrome: Chrome::new(Some(session)),
            title: format!("Settings of {}", project.name),
            action: format!("/admin/projects/{}", project.id),
            submit_label: "Save settings",
            frozen,
            frozen_reason: projects::FROZEN_REASON,
            error,
            values,
        }
    }
}

async fn new_form(RequireAdmin(session): RequireAdmin) -> ProjectForm {
    ProjectForm::new_project(&session, FormValues::from(&Settings::default()), None)
}

pub(super) async fn create(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response> {
    let values = FormValues::from_fields(&fields);
    let refuse = |values: FormValues, message: String, status: StatusCode| {
        (
            status,
            ProjectForm::new_project(&session, values, Some(message)),
        )
            .into_response()
    };
    let settings = match values.settings(None) {
        Ok(settings) => settings,
        Err(message) => return Ok(refuse(values, message, StatusCode::BAD_REQUEST)),
    };
    match projects::create(&state.pool, Some(session.user.id), settings).await {
        Ok(project) => Ok(
            Redirect::to(&format!("/admin/projects/{}?done=created", project.id)).into_response(),
        ),
        Err(err) => {
            let (message, status) = refusal(err)?;
            Ok(refuse(values, message, status))
        }
    }
}

/// A refusal of the settings, shown on the form again with its message and
/// status; a database failure goes to the error page instead.
fn refusal(err: ProjectError) -> Result<(String, StatusCode)> {
    match AppError::from(err) {
        err @ (AppError::BadRequest(_) | AppError::Conflict(_)) => {
            Ok((err.to_string(), err.status()))
        }
        other => Err(other),
    }
}

async fn edit_form(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
) -> Result<ProjectForm> {
    let Editable { project, frozen } = projects::editable(&state.pool, id).await?;
    Ok(ProjectForm::edit(
        &session,
        &project,
        frozen,
        FormValues::from(&project.settings()),
        None,
    ))
}

pub(super) async fn update(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response> {
    let Editable { project, frozen } = projects::editable(&state.pool, id).await?;
    let values = FormValues::from_fields(&fields);
    let current = project.settings();
    let refuse = |values: FormValues, message: String, status: StatusCode| {
        (
            status,
            ProjectForm::edit(&session, &project, frozen, values, Some(message)),
        )
            .into_response()
    };
    let settings = match values.settings(frozen.then_some(&current)) {
        Ok(settings) => settings,
        Err(message) => return Ok(refuse(values, message, StatusCode::BAD_REQUEST)),
    };
    match projects::update(&state.pool, Some(session.user.id), &project, settings).await {
        Ok(()) => Ok(Redirect::to(&format!("/admin/projects/{id}?done=saved")).into_response()),
        Err(err) => {
            let (message, status) = refusal(err)?;
            Ok(refuse(values, message, status))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_round_trip_settings() {
        let settings = Settings {
            name: "x".into(),
            ..Settings::default()
        };
        let values = FormValues::from(&settings);
        assert_eq!(values.settings(None).unwrap(), settings);
    }
}
