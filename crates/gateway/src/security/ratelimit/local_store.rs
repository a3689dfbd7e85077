//! In-process sliding windows, per gateway instance.
//!
//! Used when there is no Redis and while Redis is unreachable. Memory is bounded: keys whose
//! window has emptied are swept regularly, and when the key or timestamp caps are reached the
//! least recently seen keys are dropped (they lose their history, so under a flood of distinct
//! clients some budgets restart early: a bounded process is worth more than exactness then).

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use super::window::{Decision, SlidingWindow};

/// How often idle keys are swept, at most.
const SWEEP_EVERY_MS: u64 = 10_000;
/// Default cap on distinct keys.
pub const DEFAULT_MAX_KEYS: usize = 100_000;
/// Default cap on stored timestamps across all keys (8 bytes each).
pub const DEFAULT_MAX_ENTRIES: usize = 2_000_000;

struct Entry {
    window: SlidingWindow,
    window_ms: u64,
    last_seen_ms: u64,
}

impl Entry {
    fn is_idle(&self, now_ms: u64) -> bool {
        self.window
            .newest()
            .is_none_or(|newest| newest.saturating_add(self.window_ms) <= now_ms)
    }
}

#[derive(Default)]
struct Inner {
    windows: HashMap<String, Entry>,
    entries: usize,
    last_sweep_ms: u64,
}

impl Inner {
    fn sweep_idle(&mut self, now_ms: u64) {
        let mut freed = 0;
        self.windows.retain(|_, entry| {
            let keep = !entry.is_idle(now_ms);
            if !keep {
                freed += entry.window.len();
            }
            keep
        });
        self.entries -= freed;
        self.last_sweep_ms = now_ms;
    }

    /// Drops the least recently seen keys until both caps have a tenth to spare.
    fn evict_oldest(&mut self, max_keys: usize, max_entries: usize) {
        let key_target = max_keys - max_keys / 10;
        let entry_target = max_entries - max_entries / 10;
        let mut by_age: Vec<(u64, String)> = self
            .windows
            .iter()
            .map(|(key, entry)| (entry.last_seen_ms, key.clone()))
            .collect();
        by_age.sort_unstable();
        for (_, key) in by_age {
            if self.windows.len() <= key_target && self.entries <= entry_target {
                break;
            }
            if let Some(entry) = self.windows.remove(&key) {
                self.entries -= entry.window.len();
            }
        }
    }
}

/// Sliding windows kept in this process.
pub struct LocalStore {
    inner: Mutex<Inner>,
    max_keys: usize,
    max_entries: usize,
}

impl Default for LocalStore {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_KEYS, DEFAULT_MAX_ENTRIES)
    }
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("max_keys", &self.max_keys)
            .field("max_entries", &self.max_entries)
            .finish_non_exhaustive()
    }
}

impl LocalStore {
    /// A store holding at most `max_keys` keys and `max_entries` timestamps (both at least 10).
    pub fn new(max_keys: usize, max_entries: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            max_keys: max_keys.max(10),
            max_entries: max_entries.max(10),
        }
    }

    /// Decides a request for `key` at `now_ms` under `limit` per `window_ms`.
    pub fn try_admit(&self, key: &str, now_ms: u64, limit: u32, window_ms: u64) -> Decision {
        // A panic elsewhere cannot leave a window half-updated in a way that matters more than
        // refusing to limit at all would.
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if now_ms.saturating_sub(inner.last_sweep_ms) >= SWEEP_EVERY_MS {
            inner.sweep_idle(now_ms);
        }
        let is_new = !inner.windows.contains_key(key);
        if (is_new && inner.windows.len() >= self.max_keys) || inner.entries >= self.max_entries {
            inner.sweep_idle(now_ms);
            if (is_new && inner.windows.len() >= self.max_keys) || inner.entries >= self.max_entries
            {
                inner.evict_oldest(self.max_keys, self.max_entries);
            }
        }
        let entry = inner
            .windows
            .entry(key.to_owned())
            .or_insert_with(|| Entry {
                window: SlidingWindow::new(),
                window_ms,
                last_seen_ms: now_ms,
            });
        let before = entry.window.len();
        let decision = entry.window.try_admit(now_ms, limit, window_ms);
        let after = entry.window.len();
        entry.window_ms = window_ms;
        entry.last_seen_ms = entry.last_seen_ms.max(now_ms);
        inner.entries = inner.entries - before + after;
        decision
    }

    /// Number of keys held.
    pub fn key_count(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .windows
            .len()
    }

    /// Number of timestamps held across all keys.
    pub fn entry_count(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_separate_budgets() {
        let store = LocalStore::default();
        assert!(store.try_admit("a", 1_000, 1, 60_000).allowed);
        assert!(!store.try_admit("a", 1_001, 1, 60_000).allowed);
        assert!(store.try_admit("b", 1_002, 1, 60_000).allowed);
    }

    #[test]
    fn idle_keys_are_swept() {
        let store = LocalStore::default();
        for i in 0..100 {
            store.try_admit(&format!("k{i}"), 20_000, 5, 1_000);
        }
        assert_eq!(store.key_count(), 100);
        assert_eq!(store.entry_count(), 100);
        store.try_admit("fresh", 40_000, 5, 1_000);
        assert_eq!(store.key_count(), 1, "every old key's window had emptied");
        assert_eq!(store.entry_count(), 1);
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_keys() {
        let store = LocalStore::new(100, 1_000);
        for i in 0..10_000u64 {
            let decision = store.try_admit(&format!("ip{i}"), 1_000 + i / 100, 3, 60_000);
            assert!(decision.allowed);
            assert!(store.key_count() <= 100);
        }
        // One hot key filling its whole budget still fits under the timestamp cap.
        for i in 0..5_000u64 {
            store.try_admit("hot", 2_000 + i, 50_000, 60_000);
            assert!(store.entry_count() <= 1_000, "{}", store.entry_count());
        }
    }

    #[test]
    fn the_recently_seen_keys_survive_eviction() {
        let store = LocalStore::new(10, 1_000);
        for i in 0..10u64 {
            store.try_admit(&format!("k{i}"), 1_000 + i, 1, 60_000);
        }
        assert!(!store.try_admit("k9", 1_100, 1, 60_000).allowed);
        store.try_admit("new", 1_200, 1, 60_000);
        assert!(
            !store.try_admit("k9", 1_300, 1, 60_000).allowed,
            "the newest key kept its history"
        );
    }
}
