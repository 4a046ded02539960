//! Exports over HTTP: the admin page's export jobs (run in the background,
//! progress on the page, files to download when done) and the API's
//! streamed `GET /api/v1/projects/{id}/export` (routed with the rest of
//! the API in `api::routes`).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use tokio::sync::mpsc;
use tower::ServiceExt;
use tower_http::services::ServeFile;
use uuid::Uuid;

use super::registry::Routes;
use super::{Chrome, PageQuery, Pager};
use crate::app::AppState;
use crate::auth::RequireAdmin;
use crate::error::{AppError, Result};
use crate::export::jobs::{self, Job, JobList, Storage};
use crate::export::{self, Encoding, ExportError, Format, Options, Sink};
use crate::projects::Project;

/// Encoded chunks in flight between the exporter and a slow client.
const CHANNEL_CHUNKS: usize = 8;

pub fn routes() -> Routes {
    Routes::default()
        .get("/admin/projects/{id}/exports", page)
        .post("/admin/projects/{id}/exports", start_job)
        .get("/admin/exports/{job}/files/{name}", download)
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/exports.html")]
struct ExportsPage {
    chrome: Chrome,
    project: Project,
    jobs: Vec<Job>,
    pager: Pager,
    formats: Vec<&'static str>,
    encodings: Vec<&'static str>,
    /// The project's suggestion sources, for the Dawid–Skene source choice.
    sources: Vec<String>,
    error: Option<String>,
    /// Reload the page every few seconds while a job runs.
    refresh: bool,
}

impl ExportsPage {
    fn percent(&self, job: &Job) -> i64 {
        (job.items_done * 100)
            .checked_div(job.items_total)
            .unwrap_or(if job.state == "done" { 100 } else { 0 })
    }

    fn files(&self, job: &Job) -> Vec<String> {
        jobs::files(job)
    }

    fn describe(&self, job: &Job) -> String {
        let o = &job.options.0;
        let mut parts = vec![format!(
            "{} as {}",
            o["format"].as_str().unwrap_or("?"),
            o["encoding"].as_str().unwrap_or("?")
        )];
        if o["method"] == "dawid-skene" {
            parts.push(match o["ds_source"].as_str() {
                Some(source) => format!("Dawid–Skene with source {source}"),
                None => "Dawid–Skene".into(),
            });
        }
        if let Some(b) = o["batches"].as_array().filter(|b| !b.is_empty()) {
            let list: Vec<String> = b.iter().map(|v| v.to_string()).collect();
            parts.push(format!("batches {}", list.join(", ")));
        }
        for (key, label) in [
            ("complete_only", "complete only"),
            ("adjudicated_only", "adjudicated only"),
            ("exclude_gold", "no gold"),
            ("with_usernames", "usernames"),
            ("with_suggestions", "with suggestions"),
        ] {
            if o[key] == true {
                parts.push(label.into());
            }
        }
        if let Some(s) = o["min_support"].as_f64() {
            parts.push(format!("support ≥ {s}"));
        }
        parts.join(", ")
    }
}

async fn page(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> Result<ExportsPage> {
    let project = export::find_project(&state.pool, id).await?;
    render(&state, &session, project, q.page, None).await
}

async fn render(
    state: &AppState,
    session: &crate::auth::ActiveSession,
    project: Project,
    page: Option<i64>,
    error: Option<String>,
) -> Result<ExportsPage> {
    let pager = Pager::new(page, 20)?;
    let JobList {
        total,
        jobs,
        sources,
    } = jobs::list(&state.pool, project.id, pager.per_page, pager.offset()).await?;
    Ok(ExportsPage {
        chrome: Chrome::new(Some(session)),
        refresh: jobs.iter().any(|j| j.state == "running"),
        project,
        jobs,
        pager: pager.with_total(total),
        formats: Format::ALL.iter().map(|f| f.name()).collect(),
        encodings: Encoding::ALL.iter().map(|e| e.name()).collect(),
        sources,
        error,
    })
}

/// Starts an export job and goes back to the list, where it shows.
async fn start_job(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path(id): Path<Uuid>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response> {
    let project = export::find_project(&state.pool, id).await?;
    let checked = match Options::from_pairs(&pairs) {
        Ok(options) => export::check(&state.pool, &project, &options)
            .await
            .map(|()| options),
        Err(e) => Err(e),
    };
    let options = match checked {
        Ok(options) => options,
        Err(ExportError::BadOptions(message)) => {
            let page = render(&state, &session, project, None, Some(message)).await?;
            return Ok((axum::http::StatusCode::BAD_REQUEST, page).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    let storage = Storage {
        dir: state.config.exports_dir.clone(),
        kept: state.config.export_jobs_kept,
    };
    jobs::start(&state.pool, session.user.id, project, options, storage).await?;
    Ok(Redirect::to(&format!("/admin/projects/{id}/exports")).into_response())
}

/// One file of a finished job, streamed from disk.
async fn download(
    State(state): State<AppState>,
    RequireAdmin(_): RequireAdmin,
    Path((job, name)): Path<(Uuid, String)>,
    request: Request,
) -> Result<Response> {
    let path = jobs::finished_file(&state.pool, &state.config.exports_dir, job, &name).await?;
    let mut response = ServeFile::new(path)
        .oneshot(request)
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("serving an export: {e}")))?
        .map(Body::new);
    attachment(&mut response, &name);
    Ok(response)
}

fn attachment(response: &mut Response, name: &str) {
    // File names are ours (format and encoding names), so quoting is enough.
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
}

/// Sends one output's bytes to the response body; drops the others.
struct ChannelSink {
    output: usize,
    tx: mpsc::Sender<std::io::Result<Vec<u8>>>,
}

impl Sink for ChannelSink {
    fn wants(&self, output: usize) -> bool {
        output == self.output
    }

    async fn write(&mut self, output: usize, bytes: Vec<u8>) -> std::io::Result<()> {
        if output != self.output || bytes.is_empty() {
            return Ok(());
        }
        self.tx
            .send(Ok(bytes))
            .await
            .map_err(|_| std::io::Error::other("the client went away"))
    }
}

/// GET /api/v1/projects/{id}/export: the export streamed as it is made. A
/// safe-rlhf export is a directory of two files: `split=train|test` (required
/// for it) picks the one streamed, and only that split is encoded.
pub async fn api_export(
    State(state): State<AppState>,
    RequireAdmin(_): RequireAdmin,
    Path(id): Path<Uuid>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response> {
    let project = export::find_project(&state.pool, id).await?;
    let options = Options::from_pairs(&pairs)?;
    export::check(&state.pool, &project, &options).await?;
    let split = pairs
        .iter()
        .find(|(k, _)| k == "split")
        .map(|(_, v)| v.as_str());
    let output = match (options.format, split) {
        (Format::SafeRlhf, Some("train")) => 0,
        (Format::SafeRlhf, Some("test")) => 1,
        (Format::SafeRlhf, None) => {
            return Err(AppError::BadRequest(
                "format safe-rlhf is two files: add split=train or split=test".into(),
            ));
        }
        (Format::SafeRlhf, Some(other)) => {
            return Err(AppError::BadRequest(format!(
                "split: {other:?} is not train or test"
            )));
        }
        (_, None) => 0,
        (_, Some(_)) => {
            return Err(AppError::BadRequest(
                "split applies to the safe-rlhf format only".into(),
            ));
        }
    };
    let name = options.file_names()[output].clone();
    let (tx, mut rx) = mpsc::channel(CHANNEL_CHUNKS);
    let pool = state.pool.clone();
    let encoding = options.encoding;
    tokio::spawn(async move {
        let mut sink = ChannelSink {
            output,
            tx: tx.clone(),
        };
        if let Err(e) = export::run(&pool, &project, &options, &mut sink).await {
            // Worded and logged as a response would be.
            let e = AppError::from(e);
            tracing::warn!("streamed export failed: {e:?}");
            // The body ends with an error, so the client sees a broken
            // download, never a short file that looks complete.
            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut response = Body::from_stream(stream).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    attachment(&mut response, &name);
    Ok(response)
}
