//! A revoked session stops working within one second, although validations are cached at the
//! edge and in Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use df_devstack::platform::Platform;
use reqwest::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_sessions_are_refused_within_a_second() {
    let platform = Platform::start().await;
    let email = "revoke@example.com";
    let password = platform.verified_user(email, "revoker", "fan").await;
    let phone = platform.login(email, &password).await;
    let laptop = platform.login(email, &password).await;
    assert_ne!(phone, laptop, "every login gets a new token");
    let http = platform.http();

    // Warm every cache with the phone's session.
    for _ in 0..3 {
        assert_eq!(platform.get_json("/v1/me", &phone).await.0, 200);
    }

    // Log out everywhere from the laptop.
    assert_eq!(
        platform
            .send_json(Method::POST, "/v1/auth/logout-all", &laptop, None)
            .await
            .0,
        204
    );
    let revoked_at = Instant::now();
    loop {
        let status = http
            .get(platform.url("/v1/me"))
            .bearer_auth(&phone)
            .send()
            .await
            .unwrap()
            .status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "revoked session still accepted after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(revoked_at.elapsed() < Duration::from_secs(1));
    assert_eq!(platform.get_json("/v1/me", &laptop).await.0, 401);
    platform.stop().await;
}
