//! Every response — each public route, a 404, a 405-style miss, a 401, a 500 — carries the full
//! set of security headers, and errors are problem documents that leak nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_devstack::platform::Platform;
use df_gateway::routes::ROUTES;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};

fn assert_secure_headers(response: &reqwest::Response, what: &str) {
    let header = |name: &str| -> String {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("{what}: missing {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    let csp = header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            csp.contains(directive),
            "{what}: CSP lacks {directive}: {csp}"
        );
    }
    let hsts = header("strict-transport-security");
    let max_age: u64 = hsts
        .split(';')
        .find_map(|part| part.trim().strip_prefix("max-age="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{what}: bad HSTS {hsts}"));
    assert!(max_age >= 31_536_000, "{what}: HSTS shorter than a year");
    assert!(hsts.contains("includeSubDomains"), "{what}: {hsts}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert!(!header("referrer-policy").is_empty(), "{what}");
    assert!(header("permissions-policy").contains("camera=()"), "{what}");
    assert_eq!(
        header("cross-origin-opener-policy"),
        "same-origin",
        "{what}"
    );
    assert!(!header("cross-origin-resource-policy").is_empty(), "{what}");
    assert!(!header("x-request-id").is_empty(), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_every_error_carries_the_headers() {
    let platform = Platform::start().await;
    let http = platform.http();
    let email = "headers@example.com";
    let password = platform.verified_user(email, "headers", "creator").await;
    let session = platform.login(email, &password).await;

    for (method, path) in ROUTES {
        let request = match *method {
            "GET" => http.get(platform.url(path)),
            _ => http.post(platform.url(path)).json(&json!({})),
        };
        // Authenticated where it matters, but logout routes are walked last below.
        let request = if path.contains("logout") {
            request
        } else {
            request.bearer_auth(&session)
        };
        let response = request.send().await.unwrap();
        assert_secure_headers(
            &response,
            &format!("{method} {path} ({})", response.status()),
        );
        if !response.status().is_success() {
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json",
                "{method} {path}"
            );
        }
    }

    let response = http
        .get(platform.url("/v1/no-such-thing"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_secure_headers(&response, "404");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "common.not_found");

    let response = http.delete(platform.url("/v1/me")).send().await.unwrap();
    assert!(response.status().is_client_error());
    assert_secure_headers(&response, "wrong method");

    let response = http
        .post(platform.url("/v1/auth/login"))
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_secure_headers(&response, "bad json");

    // A real internal failure: identity loses a table it needs.
    let mut conn = AsyncPgConnection::establish(platform.identity_db().url())
        .await
        .unwrap();
    diesel::sql_query("ALTER TABLE one_time_tokens RENAME TO one_time_tokens_gone")
        .execute(&mut conn)
        .await
        .unwrap();
    let response = http
        .post(platform.url("/v1/auth/verify-email"))
        .json(&json!({"token": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert_secure_headers(&response, "500");
    let body = response.text().await.unwrap();
    assert!(
        !body.contains("one_time_tokens"),
        "internal details leaked: {body}"
    );
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["code"], "common.internal");
    assert!(problem["request_id"].is_string());
    platform.stop().await;
}
