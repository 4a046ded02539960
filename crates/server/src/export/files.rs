//! Exports written to disk: every file first goes into a staging directory
//! beside the destination, hashed as it is written; only a finished export
//! is moved into place (a rename), so a failed or interrupted one leaves no
//! partial file behind where a reader would look.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::io::Write;
use tokio::fs;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{ExportError, Options, Sink, manifest};
use crate::db::{self, projects::Project};

/// How often a job's progress (and heartbeat) is written.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// One written file, as the manifest lists it.
#[derive(Debug, Clone, Serialize)]
pub struct FileInfo {
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// Encoded chunks a file's writer may hold before the exporter waits for
/// it (each about a megabyte for JSONL).
const WRITES_AHEAD: usize = 4;

/// Bytes written between two nudges of a file's [`Syncer`].
const SYNC_EVERY: usize = 64 << 20;

/// Writes a file's pages to disk while the export goes on: a thread that
/// syncs the file whenever the writer has written another
/// [`SYNC_EVERY`] bytes. The final sync before the export is moved into place
/// then finds little left to write, where it found the whole file (half a
/// second for a gigabyte, with nothing else to do). It costs no CPU to speak
/// of: the thread waits on the disk.
struct Syncer {
    nudges: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
}

impl Syncer {
    fn new(file: &std::fs::File) -> std::io::Result<Syncer> {
        let file = file.try_clone()?;
        let (nudges, nudged) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("export-sync".into())
            .spawn(move || {
                while nudged.recv().is_ok() {
                    file.sync_data()?;
                }
                Ok(())
            })?;
        Ok(Syncer { nudges, thread })
    }

    /// Asks for a sync, unless one is already waiting (a slow disk makes
    /// fewer, larger syncs; the writer never waits for one).
    fn nudge(&self) {
        let _ = self.nudges.try_send(());
    }

    /// Waits for the sync under way; its error, if it failed.
    fn stop(self) -> std::io::Result<()> {
        drop(self.nudges);
        self.thread
            .join()
            .map_err(|_| std::io::Error::other("the file's sync thread panicked"))?
    }
}

struct OutFile {
    name: String,
    /// Chunks for the file's writer thread, which hashes and writes them
    /// while the exporter encodes the next ones (hashing and the kernel's
    /// copy into the page cache are a tenth of an export's time). `None`
    /// once finished.
    chunks: Option<mpsc::Sender<Vec<u8>>>,
    writer: Option<std::thread::JoinHandle<std::io::Result<(std::fs::File, Sha256)>>>,
    bytes: u64,
    /// The file's sha256, once closed.
    sha256: Option<String>,
}

impl OutFile {
    fn new(name: String, file: std::fs::File) -> std::io::Result<OutFile> {
        let (chunks, mut queue) = mpsc::channel::<Vec<u8>>(WRITES_AHEAD);
        let syncer = Syncer::new(&file)?;
        let writer = std::thread::Builder::new()
            .name("export-writer".into())
            .spawn(move || {
                let (mut file, mut hasher) = (file, Sha256::new());
                let mut unsynced = 0;
                while let Some(bytes) = queue.blocking_recv() {
                    hasher.update(&bytes);
                    file.write_all(&bytes)?;
                    unsynced += bytes.len();
                    if unsynced >= SYNC_EVERY {
                        syncer.nudge();
                        unsynced = 0;
                    }
                }
                syncer.stop()?;
                Ok((file, hasher))
            })?;
        Ok(OutFile {
            name,
            chunks: Some(chunks),
            writer: Some(writer),
            bytes: 0,
            sha256: None,
        })
    }

    async fn write(&mut self, bytes: Vec<u8>) -> std::io::Result<()> {
        self.bytes += bytes.len() as u64;
        let sent = match &self.chunks {
            Some(chunks) => chunks.send(bytes).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The writer stopped: its error says why.
        self.chunks = None;
        self.join().await?;
        Err(std::io::Error::other("the file's writer stopped early"))
    }

    /// Waits for the writer to write everything sent; the file and hash.
    async fn join(&mut self) -> std::io::Result<(std::fs::File, Sha256)> {
        let writer = self
            .writer
            .take()
            .ok_or_else(|| std::io::Error::other("an earlier write failed"))?;
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .map_err(std::io::Error::other)?
            .map_err(|_| std::io::Error::other("the file's writer panicked"))?
    }

    /// Waits for the writer, then syncs the file to disk.
    async fn close(&mut self) -> std::io::Result<()> {
        self.chunks = None;
        let (file, hasher) = self.join().await?;
        tokio::task::spawn_blocking(move || file.sync_all())
            .await
            .map_err(std::io::Error::other)??;
        self.sha256 = Some(hex::encode(hasher.finalize()));
        Ok(())
    }

    /// The closed file as the manifest lists it.
    fn info(self, rows: u64) -> std::io::Result<FileInfo> {
        let sha256 = self
            .sha256
            .ok_or_else(|| std::io::Error::other("the export did not close its files"))?;
        Ok(FileInfo {
            name: self.name,
            rows,
            bytes: self.bytes,
            sha256,
        })
    }
}

/// Writes each output into the staging directory, hashing as it goes.
struct FileSink {
    files: Vec<OutFile>,
    /// An export job to keep informed.
    job: Option<(PgPool, Uuid, Instant)>,
}

impl Sink for FileSink {
    async fn write(&mut self, output: usize, bytes: Vec<u8>) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.files[output].write(bytes).await
    }

