//! `POST /v1/tips`: a fan opens a checkout to tip a creator.

use actix_web::{HttpResponse, web};
use df_common::ids::CreatorId;
use df_proto::payments::v1 as pb;
use serde::Deserialize;

use super::{IdempotencyKey, Money, checkout_created};
use crate::security::Json;
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Payments};

/// Request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TipBody {
    creator_id: CreatorId,
    amount: Money,
    /// Shown to the creator; `null` or absent for none.
    #[serde(default)]
    message: Option<String>,
    success_url: String,
    cancel_url: String,
}

/// Handler.
pub async fn tip(
    caller: Authenticated,
    payments: web::Data<Payments>,
    idempotency: IdempotencyKey,
    body: Json<TipBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let checkout = payments
        .tip(
            (&caller).into(),
            pb::TipRequest {
                creator_id: body.creator_id.to_string(),
                amount: Some(body.amount.into()),
                message: body.message.unwrap_or_default(),
                success_url: body.success_url,
                cancel_url: body.cancel_url,
                idempotency_key: idempotency.0,
            },
        )
        .await?;
    Ok(checkout_created(checkout))
}
