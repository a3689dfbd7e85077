//! What media does, behind its gRPC face: writing posts, following, and reading feeds through
//! the one rule of who may see what ([`crate::sight`]).

use std::collections::{BTreeSet, HashMap};

use df_common::{
    Error,
    clock::Clock,
    ids::{CreatorId, UserId},
    wire,
};
use df_proto::payments::v1 as payments_pb;
use df_runtime::db::Db;
use diesel_async::AsyncConnection;

use crate::{
    config::FeedSettings,
    cursor,
    errors::MediaError,
    feed_cache::{self, FeedCache, Question, Validity},
    follows,
    home_cache::{self, HomeCache},
    ids::{PostId, PpvItemId},
    items::{self, Item},
    payments::Payments,
    posts::{self, Draft, Limits, Post},
    sight::{Sight, Viewer},
    status::{MediaState, Visibility},
};

/// The service's name: logs, metrics, bus, audience of its tokens.
pub const SERVICE: &str = df_common::auth::service::MEDIA;

/// Media's state, shared by every call.
#[derive(Clone)]
pub struct Media {
    pub db: Db,
    pub payments: Payments,
    pub clock: Clock,
    pub feed: FeedSettings,
    pub feed_cache: FeedCache,
    pub home_cache: HomeCache,
    pub files: crate::files::Files,
}

/// A post as one viewer sees it.
#[derive(Clone, Debug)]
pub struct View {
    pub post: Post,
    /// Its files the viewer may know of, in order.
    pub attachments: Vec<crate::items::Item>,
    pub locked: bool,
    pub scheduled: bool,
}

/// A page of a feed.
#[derive(Clone, Debug)]
pub struct Page {
    pub posts: Vec<View>,
    pub next_cursor: Option<String>,
}

impl Media {
    /// The limits on what creators write.
    pub fn limits(&self) -> Limits {
        Limits {
            max_body_chars: self.feed.max_body_chars as usize,
            max_schedule: chrono::Duration::days(365),
        }
    }

    /// Publishes (or schedules) a post; a PPV post is offered at payments first.
    pub async fn create_post(&self, creator: CreatorId, draft: &Draft) -> Result<Post, Error> {
        let id = PostId::new();
        self.check_min_tier(creator, draft).await?;
        let item = match draft.visibility {
            Visibility::Ppv => Some(self.offer(id, creator, draft).await?),
            Visibility::Public | Visibility::Subscribers => None,
        };
        let now = self.clock.now();
        let mut conn = self.db.conn().await?;
        let post = conn
            .transaction::<_, Error, _>(async move |conn| {
                let post = posts::insert(conn, id, creator, draft, item, now).await?;
                items::attach(conn, id, creator, &draft.media).await?;
                Ok(post)
            })
            .await?;
        self.changed(creator).await;
        Ok(post)
    }

    /// Replaces a post's content. Only its creator may; a PPV post keeps its price, since fans
    /// may have bought it at that price.
    pub async fn update_post(
        &self,
        editor: UserId,
        id: PostId,
        draft: &Draft,
    ) -> Result<Post, Error> {
        let mut conn = self.db.conn().await?;
        let post = self.writable(&mut conn, editor, id).await?;
        // A tier already recorded stays valid even if the creator has archived it since.
        if draft.min_tier != post.min_tier_id {
            self.check_min_tier(post.creator_id, draft).await?;
        }
        let mut item = None;
        if let Some(offered) = post.ppv_item_id {
            let same_price = draft.price.as_ref().is_some_and(|price| {
                Some(price.amount) == post.price_minor
                    && Some(price.currency.as_str()) == post.currency.as_deref()
            });
            if draft.visibility != Visibility::Ppv || !same_price {
                return Err(MediaError::PpvFixed.into());
            }
            item = Some(offered);
        } else if draft.visibility == Visibility::Ppv {
            item = Some(self.offer(id, post.creator_id, draft).await?);
        }
        let now = self.clock.now();
        let creator = post.creator_id;
        let updated = conn
            .transaction::<_, Error, _>(async move |conn| {
                let updated = posts::update(conn, &post, draft, item, now).await?;
                items::attach(conn, post.id, post.creator_id, &draft.media).await?;
                Ok(updated)
            })
            .await?;
        self.changed(creator).await;
        Ok(updated)
    }

