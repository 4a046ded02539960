//! The `safepref` command line. Every command reaches the same database as
//! `serve` (the embedded cluster in --data-dir, or DATABASE_URL), whether or
//! not a server is running, and applies pending migrations first.

mod demo;
mod export;
mod projects;
mod suggest;
mod users;

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::accounts;
use crate::app::{self, AppState};
use crate::config::{Config, DatabaseArgs, ServeArgs};
use crate::db::{self, Database, projects::Access, users::Role};

#[derive(Debug, Parser)]
#[command(
    name = "safepref",
    version,
    about = "Human annotation of LLM safety preference data"
)]
pub struct Cli {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web service (starting the embedded PostgreSQL unless DATABASE_URL is set).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage annotation projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Import files into a project, each file as one batch, all or nothing.
    Import(ImportArgs),
    /// Set up a demo project with the PKU-SafeRLHF sample and demo accounts.
    Demo,
    /// The agreement report of a project (or one of its batches).
    Report {
        /// The project's name.
        #[arg(long)]
        project: String,
        /// Only this batch (its number in the project).
        #[arg(long)]
        batch: Option<i32>,
        /// Only work done at or after this time (RFC 3339, e.g. 2026-11-28T09:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Only work done before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// Only these annotators (repeatable).
        #[arg(long = "annotator")]
        annotators: Vec<String>,
        /// Only annotations made in this suggestion mode: blind, hint or prefill.
        #[arg(long)]
        suggestion_mode: Option<String>,
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
    },
    /// Export consolidated preference data (or every annotation) for training.
    Export(export::ExportArgs),
    /// Ask a model (an OpenAI-compatible chat endpoint) for a suggestion per item.
    Suggest(suggest::SuggestArgs),
}

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project (change the rest of its settings on its admin page).
    Create {
        #[arg(long)]
        name: String,
        /// Responses per item (K), 2 to 8.
        #[arg(long, default_value_t = 2)]
        responses: i32,
        /// Annotations per item (k, the overlap), 1 to 10.
        #[arg(long, default_value_t = 3)]
        overlap: i32,
        #[arg(long, value_enum, default_value_t = TaxonomyArg::Pku19)]
        taxonomy: TaxonomyArg,
        /// Minutes an annotator holds an item before it goes back to the queue.
        #[arg(long, default_value_t = 10)]
        lease_minutes: i32,
        /// A Markdown file with the annotation guidelines.
        #[arg(long)]
        guidelines: Option<std::path::PathBuf>,
        /// Who may work on it: `open` (every annotator and lead) or
        /// `members` (only its members; add them with `project members add`).
        #[arg(long, default_value_t = Access::Open)]
        access: Access,
    },
    /// List projects with their counts.
    List,
    /// Set who may work on a project: `open` or `members` (switching to
    /// members releases the live leases of everyone who is not a member).
    Access {
        /// The project's name.
        #[arg(long)]
        project: String,
        access: Access,
    },
    /// Add, remove or list a project's members (annotators and leads).
    #[command(subcommand)]
    Members(MembersCommand),
}

#[derive(Debug, Subcommand)]
pub enum MembersCommand {
    /// Add annotators and leads as members, all or nothing.
    Add {
        /// The project's name.
        #[arg(long)]
        project: String,
        #[arg(required = true)]
        usernames: Vec<String>,
    },
    /// Remove members; their annotations stay and count, their live leases
    /// in a members-only project are released.
    Remove {
        /// The project's name.
        #[arg(long)]
        project: String,
        #[arg(required = true)]
        usernames: Vec<String>,
    },
    /// List the project's members.
    List {
        /// The project's name.
        #[arg(long)]
        project: String,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TaxonomyArg {
    Pku19,
    Beavertails14,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The project's name.
    #[arg(long)]
    pub project: String,
    /// PKU-SafeRLHF or generic JSONL, CSV or Parquet, optionally gzip-compressed.
    #[arg(required = true)]
    pub files: Vec<std::path::PathBuf>,
    /// Accept empty prompts and responses.
    #[arg(long)]
    pub allow_empty: bool,
    /// Import records whose stored response_N_sha256 does not match their text (counted; exports recompute the hash).
    #[arg(long)]
    pub accept_hash_mismatch: bool,
    /// Keep items that repeat one already in the project.
    #[arg(long)]
    pub allow_duplicates: bool,
    /// The files are side files of machine suggestions for the project's
    /// items (rows: item_id or id, source, labels, scores), not items.
    #[arg(long)]
    pub suggestions: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = clap::value_parser!(RoleArg))]
        role: RoleArg,
        /// Read the password from the first line of standard input instead of asking.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List,
    /// Disable an account and end its sessions.
    Disable { username: String },
    /// Enable a disabled account.
    Enable { username: String },
    /// Set a new password and end the account's sessions.
    SetPassword {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Clear the account's failed sign-ins, and so any sign-in lock on it.
    Unlock { username: String },
}

/// A role as a command-line value.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Annotator,
    Lead,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(arg: RoleArg) -> Self {
        match arg {
            RoleArg::Annotator => Role::Annotator,
            RoleArg::Lead => Role::Lead,
            RoleArg::Admin => Role::Admin,
        }
    }
}

impl Command {
    /// Commands that never write, and so may run against a hot standby.
    fn only_reads(&self) -> bool {
        matches!(
            self,
            Command::Report { .. }
                | Command::Export(_)
                | Command::Project(ProjectCommand::List)
                | Command::Project(ProjectCommand::Members(MembersCommand::List { .. }))
                | Command::User(UserCommand::List)
        )
    }
}

