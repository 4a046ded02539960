//! argon2id password hashes (PHC strings). Hashing and verifying are slow on
//! purpose, so they run on the blocking pool, never on the async workers.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::error::AppError;

/// The shortest password safepref accepts.
pub const MIN_LENGTH: usize = 10;

/// Verified against when the username is unknown, so that an unknown user
/// costs the same time as a wrong password (no timing oracle).
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_blocking(&super::random_token()).expect("hashing a random password"));

pub fn hash_blocking(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

fn verify_blocking(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

pub async fn hash(password: String) -> Result<String, AppError> {
    Ok(
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .map_err(anyhow::Error::from)??,
    )
}

/// Checks `password` against `phc`; with no hash (unknown user, or an account
/// without a password) it does the same work and answers false.
pub async fn verify(password: String, phc: Option<String>) -> Result<bool, AppError> {
    let ok = tokio::task::spawn_blocking(move || match phc {
        Some(phc) => verify_blocking(&password, &phc),
        None => {
            verify_blocking(&password, &DUMMY_HASH);
            false
        }
    })
    .await
    .map_err(anyhow::Error::from)?;
    Ok(ok)
}

/// Says what is wrong with a new password, if anything.
pub fn check_new(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LENGTH {
        return Err(format!(
            "the password must have at least {MIN_LENGTH} characters"
        ));
    }
    if password.len() > 1024 {
        return Err("the password must have at most 1024 bytes".into());
    }
    Ok(())
}

/// A random password for a new or reset account (shown once).
pub fn generate() -> String {
    super::random_token()[..20].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let phc = hash_blocking("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify_blocking("correct horse battery", &phc));
        assert!(!verify_blocking("wrong horse battery", &phc));
        assert!(!verify_blocking("anything", "not a phc string"));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_new("short").is_err());
        assert!(check_new("long enough now").is_ok());
    }
}