    async fn close(&mut self) -> std::io::Result<()> {
        for file in &mut self.files {
            file.close().await?;
        }
        Ok(())
    }

    async fn progress(&mut self, done: u64, total: u64) {
        if let Some((pool, id, last)) = &mut self.job
            && (last.elapsed() >= PROGRESS_EVERY || done == total)
        {
            *last = Instant::now();
            if let Err(e) = db::export::job_progress(&*pool, *id, done as i64, total as i64).await {
                tracing::warn!(job = %id, "could not record export progress: {e}");
            }
        }
    }
}

/// Where a finished export goes.
#[derive(Debug, Clone)]
pub enum Destination {
    /// A directory holding the files, manifest.json and (for directory
    /// formats) a dataset card README.md. It must not exist yet.
    Directory(PathBuf),
    /// One file, with `<file>.manifest.json` beside it (single-file formats).
    File(PathBuf),
}

impl Destination {
    fn path(&self) -> &Path {
        match self {
            Destination::Directory(p) | Destination::File(p) => p,
        }
    }
}

/// Runs the export into `dest`; returns the manifest. On failure nothing is
/// left at the destination or in the staging directory.
pub async fn export_to(
    pool: &PgPool,
    project: &Project,
    options: &Options,
    dest: &Destination,
    job: Option<Uuid>,
) -> Result<serde_json::Value, ExportError> {
    let target = dest.path();
    if fs::try_exists(target).await.unwrap_or(false) {
        return Err(ExportError::Exists(target.to_path_buf()));
    }
    if let Destination::File(_) = dest
        && options.format.is_directory()
    {
        return Err(ExportError::NeedsDirectory(options.format));
    }
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let stem = target.file_name().map_or_else(
        || "export".to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let staging = parent.join(format!(".{stem}.partial-{}", Uuid::new_v4()));
    let result = write_staged(pool, project, options, &staging, job).await;
    let result = match result {
        Ok(manifest) => place(&staging, dest, options).await.map(|()| manifest),
        Err(e) => Err(e),
    };
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging).await;
    }
    result
}

async fn write_staged(
    pool: &PgPool,
    project: &Project,
    options: &Options,
    staging: &Path,
    job: Option<Uuid>,
) -> Result<serde_json::Value, ExportError> {
    fs::create_dir_all(staging)
        .await
        .map_err(|error| ExportError::CannotCreate {
            path: staging.to_path_buf(),
            error,
        })?;
    let mut files = Vec::new();
    for name in options.file_names() {
        let file = fs::File::create(staging.join(&name)).await?;
        files.push(OutFile::new(name, file.into_std().await)?);
    }
    let mut sink = FileSink {
        files,
        job: job.map(|id| (pool.clone(), id, Instant::now())),
    };
    let counts = super::run(pool, project, options, &mut sink).await?;
    let mut infos = Vec::new();
    for (out, rows) in sink.files.into_iter().zip(&counts.rows) {
        infos.push(out.info(*rows)?);
    }
    let manifest = manifest::build(project, options, &counts, &infos);
    let pretty = serde_json::to_vec_pretty(&manifest).map_err(anyhow::Error::from)?;
    fs::write(staging.join("manifest.json"), pretty).await?;
    if options.format.is_directory() {
        fs::write(
            staging.join("README.md"),
            manifest::dataset_card(project, &manifest),
        )
        .await?;
    }
    Ok(manifest)
}

/// Moves a finished staging directory into place.
async fn place(staging: &Path, dest: &Destination, options: &Options) -> Result<(), ExportError> {
    match dest {
        Destination::Directory(dir) => fs::rename(staging, dir).await?,
        Destination::File(file) => {
            let name = &options.file_names()[0];
            let mut beside = file.as_os_str().to_owned();
            beside.push(".manifest.json");
            // The data first, then the manifest that vouches for it; a file
            // whose manifest could not follow is taken back, so a manifest
            // never stands beside a missing file nor a file without one.
            fs::rename(staging.join(name), file).await?;
            if let Err(e) = fs::rename(staging.join("manifest.json"), PathBuf::from(beside)).await {
                fs::remove_file(file).await.ok();
                return Err(e.into());
            }
            fs::remove_dir(staging).await?;
        }
    }
    Ok(())
}
