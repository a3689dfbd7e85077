//! Which postings each money movement makes, given a creator's balances. Pure functions, so the
//! reserve policy can be checked exhaustively by properties:
//!
//! - pending and available never go below zero, and a payout never takes more than available;
//! - a refund or dispute takes the creator's share first from what the payment still holds in
//!   pending, then from available; what is still missing becomes a receivable (the creator owes
//!   it), which later earnings pay off before anything becomes available again.

use super::{Account, Posting};
use crate::money::FeeSplit;

/// A creator's balances in one currency (credit positive; the receivable is ≤ 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreatorBalances {
    /// Earnings on hold.
    pub pending: i64,
    /// Earnings that can be paid out.
    pub available: i64,
    /// Owed by the creator (≤ 0).
    pub receivable: i64,
    /// Held for open disputes.
    pub dispute_reserve: i64,
    /// Payouts started, not yet confirmed.
    pub in_transit: i64,
    /// Payouts confirmed.
    pub paid_out: i64,
}

impl CreatorBalances {
    /// Applies postings (only per-creator accounts change).
    pub fn apply(&mut self, postings: &[Posting]) {
        for p in postings {
            match p.account {
                Account::CreatorPending => self.pending += p.amount,
                Account::CreatorAvailable => self.available += p.amount,
                Account::CreatorReceivable => self.receivable += p.amount,
                Account::DisputeReserve => self.dispute_reserve += p.amount,
                Account::PayoutsInTransit => self.in_transit += p.amount,
                Account::PaidOut => self.paid_out += p.amount,
                _ => {}
            }
        }
    }

    /// True when the reserve policy's invariants hold.
    pub fn within_policy(&self) -> bool {
        self.pending >= 0
            && self.available >= 0
            && self.receivable <= 0
            && self.dispute_reserve >= 0
            && self.in_transit >= 0
            && self.paid_out >= 0
    }
}

/// A captured payment: the gross from the fan, the platform's fee, the creator's net into
/// pending, and the processor's fee, which the platform pays out of its revenue.
pub fn payment(split: FeeSplit, processor_fee: i64) -> Vec<Posting> {
    vec![
        Posting::new(Account::FanPayments, -split.gross),
        Posting::new(Account::CreatorPending, split.creator_net),
        Posting::new(Account::PlatformRevenue, split.platform_fee),
        Posting::new(Account::PlatformRevenue, -processor_fee),
        Posting::new(Account::ProcessorFees, processor_fee),
    ]
}

/// Credits `amount` to the creator outside pending: first pays off what they owe.
fn credit_creator(balances: &CreatorBalances, amount: i64) -> Vec<Posting> {
    let settle = amount.min(-balances.receivable).max(0);
    vec![
        Posting::new(Account::CreatorReceivable, settle),
        Posting::new(Account::CreatorAvailable, amount - settle),
    ]
}

/// The result of taking money back from a creator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Debit {
    /// The creator-side postings (sum: `-amount`).
    pub postings: Vec<Posting>,
    /// How much came out of pending (to record against the payment, so its release moves only
    /// what is left).
    pub from_pending: i64,
}

/// Takes `amount` from a creator: from pending up to `pending_share` (what the payment still
/// holds there), then from available, and the rest as a receivable.
pub fn debit_creator(balances: &CreatorBalances, amount: i64, pending_share: i64) -> Debit {
    let amount = amount.max(0);
    let from_pending = amount
        .min(pending_share.max(0))
        .min(balances.pending.max(0));
    let from_available = (amount - from_pending).min(balances.available.max(0));
    let owed = amount - from_pending - from_available;
    Debit {
        postings: vec![
            Posting::new(Account::CreatorPending, -from_pending),
            Posting::new(Account::CreatorAvailable, -from_available),
            Posting::new(Account::CreatorReceivable, -owed),
        ],
        from_pending,
    }
}

/// A payment's hold ended: what it still holds in pending becomes available (after paying off
/// anything owed).
pub fn release(balances: &CreatorBalances, amount: i64) -> Vec<Posting> {
    let amount = amount.min(balances.pending).max(0);
    let mut postings = vec![Posting::new(Account::CreatorPending, -amount)];
    postings.extend(credit_creator(balances, amount));
    postings
}

