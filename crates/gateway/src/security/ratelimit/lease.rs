//! Leased budgets: an instance that sees many requests for one budget takes a block of them
//! from Redis at once and admits from it locally for a short lease, so a hot key costs a round
//! trip per lease instead of one per request.
//!
//! Exactness is kept by the store (a lease is recorded in Redis at the time it ends, see
//! [`super::redis_store`]) and by this book, which never spends a token after its lease ended
//! on this instance's monotonic clock. The local end is measured from the moment the request
//! was sent, the recorded end from the moment Redis ran it, so the local one is never later.
//!
//! Lease sizes follow demand: a key starts with single admissions (no lease: exactly the plain
//! sliding window), and the next lease is twice what the last one spent per lease period,
//! capped at 1/32 of the limit so that one instance never holds much of a budget. What a lease
//! leaves unspent is handed back with the next renewal; only the last lease before a key goes
//! quiet can keep unspent requests counted until its window passes.

use std::collections::HashMap;

use super::window::Decision;

/// How long a lease of more than one request may be spent.
pub const LEASE_MS: u64 = 200;
/// Keys tracked at most; the book is cleared when full (its leases are then simply not spent).
const MAX_KEYS: usize = 50_000;

/// One budget's lease on this instance.
#[derive(Clone, Debug, Default)]
struct Lease {
    /// The grant in Redis (for handing back what is left).
    member: String,
    /// Requests granted.
    granted: u32,
    /// Requests still to spend.
    tokens: u32,
    /// Local time the grant was asked for.
    granted_at_ms: u64,
    /// Local time after which nothing more is spent.
    until_ms: u64,
    /// Redis's count of the window after the grant, the grant included.
    total: u64,
    /// The reset reported with the grant.
    reset_after_ms: u64,
    /// A renewal is under way.
    renewing: bool,
}

/// What a renewal asks for one budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Renewal {
    /// Requests wanted.
    pub wanted: u32,
    /// Lease length (0 for a single admission).
    pub lease_ms: u64,
    /// The previous grant and what it left unspent.
    pub returned: Option<(String, u32)>,
}

/// What the book says about a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Local {
    /// Every budget had a live lease: admitted without Redis.
    Admitted(Decision),
    /// Another request is renewing one of the budgets: wait for it, then ask again.
    Wait,
    /// These budgets (indexes into the keys) need a renewal, now marked under way; the request
    /// already took its share of the others' leases.
    Renew(Vec<(usize, Renewal)>),
}

/// The leases of one instance.
#[derive(Debug, Default)]
pub struct LeaseBook {
    leases: HashMap<String, Lease>,
}

/// The next lease size for a key whose last lease spent `spent` requests `elapsed_ms` ago.
pub fn next_size(spent: u32, elapsed_ms: u64, limit: u32) -> u32 {
    let cap = (limit / 32).max(1);
    // Requests per lease period at the observed rate, doubled for growth.
    let per_lease = u64::from(spent) * 2 * LEASE_MS / elapsed_ms.max(LEASE_MS);
    u32::try_from(per_lease).unwrap_or(u32::MAX).clamp(1, cap)
}

