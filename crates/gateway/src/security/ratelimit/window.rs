//! The sliding-window-log algorithm, pure.
//!
//! The log holds the admission times of the last window. A request at `now` first drops every
//! time `t <= now - window`; it is admitted when fewer than `limit` remain, and its time is
//! appended. So the admitted times inside any half-open interval `[a, a + window)` never exceed
//! `limit`: exact, unlike fixed or approximated windows that admit up to twice the budget across
//! a boundary.

use std::collections::VecDeque;

/// The answer to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request is admitted.
    pub allowed: bool,
    /// Requests still admissible in the current window after this one.
    pub remaining: u32,
    /// Milliseconds until the oldest admission leaves the window (the budget starts refilling);
    /// zero when the log is empty.
    pub reset_after_ms: u64,
    /// When refused, milliseconds until a request would be admitted; zero when allowed.
    pub retry_after_ms: u64,
}

impl Decision {
    /// Builds a decision from the state after the request, clamping what a skewed clock could
    /// push out of range.
    pub(crate) fn from_state(
        allowed: bool,
        count: u64,
        limit: u32,
        oldest_ms: Option<u64>,
        now_ms: u64,
        window_ms: u64,
    ) -> Self {
        let remaining = u32::try_from(u64::from(limit).saturating_sub(count)).unwrap_or(u32::MAX);
        let reset_after_ms = oldest_ms.map_or(0, |oldest| {
            oldest
                .saturating_add(window_ms)
                .saturating_sub(now_ms)
                .min(window_ms)
        });
        Self {
            allowed,
            remaining,
            reset_after_ms,
            retry_after_ms: if allowed { 0 } else { reset_after_ms.max(1) },
        }
    }
}

/// The admission log of one key, oldest first.
#[derive(Clone, Debug, Default)]
pub struct SlidingWindow {
    admitted: VecDeque<u64>,
}

impl SlidingWindow {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decides a request at `now_ms` under `limit` per `window_ms`, recording it if admitted.
    ///
    /// A `now_ms` earlier than the newest entry (a wall clock stepping back) is treated as that
    /// entry's time, which keeps the log sorted and can only make the limiter stricter.
    pub fn try_admit(&mut self, now_ms: u64, limit: u32, window_ms: u64) -> Decision {
        let now_ms = self
            .admitted
            .back()
            .map_or(now_ms, |&last| now_ms.max(last));
        self.expire(now_ms, window_ms);
        let count = self.admitted.len() as u64;
        let allowed = count < u64::from(limit);
        if allowed {
            self.admitted.push_back(now_ms);
        }
        Decision::from_state(
            allowed,
            self.admitted.len() as u64,
            limit,
            self.admitted.front().copied(),
            now_ms,
            window_ms,
        )
    }

    /// Drops admissions at or before `now_ms - window_ms`.
    pub fn expire(&mut self, now_ms: u64, window_ms: u64) {
        // Before one full window has passed since time zero nothing can have left it.
        let Some(cutoff) = now_ms.checked_sub(window_ms) else {
            return;
        };
        while self.admitted.front().is_some_and(|&t| t <= cutoff) {
            self.admitted.pop_front();
        }
    }

    /// Number of admissions held.
    pub fn len(&self) -> usize {
        self.admitted.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.admitted.is_empty()
    }

    /// The newest admission, if any.
    pub fn newest(&self) -> Option<u64> {
        self.admitted.back().copied()
    }
}

#[cfg(test)]
mod tests {
    use quickcheck::TestResult;
    use quickcheck_macros::quickcheck;

    use super::*;

