//! Batches of a project: uploading a file (the same import code as
//! `safepref import`, or a side file of machine suggestions) and deleting a
//! batch nobody has annotated.

use axum::extract::multipart::Field;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::projects::project_page;
use super::registry::Routes;
use super::{Chrome, ConfirmPage};
use crate::app::AppState;
use crate::auth::RequireAdmin;
use crate::error::{AppError, Result};
use crate::import::{self, ImportError, Options, Source};
use crate::projects;

/// Uploads larger than this are refused (imports stream, so this is about disk, not memory).
const MAX_UPLOAD_BYTES: usize = 4 << 30;
pub fn routes() -> Routes {
    Routes::default()
        .add_method_router(
            Method::POST,
            "/admin/projects/{id}/import",
            post(upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .get(
            "/admin/projects/{id}/batches/{batch}/delete",
            confirm_delete_batch,
        )
        .post("/admin/projects/{id}/batches/{batch}/delete", delete_batch)
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
    let Upload {
        source,
        options,
        suggestions,
    } = receive(&mut multipart, dir.path()).await?;
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

/// What the upload form sent: the file, the import's options, and whether
/// the file holds machine suggestions rather than items.
#[derive(Default)]
struct Upload {
    source: Option<Source>,
    options: Options,
    suggestions: bool,
}

/// Reads the form's fields, streaming the file into `dir`.
async fn receive(multipart: &mut Multipart, dir: &std::path::Path) -> Result<Upload> {
    let mut upload = Upload::default();
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
                let path = dir.join(&name);
                save(&mut field, &path).await?;
                upload.source = Some(Source { path, name });
            }
            "allow_empty" => upload.options.allow_empty = true,
            "accept_hash_mismatch" => upload.options.accept_hash_mismatch = true,
            "allow_duplicates" => upload.options.allow_duplicates = true,
            "kind" => {
                upload.suggestions = field.text().await.is_ok_and(|kind| kind == "suggestions")
            }
            _ => {}
        }
    }
    Ok(upload)
}

async fn save(field: &mut Field<'_>, path: &std::path::Path) -> Result<()> {
    let mut file = tokio::fs::File::create(path)
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
    Ok(())
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

async fn confirm_delete_batch(
    State(state): State<AppState>,
    RequireAdmin(session): RequireAdmin,
    Path((id, batch_id)): Path<(Uuid, Uuid)>,
) -> Result<ConfirmPage> {
    let batch = projects::deletable_batch(&state.pool, id, batch_id).await?;
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
    projects::delete_batch(&state.pool, Some(session.user.id), id, batch_id).await?;
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
}
