//! What creators offer: their payout account (onboarding at the provider), subscription tiers
//! and PPV items.

use crate::errors::PaymentsError;
use crate::ids::{PostId, PpvItemId, TierId};
use crate::status::{AccountStatus, SubscriptionStatus};
use chrono::{DateTime, Utc};
use df_common::Error;
use df_common::ids::{CreatorId, UserId};
use diesel::{
    BoolExpressionMethods, ExpressionMethods, NullableExpressionMethods, OptionalExtension,
    QueryDsl,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::{
    money,
    schema::{checkouts, payout_accounts, ppv_items, subscriptions, tiers},
    service::Service,
};

/// Longest tier name.
const MAX_NAME: usize = 80;
/// Longest tier description or PPV title.
const MAX_TEXT: usize = 1_000;

/// A payout account.
#[derive(Clone, Debug, diesel::Queryable)]
pub struct PayoutAccount {
    /// Creator.
    pub creator_id: CreatorId,
    /// `acct_...`.
    pub provider_account_id: String,
    /// Whether it is ready.
    pub status: AccountStatus,
    /// The provider lets it take charges.
    pub charges_enabled: bool,
    /// The provider lets it receive payouts.
    pub payouts_enabled: bool,
    /// Settlement currency.
    pub default_currency: String,
}

/// The creator's payout account.
pub async fn payout_account(
    conn: &mut AsyncPgConnection,
    creator_id: CreatorId,
) -> Result<Option<PayoutAccount>, Error> {
    Ok(payout_accounts::table
        .find(creator_id)
        .select((
            payout_accounts::creator_id,
            payout_accounts::provider_account_id,
            payout_accounts::status,
            payout_accounts::charges_enabled,
            payout_accounts::payouts_enabled,
            payout_accounts::default_currency,
        ))
        .first(conn)
        .await
        .optional()?)
}

/// Creates the connected account on first use and returns a fresh onboarding link.
pub async fn start_onboarding(
    service: &Service,
    creator_id: CreatorId,
    country: &str,
    return_url: &str,
    refresh_url: &str,
) -> Result<String, Error> {
    service.return_origins.check(return_url, "return_url")?;
    service.return_origins.check(refresh_url, "refresh_url")?;
    let country = country.trim().to_ascii_uppercase();
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(Error::from(PaymentsError::InvalidCountry));
    }
    let mut conn = service.db.conn().await?;
    let account = match payout_account(&mut conn, creator_id).await? {
        Some(account) => account.provider_account_id,
        None => {
            let created = service
                .provider
                .create_connected_account(creator_id, &country)
                .await?;
            diesel::insert_into(payout_accounts::table)
                .values((
                    payout_accounts::creator_id.eq(creator_id),
                    payout_accounts::provider_account_id.eq(&created),
                    payout_accounts::country.eq(&country),
                ))
                .on_conflict(payout_accounts::creator_id)
                .do_nothing()
                .execute(&mut conn)
                .await?;
            payout_account(&mut conn, creator_id)
                .await?
                .map(|a| a.provider_account_id)
                .unwrap_or(created)
        }
    };
    service
        .provider
        .onboarding_link(&account, return_url, refresh_url)
        .await
}

/// A tier as stored.
#[derive(Clone, Debug, diesel::Queryable)]
pub struct Tier {
    /// Id.
    pub id: TierId,
    /// Creator.
    pub creator_id: CreatorId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Monthly price.
    pub price_minor: i64,
    /// Currency.
    pub currency: String,
    /// Subscriber cap.
    pub subscriber_cap: Option<i32>,
    /// Free trial.
    pub trial_days: i32,
    /// Promotion.
    pub promo_percent_off: Option<i32>,
    /// Promotion end.
    pub promo_ends_at: Option<DateTime<Utc>>,
    /// Archived.
    pub archived_at: Option<DateTime<Utc>>,
}

impl Tier {
    /// The promotion running at `now`, if any.
    pub fn promotion_at(&self, now: DateTime<Utc>) -> Option<u32> {
        match (self.promo_percent_off, self.promo_ends_at) {
            (Some(pct), Some(ends)) if ends > now => u32::try_from(pct).ok(),
            _ => None,
        }
    }
}

