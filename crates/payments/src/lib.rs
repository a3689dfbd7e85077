//! Payments service: creator payout accounts, subscription tiers, checkouts for subscriptions,
//! tips and pay-per-view, entitlements, a double-entry ledger, payouts, disputes and tax forms.

pub mod provider;