impl LeaseBook {
    /// Spends one request of every key's live lease when all have one; otherwise marks the
    /// budgets without one as renewing (unless another request already is).
    pub fn take(&mut self, keys: &[String], limit: u32, now_ms: u64) -> Local {
        let live = |lease: &Lease| lease.tokens > 0 && now_ms < lease.until_ms;
        let mut missing = Vec::new();
        for (index, key) in keys.iter().enumerate() {
            match self.leases.get(key) {
                Some(lease) if live(lease) => {}
                Some(lease) if lease.renewing => return Local::Wait,
                _ => missing.push(index),
            }
        }
        if missing.is_empty() {
            let mut reported: Option<Decision> = None;
            for key in keys {
                if let Some(lease) = self.leases.get_mut(key) {
                    lease.tokens -= 1;
                    let decision = lease_decision(lease, limit, now_ms);
                    if reported.is_none_or(|r| decision.remaining < r.remaining) {
                        reported = Some(decision);
                    }
                }
            }
            return reported.map_or(Local::Wait, Local::Admitted);
        }
        if self.leases.len() + missing.len() > MAX_KEYS {
            self.leases.clear();
        }
        // The request's share of the budgets that hold a lease is taken now, so it is there
        // when the renewal comes back; if the renewal fails it is lost, which is only stricter.
        for (index, key) in keys.iter().enumerate() {
            if !missing.contains(&index)
                && let Some(lease) = self.leases.get_mut(key)
            {
                lease.tokens -= 1;
            }
        }
        let renewals = missing
            .into_iter()
            .map(|index| {
                let lease = self.leases.entry(keys[index].clone()).or_default();
                lease.renewing = true;
                let spent = lease.granted - lease.tokens.min(lease.granted);
                let wanted = if lease.granted == 0 {
                    1
                } else {
                    next_size(spent, now_ms.saturating_sub(lease.granted_at_ms), limit)
                };
                let returned = (lease.tokens > 0 && !lease.member.is_empty())
                    .then(|| (lease.member.clone(), lease.tokens));
                // Handed back (or expired): never spent from here on.
                lease.tokens = 0;
                (
                    index,
                    Renewal {
                        wanted,
                        lease_ms: if wanted > 1 { LEASE_MS } else { 0 },
                        returned,
                    },
                )
            })
            .collect();
        Local::Renew(renewals)
    }

    /// Records what Redis granted `key` (asked for at `asked_at_ms`): the asking request takes
    /// the first one, the rest is spendable until the lease ends. Returns the decision to
    /// report, or `None` when nothing was granted.
    pub fn granted(
        &mut self,
        key: &str,
        member: &str,
        renewal: &Renewal,
        grant: &super::redis_store::Grant,
        limit: u32,
        asked_at_ms: u64,
    ) -> Option<Decision> {
        let lease = self.leases.entry(key.to_owned()).or_default();
        lease.renewing = false;
        if grant.granted == 0 {
            return None;
        }
        lease.member = member.to_owned();
        lease.granted = grant.granted;
        lease.tokens = if renewal.lease_ms > 0 {
            grant.granted - 1
        } else {
            0
        };
        lease.granted_at_ms = asked_at_ms;
        lease.until_ms = asked_at_ms + renewal.lease_ms;
        lease.total = grant.total;
        lease.reset_after_ms = grant.decision.reset_after_ms;
        Some(lease_decision(lease, limit, asked_at_ms))
    }

    /// Ends a renewal that got nothing (refused, or Redis unavailable).
    pub fn abandoned(&mut self, key: &str) {
        if let Some(lease) = self.leases.get_mut(key) {
            lease.renewing = false;
        }
    }
}

