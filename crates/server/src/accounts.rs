//! Account operations shared by the admin pages, the account page and
//! `safepref user …`: one place for their rules (valid usernames,
//! strong-enough passwords, never lose the last admin) and their audit
//! trail; and what the admin's pages about users read.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::{api_tokens, password};
use crate::db::{self, sign_in::Key};
use crate::error::AppError;
use crate::queue::{self, QueueError};

pub use crate::db::api_tokens::ApiToken;
pub use crate::db::audit::Entry;
pub use crate::db::users::{Role, User};

/// What an account operation refuses, and why.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("a username has 1 to 64 characters")]
    UsernameLength,
    #[error("the username {0:?} may only use letters, digits and . _ - @")]
    UsernameCharacters(String),
    #[error("the username {0:?} is taken")]
    UsernameTaken(String),
    /// What is wrong with a new password (`password::check_new`).
    #[error("{0}")]
    WeakPassword(String),
    /// Changing one's own password: the current one given is not it.
    #[error("The current password is wrong.")]
    WrongPassword,
    #[error("there is no user named {0:?}")]
    NoSuchUsername(String),
    #[error("there is no such user")]
    NoSuchUser,
    /// The change (`what`) would leave safepref without an enabled admin.
    #[error(
        "{username} is the only active admin; {what} would leave nobody able to administer safepref. Make someone else an admin first."
    )]
    LastAdmin {
        username: String,
        what: &'static str,
    },
    /// Hashing a password or revoking API tokens failed (`auth`'s errors).
    #[error(transparent)]
    Auth(#[from] AppError),
    /// Signing out could not give the user's items back.
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Says what is wrong with a username, if anything.
pub fn check_username(username: &str) -> Result<(), AccountsError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if username.is_empty() || username.len() > 64 {
        return Err(AccountsError::UsernameLength);
    }
    if !username.chars().all(ok_char) {
        return Err(AccountsError::UsernameCharacters(username.to_string()));
    }
    Ok(())
}

fn subject(id: Uuid) -> String {
    format!("user:{id}")
}

/// The password to set: `given`, or a generated one when it is empty (then
/// also returned, to show once); checked, and hashed.
async fn choose_password(given: &str) -> Result<(String, Option<String>), AccountsError> {
    let generated = given.is_empty().then(password::generate);
    let password = generated.clone().unwrap_or_else(|| given.to_string());
    password::check_new(&password).map_err(AccountsError::WeakPassword)?;
    Ok((password::hash(password).await?, generated))
}

/// Stores a new password hash, ends the user's sessions and revokes their
/// API tokens (a new password must lock out whoever held one), audited as
/// `action`, which is also the tokens' reason.
async fn store_password(
    pool: &PgPool,
    actor: Option<Uuid>,
    user_id: Uuid,
    hash: &str,
    action: &str,
) -> Result<(), AccountsError> {
    let mut tx = pool.begin().await?;
    db::users::set_password_hash(&mut *tx, user_id, hash).await?;
    db::sessions::delete_for_user(&mut *tx, user_id).await?;
    api_tokens::revoke_all(&mut tx, actor, user_id, action).await?;
    db::audit::record(&mut *tx, actor, action, &subject(user_id), None, None).await?;
    tx.commit().await?;
    Ok(())
}

/// Creates an account. `password` empty means: generate one. Returns the user
/// and the password when it was generated (to show once).
pub async fn create(
    pool: &PgPool,
    actor: Option<Uuid>,
    username: &str,
    role: Role,
    password: &str,
) -> Result<(User, Option<String>), AccountsError> {
    check_username(username)?;
    let (hash, generated) = choose_password(password).await?;
    let mut tx = pool.begin().await?;
    let user = match db::users::insert(&mut *tx, username, &hash, role).await {
        Ok(user) => user,
        Err(e) if db::unique_violation(&e).is_some() => {
            return Err(AccountsError::UsernameTaken(username.to_string()));
        }
        Err(e) => return Err(e.into()),
    };
    let after = json!({"username": username, "role": role});
    db::audit::record(
        &mut *tx,
        actor,
        "user created",
        &subject(user.id),
        None,
        Some(after),
    )
    .await?;
    tx.commit().await?;
    Ok((user, generated))
}

pub async fn find(pool: &PgPool, username: &str) -> Result<User, AccountsError> {
    db::users::find_by_username(pool, username)
        .await?
        .ok_or_else(|| AccountsError::NoSuchUsername(username.to_string()))
}

pub async fn find_by_id(pool: &PgPool, id: Uuid) -> Result<User, AccountsError> {
    db::users::find(pool, id)
        .await?
        .ok_or(AccountsError::NoSuchUser)
}

/// One page of the accounts, ordered by username, and how many there are.
pub async fn page(
    pool: &PgPool,
    offset: i64,
    limit: i64,
) -> Result<(Vec<User>, i64), AccountsError> {
    Ok(db::users::page(pool, offset, limit).await?)
}

/// What the admin's page about one user shows.
pub struct Overview {
    pub user: User,
    /// The newest changes to the account, newest first.
    pub history: Vec<Entry>,
    pub tokens: Vec<ApiToken>,
    /// Failed sign-ins for the username within the throttle's window.
    pub failed_sign_ins: i64,
}

/// Entries of the account's history the admin's page shows.
const HISTORY_SHOWN: i64 = 20;

