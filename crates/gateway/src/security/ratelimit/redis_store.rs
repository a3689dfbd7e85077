//! The sliding-window log shared by every gateway instance, in Redis.
//!
//! Each budget is a sorted set of grants (member: a unique id chosen by the caller; score: the
//! time the grant ends) and a hash holding each grant's size and the running total (`#total`).
//! A Lua script expires, counts, grants and sets the TTLs in one step, so concurrent requests
//! on any number of instances never over-admit. The time is Redis's own clock (one clock for
//! all instances, so their skew does not matter) unless the caller passes one, as tests do.
//!
//! A grant of one request with no lease time is an ordinary sliding-window admission. A grant
//! of `n` requests with a lease of `l` ms lets an instance admit up to `n` requests on its own
//! during the next `l` ms (see [`super::lease`]). It is recorded at the **end** of its lease,
//! so it stays counted in every window that any of its requests can fall into, and the budget
//! stays exact: for any window `[a, a + w)`, every grant whose lease overlaps it ends at or
//! after `a`, so each was counted when the later ones were granted. A renewal hands back what
//! the previous lease did not spend, in the same step.
//!
//! Each grant's member is unique and chosen before the call: if `Cache::run` retries after a
//! timeout that hid a success, the script finds its member already there and answers with the
//! same grant instead of granting twice.

use std::sync::LazyLock;

use deadpool_redis::redis::Script;
use df_common::{Error, cache::Cache};

use super::window::Decision;

/// How much longer than its window a budget's keys live, so that no key expires while a lease
/// recorded at a later time is still counted. Leases never exceed it.
pub const MAX_LEASE_MS: u64 = 1_000;

/// KEYS: per budget, its sorted set and its hash. ARGV: now (-1 for Redis's clock), member,
/// keep-alive ms, then per budget: window, limit, wanted, lease ms, returned member (or ''),
/// returned count. Grants all budgets or none; each gets `min(wanted, room)`.
/// Returns `{now, granted, total, oldest, ...per budget}` (`oldest` -1 when empty).
const LEASE: &str = r"
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local member = ARGV[2]
local keep = tonumber(ARGV[3])
local budgets = #KEYS / 2
local totals, grants, seen = {}, {}, {}
local room = true
for i = 1, budgets do
  local log, sizes = KEYS[2 * i - 1], KEYS[2 * i]
  local base = 3 + 6 * (i - 1)
  local window, limit = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
  local back, unused = ARGV[base + 5], tonumber(ARGV[base + 6])
  local previous = redis.call('HGET', sizes, member)
  if previous then
    seen[i] = true
    grants[i] = tonumber(previous)
  else
    if back ~= '' and unused > 0 then
      local held = tonumber(redis.call('HGET', sizes, back))
      if held then
        local give = math.min(held, unused)
        redis.call('HINCRBY', sizes, back, -give)
        redis.call('HINCRBY', sizes, '#total', -give)
      end
    end
    local expired = redis.call('ZRANGEBYSCORE', log, '-inf', now - window)
    if #expired > 0 then
      local gone = 0
      for _, m in ipairs(expired) do
        gone = gone + (tonumber(redis.call('HGET', sizes, m)) or 0)
        redis.call('HDEL', sizes, m)
      end
      redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
      redis.call('HINCRBY', sizes, '#total', -gone)
    end
  end
  totals[i] = tonumber(redis.call('HGET', sizes, '#total')) or 0
  if not seen[i] and totals[i] >= limit then
    room = false
  end
end
local out = {now}
for i = 1, budgets do
  local log, sizes = KEYS[2 * i - 1], KEYS[2 * i]
  local base = 3 + 6 * (i - 1)
  local window, limit = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
  local wanted, lease = tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  local granted = 0
  if seen[i] then
    granted = grants[i]
  elseif room then
    granted = math.min(wanted, limit - totals[i])
    redis.call('ZADD', log, now + lease, member)
    redis.call('HSET', sizes, member, granted)
    totals[i] = redis.call('HINCRBY', sizes, '#total', granted)
  end
  local oldest = -1
  local first = redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')
  if first[2] then
    oldest = tonumber(first[2])
  end
  redis.call('PEXPIRE', log, window + keep)
  redis.call('PEXPIRE', sizes, window + keep)
  table.insert(out, granted)
  table.insert(out, totals[i])
  table.insert(out, oldest)
end
return out
";

static SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(LEASE));

