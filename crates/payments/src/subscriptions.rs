//! Subscription state, driven by provider events. The state machine never moves backwards:
//! `ended` is final, and an event older than the newest one applied changes nothing (where order
//! matters the provider's current state is fetched instead of trusting the event's copy).

use crate::errors::PaymentsError;
use crate::ids::{SubscriptionId, TierId};
use crate::status::SubscriptionStatus;
use chrono::{DateTime, Utc};
use df_common::Error;
use df_common::ids::{CreatorId, UserId};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    provider::RemoteSubscription,
    schema::{subscriptions, tiers},
};

/// Our statuses.
pub const LIVE_STATUSES: [SubscriptionStatus; 3] = [
    SubscriptionStatus::Trialing,
    SubscriptionStatus::Active,
    SubscriptionStatus::PastDue,
];

/// Maps the provider's status to ours.
pub fn status_from_provider(status: &str) -> SubscriptionStatus {
    match status {
        "trialing" => SubscriptionStatus::Trialing,
        "active" => SubscriptionStatus::Active,
        "past_due" | "unpaid" => SubscriptionStatus::PastDue,
        "canceled" | "incomplete_expired" => SubscriptionStatus::Ended,
        _ => SubscriptionStatus::Incomplete,
    }
}

/// A subscription row's key facts.
#[derive(Clone, Debug, diesel::Queryable)]
pub struct SubscriptionRow {
    /// Our id.
    pub id: SubscriptionId,
    /// `sub_...`.
    pub provider_subscription_id: String,
    /// Subscriber.
    pub fan_id: UserId,
    /// Creator.
    pub creator_id: CreatorId,
    /// Tier.
    pub tier_id: TierId,
    /// Our status.
    pub status: SubscriptionStatus,
    /// Cancellation requested.
    pub cancel_at_period_end: bool,
    /// End of the paid period.
    pub current_period_end: DateTime<Utc>,
    /// First failed renewal of the current episode.
    pub past_due_since: Option<DateTime<Utc>>,
    /// Newest provider event applied.
    pub provider_event_at: Option<DateTime<Utc>>,
}

type Columns = (
    subscriptions::id,
    subscriptions::provider_subscription_id,
    subscriptions::fan_id,
    subscriptions::creator_id,
    subscriptions::tier_id,
    subscriptions::status,
    subscriptions::cancel_at_period_end,
    subscriptions::current_period_end,
    subscriptions::past_due_since,
    subscriptions::provider_event_at,
);

const COLUMNS: Columns = (
    subscriptions::id,
    subscriptions::provider_subscription_id,
    subscriptions::fan_id,
    subscriptions::creator_id,
    subscriptions::tier_id,
    subscriptions::status,
    subscriptions::cancel_at_period_end,
    subscriptions::current_period_end,
    subscriptions::past_due_since,
    subscriptions::provider_event_at,
);

