//! The rate limiter against the machine's real Redis: exact shared budgets across instances,
//! and the fall back to local limits when Redis goes away.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use df_gateway::security::{
    TrustedProxies,
    ratelimit::{RateLimitRule, RateLimiter, RedisStore, StoreKind},
};
use df_testkit::{TcpProxy, TestRedis};

fn limiter(cache: df_common::cache::Cache) -> RateLimiter {
    RateLimiter::new(
        &HashMap::new(),
        Some(cache),
        Arc::new(TrustedProxies::none()),
    )
}

/// A fixed time (ms since the epoch), so the tests never depend on the clock; each test has its
/// own key prefix.
const T0: u64 = 1_900_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_exact_budget() {
    let redis = TestRedis::new();
    let a = Arc::new(limiter(redis.cache()));
    let b = Arc::new(limiter(redis.cache()));
    let rule = RateLimitRule::new(7, 1);

    let mut tasks = Vec::new();
    for i in 0..40u64 {
        let limiter = Arc::clone(if i % 2 == 0 { &a } else { &b });
        // All inside one window, in no particular order.
        tasks.push(tokio::spawn(async move {
            limiter
                .check_at("api:ip:192.0.2.1", rule, T0 + (i * 7) % 300)
                .await
        }));
    }
    let mut admitted = 0;
    for task in tasks {
        let outcome = task.await.unwrap();
        assert_eq!(outcome.store, StoreKind::Redis);
        if outcome.decision.allowed {
            admitted += 1;
        } else {
            assert!(outcome.decision.retry_after_ms > 0);
            assert!(outcome.decision.retry_after_ms <= 1_000);
        }
    }
    assert_eq!(admitted, 7, "exactly the limit across both instances");

    // Still inside the window of the earliest admissions: refused on either instance.
    assert!(
        !a.check_at("api:ip:192.0.2.1", rule, T0 + 999)
            .await
            .decision
            .allowed
    );
    assert!(
        !b.check_at("api:ip:192.0.2.1", rule, T0 + 999)
            .await
            .decision
            .allowed
    );
    // Another key has its own budget.
    assert!(
        a.check_at("api:ip:192.0.2.2", rule, T0 + 999)
            .await
            .decision
            .allowed
    );

    // One window after the last possible admission everything has left it.
    let later = T0 + 300 + 1_000;
    let mut admitted = 0;
    for i in 0..10 {
        let limiter = if i % 2 == 0 { &a } else { &b };
        let outcome = limiter.check_at("api:ip:192.0.2.1", rule, later).await;
        assert_eq!(outcome.store, StoreKind::Redis);
        admitted += usize::from(outcome.decision.allowed);
    }
    assert_eq!(admitted, 7, "a full budget again");
}

#[tokio::test]
async fn the_sorted_set_holds_at_most_the_limit_and_expires() {
    let redis = TestRedis::new();
    let cache = redis.cache();
    let store = RedisStore::new(cache.clone());
    for i in 0..12 {
        let decision = store.try_admit("k", Some(T0 + i), 5, 60_000).await.unwrap();
        assert_eq!(decision.allowed, i < 5, "request {i}");
        assert_eq!(decision.remaining, if i < 5 { 4 - i as u32 } else { 0 });
        assert_eq!(decision.reset_after_ms, 60_000 - i);
    }
    let key = store.redis_key("k");
    assert!(key.starts_with(redis.prefix()), "{key}");
    let (count, ttl) = cache
        .run(move |c| {
            let key = key.clone();
            Box::pin(async move {
                let count: i64 = deadpool_redis::redis::cmd("ZCARD")
                    .arg(&key)
                    .query_async(c)
                    .await?;
                let ttl: i64 = deadpool_redis::redis::cmd("PTTL")
                    .arg(&key)
                    .query_async(c)
                    .await?;
                Ok((count, ttl))
            })
        })
        .await
        .unwrap();
    assert_eq!(count, 5);
    assert!(
        ttl > 0
            && ttl <= 60_000 + df_gateway::security::ratelimit::redis_store::MAX_LEASE_MS as i64,
        "the key expires with its window (and the longest lease): {ttl}"
    );
}

