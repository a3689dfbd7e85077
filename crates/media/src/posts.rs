//! Posts as stored: written by their creator, read through the feeds. PPV posts are offered at
//! payments under the post's id before the row exists, so a stored PPV post always has its item.

use chrono::{DateTime, Utc};
use df_common::{
    Error,
    ids::{CreatorId, UserId},
};
use diesel::{
    BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    errors::MediaError,
    ids::{MediaId, PostId, PpvItemId, TierId},
    schema::posts,
    status::Visibility,
};

/// A stored post.
#[derive(
    Clone, Debug, PartialEq, Eq, Queryable, Selectable, serde::Serialize, serde::Deserialize,
)]
#[diesel(table_name = posts)]
pub struct Post {
    pub id: PostId,
    pub creator_id: CreatorId,
    pub body: String,
    pub visibility: Visibility,
    pub price_minor: Option<i64>,
    pub currency: Option<String>,
    pub ppv_item_id: Option<PpvItemId>,
    pub adult: bool,
    pub publish_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    /// A subscribers' post may be reserved to this tier of its creator's and dearer ones.
    #[serde(default)]
    pub min_tier_id: Option<TierId>,
}

impl Post {
    /// True while the post waits for its publishing time.
    pub fn scheduled(&self, now: DateTime<Utc>) -> bool {
        self.publish_at > now
    }

    /// True when `user` wrote it.
    pub fn is_by(&self, user: UserId) -> bool {
        self.creator_id == user
    }
}

/// A price in minor units of a currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Price {
    pub amount: i64,
    pub currency: String,
}

/// What a creator writes, checked.
#[derive(Clone, Debug)]
pub struct Draft {
    /// Its files, in order (checked against the store when saved).
    pub media: Vec<MediaId>,
    pub body: String,
    pub visibility: Visibility,
    pub price: Option<Price>,
    /// Subscribers' posts only: the cheapest tier that opens the post (checked against the
    /// creator's tiers when saved).
    pub min_tier: Option<TierId>,
    pub adult: bool,
    pub publish_at: DateTime<Utc>,
}

/// Limits on what a creator writes.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_body_chars: usize,
    /// How far ahead a post may be scheduled.
    pub max_schedule: chrono::Duration,
}

impl Draft {
    /// Checks the text, the price against the visibility and the publishing time (unset: now).
    pub fn new(
        body: &str,
        visibility: Visibility,
        price: Option<Price>,
        adult: bool,
        publish_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        limits: Limits,
    ) -> Result<Self, Error> {
        let body = body.trim();
        if body.is_empty() {
            return Err(MediaError::EmptyPost.into());
        }
        if body.chars().count() > limits.max_body_chars {
            return Err(MediaError::BodyTooLong.with_message(format!(
                "A post's text has at most {} characters.",
                limits.max_body_chars
            )));
        }
        if (visibility == Visibility::Ppv) != price.is_some() {
            return Err(MediaError::PriceMismatch.into());
        }
        let publish_at = publish_at.unwrap_or(now);
        if publish_at > now + limits.max_schedule {
            return Err(MediaError::InvalidPublishAt.into());
        }
        Ok(Self {
            body: body.to_owned(),
            visibility,
            price,
            adult,
            // A time in the past publishes now: nobody backdates a post above older ones.
            publish_at: publish_at.max(now),
            media: Vec::new(),
            min_tier: None,
        })
    }

    /// Reserves the post to `tier` and dearer ones; only a subscribers' post may be.
    pub fn with_min_tier(mut self, tier: Option<TierId>) -> Result<Self, Error> {
        if tier.is_some() && self.visibility != Visibility::Subscribers {
            return Err(MediaError::MinTierMismatch.into());
        }
        self.min_tier = tier;
        Ok(self)
    }
}

/// Stores a new post.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    id: PostId,
    creator: CreatorId,
    draft: &Draft,
    ppv_item: Option<PpvItemId>,
    now: DateTime<Utc>,
) -> Result<Post, Error> {
    Ok(diesel::insert_into(posts::table)
        .values((
            posts::id.eq(id),
            posts::creator_id.eq(creator),
            posts::body.eq(&draft.body),
            posts::visibility.eq(draft.visibility),
            posts::price_minor.eq(draft.price.as_ref().map(|p| p.amount)),
            posts::currency.eq(draft.price.as_ref().map(|p| p.currency.as_str())),
            posts::ppv_item_id.eq(ppv_item),
            posts::adult.eq(draft.adult),
            posts::publish_at.eq(draft.publish_at),
            posts::created_at.eq(now),
            posts::min_tier_id.eq(draft.min_tier),
        ))
        .returning(Post::as_returning())
        .get_result(conn)
        .await?)
}

/// Replaces a post's content; a PPV post keeps its visibility and price.
pub async fn update(
    conn: &mut AsyncPgConnection,
    post: &Post,
    draft: &Draft,
    ppv_item: Option<PpvItemId>,
    now: DateTime<Utc>,
) -> Result<Post, Error> {
    Ok(diesel::update(posts::table.find(post.id))
        .set((
            posts::body.eq(&draft.body),
            posts::visibility.eq(draft.visibility),
            posts::price_minor.eq(draft.price.as_ref().map(|p| p.amount)),
            posts::currency.eq(draft.price.as_ref().map(|p| p.currency.as_str())),
            posts::ppv_item_id.eq(ppv_item.or(post.ppv_item_id)),
            posts::adult.eq(draft.adult),
            posts::publish_at.eq(draft.publish_at),
            posts::edited_at.eq(now),
            posts::min_tier_id.eq(draft.min_tier),
        ))
        .returning(Post::as_returning())
        .get_result(conn)
        .await?)
}

/// One post, whoever may see it.
pub async fn find(conn: &mut AsyncPgConnection, id: PostId) -> Result<Option<Post>, Error> {
    Ok(posts::table
        .find(id)
        .select(Post::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Deletes a post; false when there was none.
pub async fn delete(conn: &mut AsyncPgConnection, id: PostId) -> Result<bool, Error> {
    Ok(diesel::delete(posts::table.find(id)).execute(conn).await? > 0)
}

/// When the first still-scheduled post of `creators` is due, if any.
pub async fn next_due(
    conn: &mut AsyncPgConnection,
    creators: &[CreatorId],
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, Error> {
    Ok(posts::table
        .filter(posts::creator_id.eq_any(creators))
        .filter(posts::publish_at.gt(now))
        .select(diesel::dsl::min(posts::publish_at))
        .first(conn)
        .await?)
}

/// The posts of `creators` (only the published ones unless `include_scheduled`), newest
/// first, strictly after `after` in that order.
pub async fn of_creators(
    conn: &mut AsyncPgConnection,
    creators: &[CreatorId],
    include_scheduled: bool,
    now: DateTime<Utc>,
    after: Option<(DateTime<Utc>, PostId)>,
    limit: i64,
) -> Result<Vec<Post>, Error> {
    let mut query = posts::table
        .filter(posts::creator_id.eq_any(creators))
        .select(Post::as_select())
        .order((posts::publish_at.desc(), posts::id.desc()))
        .limit(limit)
        .into_boxed();
    if !include_scheduled {
        query = query.filter(posts::publish_at.le(now));
    }
    if let Some((at, id)) = after {
        query = query.filter(
            posts::publish_at
                .lt(at)
                .or(posts::publish_at.eq(at).and(posts::id.lt(id))),
        );
    }
    Ok(query.load(conn).await?)
}
