//! Redis through deadpool-redis, with timeouts, bounded retries and a short circuit breaker.
//!
//! Commands share one multiplexed connection taken from the pool, instead of checking a
//! connection out per command: a checkout costs a `PING` round trip (deadpool-redis recycles
//! with one), which would double the round trips of every cache read. None of the commands
//! used here depend on connection state (no `WATCH`, no blocking reads, no pub/sub), so
//! sharing is safe. A connection that fails a command or times out is dropped, and the next
//! command takes a fresh one from the pool.
//!
//! Every call is bounded: getting a connection by `connect_timeout_ms`, each command by
//! `command_timeout_ms`, and at most `max_retries` retries with jittered exponential back-off.
//! After a failure the cache is considered down for a moment and calls fail at once, so a dead
//! Redis costs callers microseconds, not timeouts, and they fall back (cache miss, local rate
//! limits) instead of hanging.
//!
//! Values that grant access are stored sealed ([`Cache::set_sealed_px`], [`Cache::open`]): the
//! Redis is shared, and what another party wrote there must never pass for our own answer.

pub mod seal;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use deadpool_redis::{
    Pool, Runtime,
    redis::{self, aio::MultiplexedConnection},
};
use futures::future::BoxFuture;
use rand::Rng;

use crate::{
    config::RedisConfig,
    error::{Error, ErrorKind},
};

/// Cached values refused because they were not sealed by this service for their key (or had
/// expired): anything above a trickle means someone else writes our keys.
static UNAUTHENTIC: std::sync::LazyLock<Option<prometheus::IntCounter>> =
    std::sync::LazyLock::new(|| {
        crate::telemetry::metrics::counter(
            "df_cache_unauthentic_values_total",
            "Cached values read back without this service's seal (or expired), treated as misses.",
        )
        .ok()
    });

fn now_ms() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

/// How long the cache is skipped after a failure.
const BREAKER_OPEN: Duration = Duration::from_millis(500);

/// The Redis handle every service keeps; cheap to clone.
#[derive(Clone)]
pub struct Cache {
    pool: Pool,
    prefix: Arc<str>,
    connect_timeout: Duration,
    command_timeout: Duration,
    max_retries: u32,
    retry_base: Duration,
    breaker: Arc<Breaker>,
    shared: Arc<SharedConnection>,
    seal: seal::ValueSeal,
}

/// The multiplexed connection commands share, numbered so that a caller whose command failed
/// drops only the connection it used, never a fresh one another caller has put in meanwhile.
#[derive(Default)]
struct SharedConnection {
    current: Mutex<Option<(u64, MultiplexedConnection)>>,
    next_number: AtomicU64,
}

impl SharedConnection {
    fn get(&self) -> Option<(u64, MultiplexedConnection)> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn put(&self, conn: MultiplexedConnection) -> (u64, MultiplexedConnection) {
        let number = self.next_number.fetch_add(1, Ordering::Relaxed);
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Two callers may have connected at once; the first one in is kept and the other's
        // connection serves only its own command.
        if let Some(kept) = current.as_ref() {
            return kept.clone();
        }
        *current = Some((number, conn.clone()));
        (number, conn)
    }

    fn drop_if_current(&self, number: u64) {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.as_ref().is_some_and(|(n, _)| *n == number) {
            *current = None;
        }
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Why one attempt failed.
enum Failure {
    /// No answer in time.
    TimedOut(anyhow::Error),
    /// An error answer or a refused connection.
    Failed(anyhow::Error),
}

struct Breaker {
    epoch: Instant,
    /// Milliseconds since `epoch` until which calls are skipped.
    open_until_ms: AtomicU64,
    /// Set while one caller probes a Redis that was marked down; the others keep failing fast.
    probing: AtomicBool,
}

/// Permission to call Redis; ends a probe when dropped.
struct Admission<'a>(Option<&'a AtomicBool>);

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if let Some(probing) = self.0 {
            probing.store(false, Ordering::Release);
        }
    }
}

impl Breaker {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
    fn is_open(&self) -> bool {
        self.now_ms() < self.open_until_ms.load(Ordering::Relaxed)
    }

    /// Closed: everyone passes. Open: nobody. Half-open (tripped before, pause over): exactly
    /// one caller passes to probe.
    fn admit(&self) -> Option<Admission<'_>> {
        let until = self.open_until_ms.load(Ordering::Relaxed);
        if until == 0 {
            return Some(Admission(None));
        }
        if self.is_open() {
            return None;
        }
        self.probing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Admission(Some(&self.probing)))
    }
    fn trip(&self) {
        let until = self.now_ms() + u64::try_from(BREAKER_OPEN.as_millis()).unwrap_or(500);
        self.open_until_ms.store(until, Ordering::Relaxed);
    }
    fn close(&self) {
        self.open_until_ms.store(0, Ordering::Relaxed);
    }
}

