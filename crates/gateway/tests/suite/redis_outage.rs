//! With Redis unreachable or hanging, the gateway keeps answering within its timeouts: login and
//! authenticated reads work (identity falls back to Postgres for sessions) and rate limits are
//! enforced per instance, as documented.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use df_devstack::platform::Platform;
use df_testkit::{TcpProxy, redis::server_addr};
use serde_json::json;

/// Far below the 5 s deadline of the gateway's calls to identity, far above a healthy answer:
/// a request that waited on the dead Redis instead of failing over would cross it.
const BOUND: Duration = Duration::from_secs(3);

async fn proxy_for_redis() -> TcpProxy {
    TcpProxy::in_front_of(&server_addr()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_answers_without_redis() {
    let proxy = proxy_for_redis().await;
    let platform = Platform::builder()
        .redis_url(format!("redis://{}/0", proxy.addr()))
        .start()
        .await;
    let email = "noredis@example.com";
    let password = platform.verified_user(email, "noredis", "fan").await;
    let http = platform.http();

    for (label, fault) in [("cut", true), ("stalled", false)] {
        if fault {
            proxy.cut()
        } else {
            proxy.stall()
        }
        let started = Instant::now();
        let response = http
            .post(platform.url("/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "login with Redis {label}");
        assert!(
            started.elapsed() < BOUND,
            "login hung with Redis {label}: {:?}",
            started.elapsed()
        );
        assert!(
            response.headers().contains_key("ratelimit-limit"),
            "limits still applied ({label})"
        );
        let session = response.json::<serde_json::Value>().await.unwrap()["session_token"]
            .as_str()
            .unwrap()
            .to_owned();
        for _ in 0..3 {
            let started = Instant::now();
            let response = http
                .get(platform.url("/v1/me"))
                .bearer_auth(&session)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "/v1/me with Redis {label}");
            assert!(
                started.elapsed() < BOUND,
                "/v1/me hung with Redis {label}: {:?}",
                started.elapsed()
            );
        }
        proxy.restore();
    }
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_fall_back_to_local_budgets() {
    let proxy = proxy_for_redis().await;
    let platform = Platform::builder()
        .redis_url(format!("redis://{}/0", proxy.addr()))
        .gateway(|c| {
            c.security.rate_limits.insert(
                "api".into(),
                df_gateway::security::RateLimitRule::new(5, 60),
            );
        })
        .start()
        .await;
    proxy.cut();
    let http = platform.http();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let response = http
            .get(platform.url("/v1/openapi.json"))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    platform.stop().await;
}
