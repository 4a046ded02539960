//! `safepref user …`

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use sqlx::PgPool;

use super::UserCommand;
use crate::accounts::{self, User};
use crate::auth::throttle;
use crate::db::{self, Database};
use crate::error::AppError;

/// Account errors go through `AppError` on their way out (here and in the
/// helpers below), so that they read as the pages word them (a database
/// that is down too).
pub async fn run(database: &Database, command: UserCommand) -> anyhow::Result<()> {
    let pool = &database.pool;
    match command {
        UserCommand::Add {
            username,
            role,
            password_stdin,
        } => {
            let password = read_password(password_stdin, &format!("Password for {username}: "))?;
            let (user, _) = accounts::create(pool, None, &username, role.into(), &password)
                .await
                .map_err(AppError::from)?;
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
            set_disabled(pool, &username, true).await?;
            println!("Disabled {username}; their sessions have ended.");
        }
        UserCommand::Enable { username } => {
            set_disabled(pool, &username, false).await?;
            println!("Enabled {username}.");
        }
        UserCommand::SetPassword {
            username,
            password_stdin,
        } => {
            let user = find(pool, &username).await?;
            let password =
                read_password(password_stdin, &format!("New password for {username}: "))?;
            accounts::reset_password(pool, None, &user, &password)
                .await
                .map_err(AppError::from)?;
            println!("Set a new password for {username}; their sessions have ended.");
        }
        UserCommand::Unlock { username } => {
            let user = find(pool, &username).await?;
            let cleared = throttle::unlock(pool, None, user.id, &user.username).await?;
            println!("Cleared {cleared} failed sign-ins of {username}; they may sign in again.");
        }
    }
    Ok(())
}

/// The user named `username`.
async fn find(pool: &PgPool, username: &str) -> Result<User, AppError> {
    Ok(accounts::find(pool, username).await?)
}

/// Disables or enables the user named `username`.
async fn set_disabled(pool: &PgPool, username: &str, disabled: bool) -> Result<(), AppError> {
    let user = accounts::find(pool, username).await?;
    Ok(accounts::set_disabled(pool, None, &user, disabled).await?)
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
