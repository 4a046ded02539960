//! `safepref export`: the exporter into files (with a manifest beside them)
//! or, for single-file formats without --out, to standard output.

use std::path::PathBuf;

use anyhow::Context;
use tokio::io::AsyncWriteExt;

use crate::db::Database;
use crate::error::AppError;
use crate::export::files::{self, Destination};
use crate::export::{self, Options, Sink};

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The project's name.
    #[arg(long)]
    pub project: String,
    /// pku | dpo-helpful | dpo-harmless | raw | safe-rlhf (a directory with train and test files)
    /// | raw-suggestions (every machine suggestion, one line each).
    #[arg(long)]
    pub format: String,
    /// jsonl | jsonl.gz | csv | parquet.
    #[arg(long, default_value = "jsonl")]
    pub encoding: String,
    /// Where to write: a file (the manifest goes beside it as FILE.manifest.json) or, for
    /// safe-rlhf, a new directory. Without it a single-file format goes to standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only these batches (repeatable; numbers as in the project).
    #[arg(long = "batch")]
    pub batches: Vec<i32>,
    /// Only items that reached their annotations per item, or were adjudicated.
    #[arg(long)]
    pub complete_only: bool,
    /// Leave out items whose weakest consolidated field has less support (0 to 1).
    #[arg(long)]
    pub min_support: Option<f64>,
    /// Only adjudicated items.
    #[arg(long)]
    pub adjudicated_only: bool,
    /// Leave out gold items.
    #[arg(long)]
    pub exclude_gold: bool,
    /// majority | dawid-skene.
    #[arg(long, default_value = "majority")]
    pub method: String,
    /// raw only: real usernames instead of pseudonyms.
    #[arg(long)]
    pub with_usernames: bool,
    /// safe-rlhf only: the share of prompts that go to test.
    #[arg(long, default_value_t = 0.1)]
    pub test_ratio: f64,
    /// dawid-skene only: count this suggestion source as one more annotator (default: people only).
    #[arg(long, value_name = "NAME")]
    pub ds_source: Option<String>,
    /// Consolidated formats: add a `suggestions` column (every source's, by name) after the record's fields.
    #[arg(long)]
    pub with_suggestions: bool,
    /// csv only: put a `'` before text cells starting with = + - @, a tab or a carriage return,
    /// which spreadsheets would run as formulas (off by default: the text then no longer
    /// round-trips).
    #[arg(long)]
    pub csv_safe: bool,
}

impl ExportArgs {
    fn options(&self) -> anyhow::Result<Options> {
        let mut pairs = vec![
            ("format".to_string(), self.format.clone()),
            ("encoding".into(), self.encoding.clone()),
            ("method".into(), self.method.clone()),
            ("complete_only".into(), self.complete_only.to_string()),
            ("adjudicated_only".into(), self.adjudicated_only.to_string()),
            ("exclude_gold".into(), self.exclude_gold.to_string()),
            ("with_usernames".into(), self.with_usernames.to_string()),
            ("test_ratio".into(), self.test_ratio.to_string()),
            ("with_suggestions".into(), self.with_suggestions.to_string()),
            ("csv_safe".into(), self.csv_safe.to_string()),
        ];
        pairs.extend(self.ds_source.clone().map(|s| ("ds_source".into(), s)));
        pairs.extend(self.batches.iter().map(|b| ("batch".into(), b.to_string())));
        pairs.extend(
            self.min_support
                .map(|s| ("min_support".into(), s.to_string())),
        );
        Options::from_pairs(&pairs).map_err(|e| anyhow::anyhow!("--{e}"))
    }
}

pub async fn run(database: &Database, args: ExportArgs) -> anyhow::Result<()> {
    let options = args.options()?;
    // Errors worded by `AppError`, as the CLI always has: a database that is
    // down says so, an internal failure is "an internal error occurred: …".
    let project = crate::projects::find_by_name(&database.pool, &args.project)
        .await
        .map_err(AppError::from)?;
    let Some(out) = &args.out else {
        if options.format.is_directory() {
            anyhow::bail!(
                "format {} writes a directory: give it with --out DIR",
                options.format.name()
            );
        }
        let mut sink = Stdout(tokio::io::stdout());
        let counts = export::run(&database.pool, &project, &options, &mut sink)
            .await
            .map_err(AppError::from)?;
        sink.0.flush().await?;
        eprintln!(
            "{} rows written to standard output (no manifest: use --out for one).",
            counts.rows[0]
        );
        return Ok(());
    };
    let dest = if options.format.is_directory() {
        Destination::Directory(out.clone())
    } else {
        Destination::File(out.clone())
    };
    let manifest = files::export_to(&database.pool, &project, &options, &dest, None)
        .await
        .map_err(AppError::from)
        .with_context(|| format!("exporting to {}", out.display()))?;
    for file in manifest["files"].as_array().into_iter().flatten() {
        println!(
            "{}: {} rows, {} bytes, sha256 {}",
            file["name"].as_str().unwrap_or_default(),
            file["rows"],
            file["bytes"],
            file["sha256"].as_str().unwrap_or_default()
        );
    }
    let counts = &manifest["counts"];
    println!(
        "{} items read; {} awaiting review and {} below the minimum support left out.",
        counts["items_read"], counts["items_needing_review"], counts["items_below_min_support"]
    );
    Ok(())
}

struct Stdout(tokio::io::Stdout);

impl Sink for Stdout {
    async fn write(&mut self, _output: usize, bytes: Vec<u8>) -> std::io::Result<()> {
        self.0.write_all(&bytes).await
    }
}
