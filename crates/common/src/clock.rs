//! The service's notion of now, injected wherever time decides something. Production uses the
//! system clock; the simulated provider and tests move it forward (to the end of a billing
//! period, past a hold, past a retry's back-off) without waiting.

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use chrono::{DateTime, Duration, Utc};

/// System time plus an offset that only tests and the simulated provider change; or, for tests
/// that must not depend on how fast the machine is, a time that stands still until moved.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
    frozen_at: Option<DateTime<Utc>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that shows `at` until [`Clock::advance`] moves it.
    pub fn frozen(at: DateTime<Utc>) -> Self {
        Self {
            offset_ms: Arc::default(),
            frozen_at: Some(at),
        }
    }

    /// Now.
    pub fn now(&self) -> DateTime<Utc> {
        self.frozen_at.unwrap_or_else(Utc::now)
            + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.num_milliseconds().max(0), Ordering::Relaxed);
    }
}
