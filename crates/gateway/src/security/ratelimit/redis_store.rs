//! The sliding-window log shared by every gateway instance, in Redis.
//!
//! One sorted set per key holds the admission times (scores) of the last window. A Lua script
//! expires, counts, admits and sets the TTL in one step, so concurrent requests on any number of
//! instances never over-admit. The time is Redis's own clock (one clock for all instances, so
//! their skew does not matter) unless the caller passes one, as tests do.
//!
//! Each request's member is unique and chosen before the call: if `Cache::run` retries after a
//! timeout that hid a success, the script finds its member already there and answers "admitted"
//! again instead of counting the request twice.

use std::sync::LazyLock;

use deadpool_redis::redis::Script;
use df_common::{Error, cache::Cache};

use super::window::Decision;

/// Returns `{allowed, count, oldest_ms, now_ms}`; `oldest_ms` is -1 when the set is empty.
const ADMIT: &str = r"
local key = KEYS[1]
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local member = ARGV[4]
local allowed = 0
if redis.call('ZSCORE', key, member) then
  allowed = 1
else
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) < limit then
    redis.call('ZADD', key, now, member)
    allowed = 1
  end
end
local count = redis.call('ZCARD', key)
local oldest = -1
local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
if first[2] then
  oldest = tonumber(first[2])
end
redis.call('PEXPIRE', key, window)
return {allowed, count, oldest, now}
";

static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(ADMIT));

/// The same for several keys at once, all or nothing: the request is recorded in every window
/// only when every window has room, so a refusal by one budget spends none of the others. One
/// round trip per request whatever the number of budgets. ARGV: now (-1 for Redis's clock),
/// member, then window and limit per key. Returns `{now, allowed, count, oldest, …per key}`.
const ADMIT_ALL: &str = r"
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local member = ARGV[2]
local room = true
local seen = {}
local counts = {}
for i = 1, #KEYS do
  local window = tonumber(ARGV[1 + 2 * i])
  local limit = tonumber(ARGV[2 + 2 * i])
  if redis.call('ZSCORE', KEYS[i], member) then
    seen[i] = true
    counts[i] = redis.call('ZCARD', KEYS[i])
  else
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
    counts[i] = redis.call('ZCARD', KEYS[i])
    if counts[i] >= limit then
      room = false
    end
  end
end
local out = {now}
for i = 1, #KEYS do
  local window = tonumber(ARGV[1 + 2 * i])
  local allowed = 0
  local count = counts[i]
  if seen[i] then
    allowed = 1
  elseif room then
    redis.call('ZADD', KEYS[i], now, member)
    allowed = 1
    count = count + 1
  end
  local oldest = -1
  local first = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  if first[2] then
    oldest = tonumber(first[2])
  end
  redis.call('PEXPIRE', KEYS[i], window)
  table.insert(out, allowed)
  table.insert(out, count)
  table.insert(out, oldest)
end
return out
";

static SCRIPT_ALL: LazyLock<Script> = LazyLock::new(|| Script::new(ADMIT_ALL));

/// Sliding windows in Redis, under the cache's key prefix (`<prefix>rl:<key>`).
#[derive(Clone, Debug)]
pub struct RedisStore {
    cache: Cache,
}

impl RedisStore {
    /// A store on `cache`.
    pub fn new(cache: Cache) -> Self {
        Self { cache }
    }

    /// The Redis key of a limiter key.
    pub fn redis_key(&self, key: &str) -> String {
        self.cache.key(&format!("rl:{key}"))
    }

    /// Decides a request for `key` under `limit` per `window_ms`, at `now_ms` or, when `None`,
    /// at Redis's current time. Fails when Redis is unavailable (error, timeout or breaker open).
    pub async fn try_admit(
        &self,
        key: &str,
        now_ms: Option<u64>,
        limit: u32,
        window_ms: u64,
    ) -> Result<Decision, Error> {
        let redis_key = self.redis_key(key);
        let member = uuid::Uuid::new_v4().simple().to_string();
        // -1 asks the script for Redis's clock; any real time fits in an i64.
        let now_arg = now_ms.map_or(-1, |now| i64::try_from(now).unwrap_or(i64::MAX));
        let (allowed, count, oldest, now): (i64, i64, i64, i64) = self
            .cache
            .run(move |connection| {
                let mut invocation = SCRIPT.prepare_invoke();
                invocation
                    .key(redis_key.as_str())
                    .arg(now_arg)
                    .arg(window_ms)
                    .arg(limit)
                    .arg(member.as_str());
                Box::pin(async move { invocation.invoke_async(connection).await })
            })
            .await?;
        let as_u64 = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(Decision::from_state(
            allowed == 1,
            as_u64(count),
            limit,
            (oldest >= 0).then(|| as_u64(oldest)),
            as_u64(now),
            window_ms,
        ))
    }

    /// Decides one request against several budgets `(key, limit, window_ms)` in one atomic
    /// step: admitted (and recorded in every window) only when all have room. The decisions
    /// come back in order; when refused, the exhausted budgets are the ones not `allowed` whose
    /// `remaining` is zero.
    pub async fn try_admit_all(
        &self,
        budgets: &[(String, u32, u64)],
        now_ms: Option<u64>,
    ) -> Result<Vec<Decision>, Error> {
        let keys: Vec<String> = budgets
            .iter()
            .map(|(key, _, _)| self.redis_key(key))
            .collect();
        let member = uuid::Uuid::new_v4().simple().to_string();
        let now_arg = now_ms.map_or(-1, |now| i64::try_from(now).unwrap_or(i64::MAX));
        let args: Vec<(u64, u32)> = budgets
            .iter()
            .map(|(_, limit, window)| (*window, *limit))
            .collect();
        let values: Vec<i64> = self
            .cache
            .run(move |connection| {
                let mut invocation = SCRIPT_ALL.prepare_invoke();
                for key in &keys {
                    invocation.key(key.as_str());
                }
                invocation.arg(now_arg).arg(member.as_str());
                for (window, limit) in &args {
                    invocation.arg(*window).arg(*limit);
                }
                Box::pin(async move { invocation.invoke_async(connection).await })
            })
            .await?;
        let as_u64 = |v: i64| u64::try_from(v).unwrap_or(0);
        let now = values.first().copied().map(as_u64).unwrap_or(0);
        let decisions = budgets
            .iter()
            .enumerate()
            .map(|(i, (_, limit, window))| {
                let at = |j: usize| values.get(1 + 3 * i + j).copied().unwrap_or(0);
                Decision::from_state(
                    at(0) == 1,
                    as_u64(at(1)),
                    *limit,
                    (at(2) >= 0).then(|| as_u64(at(2))),
                    now,
                    *window,
                )
            })
            .collect();
        Ok(decisions)
    }
}