/// A refund: the fan gets `reversal.gross` back; the platform's fee and the creator's net are
/// reversed proportionally (the processor keeps its fee).
pub fn refund(balances: &CreatorBalances, reversal: FeeSplit, pending_share: i64) -> Debit {
    let mut debit = debit_creator(balances, reversal.creator_net, pending_share);
    debit
        .postings
        .push(Posting::new(Account::Refunds, reversal.gross));
    debit.postings.push(Posting::new(
        Account::PlatformRevenue,
        -reversal.platform_fee,
    ));
    debit
}

/// A dispute opened: the disputed amount and the dispute fee move from the creator to the
/// reserve.
pub fn dispute_opened(balances: &CreatorBalances, held: i64, pending_share: i64) -> Debit {
    let mut debit = debit_creator(balances, held, pending_share);
    debit
        .postings
        .push(Posting::new(Account::DisputeReserve, held));
    debit
}

/// A dispute won: the reserve goes back to the creator.
pub fn dispute_won(balances: &CreatorBalances, held: i64) -> Vec<Posting> {
    let held = held.min(balances.dispute_reserve).max(0);
    let mut postings = vec![Posting::new(Account::DisputeReserve, -held)];
    postings.extend(credit_creator(balances, held));
    postings
}

/// A dispute lost: the reserve is booked as a loss.
pub fn dispute_lost(balances: &CreatorBalances, held: i64) -> Vec<Posting> {
    let held = held.min(balances.dispute_reserve).max(0);
    vec![
        Posting::new(Account::DisputeReserve, -held),
        Posting::new(Account::DisputeLosses, held),
    ]
}

/// A payout starts; `None` when `amount` exceeds what is available.
pub fn payout_started(balances: &CreatorBalances, amount: i64) -> Option<Vec<Posting>> {
    (amount > 0 && amount <= balances.available).then(|| {
        vec![
            Posting::new(Account::CreatorAvailable, -amount),
            Posting::new(Account::PayoutsInTransit, amount),
        ]
    })
}

/// The bank confirmed a payout.
pub fn payout_paid(amount: i64) -> Vec<Posting> {
    vec![
        Posting::new(Account::PayoutsInTransit, -amount),
        Posting::new(Account::PaidOut, amount),
    ]
}

/// A payout failed: the money is the creator's again.
pub fn payout_failed(balances: &CreatorBalances, amount: i64) -> Vec<Posting> {
    let mut postings = vec![Posting::new(Account::PayoutsInTransit, -amount)];
    postings.extend(credit_creator(balances, amount));
    postings
}

#[cfg(test)]
mod tests {
    use quickcheck::{Arbitrary, Gen};
    use quickcheck_macros::quickcheck;

    use super::*;

    /// One step of a random history.
    #[derive(Clone, Debug)]
    enum Step {
        Pay(u32),
        Release(u8),
        Refund(u8, u32),
        Dispute(u8, u32),
        Settle(bool),
        Payout(u32),
        PayoutResult(bool),
    }

    impl Arbitrary for Step {
        fn arbitrary(g: &mut Gen) -> Self {
            match u8::arbitrary(g) % 7 {
                0 => Step::Pay(u32::arbitrary(g) % 100_000 + 1),
                1 => Step::Release(u8::arbitrary(g)),
                2 => Step::Refund(u8::arbitrary(g), u32::arbitrary(g)),
                3 => Step::Dispute(u8::arbitrary(g), u32::arbitrary(g) % 2_000),
                4 => Step::Settle(bool::arbitrary(g)),
                5 => Step::Payout(u32::arbitrary(g)),
                _ => Step::PayoutResult(bool::arbitrary(g)),
            }
        }
    }

    struct Paid {
        split: FeeSplit,
        refunded: i64,
        pending_share: i64,
        released: bool,
    }

