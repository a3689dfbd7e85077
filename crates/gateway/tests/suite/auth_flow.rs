//! The main client journey through the real gateway and identity: sign up, open the link from
//! the email outbox, log in (bearer for apps, cookie for browsers), read `/v1/me`, log out.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_devstack::platform::{Platform, TEST_ORIGIN, set_cookie, token_from_link};
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_verify_login_me_logout() {
    let platform = Platform::start().await;
    let http = platform.http();
    let email = "Fan.One@Example.com";
    let password = "a long enough passphrase 42";

    let response = http
        .post(platform.url("/v1/auth/signup"))
        .json(&json!({"email": email, "username": "fan_one", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    // Not verified yet: the right password is refused with a clear code.
    let (status, problem) = platform
        .post_json(
            "/v1/auth/login",
            json!({"email": email, "password": password}),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(problem["code"], "identity.email_not_verified");

    let mail = platform
        .wait_for_email("fan.one@example.com", "verify-email?token=")
        .await;
    assert!(mail.contains(&format!("{TEST_ORIGIN}/verify-email?token=")));
    let token = token_from_link(&mail, "verify-email?token=");
    let verify = || platform.post_json("/v1/auth/verify-email", json!({"token": token}));
    assert_eq!(verify().await.0, 200);
    // The link is single-use.
    let (status, problem) = verify().await;
    assert_eq!(status, 400);
    assert_eq!(problem["code"], "identity.invalid_token");

    let response = http
        .post(platform.url("/v1/auth/login"))
        .json(&json!({"email": "fan.one@EXAMPLE.com", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let session_cookie = set_cookie(&response, "__Host-df_session");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            session_cookie.contains(attribute),
            "{session_cookie} lacks {attribute}"
        );
    }
    assert!(
        !session_cookie.contains("Domain"),
        "__Host- cookies carry no Domain"
    );
    let body: Value = response.json().await.unwrap();
    let session = body["session_token"].as_str().unwrap().to_owned();
    assert!(session.len() >= 43);
    assert_eq!(body["user"]["email"], "fan.one@example.com");
    assert_eq!(body["user"]["role"], "fan");

    let response = http
        .get(platform.url("/v1/me"))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["username"], "fan_one");
    assert_eq!(me["email_verified"], true);

    // Without credentials, /v1/me is a 401 problem.
    let response = http.get(platform.url("/v1/me")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    // Logout ends the session at once.
    assert_eq!(
        platform
            .send_json(Method::POST, "/v1/auth/logout", &session, None)
            .await
            .0,
        204
    );
    assert_eq!(platform.get_json("/v1/me", &session).await.0, 401);
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_tokens_cannot_flood_identity() {
    let platform = Platform::builder()
        .gateway(|c| {
            c.security.rate_limits.insert(
                "public".into(),
                df_gateway::security::RateLimitRule::new(5, 60),
            );
        })
        .start()
        .await;
    let http = platform.http();
    let mut statuses = Vec::new();
    for i in 0..8 {
        let token = format!("madeUpToken{i:040}");
        let response = http
            .get(platform.url("/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    // Each new token costs an identity lookup until the IP's lookup budget is spent.
    assert_eq!(statuses, vec![401, 401, 401, 401, 401, 429, 429, 429]);
    // The same refused token again is answered from the edge without a lookup.
    let response = http
        .get(platform.url("/v1/me"))
        .bearer_auth(format!("madeUpToken{:040}", 0))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_new_session_share_one_lookup() {
    // Two lookups per minute per IP: a burst of 40 requests with a session the edge has not
    // cached yet must cost one call to identity, not forty.
    let platform = Platform::builder()
        .gateway(|c| {
            c.security.rate_limits.insert(
                "public".into(),
                df_gateway::security::RateLimitRule::new(2, 60),
            );
        })
        .start()
        .await;
    let email = "burst@example.com";
    let password = platform.verified_user(email, "burster", "fan").await;
    let token = platform.login(email, &password).await;
    let http = platform.http();
    let calls = (0..40).map(|_| http.get(platform.url("/v1/me")).bearer_auth(&token).send());
    let responses = futures::future::join_all(calls).await;
    for response in responses {
        let response = response.unwrap();
        let status = response.status();
        let me: serde_json::Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["email"], email);
    }
    platform.stop().await;
}
