//! The platform with every internal gRPC listener serving TLS only (the chart's production
//! setting): the gateway verifies identity and payments against their CA, and sign-up, login,
//! session use and a payments call all work through it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_devstack::platform::Platform;
use df_payments::testing::TestPayments;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_talks_to_every_service_over_tls() {
    let platform = Platform::builder()
        .with::<TestPayments>()
        .internal_tls()
        .start()
        .await;
    let password = platform
        .verified_user("tls_maker@example.com", "tls_maker", "creator")
        .await;
    let token = platform.login("tls_maker@example.com", &password).await;
    let (status, me) = platform.get_json("/v1/me", &token).await;
    assert_eq!(status, 200, "{me}");
    let (status, tier) = platform
        .send_json(
            Method::POST,
            "/v1/creator/tiers",
            &token,
            Some(json!({
                "name": "Gold",
                "price": {"amount_minor": 999, "currency": "usd"},
                "description": "Over TLS.",
            })),
        )
        .await;
    assert_eq!(status, 201, "{tier}");
    platform.stop().await;
}
