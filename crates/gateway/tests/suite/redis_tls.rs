//! The platform on a TLS-only Redis (`rediss://`, as managed Redis requires): sign-up, login and
//! session use work, and identity's session cache lands in that Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_common::{cache::Cache, config::RedisConfig};
use df_devstack::platform::Platform;
use df_testkit::TlsRedis;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_runs_on_a_tls_redis() {
    let server = TlsRedis::start();
    let platform = Platform::builder()
        .redis_tls(server.url.clone(), server.ca.ca_file.clone())
        .start()
        .await;
    let password = platform
        .verified_user("tls@example.com", "tls_user", "fan")
        .await;
    let token = platform.login("tls@example.com", &password).await;
    let (status, me) = platform.get_json("/v1/me", &token).await;
    assert_eq!(status, 200, "{me}");

    let cache = Cache::connect(&RedisConfig {
        url: server.url.clone().into(),
        ca_file: Some(server.ca.ca_file.clone()),
        key_prefix: platform.env.redis_config(df_identity::SERVICE).key_prefix,
        ..RedisConfig::default()
    })
    .unwrap();
    let key = format!(
        "session:{}",
        hex::encode(df_identity::tokens::digest(&token))
    );
    assert!(
        cache.get(&key).await.unwrap().is_some(),
        "the validated session is cached in the TLS Redis"
    );
    platform.stop().await;
}
