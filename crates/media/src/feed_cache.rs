//! Feed pages in Redis. A page is the answer to one whole question: which creators, whether
//! scheduled posts count, where the page starts and how many posts it holds. Its key hashes all
//! of that together with each creator's **version**, a counter bumped after every committed
//! change to the creator's posts; a change therefore moves every page that could show it to a
//! new key, and no page is ever invalidated by deleting it.
//!
//! What is cached is the page's post ids in order, never the posts: they are read fresh (text,
//! price, attachments and their states) and go through the viewer's sight like any other, so
//! an edit, a moderation decision or an entitlement change is seen at once. A value someone else
//! wrote cannot pass (values are sealed), and even a forged one could only omit or reorder the
//! creators' own published posts, since the ids are read back under the same question.
//!
//! A page chosen while some of the creators' posts were still scheduled is valid only until the
//! first of them is due: the time is stored with the ids, and a page read at or after it is a
//! miss.

use std::time::Duration;

use chrono::{DateTime, Utc};

use deadpool_redis::redis;
use df_common::{Error, cache::Cache, ids::CreatorId};
use sha2::{Digest, Sha256};

use crate::{cursor::Position, ids::PostId, metrics};

/// The cache of feed pages; `None` inside when caching is off.
#[derive(Clone)]
pub struct FeedCache {
    cache: Option<Cache>,
    ttl: Duration,
}

/// One feed question, as far as the database is concerned.
#[derive(Clone, Copy, Debug)]
pub struct Question<'a> {
    pub creators: &'a [CreatorId],
    pub include_scheduled: bool,
    pub after: Option<Position>,
    /// Rows asked of the database (a page and one more).
    pub fetch: i64,
}

impl FeedCache {
    /// Pages kept for `ttl` in `cache`; a zero `ttl` turns caching off.
    pub fn new(cache: Cache, ttl: Duration) -> Self {
        Self {
            cache: (!ttl.is_zero()).then_some(cache),
            ttl,
        }
    }

    /// The key of `question` under the creators' current versions; `None` when caching is off
    /// or Redis does not answer (the caller asks the database).
    pub async fn key(&self, question: &Question<'_>) -> Option<String> {
        let cache = self.cache.as_ref()?;
        let version_keys: Vec<String> = question
            .creators
            .iter()
            .map(|creator| cache.key(&version_key(*creator)))
            .collect();
        let versions: Vec<Option<i64>> = cache
            .run(move |c| {
                let keys = version_keys.clone();
                Box::pin(async move { redis::cmd("MGET").arg(keys).query_async(c).await })
            })
            .await
            .map_err(|e| tracing::debug!(error = %e, "feed versions unread"))
            .ok()?;
        let mut hash = Sha256::new();
        hash.update(format!(
            "v1|{}|{}|{}|",
            question.include_scheduled,
            question
                .after
                .map(crate::cursor::encode)
                .unwrap_or_default(),
            question.fetch
        ));
        for (creator, version) in question.creators.iter().zip(versions) {
            hash.update(format!("{creator}:{}|", version.unwrap_or(0)));
        }
        Some(format!("feed:page:{}", hex::encode(hash.finalize())))
    }

    /// The ids cached under `key`, unless a scheduled post became due since they were chosen.
    pub async fn get(&self, key: &str, now: DateTime<Utc>) -> Option<Vec<PostId>> {
        let cache = self.cache.as_ref()?;
        let found = match cache.get_sealed(key).await {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!(error = %e, "feed page unread");
                metrics::feed_cache("error");
                return None;
            }
        };
        let ids = found
            .and_then(|bytes| decode(&bytes))
            .filter(|(valid_until, _)| now.timestamp_millis() < *valid_until)
            .map(|(_, ids)| ids);
        metrics::feed_cache(if ids.is_some() { "hit" } else { "miss" });
        ids
    }

    /// Caches `ids` under `key`, valid until `next_due` (the first scheduled post of the
    /// question's creators, if any); a failure only costs the next reader a database query.
    pub async fn put(&self, key: &str, ids: &[PostId], next_due: Option<DateTime<Utc>>) {
        let valid_until = next_due.map_or(i64::MAX, |at| at.timestamp_millis());
        if let Some(cache) = &self.cache
            && let Err(e) = cache
                .set_sealed_px(key, &encode(valid_until, ids), self.ttl)
                .await
        {
            tracing::debug!(error = %e, "feed page not cached");
        }
    }

    /// Moves every cached page showing `creator`'s posts to a new key. Call after the change
    /// committed, so that no reader caches the old state under the new version.
    pub async fn bump(&self, creator: CreatorId) -> Result<(), Error> {
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        let key = cache.key(&version_key(creator));
        cache
            .run(move |c| {
                let key = key.clone();
                Box::pin(async move { redis::cmd("INCR").arg(key).query_async::<i64>(c).await })
            })
            .await
            .map(drop)
    }
}

fn version_key(creator: CreatorId) -> String {
    format!("feed:version:{creator}")
}

/// The validity (Unix milliseconds) and the ids, 16 bytes each.
fn encode(valid_until: i64, ids: &[PostId]) -> Vec<u8> {
    let mut out = valid_until.to_be_bytes().to_vec();
    out.extend(ids.iter().flat_map(|id| id.as_uuid().into_bytes()));
    out
}

fn decode(bytes: &[u8]) -> Option<(i64, Vec<PostId>)> {
    let (valid_until, ids) = bytes.split_first_chunk::<8>()?;
    if ids.len() % 16 != 0 {
        return None;
    }
    let ids = ids
        .chunks_exact(16)
        .map(|chunk| {
            <[u8; 16]>::try_from(chunk)
                .ok()
                .map(|raw| PostId::from_uuid(uuid::Uuid::from_bytes(raw)))
        })
        .collect::<Option<Vec<_>>>()?;
    Some((i64::from_be_bytes(*valid_until), ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_survive_the_round_trip_and_anything_else_is_refused() {
        let ids = vec![PostId::new(), PostId::new()];
        assert_eq!(decode(&encode(7, &ids)), Some((7, ids)));
        assert_eq!(decode(&encode(i64::MAX, &[])), Some((i64::MAX, vec![])));
        assert_eq!(decode(&[1, 2, 3]), None);
        assert_eq!(decode(&[0; 9]), None);
    }
}