    /// Deletes a post: its creator or staff may.
    pub async fn delete_post(&self, viewer: Viewer, id: PostId) -> Result<(), Error> {
        let mut conn = self.db.conn().await?;
        if !viewer.staff {
            self.writable(&mut conn, viewer.user, id).await?;
        }
        let post = posts::find(&mut conn, id)
            .await?
            .ok_or(MediaError::PostNotFound)?;
        if posts::delete(&mut conn, id).await? {
            self.changed(post.creator_id).await;
            Ok(())
        } else {
            Err(MediaError::PostNotFound.into())
        }
    }

    /// After a committed change to `creator`'s posts: cached feed pages move to new keys. If
    /// Redis does not answer, pages already cached may be served until their time to live ends.
    pub(crate) async fn changed(&self, creator: CreatorId) {
        if let Err(e) = self.feed_cache.bump(creator).await {
            tracing::warn!(error = %e, %creator, "feed cache version not bumped");
        }
    }

    /// One post as `viewer` sees it; a scheduled post exists only for its creator and staff.
    pub async fn get_post(&self, viewer: Viewer, id: PostId) -> Result<View, Error> {
        let mut conn = self.db.conn().await?;
        let post = posts::find(&mut conn, id)
            .await?
            .filter(|post| self.may_know_of(viewer, post))
            .ok_or(MediaError::PostNotFound)?;
        let files = items::of_post(&mut conn, id).await?;
        drop(conn);
        let mut sight = Sight::new(&self.payments, viewer);
        self.view(&mut sight, post, files).await
    }

    /// A creator's posts, newest first; their own scheduled ones too when they read it.
    pub async fn creator_feed(
        &self,
        viewer: Viewer,
        creator: CreatorId,
        cursor: &str,
        limit: u32,
    ) -> Result<Page, Error> {
        let include_scheduled = viewer.user == creator || viewer.staff;
        let (page, _) = self
            .page(viewer, &[creator], include_scheduled, None, cursor, limit)
            .await?;
        Ok(page)
    }

    /// Published posts of the creators `viewer` follows or subscribes to, newest first, as
    /// `render` puts them for the wire. The rendered answer is cached whole and served, without
    /// asking payments, while everything it was computed from still holds
    /// ([`crate::home_cache`]).
    pub async fn home_feed<M: prost::Message + Default>(
        &self,
        viewer: Viewer,
        cursor: &str,
        limit: u32,
        render: impl FnOnce(Page) -> M,
    ) -> Result<M, Error> {
        let question = home_cache::Question {
            viewer,
            cursor,
            limit,
        };
        // Read before payments is asked: a change it has not seen yet moves the fan's version
        // past what this lookup read, and so past the answer computed below.
        let lookup = self.home_cache.lookup(&question).await;
        if let Some(lookup) = &lookup
            && let Some(cached) = self.home_cache.served(lookup, self.clock.now())
            && let Ok(answer) = M::decode(cached)
        {
            return Ok(answer);
        }
        let listed = self
            .payments
            .list_subscribed_creators(payments_pb::ListSubscribedCreatorsRequest {
                fan_id: viewer.user.to_string(),
            })
            .await?;
        let subscribed: BTreeSet<CreatorId> = listed
            .creator_ids
            .iter()
            .map(|id| wire::id("creator_id", id))
            .collect::<Result<_, Error>>()?;
        let lapses = listed
            .changes_at
            .as_ref()
            .and_then(wire::instant)
            .map_or(i64::MAX, |at| at.timestamp_millis());
        let mut conn = self.db.conn().await?;
        let mut creators = subscribed.clone();
        creators.extend(follows::followed(&mut conn, viewer.user).await?);
        drop(conn);
        let creators: Vec<CreatorId> = creators.into_iter().collect();
        let (page, validity) = self
            .page(viewer, &creators, false, Some(&subscribed), cursor, limit)
            .await?;
        let answer = render(page);
        if let (Some(lookup), Some(validity)) = (lookup, validity) {
            let basis = home_cache::Basis {
                fan: lookup.fan,
                creators: validity.creators,
                valid_until: validity.until.min(lapses),
            };
            self.home_cache
                .put(&question, &basis, &answer.encode_to_vec())
                .await;
        }
        Ok(answer)
    }

