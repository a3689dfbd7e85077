//! Checkouts: a fan asks to subscribe, tip or buy; payments records the intent and asks the
//! provider for a hosted payment page. Nothing is granted here — access and money follow from
//! the provider's signed events.

use crate::errors::PaymentsError;
use crate::ids::{CheckoutId, PpvItemId, SubscriptionId, TierId};
use df_common::ids::{CreatorId, UserId};
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use df_common::Error;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};

use crate::{
    catalogue::{self, PayoutAccount},
    charges::Kind,
    money::{self, FeeSplit},
    provider::{CheckoutMode, CheckoutRequest, CheckoutSession},
    schema::{checkouts, subscriptions},
    service::Service,
    subscriptions as subs,
};

/// Longest tip message.
pub const MAX_TIP_MESSAGE: usize = 500;

/// Longest client idempotency key.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// A client's idempotency key with the digest of the request it came with.
#[derive(Clone, Debug)]
pub struct Idempotency {
    key: Option<String>,
    digest: Vec<u8>,
}

impl Idempotency {
    /// `key` (empty: none) for a request described by `parts`.
    pub fn new(key: &str, parts: &[&str]) -> Result<Self, Error> {
        let key = key.trim();
        if key.len() > MAX_IDEMPOTENCY_KEY || key.chars().any(|c| !c.is_ascii_graphic()) {
            return Err(PaymentsError::InvalidIdempotencyKey.with_message(format!(
                "An idempotency key is 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters."
            )));
        }
        let mut hasher = Sha256::new();
        for part in parts {
            // Length-prefixed, so no two different requests hash alike by shifting text.
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        Ok(Self {
            key: (!key.is_empty()).then(|| key.to_owned()),
            digest: hasher.finalize().to_vec(),
        })
    }
}

/// Id, request digest, provider session, page URL and expiry of an earlier checkout.
type EarlierCheckout = (
    CheckoutId,
    Option<Vec<u8>>,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
);

/// The checkout an earlier request with the same key opened, if any.
async fn replay(
    service: &Service,
    fan_id: UserId,
    idempotency: &Idempotency,
) -> Result<Option<Opened>, Error> {
    let Some(key) = &idempotency.key else {
        return Ok(None);
    };
    let mut conn = service.db.conn().await?;
    let earlier: Option<EarlierCheckout> = checkouts::table
        .filter(checkouts::fan_id.eq(fan_id))
        .filter(checkouts::idempotency_key.eq(key))
        .select((
            checkouts::id,
            checkouts::request_digest,
            checkouts::provider_session_id,
            checkouts::url,
            checkouts::expires_at,
        ))
        .first(&mut conn)
        .await
        .optional()?;
    let Some((id, digest, session, url, expires_at)) = earlier else {
        return Ok(None);
    };
    if digest.as_deref() != Some(idempotency.digest.as_slice()) {
        return Err(Error::from(PaymentsError::IdempotencyKeyReused));
    }
    match (session, url, expires_at) {
        (Some(provider_id), Some(url), Some(expires_at)) => Ok(Some((
            id,
            CheckoutSession {
                provider_id,
                url,
                expires_at,
            },
        ))),
        _ => Err(Error::from(PaymentsError::CheckoutInProgress)),
    }
}

/// Where the provider sends the fan back to.
#[derive(Clone, Debug)]
pub struct ReturnUrls {
    /// After paying.
    pub success: String,
    /// After abandoning.
    pub cancel: String,
}

fn not_payable() -> Error {
    Error::from(PaymentsError::CreatorNotPayable)
}

async fn payable_account(
    conn: &mut AsyncPgConnection,
    creator_id: CreatorId,
) -> Result<PayoutAccount, Error> {
    match catalogue::payout_account(conn, creator_id).await? {
        Some(account) if account.charges_enabled => Ok(account),
        _ => Err(not_payable()),
    }
}

fn check_urls(service: &Service, urls: &ReturnUrls) -> Result<(), Error> {
    service.return_origins.check(&urls.success, "success_url")?;
    service.return_origins.check(&urls.cancel, "cancel_url")
}

struct Intent {
    kind: Kind,
    fan_id: UserId,
    creator_id: CreatorId,
    tier_id: Option<TierId>,
    ppv_item_id: Option<PpvItemId>,
    amount: i64,
    currency: String,
    message: Option<String>,
    mode: CheckoutMode,
    account: String,
}

/// Our checkout id and the provider's page.
pub type Opened = (CheckoutId, CheckoutSession);

async fn open(
    service: &Service,
    intent: Intent,
    urls: &ReturnUrls,
    idempotency: &Idempotency,
) -> Result<Opened, Error> {
    let id = CheckoutId::new();
    let mut conn = service.db.conn().await?;
    let inserted = diesel::insert_into(checkouts::table)
        .values((
            checkouts::id.eq(id),
            checkouts::kind.eq(intent.kind.as_str()),
            checkouts::fan_id.eq(intent.fan_id),
            checkouts::creator_id.eq(intent.creator_id),
            checkouts::tier_id.eq(intent.tier_id),
            checkouts::ppv_item_id.eq(intent.ppv_item_id),
            checkouts::amount_minor.eq(intent.amount),
            checkouts::currency.eq(&intent.currency),
            checkouts::message.eq(&intent.message),
            checkouts::idempotency_key.eq(&idempotency.key),
            checkouts::request_digest.eq(&idempotency.digest),
        ))
        .execute(&mut conn)
        .await;
    if let Err(diesel::result::Error::DatabaseError(
        diesel::result::DatabaseErrorKind::UniqueViolation,
        _,
    )) = inserted
    {
        // A concurrent request with the same key won the race.
        drop(conn);
        return replay(service, intent.fan_id, idempotency)
            .await?
            .ok_or_else(|| Error::internal(anyhow::anyhow!("idempotent checkout vanished")));
    }
    inserted?;
    let mut metadata = BTreeMap::new();
    metadata.insert("df_checkout_id".to_owned(), id.to_string());
    metadata.insert("kind".to_owned(), intent.kind.as_str().to_owned());
    metadata.insert("fan_id".to_owned(), intent.fan_id.to_string());
    metadata.insert("creator_id".to_owned(), intent.creator_id.to_string());
    if let Some(tier) = intent.tier_id {
        metadata.insert("tier_id".to_owned(), tier.to_string());
    }
    if let Some(item) = intent.ppv_item_id {
        metadata.insert("ppv_item_id".to_owned(), item.to_string());
    }
    if let Some(message) = &intent.message {
        metadata.insert("message".to_owned(), message.clone());
    }
    let request = CheckoutRequest {
        checkout_id: id,
        mode: intent.mode,
        currency: intent.currency,
        destination_account: intent.account,
        success_url: urls.success.clone(),
        cancel_url: urls.cancel.clone(),
        metadata,
    };
    // No connection is held across the provider call.
    drop(conn);
    let session = service.provider.create_checkout(&request).await?;
    let mut conn = service.db.conn().await?;
    diesel::update(checkouts::table.find(id))
        .set((
            checkouts::provider_session_id.eq(Some(&session.provider_id)),
            checkouts::url.eq(Some(&session.url)),
            checkouts::expires_at.eq(Some(session.expires_at)),
        ))
        .execute(&mut conn)
        .await?;
    Ok((id, session))
}

/// A fan subscribes to a tier.
pub async fn subscribe(
    service: &Service,
    fan_id: UserId,
    tier_id: TierId,
    urls: &ReturnUrls,
    idempotency_key: &str,
) -> Result<Opened, Error> {
    check_urls(service, urls)?;
    let idempotency = Idempotency::new(
        idempotency_key,
        &[
            "subscription",
            &tier_id.to_string(),
            &urls.success,
            &urls.cancel,
        ],
    )?;
    if let Some(opened) = replay(service, fan_id, &idempotency).await? {
        return Ok(opened);
    }
    let mut conn = service.db.conn().await?;
    let tier = catalogue::tier(&mut conn, tier_id)
        .await?
        .filter(|t| t.archived_at.is_none())
        .ok_or_else(catalogue::tier_not_found)?;
    if tier.creator_id == fan_id {
        return Err(Error::from(PaymentsError::OwnTier));
    }
    let live: i64 = subscriptions::table
        .filter(subscriptions::fan_id.eq(fan_id))
        .filter(subscriptions::creator_id.eq(tier.creator_id))
        .filter(subscriptions::status.eq_any(subs::LIVE_STATUSES))
        .filter(subscriptions::cancel_at_period_end.eq(false))
        .count()
        .get_result(&mut conn)
        .await?;
    if live > 0 {
        return Err(Error::from(PaymentsError::AlreadySubscribed));
    }
    if let Some(cap) = tier.subscriber_cap
        && catalogue::subscriber_count(&mut conn, tier.id).await? >= i64::from(cap)
    {
        {
            return Err(Error::from(PaymentsError::TierFull));
        }
    }
    let account = payable_account(&mut conn, tier.creator_id).await?;
    drop(conn);
    let fee_percent = f64::from(service.policy.platform_fee_bps) / 100.0;
    let intent = Intent {
        kind: Kind::Subscription,
        fan_id,
        creator_id: tier.creator_id,
        tier_id: Some(tier.id),
        ppv_item_id: None,
        amount: tier.price_minor,
        currency: tier.currency.clone(),
        message: None,
        mode: CheckoutMode::Subscription {
            tier_name: tier.name.clone(),
            unit_amount: tier.price_minor,
            trial_days: u32::try_from(tier.trial_days).unwrap_or(0),
            promo_percent_off: tier.promotion_at(service.clock.now()),
            application_fee_percent: fee_percent,
        },
        account: account.provider_account_id,
    };
    open(service, intent, urls, &idempotency).await
}

/// A fan tips a creator.
#[allow(clippy::too_many_arguments)]
pub async fn tip(
    service: &Service,
    fan_id: UserId,
    creator_id: CreatorId,
    amount: i64,
    currency: &str,
    message: &str,
    urls: &ReturnUrls,
    idempotency_key: &str,
) -> Result<Opened, Error> {
    check_urls(service, urls)?;
    let idempotency = Idempotency::new(
        idempotency_key,
        &[
            "tip",
            &creator_id.to_string(),
            &amount.to_string(),
            currency,
            message,
            &urls.success,
            &urls.cancel,
        ],
    )?;
    if let Some(opened) = replay(service, fan_id, &idempotency).await? {
        return Ok(opened);
    }
    if fan_id == creator_id {
        return Err(Error::from(PaymentsError::OwnTip));
    }
    let amount = money::amount(amount, 100)?;
    let currency = money::currency(currency)?;
    let message = message.trim();
    if message.chars().count() > MAX_TIP_MESSAGE {
        return Err(PaymentsError::TipMessageTooLong.with_message(format!(
            "A tip message may have at most {MAX_TIP_MESSAGE} characters."
        )));
    }
    let mut conn = service.db.conn().await?;
    let account = payable_account(&mut conn, creator_id).await?;
    drop(conn);
    let split = FeeSplit::of(amount, service.policy.platform_fee_bps);
    let intent = Intent {
        kind: Kind::Tip,
        fan_id,
        creator_id,
        tier_id: None,
        ppv_item_id: None,
        amount,
        currency,
        message: (!message.is_empty()).then(|| message.to_owned()),
        mode: CheckoutMode::Payment {
            description: "Tip".into(),
            amount,
            application_fee_amount: split.platform_fee,
        },
        account: account.provider_account_id,
    };
    open(service, intent, urls, &idempotency).await
}

/// A fan buys a PPV item.
pub async fn buy_ppv(
    service: &Service,
    fan_id: UserId,
    item_id: PpvItemId,
    urls: &ReturnUrls,
    idempotency_key: &str,
) -> Result<Opened, Error> {
    check_urls(service, urls)?;
    let idempotency = Idempotency::new(
        idempotency_key,
        &["ppv", &item_id.to_string(), &urls.success, &urls.cancel],
    )?;
    if let Some(opened) = replay(service, fan_id, &idempotency).await? {
        return Ok(opened);
    }
    let mut conn = service.db.conn().await?;
    let item = catalogue::ppv_item(&mut conn, item_id)
        .await?
        .ok_or_else(|| Error::from(PaymentsError::PpvNotFound))?;
    if item.creator_id == fan_id {
        return Err(Error::from(PaymentsError::OwnItem));
    }
    let question = crate::entitlements::Question {
        fan_id,
        creator_id: item.creator_id,
        ppv_item_id: Some(item.id),
        min_tier_id: None,
    };
    let policy = service.entitlements.policy();
    if crate::entitlements::from_database(&mut conn, &question, policy)
        .await?
        .allows(service.clock.now())
    {
        return Err(Error::from(PaymentsError::AlreadyBought));
    }
    let account = payable_account(&mut conn, item.creator_id).await?;
    drop(conn);
    let split = FeeSplit::of(item.price_minor, service.policy.platform_fee_bps);
    let intent = Intent {
        kind: Kind::Ppv,
        fan_id,
        creator_id: item.creator_id,
        tier_id: None,
        ppv_item_id: Some(item.id),
        amount: item.price_minor,
        currency: item.currency.clone(),
        message: None,
        mode: CheckoutMode::Payment {
            description: if item.title.is_empty() {
                "Pay-per-view post".into()
            } else {
                item.title.clone()
            },
            amount: item.price_minor,
            application_fee_amount: split.platform_fee,
        },
        account: account.provider_account_id,
    };
    open(service, intent, urls, &idempotency).await
}

/// A fan cancels: access lasts until the paid period ends.
pub async fn cancel(
    service: &Service,
    fan_id: UserId,
    subscription_id: SubscriptionId,
) -> Result<subs::SubscriptionRow, Error> {
    let mut conn = service.db.conn().await?;
    let row = subs::by_id(&mut conn, subscription_id)
        .await?
        .filter(|s| s.fan_id == fan_id)
        .ok_or_else(|| Error::from(PaymentsError::SubscriptionNotFound))?;
    if !subs::LIVE_STATUSES.contains(&row.status) {
        return Err(Error::from(PaymentsError::SubscriptionNotActive));
    }
    if !row.cancel_at_period_end {
        drop(conn);
        service
            .provider
            .cancel_at_period_end(&row.provider_subscription_id)
            .await?;
        conn = service.db.conn().await?;
        subs::mark_cancel_requested(&mut conn, row.id).await?;
    }
    subs::by_id(&mut conn, row.id)
        .await?
        .ok_or_else(Error::not_found)
}
