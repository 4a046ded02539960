//! Admin pages for projects: create, edit (label-defining settings freeze
//! once annotations exist), batches with their progress, upload (the same
//! import code as `safepref import`), and batch deletion.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use safepref_core::labels::Questions;
use safepref_core::suggestions::{Display, Policy, Routing};
use safepref_core::taxonomy::{Category, Preset, Taxonomy};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::{Chrome, ConfirmPage};
use crate::app::AppState;
use crate::auth::{ActiveSession, RequireAdmin};
use crate::db::{
    self,
    batches::Progress,
    projects::{Project, Settings, Summary, Wellbeing},
};
use crate::error::{AppError, Result};
use crate::import::{self, ImportError, Options, Source};
use crate::{markdown, projects};

/// Uploads larger than this are refused (imports stream, so this is about disk, not memory).
const MAX_UPLOAD_BYTES: usize = 4 << 30;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/projects", get(list).post(create))
        .route("/admin/projects/new", get(new_form))
        .route("/admin/projects/{id}", get(show).post(update))
        .route("/admin/projects/{id}/edit", get(edit_form))
        .route(
            "/admin/projects/{id}/import",
            post(upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route(
            "/admin/projects/{id}/batches/{batch}/delete",
            get(confirm_delete_batch).post(delete_batch),
        )
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/projects.html")]
struct ProjectsPage {
    chrome: Chrome,
    projects: Vec<Summary>,
}

async fn list(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
) -> Result<ProjectsPage> {
    let projects = db::projects::summaries(&state.pool).await?;
    Ok(ProjectsPage {
        chrome: Chrome::new(Some(&session)),
        projects,
    })
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

fn format_minutes(seconds: i32) -> String {
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
        let text = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
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

async fn create(
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
        Err(err @ (AppError::BadRequest(_) | AppError::Conflict(_))) => {
            Ok(refuse(values, err.to_string(), err.status()))
        }
        Err(other) => Err(other),
    }
}

async fn edit_form(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
) -> Result<ProjectForm> {
    let project = projects::find(&state.pool, id).await?;
    let frozen = db::projects::has_annotations(&state.pool, id).await?;
    Ok(ProjectForm::edit(
        &session,
        &project,
        frozen,
        FormValues::from(&project.settings()),
        None,
    ))
}

async fn update(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response> {
    let project = projects::find(&state.pool, id).await?;
    let frozen = db::projects::has_annotations(&state.pool, id).await?;
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
        Err(err @ (AppError::BadRequest(_) | AppError::Conflict(_))) => {
            Ok(refuse(values, err.to_string(), err.status()))
        }
        Err(other) => Err(other),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/project.html")]
struct ProjectPage {
    chrome: Chrome,
    project: Project,
    guidelines_html: String,
    batches: Vec<Progress>,
    frozen: bool,
    import_errors: Option<String>,
    /// Sources of machine suggestions, with the items each suggested for.
    sources: Vec<(String, i64)>,
}

impl ProjectPage {
    fn lease_minutes(&self) -> String {
        format_minutes(self.project.lease_seconds)
    }

    fn gold_percent(&self) -> String {
        format!("{}%", (self.project.gold_rate * 1000.0).round() / 10.0)
    }

    fn asked(&self) -> String {
        let q = &self.project.questions.0;
        let names = [
            (q.safety, "safety (safe/unsafe, harm categories, severity)"),
            (q.helpfulness, "helpfulness ranking"),
            (q.harmlessness, "harmlessness ranking"),
            (q.overall, "overall preference"),
            (q.confidence, "confidence"),
            (q.comment, "comment"),
        ];
        names
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn taxonomy_name(&self) -> &'static str {
        match self.project.taxonomy.0.preset {
            Preset::Pku19 => "PKU-SafeRLHF, 19 categories",
            Preset::Beavertails14 => "BeaverTails, 14 categories",
            Preset::Custom => "custom",
        }
    }
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "created" => "The project was created. Import a batch of items below.",
        "saved" => "The settings were saved.",
        "imported" => "The file was imported.",
        "suggested" => "The suggestions were imported.",
        "deleted" => "The batch was deleted.",
        _ => return None,
    })
}

async fn project_page(
    state: &AppState,
    session: &ActiveSession,
    id: Uuid,
    notice: Option<&'static str>,
    import_errors: Option<String>,
) -> Result<ProjectPage> {
    let project = projects::find(&state.pool, id).await?;
    let batches = db::batches::with_progress(&state.pool, id).await?;
    let frozen = db::projects::has_annotations(&state.pool, id).await?;
    let sources = db::suggestions::sources(&state.pool, id).await?;
    Ok(ProjectPage {
        chrome: Chrome::new(Some(session)).with_notice(notice),
        guidelines_html: markdown::render(&project.guidelines),
        project,
        batches,
        frozen,
        import_errors,
        sources,
    })
}

async fn show(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
    Query(query): Query<DoneQuery>,
) -> Result<ProjectPage> {
    project_page(&state, &session, id, notice(query.done.as_deref()), None).await
}

/// Receives an upload into a temporary file, then imports it like the CLI.
async fn upload(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
    mut multipart: Multipart,
) -> Result<Response> {
    let project = projects::find(&state.pool, id).await?;
    let dir = tempfile::tempdir().map_err(anyhow::Error::from)?;
    let mut source = None;
    let mut options = Options::default();
    let mut suggestions = false;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| AppError::BadRequest(e.body_text()))?
    {
        match field.name().unwrap_or_default() {
            "file" => {
                let name = upload_name(field.file_name());
                if name.is_empty() {
                    continue;
                }
                // Keep the name: its extension tells the reader the format.
                let path = dir.path().join(&name);
                let mut file = tokio::fs::File::create(&path)
                    .await
                    .map_err(anyhow::Error::from)?;
                while let Some(bytes) = field
                    .chunk()
                    .await
                    .map_err(|e| AppError::BadRequest(e.body_text()))?
                {
                    file.write_all(&bytes).await.map_err(anyhow::Error::from)?;
                }
                file.flush().await.map_err(anyhow::Error::from)?;
                source = Some(Source { path, name });
            }
            "allow_empty" => options.allow_empty = true,
            "accept_hash_mismatch" => options.accept_hash_mismatch = true,
            "allow_duplicates" => options.allow_duplicates = true,
            "kind" => suggestions = field.text().await.is_ok_and(|kind| kind == "suggestions"),
            _ => {}
        }
    }
    let Some(source) = source else {
        let page = project_page(
            &state,
            &session,
            id,
            None,
            Some("Choose a file to import.".into()),
        )
        .await?;
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    };
    let actor = Some(session.user.id);
    let imported = if suggestions {
        crate::suggestions::import_side_file(&state.pool, &project, actor, &source.path)
            .await
            .map(|_| "suggested")
    } else {
        import::import_files(&state.pool, &project, &[source], actor, options)
            .await
            .map(|_| "imported")
    };
    match imported {
        Ok(done) => Ok(Redirect::to(&format!("/admin/projects/{id}?done={done}")).into_response()),
        Err(ImportError::Database(e)) => Err(e.into()),
        Err(err) => {
            let status = if matches!(err, ImportError::AlreadyImported { .. }) {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            let page = project_page(&state, &session, id, None, Some(err.to_string())).await?;
            Ok((status, page).into_response())
        }
    }
}

/// The uploaded file's own name, without any folder a browser may send.
fn upload_name(name: Option<&str>) -> String {
    let name = name.unwrap_or_default();
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if clean == "." || clean == ".." {
        String::new()
    } else {
        clean
    }
}

async fn batch_of(
    state: &AppState,
    project_id: Uuid,
    batch_id: Uuid,
) -> Result<db::batches::Batch> {
    db::batches::find(&state.pool, batch_id)
        .await?
        .filter(|b| b.project_id == project_id)
        .ok_or_else(|| AppError::NotFound("there is no such batch in this project".into()))
}

async fn confirm_delete_batch(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path((id, batch_id)): Path<(Uuid, Uuid)>,
) -> Result<ConfirmPage> {
    let batch = batch_of(&state, id, batch_id).await?;
    if db::batches::has_annotations(&state.pool, batch_id).await? {
        return Err(AppError::Conflict(
            "this batch has annotations and cannot be deleted".into(),
        ));
    }
    Ok(ConfirmPage {
        chrome: Chrome::new(Some(&session)),
        title: format!("Delete batch {} ({})?", batch.seq, batch.file_name),
        explanation: format!(
            "Its {} items and their responses are removed for good. Nobody has annotated them yet. You can import the file again afterwards.",
            batch.items_imported
        ),
        action: format!("/admin/projects/{id}/batches/{batch_id}/delete"),
        confirm_label: "Delete the batch",
        cancel_href: format!("/admin/projects/{id}"),
        ask_password: false,
        min_length: 0,
    })
}

async fn delete_batch(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path((id, batch_id)): Path<(Uuid, Uuid)>,
) -> Result<Redirect> {
    let batch = batch_of(&state, id, batch_id).await?;
    projects::delete_batch(&state.pool, Some(session.user.id), &batch).await?;
    Ok(Redirect::to(&format!("/admin/projects/{id}?done=deleted")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_names_lose_their_folders() {
        assert_eq!(upload_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(
            upload_name(Some("C:\\Users\\me\\batch 3.csv.gz")),
            "batch 3.csv.gz"
        );
        assert_eq!(upload_name(Some("..")), "");
        assert_eq!(upload_name(Some("a\u{0}b.jsonl")), "ab.jsonl");
        assert_eq!(upload_name(None), "");
    }

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
