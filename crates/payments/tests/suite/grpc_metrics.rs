//! The service kit counts and times every gRPC call per method and status code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_common::auth::service;
use df_proto::payments::v1 as pb;
use uuid::Uuid;

use crate::support::Payments;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_counted_by_method_and_status_and_timed() {
    let p = Payments::start().await;
    let question = pb::CheckEntitlementRequest {
        fan_id: Uuid::now_v7().to_string(),
        creator_id: Uuid::now_v7().to_string(),
        ppv_item_id: String::new(),
        min_tier_id: String::new(),
    };
    p.client()
        .check_entitlement(p.as_media(question.clone()))
        .await
        .unwrap();
    let refused = p
        .client()
        .check_entitlement(p.as_service_named(service::IDENTITY, question))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);

    let metrics = p.metrics().await;
    let method = "/directfanz.payments.v1.Payments/CheckEntitlement";
    for code in ["Ok", "PermissionDenied"] {
        let counted = format!(
            "df_grpc_server_handled_total{{code=\"{code}\",method=\"{method}\",service=\"payments\"}} 1"
        );
        assert!(metrics.contains(&counted), "no {counted} in\n{metrics}");
    }
    let timed = format!(
        "df_grpc_server_handling_seconds_count{{method=\"{method}\",service=\"payments\"}} 2"
    );
    assert!(metrics.contains(&timed), "no {timed} in\n{metrics}");
}
