//! Redis over TLS (`rediss://`), as managed Redis services require: against a TLS-only
//! `redis-server` with a certificate from a CA made for the test, the cache works when it
//! trusts that CA, and refuses a server whose certificate it cannot verify or a plaintext URL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use df_common::{
    cache::Cache,
    config::{RedisConfig, Validate},
};
use df_testkit::{TestCa, TlsRedis};

fn config(url: &str, ca_file: Option<std::path::PathBuf>) -> RedisConfig {
    RedisConfig {
        url: url.to_owned().into(),
        ca_file,
        key_prefix: format!("t:{}:", uuid::Uuid::new_v4().simple()),
        connect_timeout_ms: 2_000,
        command_timeout_ms: 2_000,
        max_retries: 0,
        ..RedisConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_talks_tls_to_a_server_it_can_verify() {
    let server = TlsRedis::start();
    let config = config(&server.url, Some(server.ca.ca_file.clone()));
    let mut problems = Vec::new();
    config.validate(&mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    let cache = Cache::connect(&config).unwrap();
    assert!(cache.ping().await);
    cache
        .set_px("greeting", b"over tls", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        cache.get("greeting").await.unwrap().as_deref(),
        Some(&b"over tls"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverifiable_certificate_or_a_plaintext_url_gets_no_answer() {
    let server = TlsRedis::start();
    // The public web roots (no ca_file) do not vouch for the test CA.
    let public_roots = Cache::connect(&config(&server.url, None)).unwrap();
    assert!(!public_roots.ping().await);
    assert!(public_roots.get("anything").await.is_err());
    // Another CA's certificate file does not either.
    let other = TestCa::new();
    let wrong_ca = Cache::connect(&config(&server.url, Some(other.ca_file.clone()))).unwrap();
    assert!(wrong_ca.get("anything").await.is_err());
    // Plaintext to the TLS port.
    let plain_url = server.url.replace("rediss://", "redis://");
    let plaintext = Cache::connect(&config(&plain_url, None)).unwrap();
    assert!(plaintext.get("anything").await.is_err());
    // A CA file with a plaintext URL is a configuration mistake, named at start-up.
    let mut problems = Vec::new();
    config(&plain_url, Some(server.ca.ca_file.clone())).validate(&mut problems);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("redis.ca_file"), "{problems:?}");
}
