//! Brute force against one account from rotating IPs: every answer is 401 or 429, no more than
//! the hourly budget of passwords is ever evaluated, the right password is refused once locked
//! until the emailed unlock link is used, and an unknown account is answered identically.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_devstack::platform::{Platform, token_from_link};
use serde_json::{Value, json};

async fn attempt(platform: &Platform, email: &str, password: &str, ip: &str) -> (u16, Value) {
    let response = platform
        .http()
        .post(platform.url("/v1/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let mut body: Value = response.json().await.unwrap();
    // The request id differs per request by design; everything else must match.
    body.as_object_mut().unwrap().remove("request_id");
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_ips_cannot_guess_and_unknown_accounts_look_the_same() {
    let platform = Platform::builder()
        .identity(|c| {
            // No waiting between attempts, so the test runs fast; the lock still applies.
            c.own.identity.login.base_delay_ms = 0;
            c.own.identity.login.lock_after = 10;
        })
        .gateway(|c| c.security.trusted_proxies = vec!["127.0.0.1/32".into()])
        .start()
        .await;
    let email = "victim@example.com";
    let password = platform.verified_user(email, "victim", "fan").await;

    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..150u32 {
        let ip = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
        known.push(attempt(&platform, email, "wrong password guess", &ip).await);
        unknown.push(
            attempt(
                &platform,
                "nobody-here@example.com",
                "wrong password guess",
                &ip,
            )
            .await,
        );
    }
    assert!(
        known
            .iter()
            .all(|(status, _)| *status == 401 || *status == 429)
    );
    let evaluated = known.iter().filter(|(status, _)| *status == 401).count();
    assert!(evaluated <= 100, "{evaluated} passwords evaluated");
    assert_eq!(
        evaluated, 10,
        "locked after the configured number of failures"
    );
    assert_eq!(
        known, unknown,
        "an unknown account must be answered exactly like a known one"
    );
    let (_, last) = known.last().unwrap();
    assert_eq!(last["code"], "identity.login_locked");

    // Locked: even the right password is refused, without evaluating it.
    let (status, body) = attempt(&platform, email, &password, "10.9.9.9").await;
    assert_eq!(status, 429);
    assert_eq!(body["code"], "identity.login_locked");

    // The owner got an unlock link; using it restores login.
    let mail = platform.wait_for_email(email, "unlock-login?token=").await;
    let token = token_from_link(&mail, "unlock-login?token=");
    let response = platform
        .http()
        .post(platform.url("/v1/auth/unlock"))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, body) = attempt(&platform, email, &password, "10.9.9.10").await;
    assert_eq!(status, 200, "{body}");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_are_slowed_down_with_retry_after() {
    let platform = Platform::start().await;
    let email = "slow@example.com";
    platform.verified_user(email, "slowpoke", "fan").await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = platform
            .http()
            .post(platform.url("/v1/auth/login"))
            .json(&json!({"email": email, "password": "not the password at all"}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            let retry_after: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry_after >= 1);
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["code"], "identity.too_many_attempts");
        }
    }
    // Five free attempts, then the delay starts.
    assert_eq!(statuses, vec![401, 401, 401, 401, 401, 429]);
    platform.stop().await;
}
