//! Moderation's decisions on uploads (`media.moderation.decided`): `publish` serves the file,
//! `restrict` serves it to its creator only, `remove` deletes its objects (by a durable job
//! queued in the transaction that records the decision). A decision about a file that is still
//! being scanned, was quarantined, removed or erased changes nothing: the scan comes first, and
//! nothing brings back a file that is gone.

use async_trait::async_trait;
use df_common::{Error, clock::Clock, ids::CreatorId};
use df_proto::events::v1::ModerationDecided;
use df_runtime::{
    bus::{EventEnvelope, typed::Consumer},
    db::Db,
    jobs,
};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    erasure::DeleteObjects, errors::MediaError, feed_cache::FeedCache, ids::MediaId, schema::media,
    status::MediaState,
};

/// A decision, as moderation words it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Publish,
    Restrict,
    Remove,
}

impl Decision {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "publish" => Some(Self::Publish),
            "restrict" => Some(Self::Restrict),
            "remove" => Some(Self::Remove),
            _ => None,
        }
    }

    fn state(self) -> MediaState {
        match self {
            Self::Publish => MediaState::Published,
            Self::Restrict => MediaState::Restricted,
            Self::Remove => MediaState::Removed,
        }
    }
}

/// Applies moderation's decisions.
pub struct ModerationDecisions {
    pub clock: Clock,
    pub db: Db,
    pub feed_cache: FeedCache,
}

#[async_trait]
impl Consumer for ModerationDecisions {
    type Event = ModerationDecided;
    const NAME: &'static str = "moderation_decisions";

    async fn apply(
        &self,
        conn: &mut AsyncPgConnection,
        event: ModerationDecided,
        _envelope: &EventEnvelope,
    ) -> Result<(), Error> {
        let malformed = |what: &str| {
            Error::from(MediaError::MalformedEvent)
                .with_cause(anyhow::anyhow!("moderation decision: {what}"))
        };
        let id: MediaId = event.media_id.parse().map_err(|_| malformed("media_id"))?;
        let decision = Decision::parse(&event.decision).ok_or_else(|| malformed("decision"))?;
        let decidable = [
            MediaState::ModerationPending,
            MediaState::Published,
            MediaState::Restricted,
        ];
        let changed = diesel::update(media::table.find(id).filter(media::state.eq_any(decidable)))
            .set(media::state.eq(decision.state()))
            .execute(conn)
            .await?;
        if changed == 1 && decision == Decision::Remove {
            let job = DeleteObjects {
                media_ids: vec![id],
            };
            jobs::enqueue(conn, &job, self.clock.now()).await?;
        }
        Ok(())
    }

    async fn committed(&self, event: ModerationDecided) {
        // Pages showing the file's post move to new keys, so none shows its old state.
        let Ok(id) = event.media_id.parse::<MediaId>() else {
            return;
        };
        let creator = match self.db.conn().await {
            Ok(mut conn) => media::table
                .find(id)
                .select(media::creator_id)
                .first::<CreatorId>(&mut conn)
                .await
                .ok(),
            Err(_) => None,
        };
        if let Some(creator) = creator
            && let Err(e) = self.feed_cache.bump(creator).await
        {
            tracing::warn!(error = %e, "feed cache version not bumped after a decision");
        }
    }
}