    /// `fan` follows `creator`.
    pub async fn follow(&self, fan: UserId, creator: CreatorId) -> Result<(), Error> {
        let mut conn = self.db.conn().await?;
        follows::follow(&mut conn, fan, creator, self.clock.now()).await?;
        drop(conn);
        self.follows_changed(fan).await;
        Ok(())
    }

    /// `fan` stops following `creator`.
    pub async fn unfollow(&self, fan: UserId, creator: CreatorId) -> Result<(), Error> {
        let mut conn = self.db.conn().await?;
        follows::unfollow(&mut conn, fan, creator).await?;
        drop(conn);
        self.follows_changed(fan).await;
        Ok(())
    }

    /// After a committed change to `fan`'s follows: their cached home feeds move aside. A
    /// failure is logged; the answers then expire within their time to live.
    async fn follows_changed(&self, fan: UserId) {
        if let Err(e) = self.home_cache.bump_fan(fan).await {
            tracing::warn!(error = %e, "home feed answers not moved after a follow change");
        }
    }

    /// A page of the posts of `creators` as `viewer` sees them, and (when the feed cache
    /// answered) the creators' versions it was read under and until when it holds; a home feed
    /// passes the creators payments said the viewer subscribes to (`subscribed`), so that their
    /// subscriber posts need not be asked about one by one.
    async fn page(
        &self,
        viewer: Viewer,
        creators: &[CreatorId],
        include_scheduled: bool,
        subscribed: Option<&BTreeSet<CreatorId>>,
        cursor: &str,
        limit: u32,
    ) -> Result<(Page, Option<Validity>), Error> {
        let limit = match limit {
            0 => self.feed.default_page_size,
            n if n <= self.feed.max_page_size => n,
            _ => {
                return Err(MediaError::InvalidLimit
                    .with_message(format!("limit is 1 to {}.", self.feed.max_page_size)));
            }
        };
        let after = cursor::decode(cursor)?;
        if creators.is_empty() {
            let empty = Page {
                posts: Vec::new(),
                next_cursor: None,
            };
            return Ok((empty, Some(Validity::default())));
        }
        // One more than asked tells whether another page follows.
        let question = Question {
            creators,
            include_scheduled,
            after,
            fetch: i64::from(limit) + 1,
        };
        let now = self.clock.now();
        let keyed = self.feed_cache.key(&question).await;
        let cached = match &keyed {
            Some((key, _)) => self.feed_cache.get(key, now).await,
            None => None,
        };
        let (page, valid_until) = match cached {
            Some(cached) => cached,
            None => {
                let mut conn = self.db.conn().await?;
                let posts = posts::of_creators(
                    &mut conn,
                    creators,
                    include_scheduled,
                    now,
                    after,
                    question.fetch,
                )
                .await?;
                let shown: Vec<PostId> = posts
                    .iter()
                    .take(limit as usize)
                    .map(|post| post.id)
                    .collect();
                let page = feed_cache::Page {
                    files: items::of_posts(&mut conn, &shown).await?,
                    posts,
                };
                // Scheduled posts count for their creator at once: no time limit then.
                let mut valid_until = i64::MAX;
                if let Some((key, _)) = &keyed {
                    if !include_scheduled
                        && let Some(due) = posts::next_due(&mut conn, creators, now).await?
                    {
                        valid_until = due.timestamp_millis();
                    }
                    self.feed_cache.put(key, &page, valid_until).await;
                }
                (page, valid_until)
            }
        };
        let validity = keyed.map(|(_, versions)| Validity {
            creators: creators.iter().copied().zip(versions).collect(),
            until: valid_until,
        });
        let feed_cache::Page {
            posts: mut rows,
            files: attached,
        } = page;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let mut files: HashMap<PostId, Vec<Item>> = HashMap::new();
        for item in attached {
            if let Some(post) = item.post_id {
                files.entry(post).or_default().push(item);
            }
        }
        let next_cursor = more
            .then(|| {
                rows.last()
                    .map(|post| cursor::encode((post.publish_at, post.id)))
            })
            .flatten();
        let mut sight = Sight::new(&self.payments, viewer);
        if let Some(subscribed) = subscribed {
            sight = sight.knowing_subscriptions(creators, subscribed);
        }
        let mut posts = Vec::with_capacity(rows.len());
        for post in rows {
            let attached = files.remove(&post.id).unwrap_or_default();
            posts.push(self.view(&mut sight, post, attached).await?);
        }
        Ok((Page { posts, next_cursor }, validity))
    }

