//! Account operations shared by the admin pages and `safepref user …`: one
//! place for their rules (valid usernames, strong-enough passwords, never
//! lose the last admin) and their audit trail.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::{api_tokens, password};
use crate::db::{
    self,
    users::{Role, User},
};
use crate::error::AppError;

/// Says what is wrong with a username, if anything.
pub fn check_username(username: &str) -> Result<(), AppError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if username.is_empty() || username.len() > 64 {
        return Err(AppError::BadRequest(
            "a username has 1 to 64 characters".into(),
        ));
    }
    if !username.chars().all(ok_char) {
        return Err(AppError::BadRequest(format!(
            "the username {username:?} may only use letters, digits and . _ - @"
        )));
    }
    Ok(())
}

fn subject(id: Uuid) -> String {
    format!("user:{id}")
}

/// Creates an account. `password` empty means: generate one. Returns the user
/// and the password when it was generated (to show once).
pub async fn create(
    pool: &PgPool,
    actor: Option<Uuid>,
    username: &str,
    role: Role,
    password: &str,
) -> Result<(User, Option<String>), AppError> {
    check_username(username)?;
    let generated = password.is_empty().then(password::generate);
    let password = generated.clone().unwrap_or_else(|| password.to_string());
    password::check_new(&password).map_err(AppError::BadRequest)?;
    let hash = password::hash(password).await?;
    let mut tx = pool.begin().await?;
    let user = match db::users::insert(&mut *tx, username, &hash, role).await {
        Ok(user) => user,
        Err(e) if db::unique_violation(&e).is_some() => {
            return Err(AppError::Conflict(format!(
                "the username {username:?} is taken"
            )));
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

pub async fn find(pool: &PgPool, username: &str) -> Result<User, AppError> {
    db::users::find_by_username(pool, username)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("there is no user named {username:?}")))
}

pub async fn find_by_id(pool: &PgPool, id: Uuid) -> Result<User, AppError> {
    db::users::find(pool, id)
        .await?
        .ok_or_else(|| AppError::NotFound("there is no such user".into()))
}

/// Refuses to leave safepref without an enabled admin.
async fn keep_an_admin(pool: &PgPool, user: &User, what: &str) -> Result<(), AppError> {
    if user.role == Role::Admin
        && !user.disabled
        && db::users::other_active_admins(pool, user.id).await? == 0
    {
        return Err(AppError::Conflict(format!(
            "{} is the only active admin; {what} would leave nobody able to administer safepref. Make someone else an admin first.",
            user.username
        )));
    }
    Ok(())
}

pub async fn set_role(
    pool: &PgPool,
    actor: Option<Uuid>,
    user: &User,
    role: Role,
) -> Result<(), AppError> {
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
    db::audit::record(
        &mut *tx,
        actor,
        "role changed",
        &subject(user.id),
        Some(before),
        Some(after),
    )
    .await?;
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
) -> Result<(), AppError> {
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
    db::audit::record(
        &mut *tx,
        actor,
        action,
        &subject(user.id),
        Some(before),
        Some(after),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a new password (empty: generate one, returned to show once), ends
/// the user's sessions and revokes their API tokens.
pub async fn reset_password(
    pool: &PgPool,
    actor: Option<Uuid>,
    user: &User,
    password: &str,
) -> Result<Option<String>, AppError> {
    let generated = password.is_empty().then(password::generate);
    let password = generated.clone().unwrap_or_else(|| password.to_string());
    password::check_new(&password).map_err(AppError::BadRequest)?;
    let hash = password::hash(password).await?;
    let mut tx = pool.begin().await?;
    db::users::set_password_hash(&mut *tx, user.id, &hash).await?;
    db::sessions::delete_for_user(&mut *tx, user.id).await?;
    api_tokens::revoke_all(&mut tx, actor, user.id, "password reset").await?;
    db::audit::record(
        &mut *tx,
        actor,
        "password reset",
        &subject(user.id),
        None,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(generated)
}

/// On a database without users, creates `admin` with a random password and
/// returns it (once). Several processes starting together make one admin.
pub async fn create_first_admin(pool: &PgPool) -> Result<Option<(String, String)>, AppError> {
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
