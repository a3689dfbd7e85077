//! Entitlements — the one answer to "may this fan see this": the creator themself, an unrevoked
//! PPV purchase of the item, or a subscription whose access has not ended (the paid period,
//! also after cancellation, or the grace period while a renewal is past due). Subscriber content
//! may be reserved to a minimum tier: then only a subscription to a tier of the creator's priced
//! at least as high as that tier opens it.
//!
//! Answers are cached in Redis. Each fan has a generation counter; a cached answer carries the
//! generation it was computed under and is used only while that is still current. Every change
//! of a fan's entitlements bumps the generation after its transaction commits, and an answer
//! computed from the database is stored only if the generation did not move meanwhile, so a
//! stale answer can never be cached over a fresh change. Answers are sealed with this service's
//! cache key ([`Cache::seal`]): the Redis is shared, and an answer nobody here computed is a
//! miss, never a grant.

use crate::ids::{PpvItemId, TierId};
use crate::status::SubscriptionStatus;
use df_common::ids::{CreatorId, UserId};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_redis::redis;
use df_common::{Error, cache::Cache};
use df_proto::events::v1::EntitlementChanged;
use df_runtime::{bus::outbox, db::Db};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::SERVICE;
use crate::schema::{ppv_items, ppv_purchases, subscriptions, tiers};

/// Why access is granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The creator's own content.
    Owner,
    /// A subscription.
    Subscription,
    /// A PPV purchase.
    Ppv,
    /// No access.
    None,
}

impl Reason {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Owner => "owner",
            Reason::Subscription => "subscription",
            Reason::Ppv => "ppv",
            Reason::None => "none",
        }
    }

    fn parse(value: &str) -> Self {
        match value {
            "owner" => Reason::Owner,
            "subscription" => Reason::Subscription,
            "ppv" => Reason::Ppv,
            _ => Reason::None,
        }
    }
}

/// An answer: access until a moment (`None` = without end), or no access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Why.
    pub reason: Reason,
    /// Access ends at this instant (`None`: it does not end).
    pub until: Option<DateTime<Utc>>,
}

impl Grant {
    /// No access.
    pub const NONE: Grant = Grant {
        reason: Reason::None,
        until: None,
    };

    /// True when this grant allows access at `now`.
    pub fn allows(&self, now: DateTime<Utc>) -> bool {
        self.reason != Reason::None && self.until.is_none_or(|until| until > now)
    }

    fn encode(&self) -> String {
        let until = self.until.map_or(-1, |u| u.timestamp_millis());
        format!("{}|{until}", self.reason.as_str())
    }

    fn decode(value: &str) -> Option<Grant> {
        let (reason, until) = value.split_once('|')?;
        let until: i64 = until.parse().ok()?;
        let until = (until >= 0)
            .then(|| DateTime::from_timestamp_millis(until))
            .flatten();
        Some(Grant {
            reason: Reason::parse(reason),
            until,
        })
    }
}

/// What is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question {
    /// The fan.
    pub fan_id: UserId,
    /// The creator whose content it is.
    pub creator_id: CreatorId,
    /// A PPV item (a subscription does not unlock it), or subscriber content when `None`.
    pub ppv_item_id: Option<PpvItemId>,
    /// Subscriber content reserved to this tier and dearer ones (ignored for a PPV item).
    pub min_tier_id: Option<TierId>,
}

/// How long past-due subscriptions keep access.
#[derive(Clone, Copy, Debug)]
pub struct AccessPolicy {
    /// Grace after a failed renewal.
    pub grace: chrono::Duration,
}

