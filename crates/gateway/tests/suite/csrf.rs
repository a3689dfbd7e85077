//! Cookie sessions need the CSRF proof on unsafe requests: a cross-site POST that carries the
//! cookie but not the token (or comes from another origin) is refused; the same request from the
//! app with the token goes through. Bearer requests need no CSRF proof.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_devstack::platform::{Platform, TEST_ORIGIN, set_cookie};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_posts_with_the_cookie_are_refused() {
    let platform = Platform::start().await;
    let email = "csrf@example.com";
    let password = platform.verified_user(email, "csrf_user", "fan").await;
    let login: Value = platform
        .http()
        .post(platform.url("/v1/auth/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = login["session_token"].as_str().unwrap();
    let csrf = login["csrf_token"].as_str().unwrap();
    let cookie = format!("__Host-df_session={session}");
    let http = platform.http();

    // Reading with the cookie works (safe method).
    let response = http
        .get(platform.url("/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // The attacker's page: cookie attached by the browser, Origin of the attacker, no token.
    let response = http
        .post(platform.url("/v1/auth/logout"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "gateway.csrf_failed");

    // Even from our own origin, the token is required.
    let response = http
        .post(platform.url("/v1/auth/logout"))
        .header("cookie", &cookie)
        .header("origin", TEST_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // A wrong token is refused too.
    let response = http
        .post(platform.url("/v1/auth/logout"))
        .header("cookie", &cookie)
        .header("origin", TEST_ORIGIN)
        .header("x-csrf-token", "AAAA")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    // A browser login (it sends Origin) gets cookies only: no token for script to read.
    let response = http
        .post(platform.url("/v1/auth/login"))
        .header("origin", TEST_ORIGIN)
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let csrf_cookie = set_cookie(&response, "__Host-df_csrf");
    assert!(
        csrf_cookie.contains("Secure")
            && csrf_cookie.contains("Path=/")
            && !csrf_cookie.contains("HttpOnly")
    );
    let browser: Value = response.json().await.unwrap();
    assert!(browser.get("session_token").is_none(), "{browser}");
    assert!(browser["csrf_token"].is_string());

    // The session survived all of that.
    let response = http
        .get(platform.url("/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // The app, with the token and its origin, may log out.
    let response = http
        .post(platform.url("/v1/auth/logout"))
        .header("cookie", &cookie)
        .header("origin", TEST_ORIGIN)
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = http
        .get(platform.url("/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    platform.stop().await;
}
