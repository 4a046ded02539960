//! Admin pages for projects: the list, and one project's page (its
//! settings, batches with their progress, suggestion sources and the upload
//! form). Creating and editing are `project_settings`; uploads and batch
//! deletion are `project_batches`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use safepref_core::taxonomy::Preset;
use serde::Deserialize;
use uuid::Uuid;

use super::Chrome;
use super::project_members::{People, people};
use super::project_settings::{create, format_minutes, update};
use super::registry::Routes;
use crate::app::AppState;
use crate::auth::{ActiveSession, RequireAdmin};
use crate::error::Result;
use crate::markdown;
use crate::projects::{self, Progress, Project, Summary};

pub fn routes() -> Routes {
    Routes::default()
        .get("/admin/projects", list)
        .post("/admin/projects", create)
        .get("/admin/projects/{id}", show)
        .post("/admin/projects/{id}", update)
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
    let projects = projects::summaries(&state.pool).await?;
    Ok(ProjectsPage {
        chrome: Chrome::new(Some(&session)),
        projects,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/project.html")]
pub(super) struct ProjectPage {
    chrome: Chrome,
    project: Project,
    guidelines_html: String,
    batches: Vec<Progress>,
    frozen: bool,
    import_errors: Option<String>,
    /// Sources of machine suggestions, with the items each suggested for.
    sources: Vec<(String, i64)>,
    /// Who may work on it, its members, and the search for people to add.
    people: People,
}

impl ProjectPage {
    fn lease_minutes(&self) -> String {
        format_minutes(self.project.lease_seconds)
    }

    fn gold_percent(&self) -> String {
        format!("{}%", (self.project.gold_rate * 1000.0).round() / 10.0)
    }

    fn asked(&self) -> String {
        let q = &self.project.questions;
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
        match self.project.taxonomy.preset {
            Preset::Pku19 => "PKU-SafeRLHF, 19 categories",
            Preset::Beavertails14 => "BeaverTails, 14 categories",
            Preset::Custom => "custom",
        }
    }
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
    /// The People section: a page of members, a search for people to add.
    members_page: Option<i64>,
    q: Option<String>,
}

fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "created" => "The project was created. Import a batch of items below.",
        "saved" => "The settings were saved.",
        "imported" => "The file was imported.",
        "suggested" => "The suggestions were imported.",
        "deleted" => "The batch was deleted.",
        "access" => "Who may work on the project was changed.",
        "added" => "The people checked are members now.",
        "removed" => "The member was removed.",
        _ => return None,
    })
}

pub(super) async fn project_page(
    state: &AppState,
    session: &ActiveSession,
    id: Uuid,
    notice: Option<&'static str>,
    import_errors: Option<String>,
) -> Result<ProjectPage> {
    let project = projects::find(&state.pool, id).await?;
    let people = people(state, &project, None, None, None).await?;
    project_page_for(state, session, project, notice, import_errors, people).await
}

/// The project's page with its People section as given.
pub(super) async fn project_page_for(
    state: &AppState,
    session: &ActiveSession,
    project: Project,
    notice: Option<&'static str>,
    import_errors: Option<String>,
    people: People,
) -> Result<ProjectPage> {
    let overview = projects::overview(&state.pool, project.id).await?;
    Ok(ProjectPage {
        chrome: Chrome::new(Some(session)).with_notice(notice),
        guidelines_html: markdown::render(&overview.project.guidelines),
        project: overview.project,
        batches: overview.batches,
        frozen: overview.frozen,
        import_errors,
        sources: overview.sources,
        people,
    })
}

async fn show(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
    Query(query): Query<DoneQuery>,
) -> Result<ProjectPage> {
    let project = projects::find(&state.pool, id).await?;
    let people = people(&state, &project, query.members_page, query.q, None).await?;
    let notice = notice(query.done.as_deref());
    project_page_for(&state, &session, project, notice, None, people).await
}
