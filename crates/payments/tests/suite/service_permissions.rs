//! Which callers payments' privileged methods accept: provider webhooks only from the gateway's
//! service principal; entitlement questions about any fan only from the media service (a user
//! may ask about themself only). Holding the service role is not enough.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_common::auth::{Role, service};
use df_proto::payments::v1::{self as pb, IngestWebhookRequest};
use tonic::Code;
use uuid::Uuid;

use crate::support::Payments;

fn question(fan: Uuid) -> pb::CheckEntitlementRequest {
    pb::CheckEntitlementRequest {
        fan_id: fan.to_string(),
        creator_id: Uuid::now_v7().to_string(),
        ppv_item_id: String::new(),
        min_tier_id: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privileged_methods_name_the_callers_they_accept() {
    let p = Payments::start().await;
    let fan = Uuid::now_v7();

    for name in [service::MEDIA, service::IDENTITY, "payments"] {
        let status = p
            .client()
            .ingest_webhook(p.as_service_named(
                name,
                IngestWebhookRequest {
                    payload: b"{}".to_vec(),
                    signature: "t=1,v1=00".into(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{name}");
    }

    for name in [service::GATEWAY, service::IDENTITY, service::MODERATION] {
        let status = p
            .client()
            .check_entitlement(p.as_service_named(name, question(fan)))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{name}");
    }
    let answer = p
        .client()
        .check_entitlement(p.as_media(question(fan)))
        .await
        .unwrap()
        .into_inner();
    assert!(!answer.allowed);

    // A fan asks about themself, never about another fan.
    assert!(
        p.client()
            .check_entitlement(p.as_user(fan, Role::Fan, question(fan)))
            .await
            .is_ok()
    );
    let status = p
        .client()
        .check_entitlement(p.as_user(fan, Role::Fan, question(Uuid::now_v7())))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
}
