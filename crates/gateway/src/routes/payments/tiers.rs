//! Subscription tiers: `POST /v1/creator/tiers`, `PATCH` and `DELETE /v1/creator/tiers/{id}`
//! for the signed-in creator, and `GET /v1/creators/{creator_id}/tiers` for anyone signed in.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use df_common::ids::CreatorId;
use df_proto::payments::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::routes::openapi::{
    ForbiddenOrCsrf, INVALID_PATH, InternalError, JSON_BODY, PayloadTooLarge, RateLimited, Timeout,
    Unauthenticated, Unavailable, problems,
};
use crate::routes::wire::{Money, Page, instant, money, page_schema, timestamp};
use crate::security::Json;
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Payments};

/// A promotional discount of the first billing period for new subscribers, valid until
/// `ends_at`; `null` for none.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Promotion)]
pub struct PromotionBody {
    /// Discount in percent.
    #[schema(minimum = 1, maximum = 100)]
    percent_off: u32,
    /// When the promotion ends (RFC 3339); must be in the future when set.
    ends_at: DateTime<Utc>,
}

/// Every setting of a tier. An update replaces all of them: send the whole tier; optional
/// fields left out return to their defaults.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TierRequest)]
pub struct TierBody {
    /// Shown to fans and on the payment page. Payments limits its length
    /// (`payments.invalid_tier_name`).
    #[schema(min_length = 1)]
    name: String,
    /// Monthly price.
    price: Money,
    /// What subscribers get. Payments limits its length (`payments.invalid_description`).
    #[serde(default)]
    #[schema(default = "")]
    description: String,
    /// Most subscribers at once; `null` or absent for no cap.
    #[serde(default)]
    #[schema(minimum = 1)]
    subscriber_cap: Option<u32>,
    /// Free days before the first charge.
    #[serde(default)]
    #[schema(maximum = 90, default = 0)]
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

/// The example of a tier's settings, for both routes that take them.
fn tier_example() -> serde_json::Value {
    serde_json::json!({
        "name": "Gold",
        "price": {"amount_minor": 999, "currency": "usd"},
        "description": "Every post, every week, and a monthly live stream.",
        "subscriber_cap": 500,
        "trial_days": 7,
        "promotion": {"percent_off": 20, "ends_at": "2026-12-31T23:59:59Z"}
    })
}

/// A running promotion.
#[derive(Debug, Serialize)]
pub struct PromotionView {
    /// Discount of the first period, in percent.
    pub percent_off: u32,
    /// When it ends (RFC 3339).
    pub ends_at: String,
}

/// A subscription tier.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Tier, examples(json!({
    "id": "0193a5d0-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
    "creator_id": "0193a5b8-2f4c-7d1e-8a6b-5c3d2e1f0a9b",
    "name": "Gold",
    "description": "Every post, every week, and a monthly live stream.",
    "price": {"amount_minor": 999, "currency": "usd"},
    "subscriber_cap": 500,
    "trial_days": 7,
    "promotion": {"percent_off": 20, "ends_at": "2026-12-31T23:59:59Z"},
    "archived": false,
    "subscriber_count": 42
})))]
pub struct TierView {
    /// Id.
    #[schema(format = Uuid)]
    pub id: String,
    /// The creator.
    #[schema(format = Uuid)]
    pub creator_id: String,
    pub name: String,
    pub description: String,
    /// Monthly price. A change applies to new subscriptions.
    pub price: Money,
    /// Most subscribers at once; `null`: no cap.
    #[schema(required)]
    pub subscriber_cap: Option<u32>,
    /// Free days before the first charge.
    pub trial_days: u32,
    #[schema(required, value_type = Option<PromotionBody>)]
    pub promotion: Option<PromotionView>,
    /// Archived tiers take no new subscribers; current ones keep the tier until they cancel.
    pub archived: bool,
    /// Current subscribers.
    pub subscriber_count: u32,
}

page_schema!(TierList = Page<TierView>, "A creator's active tiers.");

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