    async fn view(
        &self,
        sight: &mut Sight<'_>,
        post: Post,
        mut attachments: Vec<Item>,
    ) -> Result<View, Error> {
        let locked = !sight.unlocked(&post).await?;
        let scheduled = post.scheduled(self.clock.now());
        if !sight.is_creator_or_staff(&post) {
            attachments.retain(|item| item.state == MediaState::Published);
        }
        Ok(View {
            post,
            attachments,
            locked,
            scheduled,
        })
    }

    fn may_know_of(&self, viewer: Viewer, post: &Post) -> bool {
        !post.scheduled(self.clock.now()) || post.is_by(viewer.user) || viewer.staff
    }

    /// The post `editor` wrote; another's post answers as if it did not exist when scheduled,
    /// and forbidden otherwise.
    async fn writable(
        &self,
        conn: &mut diesel_async::AsyncPgConnection,
        editor: UserId,
        id: PostId,
    ) -> Result<Post, Error> {
        let post = posts::find(conn, id)
            .await?
            .ok_or(MediaError::PostNotFound)?;
        if post.is_by(editor) {
            Ok(post)
        } else if post.scheduled(self.clock.now()) {
            Err(MediaError::PostNotFound.into())
        } else {
            Err(Error::forbidden())
        }
    }

    /// Checks that a draft's minimum tier, if any, is one of `creator`'s tiers on offer.
    async fn check_min_tier(&self, creator: CreatorId, draft: &Draft) -> Result<(), Error> {
        let Some(tier) = draft.min_tier else {
            return Ok(());
        };
        let offered = self
            .payments
            .list_tiers(payments_pb::ListTiersRequest {
                creator_id: creator.to_string(),
            })
            .await?;
        let tier = tier.to_string();
        if offered.tiers.iter().any(|offered| offered.id == tier) {
            Ok(())
        } else {
            Err(MediaError::UnknownTier.into())
        }
    }

    /// Offers post `id` at payments for its price, as media, for `creator`.
    async fn offer(
        &self,
        id: PostId,
        creator: CreatorId,
        draft: &Draft,
    ) -> Result<PpvItemId, Error> {
        let price = draft.price.clone().ok_or(MediaError::PriceMismatch)?;
        let item = self
            .payments
            .create_ppv_item(payments_pb::PpvItemInput {
                post_id: id.to_string(),
                price: Some(payments_pb::Money {
                    amount: price.amount,
                    currency: price.currency,
                }),
                title: String::new(),
                creator_id: creator.to_string(),
            })
            .await?;
        wire::id("ppv_item_id", &item.id)
    }
}