#[tokio::test]
async fn redis_time_is_used_when_no_time_is_given() {
    let redis = TestRedis::new();
    let store = RedisStore::new(redis.cache());
    let rule = RateLimitRule::new(2, 60);
    let limiter = limiter(redis.cache());
    assert!(limiter.check("c", rule).await.decision.allowed);
    assert!(limiter.check("c", rule).await.decision.allowed);
    let refused = limiter.check("c", rule).await;
    assert_eq!(refused.store, StoreKind::Redis);
    assert!(!refused.decision.allowed);
    let retry = refused.decision.retry_after_ms;
    assert!(retry > 50_000 && retry <= 60_000, "{retry}");
    // A caller-supplied time two minutes later sees an empty window.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        store
            .try_admit("c", Some(now + 120_000), 2, 60_000)
            .await
            .unwrap()
            .allowed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_redis_falls_back_to_local_limits_quickly() {
    let redis = TestRedis::new();
    let proxy = TcpProxy::in_front_of("127.0.0.1:6379").await;
    let cache =
        df_common::cache::Cache::connect(&redis.config_for(&format!("redis://{}/0", proxy.addr())))
            .unwrap();
    let limiter = limiter(cache);
    let rule = RateLimitRule::new(3, 60);

    // Healthy: the shared budget answers and is spent.
    for _ in 0..3 {
        let outcome = limiter.check_at("auth:ip:198.51.100.7", rule, T0).await;
        assert_eq!(outcome.store, StoreKind::Redis);
        assert!(outcome.decision.allowed);
    }

    proxy.cut();
    // Local limits: the same budget, enforced by this instance alone, and every answer fast.
    let mut admitted = 0;
    for i in 0..8 {
        let started = Instant::now();
        let outcome = limiter
            .check_at("auth:ip:198.51.100.7", rule, T0 + 10 + i)
            .await;
        let took = started.elapsed();
        assert!(took < Duration::from_millis(300), "call {i} took {took:?}");
        assert_eq!(outcome.store, StoreKind::Local, "call {i}");
        if outcome.decision.allowed {
            admitted += 1;
        } else {
            assert!(outcome.decision.retry_after_ms > 0);
        }
    }
    assert_eq!(admitted, 3, "the local store enforces the budget");

    // Back to the shared budget once Redis answers again (after the breaker's pause).
    proxy.restore();
    let outcome = df_testkit::eventually_some("the limiter asks Redis again", async || {
        let outcome = limiter
            .check_at("auth:ip:198.51.100.7", rule, T0 + 20)
            .await;
        (outcome.store == StoreKind::Redis).then_some(outcome)
    })
    .await;
    assert!(
        !outcome.decision.allowed,
        "the shared budget was spent before the cut"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_costs_at_most_the_budget() {
    let redis = TestRedis::new();
    let proxy = TcpProxy::in_front_of("127.0.0.1:6379").await;
    let mut config = redis.config_for(&format!("redis://{}/0", proxy.addr()));
    // Slower than the limiter's budget, so only the budget bounds the wait.
    config.connect_timeout_ms = 2_000;
    config.command_timeout_ms = 2_000;
    let cache = df_common::cache::Cache::connect(&config).unwrap();
    let limiter = limiter(cache).with_redis_budget(Duration::from_millis(100));
    let rule = RateLimitRule::new(2, 60);
    assert_eq!(
        limiter.check_at("k", rule, T0).await.store,
        StoreKind::Redis
    );

    proxy.stall();
    for i in 0..3 {
        let started = Instant::now();
        let outcome = limiter.check_at("k", rule, T0 + 1 + i).await;
        let took = started.elapsed();
        assert_eq!(outcome.store, StoreKind::Local);
        assert!(took < Duration::from_millis(300), "call {i} took {took:?}");
        assert_eq!(outcome.decision.allowed, i < 2, "call {i}");
    }
    proxy.restore();
}

#[tokio::test]
async fn several_budgets_are_decided_all_or_nothing() {
    let redis = TestRedis::new();
    let store = RedisStore::new(redis.cache());
    let budgets = vec![
        ("api:user:u1".to_owned(), 2, 60_000),
        ("api:ip:10.0.0.1".to_owned(), 5, 60_000),
    ];
    let mut allowed = Vec::new();
    for i in 0..4u64 {
        let decisions = store
            .try_admit_all(&budgets, Some(1_000 + i))
            .await
            .unwrap();
        allowed.push(decisions.iter().all(|d| d.allowed));
    }
    assert_eq!(allowed, vec![true, true, false, false]);
    // The refusals by the user's budget spent nothing of the IP's.
    let ip_only = vec![("api:ip:10.0.0.1".to_owned(), 5, 60_000)];
    let decision = store.try_admit_all(&ip_only, Some(2_000)).await.unwrap()[0];
    assert!(decision.allowed);
    assert_eq!(
        decision.remaining, 2,
        "2 earlier admissions + this one out of 5"
    );
}

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

/// The largest number of `times` (sorted) inside any window `[t, t + window)`.
fn busiest_window(times: &[u64], window: u64) -> usize {
    let mut busiest = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end] >= times[start] + window {
            start += 1;
        }
        busiest = busiest.max(end - start + 1);
    }
    busiest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leased_budgets_never_admit_more_than_the_limit_in_any_window() {
    let redis = TestRedis::new();
    // A generous Redis budget: this test is about the shared budget, and on a machine busy
    // with the rest of the suite a round trip can outlast the production budget, which would
    // fall back to local limits.
    let instances: Vec<RateLimiter> = (0..3)
        .map(|_| limiter(redis.cache()).with_redis_budget(Duration::from_secs(5)))
        .collect();
    // 640 per 2 s: leases of up to 20 requests.
    let rule = RateLimitRule::new(640, 2);
    let keys = ["api:user:u1".to_owned(), "api:ip:192.0.2.9".to_owned()];
    for seed in [1_u64, 7, 42] {
        let mut rng = Lcg(seed);
        let prefix = format!("s{seed}:");
        let keys: Vec<String> = keys.iter().map(|k| format!("{prefix}{k}")).collect();
        let mut now = T0;
        let mut admitted = Vec::new();
        let mut asked = 0;
        // Bursts (up to 1 request/ms) and lulls, spread over three instances, for ~8 windows.
        while now < T0 + 16_000 {
            let burst = rng.next(4) != 0;
            for _ in 0..200 {
                now += if burst { rng.next(2) } else { rng.next(12) };
                let instance = &instances[rng.next(3) as usize];
                asked += 1;
                let outcome = instance.check_all_at(&keys, rule, now).await;
                assert_eq!(outcome.store, StoreKind::Redis);
                if outcome.decision.allowed {
                    admitted.push(now);
                } else {
                    assert!(outcome.decision.retry_after_ms > 0);
                }
            }
        }
        let busiest = busiest_window(&admitted, rule.window_ms());
        assert!(
            busiest <= 640,
            "seed {seed}: {busiest} admitted in one window"
        );
        // The demand exceeds the budget, and leases must not waste most of it.
        assert!(asked > admitted.len(), "seed {seed}: nothing refused");
        assert!(
            busiest >= 500,
            "seed {seed}: only {busiest} in the busiest window"
        );
    }
    let round_trips: u64 = instances.iter().map(RateLimiter::redis_round_trips).sum();
    assert!(round_trips > 0);
}

#[tokio::test]
async fn a_steady_client_under_its_budget_is_never_refused_and_rarely_costs_a_round_trip() {
    let redis = TestRedis::new();
    let limiter = limiter(redis.cache());
    let rule = RateLimitRule::new(640, 2);
    let keys = vec!["api:user:u2".to_owned(), "api:ip:192.0.2.10".to_owned()];
    // 240 requests a second (75 % of the budget) for 10 seconds.
    let mut now = T0;
    let requests = 2_400;
    for i in 0..requests {
        now = T0 + i * 1_000 / 240;
        let outcome = limiter.check_all_at(&keys, rule, now).await;
        assert!(outcome.decision.allowed, "request {i} at +{} ms", now - T0);
        assert_eq!(outcome.store, StoreKind::Redis);
    }
    let round_trips = limiter.redis_round_trips();
    assert!(
        round_trips * 10 < requests,
        "{round_trips} round trips for {requests} requests"
    );
    // A quiet key keeps exact single admissions: one round trip each.
    let quiet = vec!["api:ip:192.0.2.11".to_owned()];
    let before = limiter.redis_round_trips();
    for i in 0..3 {
        assert!(
            limiter
                .check_all_at(&quiet, rule, now + 10_000 * (i + 1))
                .await
                .decision
                .allowed
        );
    }
    assert_eq!(limiter.redis_round_trips() - before, 3);
}