    #[test]
    fn admits_up_to_the_limit_then_refuses_until_the_oldest_leaves() {
        let mut window = SlidingWindow::new();
        let first = window.try_admit(1_000, 3, 10_000);
        assert_eq!(
            first,
            Decision {
                allowed: true,
                remaining: 2,
                reset_after_ms: 10_000,
                retry_after_ms: 0
            }
        );
        assert!(window.try_admit(2_000, 3, 10_000).allowed);
        let third = window.try_admit(3_000, 3, 10_000);
        assert!(third.allowed);
        assert_eq!(third.remaining, 0);
        let refused = window.try_admit(4_000, 3, 10_000);
        assert!(!refused.allowed);
        assert_eq!(
            refused.retry_after_ms, 7_000,
            "the admission at 1 s leaves at 11 s"
        );
        assert_eq!(window.len(), 3, "refusals are not recorded");
        assert!(!window.try_admit(10_999, 3, 10_000).allowed);
        let later = window.try_admit(11_000, 3, 10_000);
        assert!(
            later.allowed,
            "exactly one window after the first admission"
        );
        assert_eq!(later.remaining, 0);
        assert!(!window.try_admit(11_500, 3, 10_000).allowed);
    }

    #[test]
    fn a_clock_stepping_back_never_loosens_the_limit() {
        let mut window = SlidingWindow::new();
        assert!(window.try_admit(50_000, 1, 1_000).allowed);
        assert!(!window.try_admit(10_000, 1, 1_000).allowed);
        assert!(window.try_admit(51_000, 1, 1_000).allowed);
    }

    #[test]
    fn early_times_are_not_expired_by_underflow() {
        let mut window = SlidingWindow::new();
        assert!(window.try_admit(0, 1, 1_000).allowed);
        assert!(!window.try_admit(999, 1, 1_000).allowed);
        assert!(window.try_admit(1_000, 1, 1_000).allowed);
    }

    #[test]
    fn a_zero_limit_admits_nothing() {
        let mut window = SlidingWindow::new();
        let decision = window.try_admit(5, 0, 1_000);
        assert!(!decision.allowed);
        assert!(decision.retry_after_ms >= 1);
    }

    /// For any increasing request times, no half-open interval of one window contains more than
    /// `limit` admissions: checked from every admission (the densest intervals start at one).
    #[quickcheck]
    fn never_admits_more_than_the_limit_in_any_window(
        gaps: Vec<u16>,
        limit: u8,
        window_ms: u16,
    ) -> TestResult {
        let limit = u32::from(limit % 20) + 1;
        let window_ms = u64::from(window_ms % 5_000) + 1;
        let mut window = SlidingWindow::new();
        let mut now = 0u64;
        let mut admitted = Vec::new();
        for gap in gaps {
            now += u64::from(gap % 700);
            let decision = window.try_admit(now, limit, window_ms);
            if decision.allowed {
                admitted.push(now);
            } else if decision.retry_after_ms == 0 || decision.retry_after_ms > window_ms {
                return TestResult::error(format!("bad retry hint {decision:?}"));
            }
        }
        for (i, &start) in admitted.iter().enumerate() {
            let inside = admitted[i..]
                .iter()
                .take_while(|&&t| t < start + window_ms)
                .count();
            if inside > limit as usize {
                return TestResult::error(format!(
                    "{inside} admitted in [{start}, {}) with limit {limit}",
                    start + window_ms
                ));
            }
        }
        TestResult::passed()
    }

    /// The limiter is also not stricter than it says: a refused request is admitted once its
    /// retry hint has passed.
    #[quickcheck]
    fn a_refusal_lifts_after_its_retry_hint(gaps: Vec<u16>, limit: u8) -> bool {
        let limit = u32::from(limit % 10) + 1;
        let window_ms = 1_000;
        let mut window = SlidingWindow::new();
        let mut now = 0u64;
        for gap in gaps {
            now += u64::from(gap % 300);
            let decision = window.try_admit(now, limit, window_ms);
            if !decision.allowed {
                let mut probe = window.clone();
                if !probe
                    .try_admit(now + decision.retry_after_ms, limit, window_ms)
                    .allowed
                {
                    return false;
                }
            }
        }
        true
    }
}
