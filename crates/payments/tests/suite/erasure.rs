//! Erasure keeps the books and drops the personal data: after an erasure request arrives over
//! the bus, the fan's tip message is gone, the ledger is unchanged and still balances.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_payments::{ledger::integrity, webhook::signature};
use df_proto::{events::v1::UserErasureRequested, payments::v1::IngestWebhookRequest};
use diesel::{QueryableByName, sql_types};
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use crate::support::Payments;

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = sql_types::Nullable<sql_types::Text>)]
    message: Option<String>,
    #[diesel(sql_type = sql_types::BigInt)]
    entries: i64,
}

async fn state(conn: &mut df_runtime::db::PooledConn) -> Row {
    diesel::sql_query(
        "SELECT (SELECT message FROM payments LIMIT 1) AS message,
                (SELECT count(*) FROM ledger_entries) AS entries",
    )
    .get_result(conn)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_removes_personal_data_and_keeps_the_books() {
    let p = Payments::start().await;
    let (fan, creator) = (Uuid::now_v7(), Uuid::now_v7());
    let event = json!({"id": "evt_erasure_1", "type": "payment_intent.succeeded",
        "created": chrono::Utc::now().timestamp(), "object": "event",
        "data": {"object": {"id": "pi_erasure_1", "object": "payment_intent", "amount": 1_500,
            "amount_received": 1_500, "currency": "usd", "status": "succeeded",
            "metadata": {"kind": "tip", "fan_id": fan.to_string(),
                         "creator_id": creator.to_string(), "message": "love, Alice"}}}})
    .to_string();
    let header = signature::sign(event.as_bytes(), &p.secret, chrono::Utc::now().timestamp());
    p.client()
        .ingest_webhook(p.as_service(IngestWebhookRequest {
            payload: event.into_bytes(),
            signature: header,
        }))
        .await
        .unwrap();
    let mut conn = p.conn().await;
    let before = state(&mut conn).await;
    assert_eq!(before.message.as_deref(), Some("love, Alice"));

    // Privacy's request over the real broker, once payments' queue is bound (before that the
    // exchange would have nowhere to route it).
    p.bus
        .consumed(df_payments::SERVICE, df_runtime::erasure::CONSUMER)
        .await;
    p.bus
        .publish_event(
            "privacy",
            &UserErasureRequested {
                user_id: fan.to_string(),
                request_id: Uuid::now_v7().to_string(),
                requested_at: None,
            },
        )
        .await;

    let after = df_testkit::eventually_some("the erasure is applied", async || {
        Some(state(&mut conn).await).filter(|now| now.message.is_none())
    })
    .await;
    assert_eq!(
        after.entries, before.entries,
        "erasure must not touch the ledger"
    );
    assert!(integrity::check(&mut conn).await.unwrap().is_empty());
}
