//! Concurrent tips and PPV purchases are written in batches. Whatever the batching: each event
//! is applied once, duplicates in the same batch change nothing, and an event that cannot be
//! written fails alone while the others of its batch are applied.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_payments::{ledger::integrity, webhook::signature};
use df_proto::payments::v1::IngestWebhookRequest;
use diesel_async::RunQueryDsl;
use futures::StreamExt;
use serde_json::json;
use uuid::Uuid;

use crate::support::Payments;

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn count(p: &Payments, sql: &str) -> i64 {
    let mut conn = p.conn().await;
    diesel::sql_query(sql)
        .get_result::<Count>(&mut conn)
        .await
        .unwrap()
        .n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_event_fails_alone_and_duplicates_in_a_batch_apply_once() {
    let p = Payments::start().await;
    let creators: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    let now = chrono::Utc::now().timestamp();
    let tip = |n: usize| {
        json!({"id": format!("evt_batch_{n}"), "type": "payment_intent.succeeded",
               "object": "event", "created": now,
               "data": {"object": {"id": format!("pi_batch_{n}"), "object": "payment_intent",
                   "amount": 1_000 + n as i64, "amount_received": 1_000 + n as i64,
                   "currency": "usd", "status": "succeeded",
                   "metadata": {"kind": "tip", "fan_id": Uuid::now_v7().to_string(),
                                "creator_id": creators[n % creators.len()].to_string()}}}})
        .to_string()
    };
    // A PPV purchase of an item payments never sold: its booking violates a foreign key.
    let bad = json!({"id": "evt_batch_bad", "type": "payment_intent.succeeded",
        "object": "event", "created": now,
        "data": {"object": {"id": "pi_batch_bad", "object": "payment_intent",
            "amount": 700, "amount_received": 700, "currency": "usd", "status": "succeeded",
            "metadata": {"kind": "ppv", "fan_id": Uuid::now_v7().to_string(),
                         "creator_id": creators[0].to_string(),
                         "ppv_item_id": Uuid::now_v7().to_string()}}}})
    .to_string();
    const TIPS: usize = 60;
    // Every tip twice, the bad one in the middle, all at once.
    let mut deliveries: Vec<String> = (0..TIPS).chain(0..TIPS).map(tip).collect();
    deliveries.insert(TIPS, bad.clone());

    let client = p.client();
    let results: Vec<(String, bool)> =
        futures::stream::iter(deliveries.into_iter().map(|payload| {
            let mut client = client.clone();
            let header = signature::sign(
                payload.as_bytes(),
                &p.secret,
                chrono::Utc::now().timestamp(),
            );
            let request = p.as_service(IngestWebhookRequest {
                payload: payload.clone().into_bytes(),
                signature: header,
            });
            async move {
                let ok = client.ingest_webhook(request).await.is_ok();
                (payload, ok)
            }
        }))
        .buffer_unordered(64)
        .collect()
        .await;

    for (payload, ok) in &results {
        assert_eq!(*ok, *payload != bad, "{payload}");
    }
    let recorded = count(&p, "SELECT count(*)::bigint AS n FROM webhook_events").await;
    assert_eq!(
        recorded, TIPS as i64,
        "each tip recorded once, the bad event not at all"
    );
    let booked = count(
        &p,
        "SELECT count(*)::bigint AS n FROM ledger_transactions WHERE kind = 'payment'",
    )
    .await;
    assert_eq!(booked, TIPS as i64);
    let gross = count(
        &p,
        "SELECT coalesce(sum(gross_minor), 0)::bigint AS n FROM payments",
    )
    .await;
    assert_eq!(gross, (0..TIPS as i64).map(|n| 1_000 + n).sum::<i64>());
    let bad_payments = count(
        &p,
        "SELECT count(*)::bigint AS n FROM payments WHERE provider_payment_id = 'pi_batch_bad'",
    )
    .await;
    assert_eq!(bad_payments, 0);
    let mut conn = p.conn().await;
    assert!(integrity::check(&mut conn).await.unwrap().is_empty());

    // The provider redelivers the bad event: still refused, still nothing recorded.
    let mut client = p.client();
    let header = signature::sign(bad.as_bytes(), &p.secret, chrono::Utc::now().timestamp());
    let again = client
        .ingest_webhook(p.as_service(IngestWebhookRequest {
            payload: bad.into_bytes(),
            signature: header,
        }))
        .await;
    assert!(again.is_err());
    assert_eq!(
        count(&p, "SELECT count(*)::bigint AS n FROM webhook_events").await,
        TIPS as i64
    );
}