/// The user with their history, API tokens and failed sign-ins within the
/// throttle's window (`window_seconds`).
pub async fn overview(
    pool: &PgPool,
    id: Uuid,
    window_seconds: i64,
) -> Result<Overview, AccountsError> {
    let user = find_by_id(pool, id).await?;
    let history = db::audit::for_subject(pool, &subject(id), HISTORY_SHOWN).await?;
    let tokens = api_tokens::list(pool, &user).await?;
    let failed =
        db::sign_in::within_window(pool, Key::Username(&user.username), window_seconds).await?;
    Ok(Overview {
        user,
        history,
        tokens,
        failed_sign_ins: failed.count,
    })
}

/// Refuses to leave safepref without an enabled admin.
async fn keep_an_admin(
    pool: &PgPool,
    user: &User,
    what: &'static str,
) -> Result<(), AccountsError> {
    if user.role == Role::Admin
        && !user.disabled
        && db::users::other_active_admins(pool, user.id).await? == 0
    {
        return Err(AccountsError::LastAdmin {
            username: user.username.clone(),
            what,
        });
    }
    Ok(())
}

pub async fn set_role(
    pool: &PgPool,
    actor: Option<Uuid>,
    user: &User,
    role: Role,
) -> Result<(), AccountsError> {
    if role == user.role {
        return Ok(());
    }
    if role != Role::Admin {
        keep_an_admin(pool, user, "changing their role").await?;
    }
    let mut tx = pool.begin().await?;
    db::users::set_role(&mut *tx, user.id, role).await?;
    // A token made with more rights must not linger after they are taken.
    if role < user.role {
        api_tokens::revoke_all(&mut tx, actor, user.id, "role lowered").await?;
    }
    let (before, after) = (json!({"role": user.role}), json!({"role": role}));
    audit_and_commit(tx, actor, "role changed", user.id, before, after).await
}

/// Records a change to the account `user` and commits it with the audit
/// entry.
async fn audit_and_commit(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    actor: Option<Uuid>,
    action: &str,
    user: Uuid,
    before: serde_json::Value,
    after: serde_json::Value,
) -> Result<(), AccountsError> {
    let subject = subject(user);
    db::audit::record(&mut *tx, actor, action, &subject, Some(before), Some(after)).await?;
    tx.commit().await?;
    Ok(())
}

/// Disables (signs out everywhere and revokes the API tokens) or re-enables
/// an account.
pub async fn set_disabled(
    pool: &PgPool,
    actor: Option<Uuid>,
    user: &User,
    disabled: bool,
) -> Result<(), AccountsError> {
    if disabled {
        keep_an_admin(pool, user, "disabling them").await?;
    }
    let mut tx = pool.begin().await?;
    db::users::set_disabled(&mut *tx, user.id, disabled).await?;
    if disabled {
        db::sessions::delete_for_user(&mut *tx, user.id).await?;
        api_tokens::revoke_all(&mut tx, actor, user.id, "user disabled").await?;
    }
    let action = if disabled {
        "user disabled"
    } else {
        "user enabled"
    };
    let (before, after) = (
        json!({"disabled": user.disabled}),
        json!({"disabled": disabled}),
    );
    audit_and_commit(tx, actor, action, user.id, before, after).await
}

/// Sets a new password (empty: generate one, returned to show once), ends
/// the user's sessions and revokes their API tokens.
pub async fn reset_password(
    pool: &PgPool,
    actor: Option<Uuid>,
    user: &User,
    password: &str,
) -> Result<Option<String>, AccountsError> {
    let (hash, generated) = choose_password(password).await?;
    store_password(pool, actor, user.id, &hash, "password reset").await?;
    Ok(generated)
}

/// The signed-in user changes their own password, proving the current one:
/// every session of theirs ends (the caller opens a new one for this
/// device) and their API tokens are revoked.
pub async fn change_own_password(
    pool: &PgPool,
    user: &User,
    current: String,
    new: String,
) -> Result<(), AccountsError> {
    let hash = db::users::credentials(pool, &user.username)
        .await?
        .and_then(|(_, hash)| hash);
    if !password::verify(current, hash).await? {
        return Err(AccountsError::WrongPassword);
    }
    password::check_new(&new).map_err(AccountsError::WeakPassword)?;
    let hash = password::hash(new).await?;
    store_password(pool, Some(user.id), user.id, &hash, "password changed").await
}

/// Signs one session out: gives back the items the user holds, so others
/// need not wait for the leases to expire, and ends the session.
pub async fn sign_out(
    pool: &PgPool,
    user_id: Uuid,
    token_hash: &[u8],
) -> Result<(), AccountsError> {
    queue::release_all(pool, user_id).await?;
    db::sessions::delete(pool, token_hash).await?;
    Ok(())
}

/// On a database without users, creates `admin` with a random password and
/// returns it (once). Several processes starting together make one admin.
pub async fn create_first_admin(pool: &PgPool) -> Result<Option<(String, String)>, AccountsError> {
    if db::users::count(pool).await? > 0 {
        return Ok(None);
    }
    let password = password::generate();
    let hash = password::hash(password.clone()).await?;
    let created = db::users::insert_first_admin(pool, "admin", &hash).await?;
    Ok(created.then(|| ("admin".to_string(), password)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(check_username("ann.o-tator_1@lab").is_ok());
        assert!(check_username("").is_err());
        assert!(check_username("has space").is_err());
        assert!(check_username("<script>").is_err());
        assert!(check_username(&"x".repeat(65)).is_err());
    }
}
