//! `GET /v1/creators/{creator_id}/entitlement`: may the signed-in fan see this creator's
//! subscriber content (or, with `ppv_item_id`, this PPV item)? The answer is always about the
//! caller: the fan asked about is the session's user, never a parameter.

use actix_web::{HttpResponse, web};
use df_common::ids::CreatorId;
use df_proto::payments::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::routes::openapi::{
    INVALID_PATH, INVALID_QUERY, InternalError, RateLimited, Timeout, Unauthenticated, Unavailable,
    named_schema, one_of, problems,
};
use crate::routes::wire::instant;
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Payments};

/// Query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntitlementQuery {
    /// Ask about this PPV item instead of subscriber content (a subscription does not unlock
    /// it).
    #[serde(default)]
    #[param(nullable = false)]
    ppv_item_id: Option<Uuid>,
}

/// Whether the caller may see the content asked about, now.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Entitlement, examples(json!({
    "allowed": true,
    "reason": "subscription",
    "until": "2026-12-20T09:15:00Z"
})))]
pub struct EntitlementView {
    pub allowed: bool,
    /// Why: a subscription, a PPV purchase, the creator's own content, or `none` without
    /// access.
    #[schema(value_type = EntitlementReason)]
    pub reason: String,
    /// Access ends then (RFC 3339, UTC); `null` when it does not end or when there is none.
    #[schema(required, format = DateTime)]
    pub until: Option<String>,
}

named_schema!(
    /// The grounds of an entitlement.
    EntitlementReason = one_of(&["subscription", "ppv", "owner", "none"], "Why access is granted.")
);

problems!(CheckEntitlementProblems {
    400 [INVALID_PATH, INVALID_QUERY] "",
});

/// Handler.
#[utoipa::path(
    get, path = "/v1/creators/{creator_id}/entitlement", operation_id = "checkEntitlement",
    tag = "subscriptions",
    summary = "May I see this creator's content?",
    description = "Whether the signed-in user may see this creator's subscriber content now or, \
                   with `ppv_item_id`, that PPV item (which a subscription does not unlock). The \
                   answer is always about the caller. After a payment, poll this until \
                   `allowed`.",
    params(("creator_id" = Uuid, Path, description = "The creator (their user id)."),
        EntitlementQuery),
    responses(
        (status = 200, body = EntitlementView, description = "The answer."),
        CheckEntitlementProblems, Unauthenticated, RateLimited, InternalError, Unavailable,
        Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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
                min_tier_id: String::new(),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(EntitlementView {
        allowed: answer.allowed,
        until: instant(answer.until.as_ref()),
        reason: answer.reason,
    }))
}