    #[quickcheck]
    fn no_history_breaks_the_reserve_policy_or_the_balance(steps: Vec<Step>, bps: u16) -> bool {
        let bps = u32::from(bps) % 10_001;
        let mut balances = CreatorBalances::default();
        let mut platform_total = 0_i64;
        let mut paid: Vec<Paid> = Vec::new();
        let mut disputes: Vec<i64> = Vec::new();
        let mut in_flight: Vec<i64> = Vec::new();
        for step in steps {
            let postings = match step {
                Step::Pay(gross) => {
                    let split = FeeSplit::of(i64::from(gross), bps);
                    paid.push(Paid {
                        split,
                        refunded: 0,
                        pending_share: split.creator_net,
                        released: false,
                    });
                    payment(split, crate::money::simulated_processor_fee(split.gross))
                }
                Step::Release(i) if !paid.is_empty() => {
                    let n = paid.len();
                    let p = &mut paid[usize::from(i) % n];
                    if p.released {
                        continue;
                    }
                    p.released = true;
                    let amount = std::mem::take(&mut p.pending_share);
                    release(&balances, amount)
                }
                Step::Refund(i, cut) if !paid.is_empty() => {
                    let n = paid.len();
                    let p = &mut paid[usize::from(i) % n];
                    let left = p.split.gross - p.refunded;
                    if left == 0 {
                        continue;
                    }
                    let amount = i64::from(cut) % left + 1;
                    let reversal = p.split.reversal(p.refunded, amount);
                    p.refunded += amount;
                    let debit = refund(&balances, reversal, p.pending_share);
                    p.pending_share -= debit.from_pending;
                    debit.postings
                }
                Step::Dispute(i, fee) if !paid.is_empty() => {
                    let n = paid.len();
                    let p = &mut paid[usize::from(i) % n];
                    let held = p.split.gross + i64::from(fee);
                    let debit = dispute_opened(&balances, held, p.pending_share);
                    p.pending_share -= debit.from_pending;
                    disputes.push(held);
                    debit.postings
                }
                Step::Settle(won) if !disputes.is_empty() => {
                    let held = disputes.remove(0);
                    if won {
                        dispute_won(&balances, held)
                    } else {
                        dispute_lost(&balances, held)
                    }
                }
                Step::Payout(amount) => {
                    let amount = i64::from(amount) % (balances.available + 1);
                    match payout_started(&balances, amount) {
                        Some(postings) => {
                            in_flight.push(amount);
                            postings
                        }
                        None => continue,
                    }
                }
                Step::PayoutResult(ok) if !in_flight.is_empty() => {
                    let amount = in_flight.remove(0);
                    if ok {
                        payout_paid(amount)
                    } else {
                        payout_failed(&balances, amount)
                    }
                }
                _ => continue,
            };
            let sum: i64 = postings.iter().map(|p| p.amount).sum();
            if sum != 0 {
                return false;
            }
            balances.apply(&postings);
            platform_total += postings
                .iter()
                .filter(|p| !p.account.is_per_creator())
                .map(|p| p.amount)
                .sum::<i64>();
            if !balances.within_policy() {
                return false;
            }
        }
        // What the creator side holds is exactly what the platform side owes them.
        let creator_total = balances.pending
            + balances.available
            + balances.receivable
            + balances.dispute_reserve
            + balances.in_transit
            + balances.paid_out;
        creator_total + platform_total == 0
    }

    #[test]
    fn a_tip_books_gross_fee_processor_fee_and_net() {
        let postings = payment(FeeSplit::of(1_000, 2_000), 59);
        assert_eq!(postings.iter().map(|p| p.amount).sum::<i64>(), 0);
        let mut balances = CreatorBalances::default();
        balances.apply(&postings);
        assert_eq!(balances.pending, 800);
    }

    #[test]
    fn debts_are_paid_off_before_anything_becomes_available() {
        let balances = CreatorBalances {
            pending: 500,
            receivable: -300,
            ..CreatorBalances::default()
        };
        let mut after = balances;
        after.apply(&release(&balances, 500));
        assert_eq!(
            (after.pending, after.available, after.receivable),
            (0, 200, 0)
        );
    }
}