/// Computes the grant from the database.
///
/// The owner rule holds only for the real owner: for a PPV item, the creator recorded on the
/// item, and only when the question names that creator; an item asked about under another
/// creator's name is no one's to see.
pub async fn from_database(
    conn: &mut AsyncPgConnection,
    question: &Question,
    policy: AccessPolicy,
) -> Result<Grant, Error> {
    if let Some(item) = question.ppv_item_id {
        let found: Option<(CreatorId, bool)> = ppv_items::table
            .filter(ppv_items::id.eq(item))
            .select((
                ppv_items::creator_id,
                diesel::dsl::exists(
                    ppv_purchases::table
                        .filter(ppv_purchases::ppv_item_id.eq(item))
                        .filter(ppv_purchases::fan_id.eq(question.fan_id))
                        .filter(ppv_purchases::revoked_at.is_null()),
                ),
            ))
            .first(conn)
            .await
            .optional()
            .map_err(Error::internal)?;
        return Ok(match found {
            Some((owner, _)) if owner != question.creator_id => Grant::NONE,
            Some((owner, _)) if owner == question.fan_id => Grant {
                reason: Reason::Owner,
                until: None,
            },
            Some((_, true)) => Grant {
                reason: Reason::Ppv,
                until: None,
            },
            _ => Grant::NONE,
        });
    }
    if question.fan_id == question.creator_id {
        return Ok(Grant {
            reason: Reason::Owner,
            until: None,
        });
    }
    let min_price = match question.min_tier_id {
        None => None,
        Some(tier) => {
            let price: Option<i64> = tiers::table
                .filter(tiers::id.eq(tier))
                .filter(tiers::creator_id.eq(question.creator_id))
                .select(tiers::price_minor)
                .first(conn)
                .await
                .optional()
                .map_err(Error::internal)?;
            // Another creator's tier (or none) names content nobody subscribes to.
            let Some(price) = price else {
                return Ok(Grant::NONE);
            };
            Some(price)
        }
    };
    let until = access_by_creator(
        conn,
        question.fan_id,
        Some((question.creator_id, min_price)),
        policy,
    )
    .await?
    .into_iter()
    .map(|(_, until)| until)
    .max();
    Ok(match until {
        Some(until) => Grant {
            reason: Reason::Subscription,
            until: Some(until),
        },
        None => Grant::NONE,
    })
}

