//! A Redis key prefix per test, so parallel tests never see each other's keys.

use df_common::{cache::Cache, config::RedisConfig};

/// Server URL of the machine's Redis (override with `DF_TEST_REDIS_URL`).
pub fn server_url() -> String {
    std::env::var("DF_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned())
}

/// `host:port` of the test Redis server (for a fault proxy in front of it).
pub fn server_addr() -> String {
    let url = server_url();
    url.trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or("127.0.0.1:6379")
        .to_owned()
}

/// A key namespace that exists for one test; its keys are deleted on drop.
pub struct TestRedis {
    prefix: String,
}

impl TestRedis {
    /// A fresh prefix.
    pub fn new() -> Self {
        Self {
            prefix: format!("t:{}:", uuid::Uuid::new_v4().simple()),
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Configuration for this prefix on the machine's Redis.
    pub fn config(&self) -> RedisConfig {
        self.config_for(&server_url())
    }

    /// Configuration for this prefix on another address (e.g. through a fault proxy).
    pub fn config_for(&self, url: &str) -> RedisConfig {
        RedisConfig {
            url: url.to_owned().into(),
            key_prefix: self.prefix.clone(),
            ..RedisConfig::default()
        }
    }

    /// A cache handle on the machine's Redis.
    pub fn cache(&self) -> Cache {
        Cache::connect(&self.config()).unwrap_or_else(|e| panic!("test cache: {e:?}"))
    }
}

impl Default for TestRedis {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let pattern = format!("{}*", self.prefix);
        crate::cleanup::run_bounded("test Redis prefix", async move {
            let Ok(client) = deadpool_redis::redis::Client::open(server_url()) else {
                return;
            };
            let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
                return;
            };
            let keys: Vec<String> = deadpool_redis::redis::cmd("KEYS")
                .arg(&pattern)
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<(), _> = deadpool_redis::redis::cmd("DEL")
                    .arg(keys)
                    .query_async(&mut conn)
                    .await;
            }
        });
    }
}
