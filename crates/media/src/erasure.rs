//! Erasure: when privacy asks to erase a user, media removes their posts (a creator's) and every
//! follow they are part of (a fan's, and fans' follows of an erased creator), in the
//! transaction that records the event. PPV items stay at payments, which keeps what the law
//! requires of sales. A creator's uploads (and resumable uploads still open) go too: their rows
//! in the same transaction, their objects by a durable job queued in it. Quarantined uploads
//! stay for the legal hold. Once committed, cached feed pages of an erased creator move away.

use async_trait::async_trait;
use df_common::{Error, clock::Clock, ids::UserId};
use df_runtime::{erasure::Erase, jobs};
use diesel::{BoolExpressionMethods, ExpressionMethods, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};

use crate::{
    feed_cache::FeedCache,
    home_cache::HomeCache,
    ids::MediaId,
    schema::{follows, media, posts, upload_sessions},
    status::MediaState,
};

/// What media erases of a user.
pub struct MediaErasure {
    pub clock: Clock,
    pub feed_cache: FeedCache,
    pub home_cache: HomeCache,
}

/// Deleting the objects of erased uploads, after the rows are gone.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeleteObjects {
    pub media_ids: Vec<MediaId>,
}

impl jobs::Job for DeleteObjects {
    const KIND: &'static str = "media.delete_objects";
}

#[async_trait]
impl Erase for MediaErasure {
    async fn erase(&self, conn: &mut AsyncPgConnection, user: UserId) -> Result<(), Error> {
        let mut media_ids: Vec<MediaId> = diesel::delete(
            media::table
                .filter(media::creator_id.eq(user))
                .filter(media::state.ne(MediaState::Quarantined)),
        )
        .returning(media::id)
        .get_results(conn)
        .await?;
        let uploads: Vec<MediaId> =
            diesel::delete(upload_sessions::table.filter(upload_sessions::creator_id.eq(user)))
                .returning(upload_sessions::id)
                .get_results(conn)
                .await?;
        media_ids.extend(uploads);
        if !media_ids.is_empty() {
            jobs::enqueue(conn, &DeleteObjects { media_ids }, self.clock.now()).await?;
        }
        erase(conn, user).await
    }

    async fn erased(&self, user: UserId) {
        // An erased creator's posts leave every cached page at once.
        if let Err(e) = self.feed_cache.bump(user.into()).await {
            tracing::warn!(error = %e, "feed cache version not bumped after an erasure");
        }
        // Their follows are gone, and with them what their home feed showed.
        if let Err(e) = self.home_cache.bump_fan(user).await {
            tracing::warn!(error = %e, "home feed answers not moved after an erasure");
        }
    }
}

/// Erases what media holds about `user` besides their uploads.
pub async fn erase(conn: &mut AsyncPgConnection, user: UserId) -> Result<(), Error> {
    diesel::delete(posts::table.filter(posts::creator_id.eq(user)))
        .execute(conn)
        .await?;
    diesel::delete(
        follows::table.filter(follows::fan_id.eq(user).or(follows::creator_id.eq(user))),
    )
    .execute(conn)
    .await?;
    Ok(())
}
