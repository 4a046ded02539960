//! Who is asking: passwords, sessions, sign-in, CSRF and the role extractors.

pub mod api_tokens;
pub mod crowd;
pub mod csrf;
pub mod extractors;
pub mod password;
pub mod session;
pub mod sign_in;
pub mod throttle;

pub use extractors::{CurrentUser, MaybeUser, PeerAddr, RequireAdmin, RequireLead};
pub use session::ActiveSession;

/// A fresh random token: 256 bits, URL-safe base64 without padding.
pub fn random_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_and_differ() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