pub async fn run(mut cli: Cli) -> anyhow::Result<()> {
    cli.database.serving = matches!(cli.command, Command::Serve(_));
    let database = Database::open(&cli.database).await?;
    let outcome = match prepare_schema(&database, &cli.command).await {
        Ok(()) => execute(&database, &cli.database, cli.command).await,
        Err(e) => Err(e),
    };
    database.close().await.context("closing the database")?;
    outcome
}

/// Migrates a database that takes writes. One that does not (a standby)
/// is left as it is: a command that only reads checks that its schema is
/// this binary's, and any other is refused.
async fn prepare_schema(database: &Database, command: &Command) -> anyhow::Result<()> {
    if !db::schema::read_only(&database.pool).await? {
        return db::migrate(&database.pool).await;
    }
    if !command.only_reads() {
        anyhow::bail!(
            "the database takes no writes (it is a standby, or set read-only) and this command \
             writes; point it at the primary (only report, export, project list and user list \
             can use a standby)"
        );
    }
    db::schema::check(&database.pool).await
}

async fn execute(
    database: &Database,
    place: &DatabaseArgs,
    command: Command,
) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(database, place, &args).await,
        Command::Migrate => {
            println!("The database schema is up to date.");
            Ok(())
        }
        Command::User(command) => users::run(database, command).await,
        Command::Project(command) => projects::run(database, command).await,
        Command::Import(args) => projects::import(database, args).await,
        Command::Demo => demo::run(database).await,
        Command::Report {
            project,
            batch,
            since,
            until,
            annotators,
            suggestion_mode,
            format,
        } => {
            let mut pairs: Vec<(String, String)> = Vec::new();
            pairs.extend(batch.map(|b| ("batch".into(), b.to_string())));
            pairs.extend(since.map(|s| ("since".into(), s)));
            pairs.extend(until.map(|u| ("until".into(), u)));
            pairs.extend(annotators.into_iter().map(|a| ("annotator".into(), a)));
            pairs.extend(suggestion_mode.map(|m| ("suggestion_mode".into(), m)));
            report(database, &project, &pairs, format).await
        }
        Command::Export(args) => export::run(database, args).await,
        Command::Suggest(args) => suggest::run(database, args).await,
    }
}

async fn serve(database: &Database, place: &DatabaseArgs, args: &ServeArgs) -> anyhow::Result<()> {
    if let Some((username, password)) = accounts::create_first_admin(&database.pool)
        .await
        .map_err(crate::error::AppError::from)?
    {
        println!("First start: created the admin account.");
        println!("  username: {username}");
        println!("  password: {password}");
        println!("This password is shown only now; change it under Account after signing in.");
    }
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("listening on {}", args.bind))?;
    let address = listener.local_addr()?;
    let config = Config {
        exports_dir: place.data_dir.join("exports"),
        ..Config::from(args)
    };
    crate::host_check::warn_if_open(&config, args.bind);
    let state = AppState::new(database.pool.clone(), config);
    let housekeeping = tokio::spawn(housekeeping(state.clone()));
    let lease_sweep = tokio::spawn(crate::queue::sweep_periodically(state.pool.clone()));
    let statistics = tokio::spawn(crate::queue::keep_statistics_periodically(
        state.pool.clone(),
    ));
    let warm_dashboards =
        tokio::spawn(crate::dashboard::keep_warm_periodically(state.pool.clone()));
    let supervisor = database.embedded_cluster().map(|cluster| {
        tokio::spawn(crate::pg::supervise::watch(
            cluster.watcher(),
            state.outage.clone(),
        ))
    });
    println!("safepref is running at http://{address}/ (Ctrl-C to stop)");
    if let Some(cluster) = database.embedded_cluster() {
        println!(
            "Database: the embedded PostgreSQL {} in {}",
            cluster.major_version(),
            cluster.pgdata().display()
        );
    }
    app::serve(listener, state, shutdown_signal()).await?;
    housekeeping.abort();
    lease_sweep.abort();
    statistics.abort();
    warm_dashboards.abort();
    if let Some(supervisor) = supervisor {
        supervisor.abort();
    }
    println!("safepref stopped.");
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}

/// Removes expired sessions, old sign-in failures and old crowd joins
/// every few minutes.
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tick.tick().await;
        let idle = state.config.session_idle.as_secs() as i64;
        let window = state.config.throttle.window.as_secs() as i64;
        if let Err(e) = db::sessions::delete_expired(&state.pool, idle).await {
            tracing::warn!(error = %e, "removing expired sessions");
        }
        if let Err(e) = db::sign_in::delete_older_than(&state.pool, window).await {
            tracing::warn!(error = %e, "removing old sign-in failures");
        }
        if let Err(e) = db::crowd::delete_joins_older_than(&state.pool, window).await {
            tracing::warn!(error = %e, "removing old crowd joins");
        }
    }
}

async fn report(
    database: &Database,
    project: &str,
    scope: &[(String, String)],
    format: ReportFormat,
) -> anyhow::Result<()> {
    let scope =
        crate::report::ReportScope::from_pairs(scope).map_err(|e| anyhow::anyhow!("--{e}"))?;
    // As AppErrors, so a failure reads as it always has ("an internal
    // error occurred: …", or the database is not reachable).
    let project = crate::projects::find_by_name(&database.pool, project)
        .await
        .map_err(crate::error::AppError::from)?;
    let report = crate::report::build(&database.pool, &project, &scope)
        .await
        .map_err(crate::error::AppError::from)?;
    match format {
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        ReportFormat::Text => print!("{}", crate::report::text(&report)),
    }
    Ok(())
}
