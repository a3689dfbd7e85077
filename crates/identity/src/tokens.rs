//! Random bearer secrets (session tokens, one-time email tokens) and their stored digests.
//!
//! Tokens carry 256 bits from the OS generator and are stored only as SHA-256 digests, so a
//! database leak yields nothing usable. A plain hash (not a password hash) is right here: the
//! input is already uniformly random.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Longest token accepted from a client; anything longer is refused before hashing.
pub const MAX_TOKEN_LEN: usize = 128;

/// A new random token, URL-safe.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The digest stored for `token`.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// True when `token` has the shape of one of ours (cheap check before any lookup).
pub fn is_well_formed(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Digest of a login identifier (normalized email), the key of login throttling.
pub fn identifier_digest(normalized_email: &str) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(b"login-identifier:");
    hasher.update(normalized_email.as_bytes());
    hasher.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_unique_and_well_formed() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.len() >= 43, "256 bits in base64");
        assert!(is_well_formed(&a));
        assert!(!is_well_formed("has space"));
        assert!(!is_well_formed(&"a".repeat(MAX_TOKEN_LEN + 1)));
        assert_ne!(digest(&a), digest(&b));
    }
}
