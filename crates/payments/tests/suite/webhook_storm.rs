//! The webhook storm: 2,000 signed deliveries built from Stripe's published object shapes —
//! 20 % duplicates, shuffled, 1 % with bad signatures and 1 % with stale timestamps — while
//! payments is stopped and restarted twice. Every valid event must be applied exactly once, the
//! bad ones refused, the ledger balanced and its totals equal to the sums of the valid events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, HashSet};

use df_payments::{
    ledger::integrity,
    money::{FeeSplit, simulated_processor_fee},
    webhook::signature,
};
use df_proto::payments::v1::IngestWebhookRequest;
use diesel::{QueryableByName, sql_types};
use diesel_async::RunQueryDsl;
use futures::StreamExt;
use rand::{Rng, SeedableRng, seq::SliceRandom};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Payments, stripe_event, stripe_fixtures};

const DELIVERIES: usize = 2_000;
const BAD_SIGNATURES: usize = DELIVERIES / 100;
const STALE: usize = DELIVERIES / 100;
const DUPLICATES: usize = DELIVERIES / 5;
const UNIQUE: usize = DELIVERIES - DUPLICATES - BAD_SIGNATURES - STALE;

const FEE_BPS: u32 = 2_000;

/// What the valid events add up to.
#[derive(Default)]
struct Expected {
    gross: i64,
    processor_fees: i64,
    refunds: i64,
    payments: usize,
    refund_transactions: usize,
    disputes_opened: usize,
    disputes_closed: usize,
    dispute_losses: i64,
    platform_fees: i64,
}

struct Tip {
    pi: String,
    charge: String,
    fan: Uuid,
    creator: Uuid,
    amount: i64,
}

