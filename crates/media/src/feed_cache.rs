//! Feed pages in Redis. A page is the answer to one whole question: which creators, whether
//! scheduled posts count, where the page starts and how many posts it holds. Its key hashes all
//! of that together with each creator's **version**, a counter bumped after every committed
//! change to the creator's posts; a change therefore moves every page that could show it to a
//! new key, and no page is ever invalidated by deleting it.
//!
//! What is cached is the page's posts and their attached files as stored, never what a viewer
//! sees of them: every read still goes through the viewer's sight, so an entitlement change is
//! seen at once. Every committed change to a creator's posts or to the state of a creator's
//! files bumps the creator's version (edits, deletions, scan verdicts, moderation decisions,
//! erasure, purges), so no page shows them as they were. A value someone else wrote cannot pass:
//! values are sealed with media's cache key.
//!
//! A page chosen while some of the creators' posts were still scheduled is valid only until the
//! first of them is due: the time is stored with the ids, and a page read at or after it is a
//! miss.

use std::time::Duration;

use chrono::{DateTime, Utc};

use deadpool_redis::redis;
use df_common::{Error, cache::Cache, ids::CreatorId};
use sha2::{Digest, Sha256};

use crate::{cursor::Position, items::Item, metrics, posts::Post};

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

    /// The key of `question` under the creators' current versions, and those versions (in
    /// the order of `question.creators`); `None` when caching is off or Redis does not answer
    /// (the caller asks the database).
    pub async fn key(&self, question: &Question<'_>) -> Option<(String, Vec<i64>)> {
        let cache = self.cache.as_ref()?;
        let versions = versions(cache, question.creators)
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
        for (creator, version) in question.creators.iter().zip(&versions) {
            hash.update(format!("{creator}:{version}|"));
        }
        Some((
            format!("feed:page:{}", hex::encode(hash.finalize())),
            versions,
        ))
    }

    /// The page cached under `key` and the time (Unix milliseconds) until which it holds,
    /// unless a scheduled post became due since it was chosen.
    pub async fn get(&self, key: &str, now: DateTime<Utc>) -> Option<(Page, i64)> {
        let cache = self.cache.as_ref()?;
        let found = match cache.get_sealed(key).await {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!(error = %e, "feed page unread");
                metrics::feed_cache("error");
                return None;
            }
        };
        let page = found
            .and_then(|bytes| decode(&bytes))
            .filter(|(valid_until, _)| now.timestamp_millis() < *valid_until)
            .map(|(valid_until, page)| (page, valid_until));
        metrics::feed_cache(if page.is_some() { "hit" } else { "miss" });
        page
    }

    /// Caches `page` under `key`, valid until `valid_until` (Unix milliseconds: when the first
    /// scheduled post of the question's creators falls due, else `i64::MAX`); a failure only
    /// costs the next reader a database query.
    pub async fn put(&self, key: &str, page: &Page, valid_until: i64) {
        let Some(cache) = &self.cache else {
            return;
        };
        let Some(value) = encode(valid_until, page) else {
            return;
        };
        if let Err(e) = cache.set_sealed_px(key, &value, self.ttl).await {
            tracing::debug!(error = %e, "feed page not cached");
        }
    }

    /// Moves every cached page showing `creator`'s posts to a new key. Call after the change
    /// committed, so that no reader caches the old state under the new version.
    pub async fn bump(&self, creator: CreatorId) -> Result<(), Error> {
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        cache.incr(&version_key(creator)).await.map(drop)
    }
}

/// The current versions of `creators`, in order (0 for a creator never changed), in one round
/// trip.
pub async fn versions(cache: &Cache, creators: &[CreatorId]) -> Result<Vec<i64>, Error> {
    let keys: Vec<String> = creators
        .iter()
        .map(|creator| cache.key(&version_key(*creator)))
        .collect();
    let versions: Vec<Option<i64>> = cache
        .run(move |c| {
            let keys = keys.clone();
            Box::pin(async move { redis::cmd("MGET").arg(keys).query_async(c).await })
        })
        .await?;
    Ok(versions
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect())
}

pub(crate) fn version_key(creator: CreatorId) -> String {
    format!("feed:version:{creator}")
}

/// What a page read through the cache was chosen under: its creators' versions, and the time
/// (Unix milliseconds) until which it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validity {
    pub creators: Vec<(CreatorId, i64)>,
    pub until: i64,
}

impl Default for Validity {
    /// No creators: a page that holds for ever.
    fn default() -> Self {
        Self {
            creators: Vec::new(),
            until: i64::MAX,
        }
    }
}

/// One page of a feed as stored: its posts in order (one more than the page when another page
/// follows) and the files attached to them.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Page {
    pub posts: Vec<Post>,
    pub files: Vec<Item>,
}

/// The validity (Unix milliseconds, 8 bytes) and the page.
fn encode(valid_until: i64, page: &Page) -> Option<Vec<u8>> {
    let mut out = valid_until.to_be_bytes().to_vec();
    serde_json::to_writer(&mut out, page)
        .map_err(|e| tracing::debug!(error = %e, "feed page not encoded"))
        .ok()?;
    Some(out)
}

fn decode(bytes: &[u8]) -> Option<(i64, Page)> {
    let (valid_until, page) = bytes.split_first_chunk::<8>()?;
    let page = serde_json::from_slice(page).ok()?;
    Some((i64::from_be_bytes(*valid_until), page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_survive_the_round_trip_and_anything_else_is_refused() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let post = Post {
            id: crate::ids::PostId::new(),
            creator_id: CreatorId::new(),
            body: "hello".into(),
            visibility: crate::status::Visibility::Ppv,
            price_minor: Some(900),
            currency: Some("usd".into()),
            ppv_item_id: Some(crate::ids::PpvItemId::new()),
            adult: false,
            publish_at: now,
            created_at: now,
            edited_at: None,
            min_tier_id: None,
        };
        let file = Item {
            id: crate::ids::MediaId::new(),
            creator_id: post.creator_id,
            kind: crate::status::MediaKind::Jpeg,
            state: crate::status::MediaState::Published,
            original_bytes: 10,
            original_sha256: vec![1; 32],
            served_bytes: 8,
            served_sha256: vec![2; 32],
            width: Some(4),
            height: Some(3),
            duration_ms: None,
            post_id: Some(post.id),
            position: Some(0),
            threat: None,
            created_at: now,
            poster: false,
            scanned_at: Some(now),
        };
        let page = Page {
            posts: vec![post],
            files: vec![file],
        };
        let stored = encode(7, &page).unwrap_or_default();
        assert_eq!(decode(&stored), Some((7, page)));
        let empty = encode(i64::MAX, &Page::default()).unwrap_or_default();
        assert_eq!(decode(&empty), Some((i64::MAX, Page::default())));
        assert_eq!(decode(&[1, 2, 3]), None);
        assert_eq!(decode(&[0; 9]), None);
    }
}
