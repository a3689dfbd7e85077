//! The integrity job: every served file is read back from the store now and then and its SHA-256
//! compared with the one recorded when it was stored, so that a store that loses or corrupts
//! bytes is noticed before a fan is. Quarantined uploads are deleted once their legal hold
//! (`storage.quarantine_days`) is over.

use chrono::{DateTime, Duration, Utc};
use df_common::{Error, ids::CreatorId};
use diesel::{
    BoolExpressionMethods, ExpressionMethods, JoinOnDsl, NullableExpressionMethods,
    PgSortExpressionMethods, QueryDsl, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::TryStreamExt;
use sha2::{Digest, Sha256};

use crate::{
    ids::MediaId,
    items::Item,
    metrics,
    schema::{integrity_checks, media},
    service::Media,
    status::MediaState,
    storage::{Variant, keys},
};

/// Files read back per run.
const BATCH: i64 = 50;

/// What one run found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub checked: usize,
    pub damaged: usize,
    pub purged: usize,
}

impl Media {
    /// Reads back the files checked longest ago (never-checked first), and deletes the
    /// quarantined uploads whose hold is over.
    pub async fn check_integrity(&self, recheck_after: Duration) -> Result<Report, Error> {
        let now = self.clock.now();
        let mut report = Report::default();
        let mut conn = self.db.conn().await?;
        for item in due(&mut conn, now - recheck_after).await? {
            let intact = self.intact(&item).await?;
            if !intact {
                report.damaged += 1;
                metrics::integrity_damaged();
                tracing::error!(media_id = %item.id, "a stored file no longer matches its checksum");
            }
            record(&mut conn, item.id, now, intact).await?;
            report.checked += 1;
        }
        let hold = Duration::days(i64::from(self.files.quarantine_days));
        for (id, creator) in expired_quarantine(&mut conn, now - hold).await? {
            self.files.storage.delete(&keys::quarantined(id)).await?;
            diesel::delete(media::table.find(id))
                .execute(&mut conn)
                .await?;
            // Its creator's own feed listed it among a post's files.
            self.changed(creator).await;
            report.purged += 1;
        }
        Ok(report)
    }

    /// Whether the served object is there and hashes to what was recorded.
    async fn intact(&self, item: &Item) -> Result<bool, Error> {
        let key = keys::published(item.id, Variant::Display);
        let Ok(stream) = self.files.storage.stream(&key, None).await else {
            return Ok(false);
        };
        let hasher = stream
            .try_fold(Sha256::new(), |mut hasher, chunk| async move {
                hasher.update(&chunk);
                Ok(hasher)
            })
            .await;
        Ok(hasher.is_ok_and(|hasher| hasher.finalize().as_slice() == item.served_sha256))
    }
}

/// Served files not checked since `before`, oldest reading first.
async fn due(conn: &mut AsyncPgConnection, before: DateTime<Utc>) -> Result<Vec<Item>, Error> {
    let served = [
        MediaState::ModerationPending,
        MediaState::Published,
        MediaState::Restricted,
    ];
    Ok(media::table
        .left_join(integrity_checks::table.on(integrity_checks::media_id.eq(media::id)))
        .filter(media::state.eq_any(served))
        .filter(
            integrity_checks::checked_at
                .nullable()
                .is_null()
                .or(integrity_checks::checked_at.nullable().lt(before)),
        )
        .order(integrity_checks::checked_at.nullable().asc().nulls_first())
        .limit(BATCH)
        .select(Item::as_select())
        .load(conn)
        .await?)
}

async fn record(
    conn: &mut AsyncPgConnection,
    id: MediaId,
    at: DateTime<Utc>,
    intact: bool,
) -> Result<(), Error> {
    diesel::insert_into(integrity_checks::table)
        .values((
            integrity_checks::media_id.eq(id),
            integrity_checks::checked_at.eq(at),
            integrity_checks::intact.eq(intact),
        ))
        .on_conflict(integrity_checks::media_id)
        .do_update()
        .set((
            integrity_checks::checked_at.eq(at),
            integrity_checks::intact.eq(intact),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Quarantined uploads scanned before `before`, with their creators.
async fn expired_quarantine(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
) -> Result<Vec<(MediaId, CreatorId)>, Error> {
    Ok(media::table
        .filter(media::state.eq(MediaState::Quarantined))
        .filter(media::scanned_at.lt(before))
        .select((media::id, media::creator_id))
        .limit(BATCH)
        .load(conn)
        .await?)
}
