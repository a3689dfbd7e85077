//! Entitlement answers come from Redis once cached, changes invalidate them at once, and with
//! Redis cut off the answer still comes, from Postgres.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_payments::webhook::signature;
use df_proto::payments::v1::{self as pb, IngestWebhookRequest};
use df_testkit::{TcpProxy, redis::server_addr};
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use crate::support::Payments;

async fn send(p: &Payments, event: serde_json::Value) {
    let body = event.to_string();
    let header = signature::sign(body.as_bytes(), &p.secret, chrono::Utc::now().timestamp());
    p.client()
        .ingest_webhook(p.as_service(IngestWebhookRequest {
            payload: body.into_bytes(),
            signature: header,
        }))
        .await
        .unwrap();
}

/// A `payment_intent.succeeded` event for `amount` cents with our `metadata`.
fn payment_succeeded(
    event_id: &str,
    intent_id: &str,
    amount: i64,
    metadata: serde_json::Value,
) -> serde_json::Value {
    json!({"id": event_id, "type": "payment_intent.succeeded", "object": "event",
        "created": chrono::Utc::now().timestamp(),
        "data": {"object": {"id": intent_id, "object": "payment_intent", "amount": amount,
            "amount_received": amount, "currency": "usd", "status": "succeeded",
            "metadata": metadata}}})
}

async fn allowed(p: &Payments, fan: Uuid, creator: Uuid, item: Uuid) -> bool {
    p.client()
        .check_entitlement(p.as_service(pb::CheckEntitlementRequest {
            fan_id: fan.to_string(),
            creator_id: creator.to_string(),
            ppv_item_id: item.to_string(),
        }))
        .await
        .unwrap()
        .into_inner()
        .allowed
}

/// A PPV item and a fan who bought it (through a signed provider event).
async fn purchase(p: &Payments) -> (Uuid, Uuid, Uuid) {
    let creator = Uuid::now_v7();
    let fan = Uuid::now_v7();
    let item = p
        .client()
        .create_ppv_item(p.as_user(
            creator,
            df_common::auth::Role::Creator,
            pb::PpvItemInput {
                post_id: Uuid::now_v7().to_string(),
                price: Some(pb::Money {
                    amount: 900,
                    currency: "usd".into(),
                }),
                title: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let item = Uuid::parse_str(&item.id).unwrap();
    assert!(!allowed(p, fan, creator, item).await);
    send(
        p,
        payment_succeeded(
            "evt_ppv_1",
            "pi_ppv_1",
            900,
            json!({"kind": "ppv", "fan_id": fan.to_string(), "creator_id": creator.to_string(),
                   "ppv_item_id": item.to_string()}),
        ),
    )
    .await;
    (fan, creator, item)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_cached_and_invalidated_by_the_events_that_change_them() {
    let p = Payments::start().await;
    let (fan, creator, item) = purchase(&p).await;
    // The purchase event invalidated the cached "no": the fan has access at once.
    assert!(allowed(&p, fan, creator, item).await);

    // Revoked behind the service's back, the cached answer still stands: it is served from
    // Redis, not recomputed.
    let mut conn = p.conn().await;
    diesel::sql_query("UPDATE ppv_purchases SET revoked_at = now()")
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(allowed(&p, fan, creator, item).await);

    // A tip from the same fan grants no access, so it leaves the cached answers in place.
    send(
        &p,
        payment_succeeded(
            "evt_tip_1",
            "pi_tip_1",
            500,
            json!({"kind": "tip", "fan_id": fan.to_string(), "creator_id": creator.to_string()}),
        ),
    )
    .await;
    assert!(
        allowed(&p, fan, creator, item).await,
        "a tip does not invalidate the fan's cached answers"
    );

    // A full refund arrives: the change invalidates the answer and access ends at once.
    send(
        &p,
        json!({"id": "evt_refund_1", "type": "charge.refunded", "object": "event",
            "created": chrono::Utc::now().timestamp(),
            "data": {"object": {"id": "ch_ppv_1", "object": "charge", "amount": 900,
                "amount_refunded": 900, "currency": "usd", "payment_intent": "pi_ppv_1",
                "metadata": {}}}}),
    )
    .await;
    assert!(!allowed(&p, fan, creator, item).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_answer_comes_from_postgres() {
    let proxy = TcpProxy::in_front_of(&server_addr()).await;
    let url = format!("redis://{}", proxy.addr());
    let p = Payments::start_with(move |config| {
        config.redis.url = url.into();
    })
    .await;
    let (fan, creator, item) = purchase(&p).await;
    assert!(allowed(&p, fan, creator, item).await);
    proxy.cut();
    assert!(allowed(&p, fan, creator, item).await);
    let stranger = Uuid::now_v7();
    assert!(!allowed(&p, stranger, creator, item).await);
}