/// Why a tier's settings are refused, on creation and on update alike.
const TIER_INPUT_REFUSALS: &str = "`payments.invalid_tier_name`: the name is empty or too long; \
     `payments.invalid_description`: the description is too long; \
     `payments.invalid_amount`: the price is not positive or too large; \
     `payments.unsupported_currency`: the currency is not supported; \
     `payments.invalid_trial`: more than 90 trial days; `payments.invalid_cap`: the \
     subscriber cap is too large; `payments.invalid_promotion`: a promotion needs 1 to 100 \
     percent and an end in the future.";

problems!(CreateTierProblems {
    400 [
        JSON_BODY, "payments.invalid_tier_name", "payments.invalid_description",
        "payments.invalid_amount", "payments.unsupported_currency", "payments.invalid_trial",
        "payments.invalid_cap", "payments.invalid_promotion",
    ]
        TIER_INPUT_REFUSALS,
});

/// Creates a tier of the signed-in creator.
#[utoipa::path(
    post, path = "/v1/creator/tiers", operation_id = "createTier", tag = "creator",
    summary = "Create a tier",
    description = "Creates a subscription tier of the signed-in creator. Creators only.",
    request_body(content = TierBody, example = tier_example),
    responses(
        (status = 201, body = TierView, description = "The tier."),
        CreateTierProblems, Unauthenticated, ForbiddenOrCsrf, PayloadTooLarge, RateLimited,
        InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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

problems!(UpdateTierProblems {
    400 [
        JSON_BODY, INVALID_PATH, "payments.invalid_tier_name", "payments.invalid_description",
        "payments.invalid_amount", "payments.unsupported_currency", "payments.invalid_trial",
        "payments.invalid_cap", "payments.invalid_promotion",
    ]
        TIER_INPUT_REFUSALS,
    404 ["payments.tier_not_found"]
        "No such tier of the caller's, or it is archived.",
});

/// Replaces a tier's settings; price changes apply to new subscriptions.
#[utoipa::path(
    patch, path = "/v1/creator/tiers/{id}", operation_id = "updateTier", tag = "creator",
    summary = "Change a tier",
    description = "Replaces every setting of one of the signed-in creator's active tiers with \
                   the body (payments has no partial update: send the whole tier). A new price \
                   applies to new subscriptions; current subscribers keep theirs. Creators \
                   only.",
    params(("id" = Uuid, Path, description = "The tier.")),
    request_body(content = TierBody, example = tier_example),
    responses(
        (status = 200, body = TierView, description = "The tier as changed."),
        UpdateTierProblems, Unauthenticated, ForbiddenOrCsrf, PayloadTooLarge, RateLimited,
        InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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

problems!(ArchiveTierProblems {
    400 [INVALID_PATH] "",
    404 ["payments.tier_not_found"]
        "No such tier of the caller's, or it is archived.",
});

/// Archives a tier: it takes no new subscribers, and current ones keep it until they cancel.
#[utoipa::path(
    delete, path = "/v1/creator/tiers/{id}", operation_id = "archiveTier", tag = "creator",
    summary = "Archive a tier",
    description = "Archives one of the signed-in creator's tiers: it takes no new subscribers, \
                   and current subscribers keep it until they cancel. Creators only.",
    params(("id" = Uuid, Path, description = "The tier.")),
    responses(
        (status = 200, body = TierView, description = "The archived tier."),
        ArchiveTierProblems, Unauthenticated, ForbiddenOrCsrf, RateLimited, InternalError,
        Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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

problems!(ListTiersProblems {
    400 [INVALID_PATH] "",
});

/// A creator's active tiers.
#[utoipa::path(
    get, path = "/v1/creators/{creator_id}/tiers", operation_id = "listTiers",
    tag = "subscriptions",
    summary = "A creator's tiers",
    description = "The active tiers of a creator, for anyone signed in.",
    params(("creator_id" = Uuid, Path, description = "The creator (their user id).")),
    responses(
        (status = 200, body = TierList,
            description = "The tiers (an empty list for an unknown creator)."),
        ListTiersProblems, Unauthenticated, RateLimited, InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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