/// A subscription's creator and the state its access depends on: status, period end, and since
/// when it is past due.
type SubscriptionAccess = (
    CreatorId,
    SubscriptionStatus,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

/// When each of `fan`'s subscriptions (to one creator, or to anyone) lets them in until, by
/// creator; subscriptions that give no access are left out. With a creator may come a
/// minimum price: then only subscriptions to that creator's tiers priced at least as much count.
async fn access_by_creator(
    conn: &mut AsyncPgConnection,
    fan: UserId,
    creator: Option<(CreatorId, Option<i64>)>,
    policy: AccessPolicy,
) -> Result<Vec<(CreatorId, DateTime<Utc>)>, Error> {
    let mut query = subscriptions::table
        .filter(subscriptions::fan_id.eq(fan))
        .filter(subscriptions::status.ne(SubscriptionStatus::Ended))
        .select((
            subscriptions::creator_id,
            subscriptions::status,
            subscriptions::current_period_end,
            subscriptions::past_due_since,
        ))
        .into_boxed();
    if let Some((creator, min_price)) = creator {
        query = query.filter(subscriptions::creator_id.eq(creator));
        if let Some(min_price) = min_price {
            query = query.filter(
                subscriptions::tier_id.eq_any(
                    tiers::table
                        .filter(tiers::creator_id.eq(creator))
                        .filter(tiers::price_minor.ge(min_price))
                        .select(tiers::id),
                ),
            );
        }
    }
    let rows: Vec<SubscriptionAccess> = query.load(conn).await.map_err(Error::internal)?;
    Ok(rows
        .into_iter()
        .filter_map(|(creator, status, period_end, past_due_since)| {
            access_until(status, period_end, past_due_since, policy).map(|until| (creator, until))
        })
        .collect())
}

/// Until when each of `fan`'s subscriptions lets them see its creator's subscriber content
/// (the fan's home feed); subscriptions that give no access are left out.
pub async fn subscription_access(
    conn: &mut AsyncPgConnection,
    fan: UserId,
    policy: AccessPolicy,
) -> Result<Vec<(CreatorId, DateTime<Utc>)>, Error> {
    access_by_creator(conn, fan, None, policy).await
}

/// The creators whose subscriber content is open at `now`, from [`subscription_access`]:
/// each once, in order.
pub fn subscribed_at(access: &[(CreatorId, DateTime<Utc>)], now: DateTime<Utc>) -> Vec<CreatorId> {
    let mut creators: Vec<CreatorId> = access
        .iter()
        .filter(|(_, until)| *until > now)
        .map(|(creator, _)| *creator)
        .collect();
    creators.sort_unstable();
    creators.dedup();
    creators
}

/// The first moment after `now` at which access from [`subscription_access`] ends: no later
/// than the list of [`subscribed_at`] next changes by the clock alone. `None` when nothing in
/// it ends.
pub fn next_change(
    access: &[(CreatorId, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    access
        .iter()
        .map(|(_, until)| *until)
        .filter(|until| *until > now)
        .min()
}

/// Announces, in the transaction that changed them, that these fans' entitlements changed
/// (`payments.entitlement.changed`, one event per fan): services that keep what they derived
/// from earlier answers, such as media's home feeds, drop it.
pub async fn announce_fans(conn: &mut AsyncPgConnection, fans: &[UserId]) -> Result<(), Error> {
    let mut fans = fans.to_vec();
    fans.sort_unstable();
    fans.dedup();
    for fan in fans {
        let changed = EntitlementChanged {
            fan_id: fan.to_string(),
            creator_id: String::new(),
        };
        outbox::enqueue(conn, SERVICE, &changed).await?;
    }
    Ok(())
}

/// Announces, in the transaction that changed them, that what every subscriber of `creator`
/// may see can have changed: one event for them all, however many they are.
pub async fn announce_creator(
    conn: &mut AsyncPgConnection,
    creator: CreatorId,
) -> Result<(), Error> {
    let changed = EntitlementChanged {
        fan_id: String::new(),
        creator_id: creator.to_string(),
    };
    outbox::enqueue(conn, SERVICE, &changed).await.map(drop)
}

/// When a subscription's access ends, by its state.
pub fn access_until(
    status: SubscriptionStatus,
    period_end: DateTime<Utc>,
    past_due_since: Option<DateTime<Utc>>,
    policy: AccessPolicy,
) -> Option<DateTime<Utc>> {
    match status {
        SubscriptionStatus::Trialing
        | SubscriptionStatus::Active
        | SubscriptionStatus::Canceled => Some(period_end),
        SubscriptionStatus::PastDue => {
            let grace_end = past_due_since.unwrap_or(period_end) + policy.grace;
            Some(grace_end.max(period_end))
        }
        SubscriptionStatus::Incomplete | SubscriptionStatus::Ended => None,
    }
}

/// A cached value (with the generation it was read under) or, on a miss, `load`'s, which
/// `store` caches under that generation. Without Redis the database answers alone.
async fn read_through<T>(
    cached: Option<(Option<T>, i64)>,
    load: impl Future<Output = Result<T, Error>>,
    store: impl AsyncFnOnce(i64, &T),
) -> Result<T, Error> {
    match cached {
        Some((Some(value), _)) => Ok(value),
        Some((None, generation)) => {
            let value = load.await?;
            store(generation, &value).await;
            Ok(value)
        }
        None => load.await,
    }
}

/// The key of `fan`'s generation counter.
fn generation_key(fan: UserId) -> String {
    format!("entgen:{fan}")
}

/// Subscriptions' access as `<creator>=<until in ms>` pairs, comma separated.
fn encode_access(access: &[(CreatorId, DateTime<Utc>)]) -> String {
    access
        .iter()
        .map(|(creator, until)| format!("{creator}={}", until.timestamp_millis()))
        .collect::<Vec<_>>()
        .join(",")
}

fn decode_access(value: &str) -> Option<Vec<(CreatorId, DateTime<Utc>)>> {
    value
        .split(',')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (creator, until) = pair.split_once('=')?;
            Some((
                creator.parse().ok()?,
                DateTime::from_timestamp_millis(until.parse().ok()?)?,
            ))
        })
        .collect()
}

/// The entitlement check with its cache.
#[derive(Clone)]
pub struct Entitlements {
    cache: Cache,
    ttl: Duration,
    policy: AccessPolicy,
}

/// Stores `ARGV[1]` under `KEYS[1]` only if the fan's generation (`KEYS[2]`) still equals
/// `ARGV[2]`.
const STORE_IF_CURRENT: &str = r"
local current = redis.call('GET', KEYS[2]) or '0'
if current == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
end
return 1
";

/// Generation keys outlive any cached answer.
const GENERATION_TTL_MS: u64 = 7 * 24 * 3_600 * 1_000;

impl Entitlements {
    /// The check over `cache`.
    pub fn new(cache: Cache, ttl: Duration, policy: AccessPolicy) -> Self {
        Self { cache, ttl, policy }
    }

    /// The access policy.
    pub fn policy(&self) -> AccessPolicy {
        self.policy
    }

    /// The (unprefixed) key of the answer and of the fan's generation.
    fn keys(question: &Question) -> (String, String) {
        // Every part of the question is in the key: an answer about one creator's item is
        // never the answer about the same item under another creator's name.
        let answer = match (question.ppv_item_id, question.min_tier_id) {
            (Some(item), _) => {
                format!("ent:{}:c:{}:p:{item}", question.fan_id, question.creator_id)
            }
            (None, Some(tier)) => {
                format!("ent:{}:c:{}:t:{tier}", question.fan_id, question.creator_id)
            }
            (None, None) => format!("ent:{}:c:{}", question.fan_id, question.creator_id),
        };
        (answer, generation_key(question.fan_id))
    }

    /// The answer to `question`: the cached one, else the database's (then cached).
    pub async fn grant(&self, db: &Db, question: &Question) -> Result<Grant, Error> {
        let load = async {
            let mut conn = db.conn().await?;
            from_database(&mut conn, question, self.policy).await
        };
        read_through(
            self.cached(question).await,
            load,
            async |generation, grant| {
                self.store(question, generation, *grant).await;
            },
        )
        .await
    }

    /// `fan`'s [`subscription_access`]: the cached one, else the database's, then cached.
    pub async fn subscriptions(
        &self,
        db: &Db,
        fan: UserId,
    ) -> Result<Vec<(CreatorId, DateTime<Utc>)>, Error> {
        let load = async {
            let mut conn = db.conn().await?;
            subscription_access(&mut conn, fan, self.policy).await
        };
        read_through(
            self.cached_access(fan).await,
            load,
            async |generation, access| {
                self.store_access(fan, generation, access).await;
            },
        )
        .await
    }

    /// The cached answer and the current generation, in one round trip. `None` when Redis is
    /// unavailable.
    async fn cached(&self, question: &Question) -> Option<(Option<Grant>, i64)> {
        let (answer_key, generation_key) = Self::keys(question);
        let (value, generation) = self.read(&answer_key, &generation_key).await?;
        Some((value.and_then(|v| Grant::decode(&v)), generation))
    }

    /// Stores an answer computed under `generation`, unless the generation moved since.
    async fn store(&self, question: &Question, generation: i64, grant: Grant) {
        let (answer_key, generation_key) = Self::keys(question);
        self.write(&answer_key, &generation_key, generation, &grant.encode())
            .await;
    }

    /// `fan`'s cached [`subscription_access`] and the current generation. `None` when Redis
    /// is unavailable. Each subscription carries its end, so an answer cached before one ran
    /// out still says so when read after: only new or changed subscriptions need the
    /// generation to move.
    async fn cached_access(
        &self,
        fan: UserId,
    ) -> Option<(Option<Vec<(CreatorId, DateTime<Utc>)>>, i64)> {
        let (value, generation) = self
            .read(&format!("subs:{fan}"), &generation_key(fan))
            .await?;
        Some((value.and_then(|v| decode_access(&v)), generation))
    }

    /// Stores `fan`'s [`subscription_access`] computed under `generation`, unless the
    /// generation moved since.
    async fn store_access(
        &self,
        fan: UserId,
        generation: i64,
        access: &[(CreatorId, DateTime<Utc>)],
    ) {
        self.write(
            &format!("subs:{fan}"),
            &generation_key(fan),
            generation,
            &encode_access(access),
        )
        .await;
    }

    /// The value at `answer_key` if it was stored under the current generation, and that
    /// generation, in one round trip.
    async fn read(&self, answer_key: &str, generation_key: &str) -> Option<(Option<String>, i64)> {
        let (a, g) = (self.cache.key(answer_key), self.cache.key(generation_key));
        let values: Vec<Option<Vec<u8>>> = self
            .cache
            .run(move |c| {
                let (a, g) = (a.clone(), g.clone());
                Box::pin(async move { redis::cmd("MGET").arg(a).arg(g).query_async(c).await })
            })
            .await
            .ok()?;
        let generation = values
            .get(1)
            .cloned()
            .flatten()
            .and_then(|g| String::from_utf8(g).ok()?.parse().ok())
            .unwrap_or(0);
        let value = <[Option<Vec<u8>>]>::first(&values)
            .cloned()
            .flatten()
            .and_then(|sealed| self.cache.open(answer_key, &sealed))
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| {
                let (stored_under, value) = v.split_once('|')?;
                (stored_under.parse::<i64>().ok()? == generation).then(|| value.to_owned())
            });
        Some((value, generation))
    }

    /// Stores `value` computed under `generation` at `answer_key`, unless the generation moved
    /// since.
    async fn write(&self, answer_key: &str, generation_key: &str, generation: i64, value: &str) {
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(60_000).max(1);
        let sealed = self.cache.seal(
            answer_key,
            format!("{generation}|{value}").as_bytes(),
            self.ttl,
        );
        let (answer_key, generation_key) =
            (self.cache.key(answer_key), self.cache.key(generation_key));
        let result = self
            .cache
            .run(move |c| {
                let (a, g, v) = (answer_key.clone(), generation_key.clone(), sealed.clone());
                Box::pin(async move {
                    redis::cmd("EVAL")
                        .arg(STORE_IF_CURRENT)
                        .arg(2)
                        .arg(a)
                        .arg(g)
                        .arg(v)
                        .arg(generation.to_string())
                        .arg(ttl_ms)
                        .query_async::<i64>(c)
                        .await
                })
            })
            .await;
        if let Err(e) = result {
            tracing::debug!(error = %e, "entitlement answer not cached");
        }
    }

    /// Makes every cached answer of these fans stale. Call after the change committed.
    pub async fn invalidate(&self, fans: &[UserId]) -> Result<(), Error> {
        if fans.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = fans
            .iter()
            .map(|fan| self.cache.key(&generation_key(*fan)))
            .collect();
        self.cache
            .run(move |c| {
                let keys = keys.clone();
                Box::pin(async move {
                    let mut pipe = redis::pipe();
                    for key in &keys {
                        pipe.cmd("INCR").arg(key).ignore();
                        pipe.cmd("PEXPIRE").arg(key).arg(GENERATION_TTL_MS).ignore();
                    }
                    pipe.query_async::<()>(c).await
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip_through_their_encoding() {
        let until = DateTime::from_timestamp_millis(1_800_000_000_123);
        for grant in [
            Grant::NONE,
            Grant {
                reason: Reason::Subscription,
                until,
            },
            Grant {
                reason: Reason::Ppv,
                until: None,
            },
        ] {
            assert_eq!(Grant::decode(&grant.encode()), Some(grant));
        }
        assert_eq!(Grant::decode("garbage"), None);
    }

    #[test]
    fn subscriptions_round_trip_through_their_encoding_and_count_until_they_end() {
        let (a, b) = (CreatorId::new(), CreatorId::new());
        let at = |ms| DateTime::from_timestamp_millis(ms).unwrap_or_default();
        let access = vec![(a, at(1_800_000_000_123)), (b, at(1_700_000_000_000))];
        assert_eq!(decode_access(&encode_access(&access)), Some(access.clone()));
        assert_eq!(decode_access(&encode_access(&[])), Some(Vec::new()));
        assert_eq!(decode_access("not-a-creator=1"), None);
        assert_eq!(subscribed_at(&access, at(1_750_000_000_000)), vec![a]);
        assert_eq!(
            subscribed_at(&access, at(1_900_000_000_000)),
            Vec::<CreatorId>::new()
        );
        // The list changes when b's access ends, then when a's does, then never again.
        assert_eq!(
            next_change(&access, at(1_600_000_000_000)),
            Some(at(1_700_000_000_000))
        );
        assert_eq!(
            next_change(&access, at(1_700_000_000_000)),
            Some(at(1_800_000_000_123))
        );
        assert_eq!(next_change(&access, at(1_800_000_000_123)), None);
    }

    #[test]
    fn access_follows_the_subscription_state() {
        let policy = AccessPolicy {
            grace: chrono::Duration::days(3),
        };
        let end = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        assert_eq!(
            access_until(SubscriptionStatus::Active, end, None, policy),
            Some(end)
        );
        assert_eq!(
            access_until(SubscriptionStatus::Canceled, end, None, policy),
            Some(end)
        );
        assert_eq!(
            access_until(SubscriptionStatus::PastDue, end, Some(end), policy),
            Some(end + chrono::Duration::days(3))
        );
        assert_eq!(
            access_until(SubscriptionStatus::Ended, end, None, policy),
            None
        );
        assert_eq!(
            access_until(SubscriptionStatus::Incomplete, end, None, policy),
            None
        );
    }
}