const TIER_COLUMNS: (
    tiers::id,
    tiers::creator_id,
    tiers::name,
    tiers::description,
    tiers::price_minor,
    tiers::currency,
    tiers::subscriber_cap,
    tiers::trial_days,
    tiers::promo_percent_off,
    tiers::promo_ends_at,
    tiers::archived_at,
) = (
    tiers::id,
    tiers::creator_id,
    tiers::name,
    tiers::description,
    tiers::price_minor,
    tiers::currency,
    tiers::subscriber_cap,
    tiers::trial_days,
    tiers::promo_percent_off,
    tiers::promo_ends_at,
    tiers::archived_at,
);

/// A checked tier definition.
#[derive(Clone, Debug)]
pub struct TierInput {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Monthly price.
    pub price_minor: i64,
    /// Currency.
    pub currency: String,
    /// Cap (`None`: unlimited).
    pub subscriber_cap: Option<i32>,
    /// Free trial days.
    pub trial_days: i32,
    /// Promotion percent and end.
    pub promo: Option<(i32, DateTime<Utc>)>,
}

impl TierInput {
    /// Checks raw values.
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        name: &str,
        description: &str,
        price_minor: i64,
        currency: &str,
        subscriber_cap: u32,
        trial_days: u32,
        promo_percent_off: u32,
        promo_ends_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Self, Error> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(PaymentsError::InvalidTierName.with_message(format!(
                "The tier name must have 1 to {MAX_NAME} characters."
            )));
        }
        if description.chars().count() > MAX_TEXT {
            return Err(PaymentsError::InvalidDescription.with_message(format!(
                "The description may have at most {MAX_TEXT} characters."
            )));
        }
        let price_minor = money::amount(price_minor, 100)?;
        let currency = money::currency(currency)?;
        if trial_days > 90 {
            return Err(Error::from(PaymentsError::InvalidTrial));
        }
        if subscriber_cap > 10_000_000 {
            return Err(Error::from(PaymentsError::InvalidCap));
        }
        let promo = match (promo_percent_off, promo_ends_at) {
            (0, _) => None,
            (pct @ 1..=100, Some(ends)) if ends > now => {
                Some((i32::try_from(pct).unwrap_or(100), ends))
            }
            _ => {
                return Err(Error::from(PaymentsError::InvalidPromotion));
            }
        };
        Ok(Self {
            name: name.to_owned(),
            description: description.to_owned(),
            price_minor,
            currency,
            subscriber_cap: (subscriber_cap > 0)
                .then(|| i32::try_from(subscriber_cap).unwrap_or(i32::MAX)),
            trial_days: i32::try_from(trial_days).unwrap_or(0),
            promo,
        })
    }
}

/// Creates a tier.
pub async fn create_tier(
    conn: &mut AsyncPgConnection,
    creator_id: CreatorId,
    input: &TierInput,
) -> Result<Tier, Error> {
    let id = TierId::new();
    diesel::insert_into(tiers::table)
        .values((
            tiers::id.eq(id),
            tiers::creator_id.eq(creator_id),
            tiers::name.eq(&input.name),
            tiers::description.eq(&input.description),
            tiers::price_minor.eq(input.price_minor),
            tiers::currency.eq(&input.currency),
            tiers::subscriber_cap.eq(input.subscriber_cap),
            tiers::trial_days.eq(input.trial_days),
            tiers::promo_percent_off.eq(input.promo.map(|p| p.0)),
            tiers::promo_ends_at.eq(input.promo.map(|p| p.1)),
        ))
        .execute(conn)
        .await?;
    tier(conn, id).await?.ok_or_else(Error::not_found)
}

