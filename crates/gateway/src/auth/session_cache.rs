//! A short-lived, bounded, in-process cache of session validations.
//!
//! Identity says how long an answer may be reused (at most a second), which bounds how late a
//! revocation takes effect at this edge. Keys are SHA-256 digests of tokens, so no token sits in
//! memory longer than its request.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};

use crate::upstream::ValidatedSession;

/// Entries kept at most; the map is cleared when full (cheap, and misses only cost a call).
const MAX_ENTRIES: usize = 50_000;
/// Reuse is capped here whatever identity says.
const MAX_TTL: Duration = Duration::from_secs(1);

/// How long a refusal is remembered.
const INVALID_TTL: Duration = Duration::from_secs(1);

/// A remembered answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cached {
    /// Identity vouched for the session.
    Valid(ValidatedSession),
    /// Identity refused the token.
    Invalid,
}

/// The cache.
#[derive(Default)]
pub struct SessionCache {
    entries: Mutex<HashMap<[u8; 32], (Cached, Instant)>>,
}

/// The digest a token is kept under.
pub fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl SessionCache {
    /// A fresh answer for `token`, if any.
    pub fn get(&self, token: &str) -> Option<Cached> {
        let key = key(token);
        let mut entries = self.entries.lock().ok()?;
        match entries.get(&key) {
            Some((cached, until)) if Instant::now() < *until => Some(cached.clone()),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Stores an answer for as long as identity allowed.
    pub fn put(&self, token: &str, session: &ValidatedSession) {
        let ttl = Duration::from_millis(u64::from(session.cache_ttl_ms)).min(MAX_TTL);
        self.insert(token, Cached::Valid(session.clone()), ttl);
    }

    /// Remembers that identity refused `token`.
    pub fn put_invalid(&self, token: &str) {
        self.insert(token, Cached::Invalid, INVALID_TTL);
    }

    fn insert(&self, token: &str, cached: Cached, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key(token), (cached, Instant::now() + ttl));
        }
    }

    /// Forgets `token` (logout through this instance takes effect here at once).
    pub fn forget(&self, token: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&key(token));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use df_common::{auth::Role, ids::UserId};

    #[test]
    fn entries_expire_and_are_capped_at_one_second() {
        let cache = SessionCache::default();
        let session = ValidatedSession {
            user_id: UserId::new(),
            role: Role::Fan,
            cache_ttl_ms: 60_000,
            user: None,
        };
        cache.put("tok", &session);
        assert_eq!(cache.get("tok"), Some(Cached::Valid(session.clone())));
        let (_, until) = cache
            .entries
            .lock()
            .unwrap()
            .get(&key("tok"))
            .cloned()
            .unwrap();
        assert!(until <= Instant::now() + MAX_TTL);
        cache.forget("tok");
        assert_eq!(cache.get("tok"), None);
        cache.put(
            "zero",
            &ValidatedSession {
                cache_ttl_ms: 0,
                ..session
            },
        );
        assert_eq!(cache.get("zero"), None);
    }
}
