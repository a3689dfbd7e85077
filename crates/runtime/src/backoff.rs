//! Exponential back-off with jitter, shared by reconnects, the relay, handler retries and jobs.

use std::time::Duration;

use rand::Rng;

/// `base * 2^attempt`, capped at `max`, then spread over its upper half so that many clients
/// failing together do not retry in lock-step while the delay still grows.
pub(crate) fn delay(base: Duration, attempt: u32, max: Duration) -> Duration {
    let ceiling = capped(base, attempt, max);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    let half = millis / 2;
    Duration::from_millis(half + rand::thread_rng().gen_range(0..=millis - half))
}

/// The delay before jitter.
fn capped(base: Duration, attempt: u32, max: Duration) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_per_attempt_and_stops_at_the_cap() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        assert_eq!(capped(base, 0, max), Duration::from_millis(100));
        assert_eq!(capped(base, 1, max), Duration::from_millis(200));
        assert_eq!(capped(base, 3, max), Duration::from_millis(800));
        assert_eq!(capped(base, 4, max), max);
        assert_eq!(capped(base, u32::MAX, max), max);
    }

    #[quickcheck_macros::quickcheck]
    fn jitter_stays_in_the_upper_half(base_ms: u16, attempt: u8, max_ms: u16) -> bool {
        let base = Duration::from_millis(u64::from(base_ms));
        let max = Duration::from_millis(u64::from(max_ms));
        let ceiling = capped(base, u32::from(attempt), max);
        let got = delay(base, u32::from(attempt), max);
        got <= ceiling && got.as_millis() >= ceiling.as_millis() / 2
    }
}
