//! Concurrent tips and PPV purchases are written in batches. Whatever the batching: each event
//! is applied once, duplicates in the same batch change nothing, and an event that cannot be
//! written fails alone while the others of its batch are applied.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use df_common::ids::{CreatorId, UserId};
use df_payments::ids::{PostId, PpvItemId};
use df_payments::{
    ledger::integrity,
    webhook::{seen::SeenEvents, signature},
};
use df_proto::payments::v1::IngestWebhookRequest;
use diesel_async::RunQueryDsl;
use futures::StreamExt;
use serde_json::json;
use uuid::Uuid;

use crate::support::Payments;

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
    // A redelivery is the same bytes as the first delivery.
    let tips: Vec<String> = (0..TIPS).map(tip).collect();
    let mut deliveries: Vec<String> = tips.iter().chain(&tips).cloned().collect();
    deliveries.insert(TIPS, bad.clone());

    let client = p.client();
    let results: Vec<(String, Option<String>)> =
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
                let outcome = client
                    .ingest_webhook(request)
                    .await
                    .ok()
                    .map(|r| r.into_inner().outcome);
                (payload, outcome)
            }
        }))
        .buffer_unordered(64)
        .collect()
        .await;

    // The bad event alone failed; of each tip's two deliveries one applied it and the other,
    // whether it met the first in a batch or came after it, was told it is a duplicate.
    let mut outcomes: HashMap<String, Vec<String>> = HashMap::new();
    for (payload, outcome) in results {
        assert_eq!(outcome.is_some(), payload != bad, "{payload}");
        if let Some(outcome) = outcome {
            outcomes.entry(payload).or_default().push(outcome);
        }
    }
    assert_eq!(outcomes.len(), TIPS);
    for (payload, mut seen) in outcomes {
        seen.sort();
        assert_eq!(seen, ["applied", "duplicate"], "{payload}");
    }
    let recorded = p
        .count("SELECT count(*)::bigint AS n FROM webhook_events")
        .await;
    assert_eq!(
        recorded, TIPS as i64,
        "each tip recorded once, the bad event not at all"
    );
    let booked = p
        .count("SELECT count(*)::bigint AS n FROM ledger_transactions WHERE kind = 'payment'")
        .await;
    assert_eq!(booked, TIPS as i64);
    let gross = p
        .count("SELECT coalesce(sum(gross_minor), 0)::bigint AS n FROM payments")
        .await;
    assert_eq!(gross, (0..TIPS as i64).map(|n| 1_000 + n).sum::<i64>());
    let bad_payments = p
        .count(
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
        p.count("SELECT count(*)::bigint AS n FROM webhook_events")
            .await,
        TIPS as i64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_redelivery_checks_are_answered_each_for_its_own_event() {
    let p = Payments::start().await;
    let mut conn = p.conn().await;
    diesel::sql_query(
        "INSERT INTO webhook_events (event_id, event_type, created_at)
         SELECT 'evt_seen_' || n, 'payment_intent.succeeded', now()
           FROM generate_series(0, 99, 2) AS n",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let seen = SeenEvents::spawn(p.db().db().clone());
    let answers: Vec<(usize, bool)> = futures::stream::iter((0..100).map(|n| {
        let seen = seen.clone();
        async move { (n, seen.contains(&format!("evt_seen_{n}")).await.unwrap()) }
    }))
    .buffer_unordered(100)
    .collect()
    .await;
    assert_eq!(answers.len(), 100);
    for (n, recorded) in answers {
        assert_eq!(recorded, n % 2 == 0, "evt_seen_{n}");
    }
}

#[derive(diesel::QueryableByName)]
struct Balance {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    owner_id: CreatorId,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    balance: i64,
}

/// One call books a whole batch set-wise: the same provider payment twice in it (two different
/// events about one payment intent) is booked once, PPV access is granted, and each creator's
/// running balance moves by the sum of their new payments' shares.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_booking_counts_a_payment_once_and_moves_each_balance_by_its_sum() {
    use df_payments::{
        charges::{self, Kind, NewPayment},
        money::FeeSplit,
    };
    use diesel_async::AsyncConnection;

    let p = Payments::start().await;
    let (alice, bob) = (CreatorId::new(), CreatorId::new());
    let item = PpvItemId::new();
    let fan = UserId::new();
    let mut conn = p.conn().await;
    diesel::sql_query(
        "INSERT INTO ppv_items (id, creator_id, post_id, price_minor, currency)
         VALUES ($1, $2, $3, 900, 'usd')",
    )
    .bind::<diesel::sql_types::Uuid, _>(item)
    .bind::<diesel::sql_types::Uuid, _>(bob)
    .bind::<diesel::sql_types::Uuid, _>(PostId::new())
    .execute(&mut conn)
    .await
    .unwrap();
    let payment = |id: &str, creator: CreatorId, gross: i64, kind: Kind| NewPayment {
        provider_payment_id: id.into(),
        provider_charge_id: None,
        kind,
        fan_id: fan,
        creator_id: creator,
        subscription_id: None,
        ppv_item_id: (kind == Kind::Ppv).then_some(item),
        checkout_id: None,
        split: FeeSplit::of(gross, 2_000),
        processor_fee: 30 + gross / 40,
        currency: "usd".into(),
        message: None,
        occurred_at: chrono::Utc::now(),
        available_at: chrono::Utc::now() + chrono::Duration::days(7),
    };
    let batch = [
        payment("pi_many_1", alice, 1_000, Kind::Tip),
        payment("pi_many_2", bob, 900, Kind::Ppv),
        payment("pi_many_1", alice, 1_000, Kind::Tip),
        payment("pi_many_3", alice, 2_500, Kind::Tip),
    ];
    let refs: Vec<&NewPayment> = batch.iter().collect();
    let (booked, events) = conn
        .transaction::<_, df_common::Error, _>(async |conn| {
            let booked = charges::book_payments(conn, &refs).await?;
            // Counted before the commit: once committed, the relay publishes and deletes them.
            let events = df_testkit::db::count(conn, "SELECT count(*) AS n FROM outbox").await;
            Ok((booked, events))
        })
        .await
        .unwrap();
    assert_eq!(events, 3, "one event per new payment");
    assert_eq!(
        booked.iter().map(Option::is_some).collect::<Vec<_>>(),
        [true, true, false, true],
        "the repeated payment intent is new only the first time"
    );
    // Booking the same batch again changes nothing.
    let again = conn
        .transaction::<_, df_common::Error, _>(async |conn| {
            charges::book_payments(conn, &refs).await
        })
        .await
        .unwrap();
    assert!(again.iter().all(Option::is_none));

    assert_eq!(
        p.count("SELECT count(*)::bigint AS n FROM payments").await,
        3
    );
    assert_eq!(
        p.count("SELECT count(*)::bigint AS n FROM ledger_transactions WHERE kind = 'payment'")
            .await,
        3
    );
    assert_eq!(
        p.count("SELECT count(*)::bigint AS n FROM ppv_purchases")
            .await,
        1
    );
    let balances: Vec<Balance> = diesel::sql_query(
        "SELECT owner_id, balance FROM creator_balances
          WHERE account = 'creator_pending' ORDER BY owner_id",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let net = |gross: i64| FeeSplit::of(gross, 2_000).creator_net;
    let mut expected = vec![(alice, net(1_000) + net(2_500)), (bob, net(900))];
    expected.sort();
    assert_eq!(
        balances
            .iter()
            .map(|b| (b.owner_id, b.balance))
            .collect::<Vec<_>>(),
        expected
    );
    assert!(integrity::check(&mut conn).await.unwrap().is_empty());
}
