//! Cookie sessions need the CSRF proof on unsafe requests: a cross-site POST that carries the
//! cookie but not the token (or comes from another origin) is refused; the same request from the
//! app with the token goes through. Bearer requests need no CSRF proof.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_devstack::platform::{Platform, TEST_ORIGIN, set_cookie};
use serde_json::Value;

/// Sends `method` to `path` with the session `cookie` and `headers`, as a browser would.
async fn with_cookie(
    platform: &Platform,
    method: reqwest::Method,
    path: &str,
    cookie: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = platform
        .http()
        .request(method, platform.url(path))
        .header("cookie", cookie);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_posts_with_the_cookie_are_refused() {
    let platform = Platform::start().await;
    let email = "csrf@example.com";
    let password = platform.verified_user(email, "csrf_user", "fan").await;
    let (status, login) = platform
        .post_json(
            "/v1/auth/login",
            serde_json::json!({"email": email, "password": password}),
        )
        .await;
    assert_eq!(status, 200);
    let session = login["session_token"].as_str().unwrap();
    let csrf = login["csrf_token"].as_str().unwrap();
    let cookie = format!("__Host-df_session={session}");
    let me = async || {
        with_cookie(&platform, reqwest::Method::GET, "/v1/me", &cookie, &[])
            .await
            .status()
    };
    let logout = async |headers: &[(&str, &str)]| {
        with_cookie(
            &platform,
            reqwest::Method::POST,
            "/v1/auth/logout",
            &cookie,
            headers,
        )
        .await
    };

    // Reading with the cookie works (safe method).
    assert_eq!(me().await, 200);

    // The attacker's page: cookie attached by the browser, Origin of the attacker, no token.
    let response = logout(&[("origin", "https://evil.example")]).await;
    assert_eq!(response.status(), 403);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "gateway.csrf_failed");

    // Even from our own origin, the token is required.
    assert_eq!(logout(&[("origin", TEST_ORIGIN)]).await.status(), 403);

    // A wrong token is refused too.
    let wrong_token = [("origin", TEST_ORIGIN), ("x-csrf-token", "AAAA")];
    assert_eq!(logout(&wrong_token).await.status(), 403);

    // A browser login (it sends Origin) gets cookies only: no token for script to read.
    let response = platform
        .http()
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
    assert_eq!(me().await, 200);

    // The app, with the token and its origin, may log out.
    let app = [("origin", TEST_ORIGIN), ("x-csrf-token", csrf)];
    assert_eq!(logout(&app).await.status(), 204);
    assert_eq!(me().await, 401);
    platform.stop().await;
}
