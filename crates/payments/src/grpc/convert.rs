//! Payments' records to and from their protobuf forms.

use chrono::{DateTime, Utc};
use df_common::wire;
use df_proto::payments::v1 as pb;
use tonic::Status;

use crate::{
    catalogue::{PayoutAccount, PpvItem, Tier, TierInput},
    checkout::{Opened, ReturnUrls},
    disputes::DisputeView,
    entitlements::{self, AccessPolicy},
    payouts::PayoutView,
    subscriptions::SubscriptionRow,
    tax::profiles::{TaxAddress, TaxProfileView},
};

pub fn ts(at: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(wire::timestamp(at))
}

pub fn money(amount: i64, currency: &str) -> Option<pb::Money> {
    Some(pb::Money {
        amount,
        currency: currency.to_owned(),
    })
}

fn count(value: Option<i32>) -> u32 {
    value.and_then(|c| u32::try_from(c).ok()).unwrap_or(0)
}

pub fn tier(tier: Tier, subscribers: i64) -> pb::Tier {
    pb::Tier {
        id: tier.id.to_string(),
        creator_id: tier.creator_id.to_string(),
        name: tier.name,
        price: money(tier.price_minor, &tier.currency),
        subscriber_cap: count(tier.subscriber_cap),
        trial_days: count(Some(tier.trial_days)),
        promo_percent_off: count(tier.promo_percent_off),
        promo_ends_at: tier.promo_ends_at.and_then(ts),
        archived: tier.archived_at.is_some(),
        description: tier.description,
        subscriber_count: u32::try_from(subscribers).unwrap_or(u32::MAX),
    }
}

pub fn tier_input(input: Option<pb::TierInput>, now: DateTime<Utc>) -> Result<TierInput, Status> {
    let input = input.unwrap_or_default();
    let price = input.price.unwrap_or_default();
    Ok(TierInput::check(
        &input.name,
        &input.description,
        price.amount,
        &price.currency,
        input.subscriber_cap,
        input.trial_days,
        input.promo_percent_off,
        input.promo_ends_at.as_ref().and_then(wire::instant),
        now,
    )?)
}

pub fn payout_account(account: PayoutAccount) -> pb::PayoutAccount {
    pb::PayoutAccount {
        creator_id: account.creator_id.to_string(),
        status: account.status.to_string(),
        charges_enabled: account.charges_enabled,
        payouts_enabled: account.payouts_enabled,
        default_currency: account.default_currency,
    }
}

pub fn ppv_item(item: PpvItem) -> pb::PpvItem {
    pb::PpvItem {
        id: item.id.to_string(),
        creator_id: item.creator_id.to_string(),
        post_id: item.post_id.to_string(),
        price: money(item.price_minor, &item.currency),
        title: item.title,
    }
}

pub fn checkout((id, session): Opened) -> pb::Checkout {
    pb::Checkout {
        id: id.to_string(),
        url: session.url,
        expires_at: ts(session.expires_at),
    }
}

pub fn urls(success: String, cancel: String) -> ReturnUrls {
    ReturnUrls { success, cancel }
}

pub fn subscription(row: SubscriptionRow, policy: AccessPolicy) -> pb::Subscription {
    let until = entitlements::access_until(
        row.status,
        row.current_period_end,
        row.past_due_since,
        policy,
    );
    pb::Subscription {
        id: row.id.to_string(),
        creator_id: row.creator_id.to_string(),
        tier_id: row.tier_id.to_string(),
        status: row.status.to_string(),
        cancel_at_period_end: row.cancel_at_period_end,
        current_period_end: ts(row.current_period_end),
        access_until: until.and_then(ts),
    }
}

pub fn tax_address(address: Option<pb::Address>) -> TaxAddress {
    let address = address.unwrap_or_default();
    TaxAddress {
        line1: address.line1,
        line2: address.line2,
        city: address.city,
        state: address.state,
        postal_code: address.postal_code,
        country: address.country,
    }
}

pub fn tax_profile(view: TaxProfileView) -> pb::TaxProfile {
    pb::TaxProfile {
        creator_id: view.creator_id.to_string(),
        legal_name: view.legal_name,
        address: Some(pb::Address {
            line1: view.address.line1,
            line2: view.address.line2,
            city: view.address.city,
            state: view.address.state,
            postal_code: view.address.postal_code,
            country: view.address.country,
        }),
        tin_masked: view.tin_masked,
        bank_account_masked: view.bank_account_masked.unwrap_or_default(),
        updated_at: ts(view.updated_at),
    }
}

pub fn payout(view: PayoutView) -> pb::Payout {
    pb::Payout {
        id: view.id.to_string(),
        creator_id: view.creator_id.to_string(),
        amount: money(view.amount_minor, &view.currency),
        status: view.status.to_string(),
        attempts: u32::try_from(view.attempts).unwrap_or(0),
        failure_code: view.failure_code.unwrap_or_default(),
        created_at: ts(view.created_at),
        next_attempt_at: view.next_attempt_at.and_then(ts),
    }
}

pub fn dispute(view: DisputeView) -> pb::Dispute {
    pb::Dispute {
        id: view.id.to_string(),
        payment_id: view.payment_id.to_string(),
        creator_id: view.creator_id.to_string(),
        fan_id: view.fan_id.to_string(),
        amount: money(view.amount_minor, &view.currency),
        status: view.status.to_string(),
        evidence_due_by: view.evidence_due_by.and_then(ts),
        evidence_submitted_at: view.evidence_submitted_at.and_then(ts),
    }
}
