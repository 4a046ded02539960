//! The `safepref` command line. Every command reaches the same database as
//! `serve` (the embedded cluster in --data-dir, or DATABASE_URL), whether or
//! not a server is running, and applies pending migrations first.

use std::io::{BufRead, IsTerminal};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::accounts;
use crate::app::{self, AppState};
use crate::config::{Config, DatabaseArgs, ServeArgs};
use crate::db::{self, Database, users::Role};

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

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let database = Database::open(&cli.database).await?;
    db::migrate(&database.pool).await?;
    let outcome = match cli.command {
        Command::Serve(args) => serve(&database, &args).await,
        Command::Migrate => {
            println!("The database schema is up to date.");
            Ok(())
        }
        Command::User(command) => user(&database, command).await,
    };
    database.close().await.context("closing the database")?;
    outcome
}

async fn serve(database: &Database, args: &ServeArgs) -> anyhow::Result<()> {
    if let Some((username, password)) = accounts::create_first_admin(&database.pool).await? {
        println!("First start: created the admin account.");
        println!("  username: {username}");
        println!("  password: {password}");
        println!("This password is shown only now; change it under Account after signing in.");
    }
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("listening on {}", args.bind))?;
    let address = listener.local_addr()?;
    let state = AppState::new(database.pool.clone(), Config::from(args));
    let housekeeping = tokio::spawn(housekeeping(state.clone()));
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

/// Removes expired sessions and old sign-in failures every few minutes.
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
    }
}

async fn user(database: &Database, command: UserCommand) -> anyhow::Result<()> {
    let pool = &database.pool;
    match command {
        UserCommand::Add {
            username,
            role,
            password_stdin,
        } => {
            let password = read_password(password_stdin, &format!("Password for {username}: "))?;
            let (user, _) = accounts::create(pool, None, &username, role.into(), &password).await?;
            println!("Created {} ({}).", user.username, user.role);
        }
        UserCommand::List => {
            let (users, _) = db::users::page(pool, 0, i64::MAX).await?;
            println!("{:<32} {:<10} {:<9} created", "username", "role", "status");
            for user in users {
                let status = if user.disabled { "disabled" } else { "active" };
                println!(
                    "{:<32} {:<10} {:<9} {}",
                    user.username,
                    user.role,
                    status,
                    user.created_at.date()
                );
            }
        }
        UserCommand::Disable { username } => {
            let user = accounts::find(pool, &username).await?;
            accounts::set_disabled(pool, None, &user, true).await?;
            println!("Disabled {username}; their sessions have ended.");
        }
        UserCommand::Enable { username } => {
            let user = accounts::find(pool, &username).await?;
            accounts::set_disabled(pool, None, &user, false).await?;
            println!("Enabled {username}.");
        }
        UserCommand::SetPassword {
            username,
            password_stdin,
        } => {
            let user = accounts::find(pool, &username).await?;
            let password =
                read_password(password_stdin, &format!("New password for {username}: "))?;
            accounts::reset_password(pool, None, &user, &password).await?;
            println!("Set a new password for {username}; their sessions have ended.");
        }
    }
    Ok(())
}

/// The password from stdin's first line, or asked twice at the terminal.
fn read_password(from_stdin: bool, prompt: &str) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let password = line.trim_end_matches(['\r', '\n']).to_string();
        if password.is_empty() {
            bail!("standard input held no password (--password-stdin reads its first line)");
        }
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        bail!("there is no terminal to ask for the password on; pass it with --password-stdin");
    }
    let first = rpassword::prompt_password(prompt)?;
    let again = rpassword::prompt_password("Again: ")?;
    if first != again {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(first)
}
