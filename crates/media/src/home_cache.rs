//! Whole home-feed answers in Redis, one per fan and page. A home feed is media's costliest
//! read: it asks payments whom the fan subscribes to, reads whom the fan follows, reads a page
//! of posts and judges each one for the fan. Its answer depends on three things, and a cached
//! answer is served only while every one of them is as it was when the answer was computed
//! (its [`Basis`]):
//!
//! - the fan: a version per fan, bumped after every committed follow, unfollow or erasure, and
//!   whenever payments announces that the fan's entitlements changed (a subscription began,
//!   changed or ended, a purchase was made or refunded: [`crate::entitlement_events`]). The
//!   version is read before payments is asked, so an announcement of any change payments had
//!   not yet seen moves it past the answer;
//! - each creator's feed version ([`crate::feed_cache`]), bumped after every change to their
//!   posts or files, and when payments announces that a tier of theirs was repriced;
//! - the clock: a page is valid only until the first scheduled post of its creators is due, or
//!   the first of the fan's subscriptions lapses (payments says when).
//!
//! So a cached answer is served without asking payments at all; what the fan just paid for
//! shows once payments' announcement arrives (its outbox is relayed right after the commit).
//!
//! The key holds the rest of the question: the fan, whether they read as staff, the cursor
//! and the page size. A read costs one Redis round trip: a script returns the answer, the fan's
//! version, and the current version of each creator the answer watches (their keys are stored
//! beside it, and must be exactly the keys its basis names). Answers are sealed with media's
//! cache key, so an answer nobody here computed is a miss.

use std::{sync::LazyLock, time::Duration};

use chrono::{DateTime, Utc};
use deadpool_redis::redis;
use df_common::{
    Error,
    cache::Cache,
    ids::{CreatorId, UserId},
};
use sha2::{Digest, Sha256};

use crate::{feed_cache, metrics, sight::Viewer};

/// The cache of home-feed answers; `None` inside when caching is off.
#[derive(Clone)]
pub struct HomeCache {
    cache: Option<Cache>,
    ttl: Duration,
}

/// One home-feed question.
#[derive(Clone, Copy, Debug)]
pub struct Question<'a> {
    pub viewer: Viewer,
    pub cursor: &'a str,
    pub limit: u32,
}

/// What an answer was computed from; see the module's documentation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Basis {
    /// The fan's version, as the lookup before the computation read it.
    pub fan: i64,
    /// Each creator of the page's question with its feed version.
    pub creators: Vec<(CreatorId, i64)>,
    /// Unix milliseconds at which the answer stops holding (a scheduled post falls due).
    pub valid_until: i64,
}

/// The fan's version and, when one is cached, the answer with its basis and the current
/// versions of the creators it watches.
#[derive(Debug)]
pub struct Lookup {
    pub fan: i64,
    pub answer: Option<(Basis, Vec<u8>)>,
    /// The version keys stored beside the answer, as stored.
    watched: String,
    /// Their current values, in order.
    versions: Vec<i64>,
}

/// Reads an answer, the fan's version, the version keys stored beside the answer and
/// each of their current values: the whole check in one round trip.
/// KEYS: the answer, the fan's version, the answer's watched keys.
const LOOKUP: &str = r"
local watched = redis.call('GET', KEYS[3])
local versions = {}
if watched then
  for key in string.gmatch(watched, '%S+') do
    versions[#versions + 1] = redis.call('GET', key) or '0'
  end
end
return {redis.call('GET', KEYS[1]) or '', redis.call('GET', KEYS[2]) or '0', watched or '', versions}
";

static LOOKUP_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(LOOKUP));

impl HomeCache {
    /// Answers kept for `ttl` in `cache`; a zero `ttl` turns caching off.
    pub fn new(cache: Cache, ttl: Duration) -> Self {
        Self {
            cache: (!ttl.is_zero()).then_some(cache),
            ttl,
        }
    }

    /// The cached answer to `question`, the fan's version and the current versions of
    /// the answer's creators, in one round trip; `None` when caching is off or Redis does not
    /// answer (then nothing is cached either).
    pub async fn lookup(&self, question: &Question<'_>) -> Option<Lookup> {
        let cache = self.cache.as_ref()?;
        let answer_key = answer_key(question);
        let keys = [
            cache.key(&answer_key),
            cache.key(&fan_key(question.viewer.user)),
            cache.key(&watched_key(&answer_key)),
        ];
        let read: Result<(Vec<u8>, i64, String, Vec<i64>), Error> = cache
            .run(move |c| {
                let keys = keys.clone();
                Box::pin(async move {
                    let mut call = LOOKUP_SCRIPT.prepare_invoke();
                    call.key(&keys[0]).key(&keys[1]).key(&keys[2]);
                    call.invoke_async(c).await
                })
            })
            .await;
        let (sealed, fan, watched, versions) = match read {
            Ok(read) => read,
            Err(e) => {
                tracing::debug!(error = %e, "home feed answer unread");
                metrics::home_cache("error");
                return None;
            }
        };
        let answer = cache
            .open(&answer_key, &sealed)
            .and_then(|value| decode(&value));
        Some(Lookup {
            fan,
            answer,
            watched,
            versions,
        })
    }