fn build_events(fixtures: &Value, tiers: &[(Uuid, Uuid)], now: i64) -> (Vec<Value>, Expected) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut events = Vec::new();
    let mut expected = Expected::default();
    let fans: Vec<Uuid> = (0..50).map(|_| Uuid::now_v7()).collect();
    let creators: Vec<Uuid> = tiers.iter().map(|(creator, _)| *creator).collect();
    let mut next_id = 0;
    let mut id = |prefix: &str| {
        next_id += 1;
        format!("{prefix}_storm_{next_id:06}")
    };

    // Subscriptions: 100, each with 3 paid invoices; 50 of them end.
    let mut subscription_events = Vec::new();
    for n in 0..100 {
        let (creator, tier) = tiers[n % tiers.len()];
        let fan = fans[n % fans.len()];
        let sub = id("sub");
        let amount = 500 + 100 * (n as i64 % 10);
        for period in 0..3 {
            let mut invoice = fixtures["invoice"].clone();
            invoice["id"] = json!(id("in"));
            invoice["amount_paid"] = json!(amount);
            invoice["amount_due"] = json!(amount);
            invoice["currency"] = json!("usd");
            invoice["status"] = json!("paid");
            invoice["application_fee_amount"] = json!(null);
            invoice["charge"] = json!(null);
            invoice["payment_intent"] = json!(null);
            invoice["subscription"] = json!(null);
            invoice["lines"]["data"][0]["period"] =
                json!({"start": now + period * 2_592_000, "end": now + (period + 1) * 2_592_000});
            invoice["parent"] = json!({"type": "subscription_details", "quote_details": null,
                "subscription_details": {"subscription": sub, "metadata": {
                    "fan_id": fan.to_string(), "creator_id": creator.to_string(),
                    "tier_id": tier.to_string(), "kind": "subscription"}}});
            subscription_events.push(stripe_event(&id("evt"), "invoice.paid", now, invoice));
            let split = FeeSplit::of(amount, FEE_BPS);
            expected.gross += amount;
            expected.platform_fees += split.platform_fee;
            expected.processor_fees += simulated_processor_fee(amount);
            expected.payments += 1;
        }
        if n % 2 == 0 {
            let mut subscription = fixtures["subscription"].clone();
            subscription["id"] = json!(sub);
            subscription["status"] = json!("canceled");
            subscription["metadata"] = json!({"fan_id": fan.to_string(),
                "creator_id": creator.to_string(), "tier_id": tier.to_string()});
            subscription_events.push(stripe_event(
                &id("evt"),
                "customer.subscription.deleted",
                now,
                subscription,
            ));
        }
    }

    // Tips, then refunds and disputes of some of them.
    let tip_count = UNIQUE - subscription_events.len() - 200 - 100 - 60;
    let mut tips = Vec::new();
    for n in 0..tip_count {
        let amount = rng.gen_range(100..50_000);
        let pi = id("pi");
        let tip = Tip {
            charge: format!("ch_for_{pi}"),
            pi,
            fan: fans[rng.gen_range(0..fans.len())],
            creator: creators[n % creators.len()],
            amount,
        };
        let mut intent = fixtures["payment_intent"].clone();
        intent["id"] = json!(tip.pi);
        intent["amount"] = json!(amount);
        intent["amount_received"] = json!(amount);
        intent["currency"] = json!("usd");
        intent["status"] = json!("succeeded");
        intent["latest_charge"] = json!(tip.charge);
        intent["metadata"] = json!({"kind": "tip", "fan_id": tip.fan.to_string(),
            "creator_id": tip.creator.to_string()});
        events.push(stripe_event(
            &id("evt"),
            "payment_intent.succeeded",
            now,
            intent,
        ));
        let split = FeeSplit::of(amount, FEE_BPS);
        expected.gross += amount;
        expected.platform_fees += split.platform_fee;
        expected.processor_fees += simulated_processor_fee(amount);
        expected.payments += 1;
        tips.push(tip);
    }
    for tip in tips.iter().take(200) {
        let refunded = if tip.amount % 3 == 0 {
            tip.amount
        } else {
            tip.amount / 2
        };
        let mut charge = fixtures["charge"].clone();
        charge["id"] = json!(tip.charge);
        charge["amount"] = json!(tip.amount);
        charge["amount_refunded"] = json!(refunded);
        charge["refunded"] = json!(refunded == tip.amount);
        charge["currency"] = json!("usd");
        charge["payment_intent"] = json!(tip.pi);
        charge["metadata"] = json!({"kind": "tip", "fan_id": tip.fan.to_string(),
            "creator_id": tip.creator.to_string()});
        events.push(stripe_event(&id("evt"), "charge.refunded", now, charge));
        expected.refunds += refunded;
        expected.refund_transactions += 1;
        let split = FeeSplit::of(tip.amount, FEE_BPS);
        expected.platform_fees -= split.reversal(0, refunded).platform_fee;
    }
    for (n, tip) in tips.iter().skip(200).take(100).enumerate() {
        let dispute_id = id("dp");
        let mut dispute = fixtures["dispute"].clone();
        dispute["id"] = json!(dispute_id);
        dispute["amount"] = json!(tip.amount);
        dispute["currency"] = json!("usd");
        dispute["charge"] = json!(tip.charge);
        dispute["payment_intent"] = json!(tip.pi);
        dispute["status"] = json!("needs_response");
        dispute["balance_transactions"] = json!([{"object": "balance_transaction",
            "amount": -tip.amount, "fee": 1_500}]);
        events.push(stripe_event(
            &id("evt"),
            "charge.dispute.created",
            now,
            dispute.clone(),
        ));
        expected.disputes_opened += 1;
        if n < 60 {
            let lost = n % 2 == 1;
            dispute["status"] = json!(if lost { "lost" } else { "won" });
            events.push(stripe_event(
                &id("evt"),
                "charge.dispute.closed",
                now,
                dispute,
            ));
            expected.disputes_closed += 1;
            if lost {
                expected.dispute_losses += tip.amount + 1_500;
            }
        }
    }
    events.extend(subscription_events);
    assert_eq!(events.len(), UNIQUE);
    (events, expected)
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = sql_types::Text)]
    account: String,
    #[diesel(sql_type = sql_types::BigInt)]
    total: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = sql_types::Text)]
    kind: String,
    #[diesel(sql_type = sql_types::BigInt)]
    n: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_valid_event_is_applied_once_through_restarts() {
    let mut payments = Payments::start().await;
    let fixtures = stripe_fixtures();
    let now = chrono::Utc::now().timestamp();

    // Three creators with a tier each, created as a creator would.
    let mut tiers = Vec::new();
    for _ in 0..3 {
        let creator = Uuid::now_v7();
        let tier = payments
            .client()
            .create_tier(payments.as_user(
                creator,
                df_common::auth::Role::Creator,
                df_proto::payments::v1::TierInput {
                    name: "Supporter".into(),
                    price: Some(df_proto::payments::v1::Money {
                        amount: 900,
                        currency: "usd".into(),
                    }),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        tiers.push((creator, Uuid::parse_str(&tier.id).unwrap()));
    }

    let (events, expected) = build_events(fixtures, &tiers, now);
    // The provider that took these payments knows their intents: a refund or a dispute that
    // overtakes its payment is recognised as ours and retried, not ignored as foreign.
    for event in events
        .iter()
        .filter(|e| e["type"] == "payment_intent.succeeded")
    {
        let intent = &event["data"]["object"];
        payments.simulated().record_payment(
            intent["id"].as_str().unwrap(),
            intent["amount"].as_i64().unwrap(),
            "usd",
            serde_json::from_value(intent["metadata"].clone()).unwrap(),
        );
    }
    let valid_ids: HashSet<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();

    // Deliveries: every event once, 400 repeats, 20 with a wrong secret, 20 signed too long ago.
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    #[derive(Clone, Copy, PartialEq)]
    enum Signing {
        Good,
        WrongSecret,
        Stale,
    }
    let mut deliveries: Vec<(String, Signing)> = events
        .iter()
        .map(|e| (e.to_string(), Signing::Good))
        .collect();
    for _ in 0..DUPLICATES {
        let e = &events[rng.gen_range(0..events.len())];
        deliveries.push((e.to_string(), Signing::Good));
    }
    let mut refused_ids = HashSet::new();
    for n in 0..BAD_SIGNATURES + STALE {
        let forged = stripe_event(
            &format!("evt_forged_{n}"),
            "payment_intent.succeeded",
            now,
            json!({"id": format!("pi_forged_{n}"), "amount": 999_999, "currency": "usd",
                   "metadata": {"kind": "tip", "fan_id": Uuid::now_v7().to_string(),
                                "creator_id": tiers[0].0.to_string()}}),
        );
        refused_ids.insert(format!("evt_forged_{n}"));
        let signing = if n < BAD_SIGNATURES {
            Signing::WrongSecret
        } else {
            Signing::Stale
        };
        deliveries.push((forged.to_string(), signing));
    }
    deliveries.shuffle(&mut rng);
    assert_eq!(deliveries.len(), DELIVERIES);

    let secret = payments.secret.clone();
    let wrong: df_common::secret::Secret<String> = "whsec_not_the_endpoint_secret".into();
    let client = payments.client();
    let signer = payments.signer.clone();
    let service_request = {
        move |payload: &str, signing: Signing| {
            let now = chrono::Utc::now().timestamp();
            let header = match signing {
                Signing::Good => signature::sign(payload.as_bytes(), &secret, now),
                Signing::WrongSecret => signature::sign(payload.as_bytes(), &wrong, now),
                Signing::Stale => signature::sign(payload.as_bytes(), &secret, now - 400),
            };
            let token = signer
                .mint(
                    df_common::auth::Subject::Service {
                        name: "gateway".into(),
                    },
                    vec![df_common::auth::Role::Service],
                    df_common::auth::service::PAYMENTS,
                )
                .unwrap();
            df_common::grpc::request_with_principal(
                IngestWebhookRequest {
                    payload: payload.as_bytes().to_vec(),
                    signature: header,
                },
                &token,
            )
            .unwrap()
        }
    };

    // Send in three waves; the service restarts between them while the next wave is already
    // on its way, so requests die mid-flight. Whatever fails for a retryable reason is sent
    // again afterwards, as the provider does.
    let mut refused = 0_usize;
    let mut pending: Vec<(String, Signing)> = deliveries;
    let mut round = 0;
    while !pending.is_empty() {
        round += 1;
        assert!(round <= 20, "deliveries still failing after 20 rounds");
        let waves: Vec<Vec<(String, Signing)>> = if round == 1 {
            let third = pending.len() / 3;
            let rest = pending.split_off(third);
            let mut rest = rest;
            let last = rest.split_off(third);
            vec![std::mem::take(&mut pending), rest, last]
        } else {
            vec![std::mem::take(&mut pending)]
        };
        for (w, wave) in waves.into_iter().enumerate() {
            let results = futures::stream::iter(wave.into_iter().map(|(payload, signing)| {
                let mut client = client.clone();
                let request = service_request(&payload, signing);
                async move {
                    let result = client.ingest_webhook(request).await;
                    (payload, signing, result)
                }
            }))
            .buffer_unordered(8);
            let restart_now = round == 1 && w > 0;
            let restarting = async {
                if restart_now {
                    payments.restart().await;
                }
            };
            let (outcomes, ()) = tokio::join!(results.collect::<Vec<_>>(), restarting);
            for (payload, signing, result) in outcomes {
                match result {
                    Ok(_) => assert!(signing == Signing::Good, "a forged event was accepted"),
                    Err(status) if status.code() == tonic::Code::InvalidArgument => {
                        assert!(
                            signing != Signing::Good,
                            "a valid event was refused: {status:?}"
                        );
                        refused += 1;
                    }
                    // Unavailable (stopped, out of order), cancelled mid-flight, unknown
                    // transport failures: the provider would retry.
                    Err(_) => pending.push((payload, signing)),
                }
            }
        }
    }
    assert_eq!(refused, BAD_SIGNATURES + STALE);

    // Exactly the valid events are recorded, each once.
    let mut conn = payments.conn().await;
    let recorded: Vec<String> = diesel::QueryDsl::select(
        df_payments::schema::webhook_events::table,
        df_payments::schema::webhook_events::event_id,
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert_eq!(recorded.len(), UNIQUE);
    let recorded: HashSet<String> = recorded.into_iter().collect();
    assert_eq!(recorded, valid_ids);
    assert!(refused_ids.is_disjoint(&recorded));

    // The books balance.
    let violations = integrity::check(&mut conn).await.unwrap();
    assert!(violations.is_empty(), "{violations:?}");

    // And they add up to the valid events.
    let totals: BTreeMap<String, i64> = diesel::sql_query(
        "SELECT account, sum(amount)::bigint AS total FROM ledger_entries GROUP BY account",
    )
    .load::<Total>(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|t| (t.account, t.total))
    .collect();
    assert_eq!(totals["fan_payments"], -expected.gross);
    assert_eq!(totals["processor_fees"], expected.processor_fees);
    assert_eq!(totals["refunds"], expected.refunds);
    assert_eq!(
        totals["platform_revenue"],
        expected.platform_fees - expected.processor_fees
    );
    assert_eq!(
        totals.get("dispute_losses").copied().unwrap_or(0),
        expected.dispute_losses
    );
    let counts: HashMap<String, i64> = diesel::sql_query(
        "SELECT kind, count(*)::bigint AS n FROM ledger_transactions GROUP BY kind",
    )
    .load::<Count>(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|c| (c.kind, c.n))
    .collect();
    assert_eq!(counts["payment"] as usize, expected.payments);
    assert_eq!(counts["refund"] as usize, expected.refund_transactions);
    assert_eq!(counts["dispute_opened"] as usize, expected.disputes_opened);
    assert_eq!(
        (counts.get("dispute_won").copied().unwrap_or(0)
            + counts.get("dispute_lost").copied().unwrap_or(0)) as usize,
        expected.disputes_closed
    );
    payments.stop().await;
}