fn unavailable(cause: impl Into<anyhow::Error>) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        "common.cache_unavailable",
        "The service is temporarily unavailable. Try again later.",
    )
    .with_cause(cause)
}

impl Cache {
    /// Builds the pool; no connection is opened until one is needed. A `rediss://` URL
    /// connects over TLS, trusting `ca_file` when set and the public web roots otherwise.
    pub fn connect(config: &RedisConfig) -> Result<Self, Error> {
        let connect_timeout = Duration::from_millis(config.connect_timeout_ms);
        let mut pool_settings = deadpool_redis::PoolConfig::new(config.pool_size);
        pool_settings.timeouts.wait = Some(connect_timeout);
        pool_settings.timeouts.create = Some(connect_timeout);
        pool_settings.timeouts.recycle = Some(connect_timeout);
        crate::tls::install_crypto_provider();
        // Errors name the setting only: the URL may hold a password.
        let refused = |what: &str| {
            let what = what.to_owned();
            move |e: redis::RedisError| Error::internal(anyhow::anyhow!("{what}: {}", e.category()))
        };
        let client = match &config.ca_file {
            Some(ca_file) => {
                let root_cert = std::fs::read(ca_file)
                    .map_err(|e| Error::internal(anyhow::anyhow!("redis.ca_file: {e}")))?;
                redis::Client::build_with_tls(
                    config.url.expose().as_str(),
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(root_cert),
                    },
                )
                .map_err(refused("redis.ca_file"))?
            }
            None => {
                redis::Client::open(config.url.expose().as_str()).map_err(refused("redis.url"))?
            }
        };
        let manager = deadpool_redis::Manager::new(client.get_connection_info().clone())
            .map_err(refused("redis.url"))?;
        let pool = Pool::builder(manager)
            .config(pool_settings)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| Error::internal(anyhow::anyhow!("redis pool: {e}")))?;
        Ok(Self {
            pool,
            prefix: Arc::from(config.key_prefix.as_str()),
            connect_timeout,
            command_timeout: Duration::from_millis(config.command_timeout_ms),
            max_retries: config.max_retries,
            retry_base: Duration::from_millis(config.retry_base_ms),
            breaker: Arc::new(Breaker {
                epoch: Instant::now(),
                open_until_ms: AtomicU64::new(0),
                probing: AtomicBool::new(false),
            }),
            shared: Arc::new(SharedConnection::default()),
            seal: seal::ValueSeal::from_config(&config.value_key)
                .map_err(|problem| Error::internal(anyhow::anyhow!(problem)))?,
        })
    }

    /// The full key for `key` under this cache's prefix.
    pub fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The prefix of every key.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Runs `op` on the shared connection with the timeouts, retries and breaker described
    /// above. `op` may run more than once, so it must be idempotent (or harmless to repeat), and
    /// it must not change the connection's state.
    pub async fn run<T, F>(&self, op: F) -> Result<T, Error>
    where
        T: Send,
        F: for<'c> Fn(&'c mut MultiplexedConnection) -> BoxFuture<'c, redis::RedisResult<T>>
            + Send
            + Sync,
    {
        let Some(_probe) = self.breaker.admit() else {
            return Err(unavailable(anyhow::anyhow!("redis marked down")));
        };
        let mut attempt = 0;
        loop {
            match self.attempt(&op).await {
                Ok(value) => {
                    self.breaker.close();
                    return Ok(value);
                }
                // A timeout means Redis is slow or unreachable; retrying would only multiply the
                // wait, so it trips the breaker at once.
                Err(Failure::TimedOut(error)) => {
                    self.breaker.trip();
                    return Err(unavailable(error));
                }
                Err(Failure::Failed(error)) if attempt >= self.max_retries => {
                    self.breaker.trip();
                    return Err(unavailable(error));
                }
                Err(Failure::Failed(_)) => {
                    attempt += 1;
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
            }
        }
    }

    async fn attempt<T, F>(&self, op: &F) -> Result<T, Failure>
    where
        F: for<'c> Fn(&'c mut MultiplexedConnection) -> BoxFuture<'c, redis::RedisResult<T>>,
    {
        let (number, mut conn) = match self.shared.get() {
            Some(shared) => shared,
            None => self.shared.put(self.open_connection().await?),
        };
        let result = tokio::time::timeout(self.command_timeout, op(&mut conn)).await;
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                // A broken connection must not serve the next command.
                self.shared.drop_if_current(number);
                Err(Failure::Failed(anyhow::anyhow!("redis command: {e}")))
            }
            Err(_) => {
                self.shared.drop_if_current(number);
                Err(Failure::TimedOut(anyhow::anyhow!(
                    "redis command timed out"
                )))
            }
        }
    }

    /// A new connection from the pool, no longer counted by it.
    async fn open_connection(&self) -> Result<MultiplexedConnection, Failure> {
        let conn = tokio::time::timeout(self.connect_timeout, self.pool.get())
            .await
            .map_err(|_| Failure::TimedOut(anyhow::anyhow!("redis connect timed out")))?
            .map_err(|e| Failure::Failed(anyhow::anyhow!("redis connect: {e}")))?;
        Ok(deadpool_redis::Connection::take(conn))
    }

    /// Full jitter: a random delay up to `base * 2^attempt`.
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self.retry_base.saturating_mul(1 << attempt.min(10));
        let millis = u64::try_from(cap.as_millis()).unwrap_or(1).max(1);
        Duration::from_millis(rand::thread_rng().gen_range(0..=millis))
    }

    /// `GET` of a prefixed key.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let key = self.key(key);
        self.run(move |c| {
            let key = key.clone();
            Box::pin(async move { redis::cmd("GET").arg(key).query_async(c).await })
        })
        .await
    }

    /// `SET key value PX ttl` of a prefixed key.
    pub async fn set_px(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), Error> {
        let key = self.key(key);
        let value = value.to_vec();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.run(move |c| {
            let (key, value) = (key.clone(), value.clone());
            Box::pin(async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(c)
                    .await
            })
        })
        .await
    }

    /// `INCR` of a prefixed key: its new value.
    pub async fn incr(&self, key: &str) -> Result<i64, Error> {
        let key = self.key(key);
        self.run(move |c| {
            let key = key.clone();
            Box::pin(async move { redis::cmd("INCR").arg(key).query_async(c).await })
        })
        .await
    }

    /// `DEL` of prefixed keys.
    pub async fn del(&self, keys: &[&str]) -> Result<(), Error> {
        if keys.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        self.run(move |c| {
            let keys = keys.clone();
            Box::pin(async move { redis::cmd("DEL").arg(keys).query_async::<()>(c).await })
        })
        .await
    }

    /// `value` sealed for the (unprefixed) `key`, valid for `ttl` from now: what to store there
    /// with a script or a pipeline of one's own.
    pub fn seal(&self, key: &str, value: &[u8], ttl: Duration) -> Vec<u8> {
        let expires_at_ms = now_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(0));
        self.seal.seal(&self.key(key), value, expires_at_ms)
    }

    /// The value of `sealed`, read from the (unprefixed) `key`, if this service sealed it for
    /// that key and it has not expired; anything else counts as unauthentic and is a miss.
    pub fn open(&self, key: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        let value = self.seal.open(&self.key(key), sealed, now_ms());
        if value.is_none()
            && let Some(counter) = UNAUTHENTIC.as_ref()
        {
            counter.inc();
        }
        value.map(<[u8]>::to_vec)
    }

    /// `GET` of a sealed value: `None` when absent, expired, or not sealed by this service.
    pub async fn get_sealed(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .get(key)
            .await?
            .and_then(|sealed| self.open(key, &sealed)))
    }

    /// `SET key value PX ttl` of a sealed value.
    pub async fn set_sealed_px(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), Error> {
        let sealed = self.seal(key, value, ttl);
        self.set_px(key, &sealed, ttl).await
    }

    /// True when Redis answers `PING` (readiness).
    pub async fn ping(&self) -> bool {
        let Ok(conn) = tokio::time::timeout(self.connect_timeout, self.pool.get()).await else {
            return false;
        };
        let Ok(mut conn) = conn else { return false };
        matches!(
            tokio::time::timeout(
                self.command_timeout,
                redis::cmd("PING").query_async::<String>(&mut conn)
            )
            .await,
            Ok(Ok(_))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        let epoch = Instant::now().checked_sub(Duration::from_secs(10)).unwrap();
        Breaker {
            epoch,
            open_until_ms: AtomicU64::new(0),
            probing: AtomicBool::new(false),
        }
    }

    #[test]
    fn a_tripped_breaker_lets_exactly_one_probe_through_after_the_pause() {
        let breaker = breaker();
        assert!(breaker.admit().is_some(), "closed: everyone passes");
        breaker.trip();
        assert!(breaker.admit().is_none(), "open: nobody passes");
        // Simulate the pause being over.
        breaker.open_until_ms.store(1, Ordering::Relaxed);
        let probe = breaker.admit();
        assert!(probe.is_some(), "half-open: one probe");
        assert!(breaker.admit().is_none(), "only one probe at a time");
        drop(probe);
        assert!(
            breaker.admit().is_some(),
            "the probe ended; the next caller probes"
        );
        breaker.close();
        let (a, b) = (breaker.admit(), breaker.admit());
        assert!(a.is_some() && b.is_some(), "closed again: everyone passes");
    }
}