/// Changes a creator's own tier.
pub async fn update_tier(
    conn: &mut AsyncPgConnection,
    creator_id: CreatorId,
    id: TierId,
    input: &TierInput,
) -> Result<Tier, Error> {
    let changed = diesel::update(
        tiers::table
            .find(id)
            .filter(tiers::creator_id.eq(creator_id))
            .filter(tiers::archived_at.is_null()),
    )
    .set((
        tiers::name.eq(&input.name),
        tiers::description.eq(&input.description),
        tiers::price_minor.eq(input.price_minor),
        tiers::currency.eq(&input.currency),
        tiers::subscriber_cap.eq(input.subscriber_cap),
        tiers::trial_days.eq(input.trial_days),
        tiers::promo_percent_off.eq(input.promo.map(|p| p.0)),
        tiers::promo_ends_at.eq(input.promo.map(|p| p.1)),
        tiers::updated_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await?;
    if changed == 0 {
        return Err(tier_not_found());
    }
    tier(conn, id).await?.ok_or_else(tier_not_found)
}

/// Updates a creator's own tier, and in the same transaction announces that what the
/// creator's subscribers may see can have changed (a price ranks the tier among those that open
/// a post reserved to a minimum tier). Returns the tier, its subscriber count and the fans
/// whose cached entitlements are to be dropped after the commit.
pub async fn change_tier(
    conn: &mut AsyncPgConnection,
    creator_id: CreatorId,
    id: TierId,
    input: &TierInput,
) -> Result<(Tier, i64, Vec<UserId>), Error> {
    conn.transaction::<_, Error, _>(async |conn| {
        let tier = update_tier(conn, creator_id, id, input).await?;
        let count = subscriber_count(conn, id).await?;
        let subscribers = subscribers_of(conn, creator_id).await?;
        crate::entitlements::announce_creator(conn, creator_id).await?;
        Ok((tier, count, subscribers))
    })
    .await
}

/// Archives a creator's own tier.
pub async fn archive_tier(
    conn: &mut AsyncPgConnection,
    creator_id: CreatorId,
    id: TierId,
    now: DateTime<Utc>,
) -> Result<Tier, Error> {
    let changed = diesel::update(
        tiers::table
            .find(id)
            .filter(tiers::creator_id.eq(creator_id))
            .filter(tiers::archived_at.is_null()),
    )
    .set(tiers::archived_at.eq(Some(now)))
    .execute(conn)
    .await?;
    if changed == 0 {
        return Err(tier_not_found());
    }
    tier(conn, id).await?.ok_or_else(tier_not_found)
}

/// The fans whose subscription to `creator_id` has not ended. A subscriber post may be reserved
/// to a minimum tier, which opens to subscriptions priced at least as high: a change of the
/// creator's tier prices can move what these fans may see.
pub async fn subscribers_of(
    conn: &mut AsyncPgConnection,
    creator_id: CreatorId,
) -> Result<Vec<UserId>, Error> {
    Ok(subscriptions::table
        .filter(subscriptions::creator_id.eq(creator_id))
        .filter(subscriptions::status.ne(SubscriptionStatus::Ended))
        .select(subscriptions::fan_id)
        .distinct()
        .load(conn)
        .await?)
}

/// Not found, with the tier's code.
pub fn tier_not_found() -> Error {
    Error::from(PaymentsError::TierNotFound)
}

/// One tier.
pub async fn tier(conn: &mut AsyncPgConnection, id: TierId) -> Result<Option<Tier>, Error> {
    Ok(tiers::table
        .find(id)
        .select(TIER_COLUMNS)
        .first(conn)
        .await
        .optional()?)
}

/// A creator's tiers that are on offer, with their live subscriber counts.
pub async fn tiers_of(
    conn: &mut AsyncPgConnection,
    creator_id: CreatorId,
) -> Result<Vec<(Tier, i64)>, Error> {
    let list: Vec<Tier> = tiers::table
        .filter(tiers::creator_id.eq(creator_id))
        .filter(tiers::archived_at.is_null())
        .select(TIER_COLUMNS)
        .order(tiers::price_minor)
        .limit(100)
        .load(conn)
        .await?;
    // One grouped count for all the tiers, not one query per tier.
    let ids: Vec<TierId> = list.iter().map(|t| t.id).collect();
    let counts: Vec<(TierId, i64)> = subscriptions::table
        .filter(subscriptions::tier_id.eq_any(&ids))
        .filter(subscriptions::status.eq_any(crate::subscriptions::LIVE_STATUSES))
        .group_by(subscriptions::tier_id)
        .select((subscriptions::tier_id, diesel::dsl::count_star()))
        .load(conn)
        .await?;
    Ok(list
        .into_iter()
        .map(|tier| {
            let count = counts
                .iter()
                .find(|(id, _)| *id == tier.id)
                .map_or(0, |(_, n)| *n);
            (tier, count)
        })
        .collect())
}

/// Live subscribers of a tier.
pub async fn subscriber_count(conn: &mut AsyncPgConnection, tier_id: TierId) -> Result<i64, Error> {
    Ok(subscriptions::table
        .filter(subscriptions::tier_id.eq(tier_id))
        .filter(subscriptions::status.eq_any(crate::subscriptions::LIVE_STATUSES))
        .count()
        .get_result(conn)
        .await?)
}

/// A PPV item.
#[derive(Clone, Debug, diesel::Queryable)]
pub struct PpvItem {
    /// Id.
    pub id: PpvItemId,
    /// Creator.
    pub creator_id: CreatorId,
    /// The post it unlocks.
    pub post_id: PostId,
    /// Title.
    pub title: String,
    /// Price.
    pub price_minor: i64,
    /// Currency.
    pub currency: String,
}

/// Offers a post for a price: one offer per post, which a second call answers (see
/// `offer_again`).
pub async fn create_ppv_item(
    conn: &mut AsyncPgConnection,
    creator_id: CreatorId,
    post_id: PostId,
    title: &str,
    price_minor: i64,
    currency: &str,
) -> Result<PpvItem, Error> {
    if title.chars().count() > MAX_TEXT {
        return Err(PaymentsError::InvalidTitle
            .with_message(format!("The title may have at most {MAX_TEXT} characters.")));
    }
    let offer = PpvItem {
        id: PpvItemId::new(),
        creator_id,
        post_id,
        title: title.trim().to_owned(),
        price_minor: money::amount(price_minor, 100)?,
        currency: money::currency(currency)?,
    };
    let inserted = diesel::insert_into(ppv_items::table)
        .values((
            ppv_items::id.eq(offer.id),
            ppv_items::creator_id.eq(offer.creator_id),
            ppv_items::post_id.eq(offer.post_id),
            ppv_items::title.eq(&offer.title),
            ppv_items::price_minor.eq(offer.price_minor),
            ppv_items::currency.eq(&offer.currency),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if inserted == 0 {
        return offer_again(conn, offer).await;
    }
    Ok(offer)
}

/// The post already has an offer. Media records an offer only after it is made, so a write of
/// media's that failed afterwards (an attachment refused, a lost connection) leaves one media
/// does not know of, and the creator's retry lands here. Until a fan opens a checkout for it,
/// the offer takes the retry's terms; after that only a retry on the same terms gets it back.
async fn offer_again(conn: &mut AsyncPgConnection, offer: PpvItem) -> Result<PpvItem, Error> {
    let this_post = ppv_items::creator_id
        .eq(offer.creator_id)
        .and(ppv_items::post_id.eq(offer.post_id));
    let unsold = diesel::dsl::not(diesel::dsl::exists(
        checkouts::table.filter(checkouts::ppv_item_id.eq(ppv_items::id.nullable())),
    ));
    let repriced: Option<PpvItemId> =
        diesel::update(ppv_items::table.filter(this_post.and(unsold)))
            .set((
                ppv_items::title.eq(&offer.title),
                ppv_items::price_minor.eq(offer.price_minor),
                ppv_items::currency.eq(&offer.currency),
            ))
            .returning(ppv_items::id)
            .get_result(conn)
            .await
            .optional()?;
    if let Some(id) = repriced {
        return Ok(PpvItem { id, ..offer });
    }
    let id = ppv_items::table
        .filter(this_post)
        .select(ppv_items::id)
        .first(conn)
        .await?;
    let sold = ppv_item(conn, id).await?.ok_or_else(Error::not_found)?;
    if (sold.price_minor, &sold.currency) == (offer.price_minor, &offer.currency) {
        Ok(sold)
    } else {
        Err(PaymentsError::PpvExists.into())
    }
}

/// One PPV item.
pub async fn ppv_item(
    conn: &mut AsyncPgConnection,
    id: PpvItemId,
) -> Result<Option<PpvItem>, Error> {
    Ok(ppv_items::table
        .find(id)
        .select((
            ppv_items::id,
            ppv_items::creator_id,
            ppv_items::post_id,
            ppv_items::title,
            ppv_items::price_minor,
            ppv_items::currency,
        ))
        .first(conn)
        .await
        .optional()?)
}
