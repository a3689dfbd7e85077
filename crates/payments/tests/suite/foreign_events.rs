//! Events about objects payments never created (another integration on the same provider
//! account) are acknowledged and ignored, and counted; they used to be refused as "out of
//! order", so the provider retried them for three days and the webhook alert fired. Events
//! about objects that are ours but arrive before the event that creates them are still refused
//! as retryable. The objects are Stripe's own published examples.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_payments::webhook::signature;
use df_proto::payments::v1::IngestWebhookRequest;
use serde_json::{Value, json};
use tonic::Code;

use crate::support::{Payments, stripe_event, stripe_fixtures};

async fn ingest(p: &Payments, event: &Value) -> Result<String, tonic::Status> {
    let body = event.to_string();
    let header = signature::sign(body.as_bytes(), &p.secret, chrono::Utc::now().timestamp());
    p.client()
        .ingest_webhook(p.as_service(IngestWebhookRequest {
            payload: body.into_bytes(),
            signature: header,
        }))
        .await
        .map(|answer| answer.into_inner().outcome)
}

fn fixture(name: &str) -> Value {
    stripe_fixtures()[name].clone()
}

/// An invoice of subscription `subscription` whose subscription metadata is `metadata`.
fn invoice(subscription: &str, metadata: Value) -> Value {
    let mut invoice = fixture("invoice");
    invoice["parent"] = json!({"type": "subscription_details",
        "subscription_details": {"subscription": subscription, "metadata": metadata}});
    invoice
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_about_objects_we_never_created_are_acknowledged_and_ignored() {
    let p = Payments::start().await;
    let now = chrono::Utc::now().timestamp();
    let mut dispute_of_unknown_intent = fixture("dispute");
    dispute_of_unknown_intent["payment_intent"] = json!("pi_someone_elses");
    let mut session = fixture("checkout.session");
    session["subscription"] = json!("sub_someone_elses");
    let cases = [
        ("charge.refunded", fixture("charge")),
        ("charge.dispute.created", fixture("dispute")),
        ("charge.dispute.updated", dispute_of_unknown_intent),
        ("customer.subscription.updated", fixture("subscription")),
        ("customer.subscription.deleted", fixture("subscription")),
        ("invoice.paid", invoice("sub_someone_elses", json!({}))),
        (
            "invoice.payment_failed",
            invoice("sub_someone_elses", json!({})),
        ),
        ("checkout.session.completed", session),
    ];
    for (n, (event_type, object)) in cases.iter().enumerate() {
        let event = stripe_event(&format!("evt_foreign_{n}"), event_type, now, object.clone());
        let first = ingest(&p, &event).await;
        assert_eq!(
            first.as_deref().ok(),
            Some("ignored"),
            "{event_type}: {first:?}"
        );
        let again = ingest(&p, &event).await;
        assert_eq!(
            again.as_deref().ok(),
            Some("duplicate"),
            "{event_type}: {again:?}"
        );
    }
    assert_eq!(
        p.count("SELECT count(*)::bigint AS n FROM payments").await,
        0,
        "nothing was booked"
    );
    let metrics = p.metrics().await;
    assert!(
        metrics.contains(
            r#"df_payments_webhook_foreign_events_total{event_type="charge.refunded"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_about_our_objects_that_arrive_early_are_retried() {
    let p = Payments::start().await;
    let now = chrono::Utc::now().timestamp();
    let ours = json!({"fan_id": uuid::Uuid::now_v7().to_string(),
        "creator_id": uuid::Uuid::now_v7().to_string(),
        "tier_id": uuid::Uuid::now_v7().to_string()});
    let mut subscription = fixture("subscription");
    subscription["metadata"] = ours.clone();
    for (n, (event_type, object)) in [
        (
            "invoice.payment_failed",
            invoice("sub_ours_not_yet_known", ours),
        ),
        ("customer.subscription.deleted", subscription),
    ]
    .into_iter()
    .enumerate()
    {
        let event = stripe_event(&format!("evt_early_{n}"), event_type, now, object);
        let status = ingest(&p, &event).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{event_type}: {status:?}");
        assert_eq!(
            status.metadata().get("x-df-error-code").unwrap(),
            "payments.webhook_out_of_order"
        );
    }
}
