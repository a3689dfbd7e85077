//! Pay-per-view: `POST /v1/creator/ppv-items` (a creator offers a post for a one-off price) and
//! `POST /v1/ppv-items/{id}/purchase` (a fan opens a checkout for it).

use actix_web::{HttpResponse, web};
use df_proto::payments::v1 as pb;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{IdempotencyKey, Money, checkout_created, money};
use crate::security::Json;
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Payments};

/// Request body of `create`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PpvItemBody {
    post_id: Uuid,
    price: Money,
    title: String,
}

/// A PPV item.
#[derive(Debug, Serialize)]
pub struct PpvItemView {
    /// Id.
    pub id: String,
    /// The creator.
    pub creator_id: String,
    /// The post it unlocks.
    pub post_id: String,
    /// Price.
    pub price: Money,
    /// Shown on the payment page.
    pub title: String,
}

impl From<pb::PpvItem> for PpvItemView {
    fn from(item: pb::PpvItem) -> Self {
        Self {
            price: money(item.price),
            id: item.id,
            creator_id: item.creator_id,
            post_id: item.post_id,
            title: item.title,
        }
    }
}

/// Offers one of the signed-in creator's posts for a one-off price.
pub async fn create(
    caller: Authenticated,
    payments: web::Data<Payments>,
    body: Json<PpvItemBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let item = payments
        .create_ppv_item(
            (&caller).into(),
            pb::PpvItemInput {
                post_id: body.post_id.to_string(),
                price: Some(body.price.into()),
                title: body.title,
            },
        )
        .await?;
    Ok(HttpResponse::Created().json(PpvItemView::from(item)))
}

/// Request body of `purchase`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseBody {
    success_url: String,
    cancel_url: String,
}

/// Opens a checkout for a PPV item.
pub async fn purchase(
    caller: Authenticated,
    payments: web::Data<Payments>,
    id: web::Path<Uuid>,
    idempotency: IdempotencyKey,
    body: Json<PurchaseBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let checkout = payments
        .buy_ppv(
            (&caller).into(),
            pb::BuyPpvRequest {
                ppv_item_id: id.into_inner().to_string(),
                success_url: body.success_url,
                cancel_url: body.cancel_url,
                idempotency_key: idempotency.0,
            },
        )
        .await?;
    Ok(checkout_created(checkout))
}
