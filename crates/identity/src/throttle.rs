//! Login throttling: the pure decision rules. The state lives in `login_throttle`, one row per
//! submitted identifier (known or not), and is read and written under a row lock by `login`.
//!
//! Rules, in order:
//! 1. a locked identifier is refused without evaluating the password;
//! 2. at most `max_evaluations_per_hour` passwords are evaluated per identifier in any hour;
//! 3. after `free_attempts` consecutive failures each attempt must wait
//!    `base_delay · 2^(failures − free_attempts)` (capped) after the last failure;
//! 4. `lock_after` consecutive failures lock the identifier until it is unlocked.

use chrono::{DateTime, Duration, Utc};

use crate::config::LoginThrottleConfig;

/// The throttling state of one identifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThrottleState {
    /// Failures since the last success or unlock.
    pub consecutive_failures: u32,
    /// When the last failure happened.
    pub last_failure_at: Option<DateTime<Utc>>,
    /// Set while locked.
    pub locked_at: Option<DateTime<Utc>>,
    /// When passwords were evaluated within the last hour, oldest first.
    pub recent_evaluations: Vec<DateTime<Utc>>,
}

impl ThrottleState {
    /// The state of an identifier never seen before.
    pub fn fresh() -> Self {
        Self {
            consecutive_failures: 0,
            last_failure_at: None,
            locked_at: None,
            recent_evaluations: Vec::new(),
        }
    }
}

/// What to do with a login attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Evaluate the password (the evaluation has been counted).
    Evaluate,
    /// Locked: refuse without evaluating.
    Locked,
    /// Too soon: refuse without evaluating; try again after this long.
    Wait(std::time::Duration),
}

/// Decides on an attempt at `now`, counting it when it will be evaluated.
pub fn gate(state: &mut ThrottleState, now: DateTime<Utc>, config: &LoginThrottleConfig) -> Gate {
    if state.locked_at.is_some() {
        return Gate::Locked;
    }
    // A sliding hour: the budget holds in every hour, not just in aligned ones.
    let hour_ago = now - Duration::hours(1);
    state.recent_evaluations.retain(|t| *t > hour_ago);
    let budget = usize::try_from(config.max_evaluations_per_hour).unwrap_or(usize::MAX);
    if state.recent_evaluations.len() >= budget {
        let oldest = state.recent_evaluations.first().copied().unwrap_or(now);
        return Gate::Wait(to_std(oldest + Duration::hours(1) - now));
    }
    if state.consecutive_failures >= config.free_attempts
        && let Some(last) = state.last_failure_at
    {
        let ready_at = last + required_delay(state.consecutive_failures, config);
        if now < ready_at {
            return Gate::Wait(to_std(ready_at - now));
        }
    }
    state.recent_evaluations.push(now);
    Gate::Evaluate
}

/// Records a wrong password; returns true when this failure locked the identifier.
pub fn record_failure(
    state: &mut ThrottleState,
    now: DateTime<Utc>,
    config: &LoginThrottleConfig,
) -> bool {
    state.consecutive_failures = state.consecutive_failures.saturating_add(1);
    state.last_failure_at = Some(now);
    if state.locked_at.is_none() && state.consecutive_failures >= config.lock_after {
        state.locked_at = Some(now);
        return true;
    }
    false
}

/// Records a correct password.
pub fn record_success(state: &mut ThrottleState) {
    state.consecutive_failures = 0;
    state.last_failure_at = None;
}

fn required_delay(failures: u32, config: &LoginThrottleConfig) -> Duration {
    let exponent = failures.saturating_sub(config.free_attempts).min(30);
    let delay = config
        .base_delay_ms
        .saturating_mul(1u64 << exponent)
        .min(config.max_delay_ms);
    Duration::milliseconds(i64::try_from(delay).unwrap_or(i64::MAX))
}

fn to_std(duration: Duration) -> std::time::Duration {
    duration
        .to_std()
        .unwrap_or_default()
        .max(std::time::Duration::from_millis(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck_macros::quickcheck;

    fn config() -> LoginThrottleConfig {
        LoginThrottleConfig {
            free_attempts: 3,
            base_delay_ms: 1_000,
            max_delay_ms: 60_000,
            lock_after: 10,
            max_evaluations_per_hour: 100,
            ip_failures_per_hour: 100,
        }
    }

    #[test]
    fn delays_grow_then_lock() {
        let config = config();
        let start = Utc::now();
        let mut state = ThrottleState::fresh();
        for _ in 0..3 {
            assert_eq!(gate(&mut state, start, &config), Gate::Evaluate);
            assert!(!record_failure(&mut state, start, &config));
        }
        assert_eq!(
            gate(&mut state, start, &config),
            Gate::Wait(std::time::Duration::from_secs(1))
        );
        let later = start + Duration::seconds(1);
        assert_eq!(gate(&mut state, later, &config), Gate::Evaluate);
        record_failure(&mut state, later, &config);
        assert_eq!(
            gate(&mut state, later + Duration::milliseconds(1500), &config),
            Gate::Wait(std::time::Duration::from_millis(500))
        );
        let mut now = later;
        while state.locked_at.is_none() {
            now += Duration::minutes(5);
            assert_eq!(gate(&mut state, now, &config), Gate::Evaluate);
            record_failure(&mut state, now, &config);
        }
        assert_eq!(state.consecutive_failures, 10);
        assert_eq!(
            gate(&mut state, now + Duration::days(2), &config),
            Gate::Locked
        );
    }

    #[test]
    fn success_resets_failures() {
        let config = config();
        let now = Utc::now();
        let mut state = ThrottleState::fresh();
        gate(&mut state, now, &config);
        record_failure(&mut state, now, &config);
        record_success(&mut state);
        assert_eq!(state.consecutive_failures, 0);
        assert_eq!(gate(&mut state, now, &config), Gate::Evaluate);
    }

    /// Whatever the timing of attempts, the unlock policy and the configuration, no hour ever
    /// sees more evaluations than the budget.
    #[quickcheck]
    fn never_more_than_the_hourly_budget(
        gaps_ms: Vec<u16>,
        budget: u8,
        lock_after: u8,
        delay: u16,
    ) -> bool {
        let config = LoginThrottleConfig {
            free_attempts: 1,
            base_delay_ms: u64::from(delay % 50),
            max_delay_ms: 1_000,
            lock_after: u32::from(lock_after).max(1) + 200,
            max_evaluations_per_hour: u32::from(budget).clamp(1, 100),
            ip_failures_per_hour: 100,
        };
        let start = Utc::now();
        let mut state = ThrottleState::fresh();
        let mut now = start;
        let mut evaluated = Vec::new();
        for gap in gaps_ms.iter().cycle().take(gaps_ms.len() * 20) {
            now += Duration::milliseconds(i64::from(*gap) * 20);
            if gate(&mut state, now, &config) == Gate::Evaluate {
                evaluated.push(now);
                record_failure(&mut state, now, &config);
            }
        }
        evaluated.iter().enumerate().all(|(i, t)| {
            let in_hour = evaluated[i..]
                .iter()
                .take_while(|u| **u < *t + Duration::hours(1))
                .count();
            in_hour <= config.max_evaluations_per_hour as usize
        })
    }
}
