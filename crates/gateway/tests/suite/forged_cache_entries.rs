//! Redis is shared by several services, so what is read back from it is believed only when this
//! service sealed it for that very key: a session entry written by anyone else, or a genuine one
//! copied under another token's key, opens nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use df_devstack::platform::Platform;

fn session_key(token: &str) -> String {
    format!(
        "session:{}",
        hex::encode(df_identity::tokens::digest(token))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_written_into_redis_by_anyone_else_opens_nothing() {
    let platform = Platform::start().await;
    let password = platform
        .verified_user("victim@example.com", "victim", "creator")
        .await;
    let genuine = platform.login("victim@example.com", &password).await;
    let (status, me) = platform.get_json("/v1/me", &genuine).await;
    assert_eq!(status, 200, "{me}");
    let user_id = me["id"].as_str().unwrap();

    // Someone with write access to the shared Redis plants a validation for a token they made
    // up, in identity's format, naming the victim as an admin.
    let cache = platform.identity_cache();
    let made_up = df_identity::tokens::new_token();
    let forged = serde_json::json!({
        "session_id": uuid::Uuid::now_v7(),
        "user_id": user_id,
        "role": "admin",
        "idle_expires_at": "2099-01-01T00:00:00Z",
        "absolute_expires_at": "2099-01-01T00:00:00Z",
    });
    cache
        .set_px(
            &session_key(&made_up),
            forged.to_string().as_bytes(),
            Duration::from_secs(600),
        )
        .await
        .unwrap();
    let (status, problem) = platform.get_json("/v1/me", &made_up).await;
    assert_eq!(status, 401, "{problem}");

    // The genuine sealed entry, copied under the made-up token's key, is refused too.
    let sealed = cache.get(&session_key(&genuine)).await.unwrap().unwrap();
    let other = df_identity::tokens::new_token();
    cache
        .set_px(&session_key(&other), &sealed, Duration::from_secs(600))
        .await
        .unwrap();
    let (status, problem) = platform.get_json("/v1/me", &other).await;
    assert_eq!(status, 401, "{problem}");

    // The genuine session still works (its own entry, or Postgres).
    let (status, _) = platform.get_json("/v1/me", &genuine).await;
    assert_eq!(status, 200);
    platform.stop().await;
}