    /// The cached answer of `lookup`, when its basis still holds at `now`.
    pub fn served<'l>(&self, lookup: &'l Lookup, now: DateTime<Utc>) -> Option<&'l [u8]> {
        let served = match (&lookup.answer, &self.cache) {
            (Some((basis, answer)), Some(cache))
                if basis.fan == lookup.fan
                    && now.timestamp_millis() < basis.valid_until
                    && lookup.watched == watched(cache, &basis.creators)
                    && basis
                        .creators
                        .iter()
                        .map(|(_, version)| *version)
                        .eq(lookup.versions.iter().copied()) =>
            {
                Some(answer.as_slice())
            }
            _ => None,
        };
        metrics::home_cache(if served.is_some() { "hit" } else { "miss" });
        served
    }

    /// Caches `answer` to `question`, computed from `basis`, with the version keys of its
    /// creators beside it; a failure only costs the next reader the whole computation.
    pub async fn put(&self, question: &Question<'_>, basis: &Basis, answer: &[u8]) {
        let Some(cache) = &self.cache else {
            return;
        };
        let Some(value) = encode(basis, answer) else {
            return;
        };
        let key = answer_key(question);
        let sealed = cache.seal(&key, &value, self.ttl);
        let watched = watched(cache, &basis.creators);
        let keys = [cache.key(&key), cache.key(&watched_key(&key))];
        let ttl_ms = u64::try_from(self.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let written = cache
            .run(move |c| {
                let (keys, sealed, watched) = (keys.clone(), sealed.clone(), watched.clone());
                Box::pin(async move {
                    redis::pipe()
                        .cmd("SET")
                        .arg(&keys[1])
                        .arg(watched)
                        .arg("PX")
                        .arg(ttl_ms)
                        .ignore()
                        .cmd("SET")
                        .arg(&keys[0])
                        .arg(sealed)
                        .arg("PX")
                        .arg(ttl_ms)
                        .ignore()
                        .query_async::<()>(c)
                        .await
                })
            })
            .await;
        if let Err(e) = written {
            tracing::debug!(error = %e, "home feed answer not cached");
        }
    }

    /// Moves every cached answer of `fan` aside. Call after a change to their follows or
    /// entitlements committed, so that no reader caches the old state under the new version.
    pub async fn bump_fan(&self, fan: UserId) -> Result<(), Error> {
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        cache.incr(&fan_key(fan)).await.map(drop)
    }
}

/// The full version keys of `creators`, space separated: what the lookup script reads.
fn watched(cache: &Cache, creators: &[(CreatorId, i64)]) -> String {
    creators
        .iter()
        .map(|(creator, _)| cache.key(&feed_cache::version_key(*creator)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where the version keys an answer watches are stored, beside the answer.
fn watched_key(answer_key: &str) -> String {
    format!("{answer_key}:watched")
}

fn fan_key(fan: UserId) -> String {
    format!("home:fan:{fan}")
}

/// The fan is in the clear (their answers must be findable by nobody else's question); the
/// cursor, which the client chose, is hashed so that the key's length is bounded.
fn answer_key(question: &Question<'_>) -> String {
    let cursor = hex::encode(Sha256::digest(question.cursor.as_bytes()));
    format!(
        "home:answer:{}:{}:{}:{cursor}",
        question.viewer.user,
        if question.viewer.staff {
            "staff"
        } else {
            "fan"
        },
        question.limit
    )
}

/// The basis's length (4 bytes), the basis and the answer's bytes.
fn encode(basis: &Basis, answer: &[u8]) -> Option<Vec<u8>> {
    let basis = serde_json::to_vec(basis)
        .map_err(|e| tracing::debug!(error = %e, "home feed basis not encoded"))
        .ok()?;
    let length = u32::try_from(basis.len()).ok()?;
    let mut out = Vec::with_capacity(4 + basis.len() + answer.len());
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&basis);
    out.extend_from_slice(answer);
    Some(out)
}

fn decode(value: &[u8]) -> Option<(Basis, Vec<u8>)> {
    let (length, rest) = value.split_first_chunk::<4>()?;
    let length = usize::try_from(u32::from_be_bytes(*length)).ok()?;
    if rest.len() < length {
        return None;
    }
    let (basis, answer) = rest.split_at(length);
    Some((serde_json::from_slice(basis).ok()?, answer.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_survive_the_round_trip_and_anything_else_is_refused() {
        let basis = Basis {
            fan: 3,
            creators: vec![(CreatorId::new(), 2), (CreatorId::new(), 0)],
            valid_until: i64::MAX,
        };
        let stored = encode(&basis, b"page").unwrap_or_default();
        assert_eq!(decode(&stored), Some((basis.clone(), b"page".to_vec())));
        let empty = encode(&basis, b"").unwrap_or_default();
        assert_eq!(decode(&empty), Some((basis, Vec::new())));
        assert_eq!(decode(&[0, 0, 0]), None);
        assert_eq!(decode(&[0, 0, 0, 9, b'{']), None);
        assert_eq!(decode(&[0, 0, 0, 2, b'{', b'}']), None);
    }

    #[test]
    fn every_part_of_the_question_is_in_the_key() {
        let viewer = Viewer {
            user: UserId::new(),
            staff: false,
        };
        let question = Question {
            viewer,
            cursor: "",
            limit: 20,
        };
        let others = [
            Question {
                viewer: Viewer {
                    user: UserId::new(),
                    ..viewer
                },
                ..question
            },
            Question {
                viewer: Viewer {
                    staff: true,
                    ..viewer
                },
                ..question
            },
            Question {
                cursor: "next",
                ..question
            },
            Question {
                limit: 21,
                ..question
            },
        ];
        for other in others {
            assert_ne!(answer_key(&question), answer_key(&other), "{other:?}");
        }
    }
}
