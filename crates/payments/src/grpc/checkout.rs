//! What fans do: subscribe, tip, buy, cancel, list, and the entitlement check.

use df_common::{grpc::principal, wire};
use df_proto::payments::v1 as pb;
use tonic::{Request, Response};

use super::{PaymentsService, Reply, access, convert};
use crate::{
    checkout,
    entitlements::{self, Question},
    subscriptions,
};

pub async fn subscribe(
    face: &PaymentsService,
    request: Request<pb::SubscribeRequest>,
) -> Reply<pb::Checkout> {
    let fan_id = access::user(&principal(&request)?)?;
    let r = request.into_inner();
    let tier_id = wire::id("tier_id", &r.tier_id)?;
    let urls = convert::urls(r.success_url, r.cancel_url);
    let opened =
        checkout::subscribe(&face.service, fan_id, tier_id, &urls, &r.idempotency_key).await?;
    Ok(Response::new(convert::checkout(opened)))
}

pub async fn tip(face: &PaymentsService, request: Request<pb::TipRequest>) -> Reply<pb::Checkout> {
    let fan_id = access::user(&principal(&request)?)?;
    let r = request.into_inner();
    let creator_id = wire::id("creator_id", &r.creator_id)?;
    let amount = r.amount.unwrap_or_default();
    let opened = checkout::tip(
        &face.service,
        fan_id,
        creator_id,
        amount.amount,
        &amount.currency,
        &r.message,
        &convert::urls(r.success_url, r.cancel_url),
        &r.idempotency_key,
    )
    .await?;
    Ok(Response::new(convert::checkout(opened)))
}

pub async fn buy_ppv(
    face: &PaymentsService,
    request: Request<pb::BuyPpvRequest>,
) -> Reply<pb::Checkout> {
    let fan_id = access::user(&principal(&request)?)?;
    let r = request.into_inner();
    let item = wire::id("ppv_item_id", &r.ppv_item_id)?;
    let urls = convert::urls(r.success_url, r.cancel_url);
    let opened = checkout::buy_ppv(&face.service, fan_id, item, &urls, &r.idempotency_key).await?;
    Ok(Response::new(convert::checkout(opened)))
}

pub async fn cancel_subscription(
    face: &PaymentsService,
    request: Request<pb::CancelSubscriptionRequest>,
) -> Reply<pb::Subscription> {
    let fan_id = access::user(&principal(&request)?)?;
    let id = wire::id("subscription_id", &request.get_ref().subscription_id)?;
    let row = checkout::cancel(&face.service, fan_id, id).await?;
    let policy = face.service.entitlements.policy();
    Ok(Response::new(convert::subscription(row, policy)))
}

pub async fn list_my_subscriptions(
    face: &PaymentsService,
    request: Request<pb::ListMySubscriptionsRequest>,
) -> Reply<pb::ListSubscriptionsResponse> {
    let fan_id = access::user(&principal(&request)?)?;
    let mut conn = face.service.db.conn().await?;
    let rows = subscriptions::of_fan(&mut conn, fan_id).await?;
    let policy = face.service.entitlements.policy();
    Ok(Response::new(pb::ListSubscriptionsResponse {
        subscriptions: rows
            .into_iter()
            .map(|row| convert::subscription(row, policy))
            .collect(),
    }))
}

pub async fn list_subscribed_creators(
    face: &PaymentsService,
    request: Request<pb::ListSubscribedCreatorsRequest>,
) -> Reply<pb::ListSubscribedCreatorsResponse> {
    access::content_service(&principal(&request)?)?;
    let fan_id = wire::id("fan_id", &request.get_ref().fan_id)?;
    let service = &face.service;
    let access = service
        .entitlements
        .subscriptions(&service.db, fan_id)
        .await?;
    let now = service.clock.now();
    let creators = entitlements::subscribed_at(&access, now);
    Ok(Response::new(pb::ListSubscribedCreatorsResponse {
        creator_ids: creators.iter().map(ToString::to_string).collect(),
        changes_at: entitlements::next_change(&access, now).map(wire::timestamp),
    }))
}

pub async fn check_entitlement(
    face: &PaymentsService,
    request: Request<pb::CheckEntitlementRequest>,
) -> Reply<pb::CheckEntitlementResponse> {
    let caller = principal(&request)?;
    let r = request.into_inner();
    let question = Question {
        fan_id: wire::id("fan_id", &r.fan_id)?,
        creator_id: wire::id("creator_id", &r.creator_id)?,
        ppv_item_id: wire::optional_id("ppv_item_id", &r.ppv_item_id)?,
        min_tier_id: wire::optional_id("min_tier_id", &r.min_tier_id)?,
    };
    access::entitlement_of(&caller, question.fan_id)?;
    let grant = face
        .service
        .entitlements
        .grant(&face.service.db, &question)
        .await?;
    let allowed = grant.allows(face.service.clock.now());
    Ok(Response::new(pb::CheckEntitlementResponse {
        allowed,
        reason: if allowed {
            grant.reason.as_str()
        } else {
            "none"
        }
        .into(),
        until: grant.until.filter(|_| allowed).and_then(convert::ts),
    }))
}
