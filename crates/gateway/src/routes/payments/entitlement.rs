//! `GET /v1/creators/{creator_id}/entitlement`: may the signed-in fan see this creator's
//! subscriber content (or, with `ppv_item_id`, this PPV item)? The answer is always about the
//! caller: the fan asked about is the session's user, never a parameter.

use actix_web::{HttpResponse, web};
use df_common::ids::CreatorId;
use df_proto::payments::v1 as pb;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::instant;
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Payments};

/// Query.
#[derive(Debug, Deserialize)]
pub struct EntitlementQuery {
    /// Ask about this PPV item instead of subscriber content (a subscription does not unlock
    /// it).
    #[serde(default)]
    ppv_item_id: Option<Uuid>,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct EntitlementView {
    /// Access now.
    pub allowed: bool,
    /// `subscription`, `ppv`, `owner` or `none`.
    pub reason: String,
    /// Access ends then (RFC 3339); `null` when it does not end or there is none.
    pub until: Option<String>,
}

/// Handler.
pub async fn check(
    caller: Authenticated,
    payments: web::Data<Payments>,
    creator_id: web::Path<CreatorId>,
    query: web::Query<EntitlementQuery>,
) -> Result<HttpResponse, ApiError> {
    let answer = payments
        .check_entitlement(
            (&caller).into(),
            pb::CheckEntitlementRequest {
                fan_id: caller.user_id.to_string(),
                creator_id: creator_id.into_inner().to_string(),
                ppv_item_id: query
                    .into_inner()
                    .ppv_item_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(EntitlementView {
        allowed: answer.allowed,
        until: instant(answer.until.as_ref()),
        reason: answer.reason,
    }))
}
