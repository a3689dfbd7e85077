//! Requests no route takes: made-up methods on known paths get `405` with `Allow`, made-up
//! paths `404`, both count against the public rate limit, and neither can grow the request
//! metric's label sets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_devstack::platform::Platform;
use df_gateway::security::RateLimitRule;
use reqwest::{Method, header};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_methods_get_405_with_allow_and_labels_stay_bounded() {
    let platform = Platform::start().await;
    let client = platform.http();

    for (method, path, allow) in [
        ("DELETE", "/v1/me", "GET"),
        ("BREW", "/v1/me", "GET"),
        ("GET", "/v1/auth/login", "POST"),
        (
            "PUT",
            "/v1/creator/tiers/0193b2c4-0000-7000-8000-000000000000",
            "PATCH, DELETE",
        ),
    ] {
        let response = client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                platform.url(path),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(response.headers()[header::ALLOW], allow, "{method} {path}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "common.method_not_allowed");
    }
    let response = client
        .get(platform.url("/v1/no-such-thing"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // A client making up a method per request adds no label value.
    for n in 0..40 {
        let method = Method::from_bytes(format!("MADEUP{n}").as_bytes()).unwrap();
        let path = if n % 2 == 0 { "/v1/me" } else { "/made/up" };
        client
            .request(method, platform.url(path))
            .send()
            .await
            .unwrap();
    }
    let metrics = df_testkit::metrics::scrape(&platform.gateway_admin_url).await;
    let methods: std::collections::BTreeSet<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("df_gateway_request_duration_seconds_count"))
        .filter_map(|l| l.split("method=\"").nth(1)?.split('"').next())
        .collect();
    assert!(methods.contains("other"), "{methods:?}");
    for method in &methods {
        assert!(
            [
                "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "other"
            ]
            .contains(method),
            "{method} is not from the closed set"
        );
    }
    assert!(
        !metrics.contains("/made/up"),
        "raw paths never become labels"
    );
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmatched_paths_count_against_the_public_rate_limit() {
    let platform = Platform::builder()
        .gateway(|config| {
            config
                .security
                .rate_limits
                .insert("public".into(), RateLimitRule::new(5, 60));
        })
        .start()
        .await;
    let client = platform.http();
    for n in 0..5 {
        let path = if n % 2 == 0 {
            format!("/probe-{n}")
        } else {
            format!("/v1/probe-{n}")
        };
        let status = client
            .get(platform.url(&path))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{path}");
    }
    for (method, path) in [("GET", "/probe-again"), ("BREW", "/v1/me")] {
        let response = client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                platform.url(path),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 429, "{method} {path}");
        assert!(response.headers().contains_key(header::RETRY_AFTER));
    }
    platform.stop().await;
}