/// The decision reported for a request admitted from `lease`: what the window still holds for
/// others plus what this instance still holds.
fn lease_decision(lease: &Lease, limit: u32, now_ms: u64) -> Decision {
    let others = u64::from(limit).saturating_sub(lease.total);
    let remaining = u32::try_from(others + u64::from(lease.tokens)).unwrap_or(u32::MAX);
    Decision {
        allowed: true,
        remaining,
        reset_after_ms: lease
            .reset_after_ms
            .saturating_sub(now_ms.saturating_sub(lease.granted_at_ms)),
        retry_after_ms: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::ratelimit::redis_store::Grant;

    fn grant(granted: u32, total: u64) -> Grant {
        Grant {
            granted,
            total,
            decision: Decision {
                allowed: granted > 0,
                remaining: 0,
                reset_after_ms: 1_000,
                retry_after_ms: 0,
            },
        }
    }

    #[test]
    fn sizes_follow_the_rate_and_stay_capped() {
        // A quiet key: single admissions.
        assert_eq!(next_size(1, 60_000, 600), 1);
        // Exhausted within the lease period: double.
        assert_eq!(next_size(4, 100, 6_400), 8);
        // Spent 10 over a full second: 2 per 200 ms, doubled.
        assert_eq!(next_size(10, 1_000, 6_400), 4);
        // Never more than 1/32 of the limit.
        assert_eq!(next_size(10_000, 10, 6_400), 200);
        assert_eq!(next_size(10_000, 10, 20), 1);
    }

    #[test]
    fn a_hot_key_renews_once_and_spends_locally_until_its_lease_ends() {
        let mut book = LeaseBook::default();
        let keys = vec!["api:ip:192.0.2.1".to_owned()];
        // First request: a single admission.
        let Local::Renew(renewals) = book.take(&keys, 6_400, 0) else {
            panic!("expected a renewal");
        };
        assert_eq!(renewals[0].1.wanted, 1);
        assert_eq!(renewals[0].1.lease_ms, 0);
        // While it is under way, others wait for it.
        assert_eq!(book.take(&keys, 6_400, 0), Local::Wait);
        book.granted(&keys[0], "m1", &renewals[0].1, &grant(1, 1), 6_400, 0);
        // The next request 10 ms later asks for a lease.
        let Local::Renew(renewals) = book.take(&keys, 6_400, 10) else {
            panic!("expected a renewal");
        };
        assert_eq!(renewals[0].1.wanted, 2);
        assert_eq!(renewals[0].1.lease_ms, LEASE_MS);
        book.granted(&keys[0], "m2", &renewals[0].1, &grant(2, 3), 6_400, 10);
        assert!(matches!(book.take(&keys, 6_400, 20), Local::Admitted(_)));
        // Spent: the next one renews with a bigger lease.
        let Local::Renew(renewals) = book.take(&keys, 6_400, 30) else {
            panic!("expected a renewal");
        };
        assert_eq!(renewals[0].1.wanted, 4);
        book.granted(&keys[0], "m3", &renewals[0].1, &grant(4, 7), 6_400, 30);
        // Live until 30 + LEASE_MS, not a millisecond longer.
        assert!(matches!(
            book.take(&keys, 6_400, 30 + LEASE_MS - 1),
            Local::Admitted(_)
        ));
        let Local::Renew(renewals) = book.take(&keys, 6_400, 30 + LEASE_MS) else {
            panic!("an ended lease is never spent");
        };
        // It left one unspent: handed back with the renewal.
        assert_eq!(renewals[0].1.returned, Some(("m3".to_owned(), 2)));
    }

    #[test]
    fn every_budget_must_hold_a_lease_for_a_local_admission() {
        let mut book = LeaseBook::default();
        let keys = vec!["api:user:u".to_owned(), "api:ip:i".to_owned()];
        let renewal = Renewal {
            wanted: 4,
            lease_ms: LEASE_MS,
            returned: None,
        };
        let Local::Renew(first) = book.take(&keys, 6_400, 0) else {
            panic!("expected a renewal");
        };
        assert_eq!(first.len(), 2);
        book.granted(&keys[0], "a", &renewal, &grant(4, 4), 6_400, 0);
        book.granted(&keys[1], "a", &renewal, &grant(2, 2), 6_400, 0);
        assert!(matches!(book.take(&keys, 6_400, 1), Local::Admitted(_)));
        // The IP's lease is spent; the user's still holds two, which are not spent.
        let Local::Renew(renewals) = book.take(&keys, 6_400, 2) else {
            panic!("expected a renewal");
        };
        assert_eq!(renewals.len(), 1);
        assert_eq!(renewals[0].0, 1);
        book.abandoned(&keys[1]);
        assert_eq!(
            book.leases[&keys[0]].tokens, 1,
            "the user's share was taken for the request"
        );
    }
}