/// What one budget asks of Redis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRequest {
    /// The limiter key (`api:ip:192.0.2.1`).
    pub key: String,
    /// Requests admitted per window.
    pub limit: u32,
    /// The window in milliseconds.
    pub window_ms: u64,
    /// Requests wanted (at least one).
    pub wanted: u32,
    /// How long the grant may be spent, in milliseconds (0: at once, one request).
    pub lease_ms: u64,
    /// The previous grant of this budget and what it left unspent, handed back.
    pub returned: Option<(String, u32)>,
}

/// What Redis granted one budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Requests granted (0 when refused).
    pub granted: u32,
    /// Requests counted in the window after the grant, this grant included.
    pub total: u64,
    /// The decision for the request that asked.
    pub decision: Decision,
}

/// Sliding windows in Redis, under the cache's key prefix (`<prefix>rl:<key>` and
/// `<prefix>rl:<key>:n`).
#[derive(Clone, Debug)]
pub struct RedisStore {
    cache: Cache,
}

impl RedisStore {
    /// A store on `cache`.
    pub fn new(cache: Cache) -> Self {
        Self { cache }
    }

    /// The Redis key of a limiter key (its sorted set; the hash of grant sizes adds `:n`).
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
        let decisions = self
            .try_admit_all(&[(key.to_owned(), limit, window_ms)], now_ms)
            .await?;
        decisions
            .into_iter()
            .next()
            .ok_or_else(|| Error::internal(anyhow::anyhow!("rate-limit script answered nothing")))
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
        let requests: Vec<LeaseRequest> = budgets
            .iter()
            .map(|(key, limit, window_ms)| LeaseRequest {
                key: key.clone(),
                limit: *limit,
                window_ms: *window_ms,
                wanted: 1,
                lease_ms: 0,
                returned: None,
            })
            .collect();
        let member = new_member();
        Ok(self
            .lease_all(&requests, &member, now_ms)
            .await?
            .into_iter()
            .map(|grant| grant.decision)
            .collect())
    }

    /// Grants every budget of `requests` at least one request, or none of them, recording the
    /// grants under `member` (see [`new_member`]).
    pub async fn lease_all(
        &self,
        requests: &[LeaseRequest],
        member: &str,
        now_ms: Option<u64>,
    ) -> Result<Vec<Grant>, Error> {
        let keys: Vec<String> = requests
            .iter()
            .flat_map(|r| {
                let log = self.redis_key(&r.key);
                let sizes = format!("{log}:n");
                [log, sizes]
            })
            .collect();
        // -1 asks the script for Redis's clock; any real time fits in an i64.
        let now_arg = now_ms.map_or(-1, |now| i64::try_from(now).unwrap_or(i64::MAX));
        let member = member.to_owned();
        let args: Vec<(u64, u32, u32, u64, String, u32)> = requests
            .iter()
            .map(|r| {
                let (back, unused) = r.returned.clone().unwrap_or_default();
                (
                    r.window_ms,
                    r.limit,
                    r.wanted.max(1),
                    r.lease_ms.min(MAX_LEASE_MS),
                    back,
                    unused,
                )
            })
            .collect();
        let values: Vec<i64> = self
            .cache
            .run(move |connection| {
                let mut invocation = SCRIPT.prepare_invoke();
                for key in &keys {
                    invocation.key(key.as_str());
                }
                invocation
                    .arg(now_arg)
                    .arg(member.as_str())
                    .arg(MAX_LEASE_MS);
                for (window, limit, wanted, lease, back, unused) in &args {
                    invocation
                        .arg(*window)
                        .arg(*limit)
                        .arg(*wanted)
                        .arg(*lease)
                        .arg(back.as_str())
                        .arg(*unused);
                }
                Box::pin(async move { invocation.invoke_async(connection).await })
            })
            .await?;
        let as_u64 = |v: i64| u64::try_from(v).unwrap_or(0);
        let now = values.first().copied().map(as_u64).unwrap_or(0);
        Ok(requests
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let at = |j: usize| values.get(1 + 3 * i + j).copied().unwrap_or(0);
                let granted = u32::try_from(at(0)).unwrap_or(0);
                let total = as_u64(at(1));
                Grant {
                    granted,
                    total,
                    decision: Decision::from_state(
                        granted > 0,
                        total,
                        r.limit,
                        (at(2) >= 0).then(|| as_u64(at(2))),
                        now,
                        r.window_ms,
                    ),
                }
            })
            .collect())
    }
}

/// A fresh grant id.
pub fn new_member() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