/// The subscription with this provider id, locked.
pub async fn find_for_update(
    conn: &mut AsyncPgConnection,
    provider_id: &str,
) -> Result<Option<SubscriptionRow>, Error> {
    Ok(subscriptions::table
        .filter(subscriptions::provider_subscription_id.eq(provider_id))
        .select(COLUMNS)
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// Who a subscription is for, from the metadata our checkout put on it.
#[derive(Clone, Copy, Debug)]
pub struct Attribution {
    /// Subscriber.
    pub fan_id: UserId,
    /// Creator.
    pub creator_id: CreatorId,
    /// Tier.
    pub tier_id: TierId,
}

/// The row for `provider_id`, created from `attribution` when it does not exist yet (events
/// can arrive before the checkout completion that would normally create it).
pub async fn ensure(
    conn: &mut AsyncPgConnection,
    provider_id: &str,
    attribution: Attribution,
    status: SubscriptionStatus,
    period_end: DateTime<Utc>,
) -> Result<SubscriptionRow, Error> {
    if let Some(row) = find_for_update(conn, provider_id).await? {
        return Ok(row);
    }
    // The tier must be ours and belong to the creator named in the metadata.
    let tier_creator: Option<CreatorId> = tiers::table
        .find(attribution.tier_id)
        .select(tiers::creator_id)
        .first(conn)
        .await
        .optional()?;
    if tier_creator != Some(attribution.creator_id) {
        return Err(Error::from(PaymentsError::WebhookUnknownTier));
    }
    diesel::insert_into(subscriptions::table)
        .values((
            subscriptions::id.eq(SubscriptionId::new()),
            subscriptions::provider_subscription_id.eq(provider_id),
            subscriptions::fan_id.eq(attribution.fan_id),
            subscriptions::creator_id.eq(attribution.creator_id),
            subscriptions::tier_id.eq(attribution.tier_id),
            subscriptions::status.eq(status),
            subscriptions::current_period_end.eq(period_end),
        ))
        .on_conflict(subscriptions::provider_subscription_id)
        .do_nothing()
        .execute(conn)
        .await?;
    find_for_update(conn, provider_id)
        .await?
        .ok_or_else(|| Error::internal(anyhow::anyhow!("subscription row vanished after insert")))
}

/// Applies the provider's view of a subscription observed at `observed_at`.
pub async fn apply_state(
    conn: &mut AsyncPgConnection,
    row: &SubscriptionRow,
    remote: &RemoteSubscription,
    observed_at: DateTime<Utc>,
) -> Result<(), Error> {
    if row.status == SubscriptionStatus::Ended
        || row.provider_event_at.is_some_and(|seen| seen > observed_at)
    {
        return Ok(());
    }
    let status = status_from_provider(&remote.status);
    let past_due_since = match status {
        SubscriptionStatus::PastDue => Some(row.past_due_since.unwrap_or(observed_at)),
        _ => None,
    };
    diesel::update(subscriptions::table.find(row.id))
        .set((
            subscriptions::status.eq(status),
            subscriptions::cancel_at_period_end.eq(remote.cancel_at_period_end),
            subscriptions::current_period_end.eq(remote.current_period_end),
            subscriptions::past_due_since.eq(past_due_since),
            subscriptions::provider_event_at.eq(Some(observed_at)),
            subscriptions::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// A renewal (or the first payment) succeeded: active until at least `period_end`.
pub async fn paid_through(
    conn: &mut AsyncPgConnection,
    row: &SubscriptionRow,
    period_end: DateTime<Utc>,
) -> Result<(), Error> {
    if row.status == SubscriptionStatus::Ended {
        return Ok(());
    }
    let status =
        if row.status == SubscriptionStatus::Trialing && period_end <= row.current_period_end {
            SubscriptionStatus::Trialing
        } else {
            SubscriptionStatus::Active
        };
    diesel::update(subscriptions::table.find(row.id))
        .set((
            subscriptions::status.eq(status),
            subscriptions::current_period_end.eq(period_end.max(row.current_period_end)),
            subscriptions::past_due_since.eq(None::<DateTime<Utc>>),
            subscriptions::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// A renewal failed: past due from the first failure on (access lasts through the grace).
pub async fn renewal_failed(
    conn: &mut AsyncPgConnection,
    row: &SubscriptionRow,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    if !LIVE_STATUSES.contains(&row.status) {
        return Ok(());
    }
    diesel::update(subscriptions::table.find(row.id))
        .set((
            subscriptions::status.eq(SubscriptionStatus::PastDue),
            subscriptions::past_due_since.eq(Some(row.past_due_since.unwrap_or(at))),
            subscriptions::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The provider ended the subscription (at period end after a cancellation, or after dunning).
pub async fn ended(
    conn: &mut AsyncPgConnection,
    row: &SubscriptionRow,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    diesel::update(subscriptions::table.find(row.id))
        .set((
            subscriptions::status.eq(SubscriptionStatus::Ended),
            subscriptions::current_period_end.eq(row.current_period_end.min(at)),
            subscriptions::provider_event_at.eq(Some(at)),
            subscriptions::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The fan asked to cancel: recorded at once, confirmed later by the provider's event.
pub async fn mark_cancel_requested(
    conn: &mut AsyncPgConnection,
    id: SubscriptionId,
) -> Result<(), Error> {
    diesel::update(subscriptions::table.find(id))
        .set((
            subscriptions::cancel_at_period_end.eq(true),
            subscriptions::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// A fan's subscriptions, newest first.
pub async fn of_fan(
    conn: &mut AsyncPgConnection,
    fan_id: UserId,
) -> Result<Vec<SubscriptionRow>, Error> {
    Ok(subscriptions::table
        .filter(subscriptions::fan_id.eq(fan_id))
        .select(COLUMNS)
        .order(subscriptions::created_at.desc())
        .limit(200)
        .load(conn)
        .await?)
}

/// One subscription by our id.
pub async fn by_id(
    conn: &mut AsyncPgConnection,
    id: SubscriptionId,
) -> Result<Option<SubscriptionRow>, Error> {
    Ok(subscriptions::table
        .find(id)
        .select(COLUMNS)
        .first(conn)
        .await
        .optional()?)
}
