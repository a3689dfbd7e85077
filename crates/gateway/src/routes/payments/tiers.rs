//! Subscription tiers: `POST /v1/creator/tiers`, `PATCH` and `DELETE /v1/creator/tiers/{id}`
//! for the signed-in creator, and `GET /v1/creators/{creator_id}/tiers` for anyone signed in.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use df_common::ids::CreatorId;
use df_proto::payments::v1 as pb;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Money, Page, instant, money, timestamp};
use crate::security::Json;
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Payments};

/// A promotional discount of the first period, valid until `ends_at`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotionBody {
    percent_off: u32,
    ends_at: DateTime<Utc>,
}

/// Request body of `create` and `update`: every setting of a tier. An update replaces them
/// all (payments has no partial update), so send the whole tier.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierBody {
    name: String,
    price: Money,
    #[serde(default)]
    description: String,
    /// `null` or absent: no cap.
    #[serde(default)]
    subscriber_cap: Option<u32>,
    #[serde(default)]
    trial_days: u32,
    #[serde(default)]
    promotion: Option<PromotionBody>,
}

impl From<TierBody> for pb::TierInput {
    fn from(body: TierBody) -> Self {
        let (promo_percent_off, promo_ends_at) = match body.promotion {
            Some(promotion) => (promotion.percent_off, Some(timestamp(promotion.ends_at))),
            None => (0, None),
        };
        Self {
            name: body.name,
            price: Some(body.price.into()),
            subscriber_cap: body.subscriber_cap.unwrap_or(0),
            trial_days: body.trial_days,
            promo_percent_off,
            promo_ends_at,
            description: body.description,
        }
    }
}

/// A running promotion.
#[derive(Debug, Serialize)]
pub struct PromotionView {
    /// Discount of the first period, in percent.
    pub percent_off: u32,
    /// When it ends (RFC 3339).
    pub ends_at: String,
}

/// A tier as clients see it.
#[derive(Debug, Serialize)]
pub struct TierView {
    /// Id.
    pub id: String,
    /// The creator.
    pub creator_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Monthly price.
    pub price: Money,
    /// Most subscribers at once; `null`: no cap.
    pub subscriber_cap: Option<u32>,
    /// Free days before the first charge.
    pub trial_days: u32,
    /// A promotion, if one is set.
    pub promotion: Option<PromotionView>,
    /// Archived tiers take no new subscribers.
    pub archived: bool,
    /// Current subscribers.
    pub subscriber_count: u32,
}

impl From<pb::Tier> for TierView {
    fn from(tier: pb::Tier) -> Self {
        let promotion = match (tier.promo_percent_off, instant(tier.promo_ends_at.as_ref())) {
            (percent_off @ 1.., Some(ends_at)) => Some(PromotionView {
                percent_off,
                ends_at,
            }),
            _ => None,
        };
        Self {
            price: money(tier.price),
            subscriber_cap: (tier.subscriber_cap > 0).then_some(tier.subscriber_cap),
            promotion,
            id: tier.id,
            creator_id: tier.creator_id,
            name: tier.name,
            description: tier.description,
            trial_days: tier.trial_days,
            archived: tier.archived,
            subscriber_count: tier.subscriber_count,
        }
    }
}

/// Creates a tier of the signed-in creator.
pub async fn create(
    caller: Authenticated,
    payments: web::Data<Payments>,
    body: Json<TierBody>,
) -> Result<HttpResponse, ApiError> {
    let tier = payments
        .create_tier((&caller).into(), body.into_inner().into())
        .await?;
    Ok(HttpResponse::Created().json(TierView::from(tier)))
}

/// Replaces a tier's settings; price changes apply to new subscriptions.
pub async fn update(
    caller: Authenticated,
    payments: web::Data<Payments>,
    id: web::Path<Uuid>,
    body: Json<TierBody>,
) -> Result<HttpResponse, ApiError> {
    let tier = payments
        .update_tier(
            (&caller).into(),
            pb::UpdateTierRequest {
                tier_id: id.into_inner().to_string(),
                tier: Some(body.into_inner().into()),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(TierView::from(tier)))
}

/// Archives a tier: it takes no new subscribers, and current ones keep it until they cancel.
pub async fn archive(
    caller: Authenticated,
    payments: web::Data<Payments>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let tier = payments
        .archive_tier(
            (&caller).into(),
            pb::ArchiveTierRequest {
                tier_id: id.into_inner().to_string(),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(TierView::from(tier)))
}

/// A creator's active tiers.
pub async fn list(
    caller: Authenticated,
    payments: web::Data<Payments>,
    creator_id: web::Path<CreatorId>,
) -> Result<HttpResponse, ApiError> {
    let answer = payments
        .list_tiers(
            (&caller).into(),
            pb::ListTiersRequest {
                creator_id: creator_id.into_inner().to_string(),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(Page::whole(answer.tiers.into_iter().map(TierView::from))))
}
