//! Free follows: a fan sees a followed creator's posts in their home feed (locked where they
//! may not see them).

use chrono::{DateTime, Utc};
use df_common::{
    Error,
    ids::{CreatorId, UserId},
};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{errors::MediaError, schema::follows};

/// Most creators one fan follows.
pub const MAX_FOLLOWS: i64 = 5_000;

/// `fan` follows `creator` (again: no change).
pub async fn follow(
    conn: &mut AsyncPgConnection,
    fan: UserId,
    creator: CreatorId,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    if creator == fan {
        return Err(MediaError::FollowSelf.into());
    }
    diesel::insert_into(follows::table)
        .values((
            follows::fan_id.eq(fan),
            follows::creator_id.eq(creator),
            follows::created_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// `fan` stops following `creator` (not following: no change).
pub async fn unfollow(
    conn: &mut AsyncPgConnection,
    fan: UserId,
    creator: CreatorId,
) -> Result<(), Error> {
    diesel::delete(
        follows::table
            .filter(follows::fan_id.eq(fan))
            .filter(follows::creator_id.eq(creator)),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The creators `fan` follows (at most [`MAX_FOLLOWS`], the most recent).
pub async fn followed(conn: &mut AsyncPgConnection, fan: UserId) -> Result<Vec<CreatorId>, Error> {
    Ok(follows::table
        .filter(follows::fan_id.eq(fan))
        .order(follows::created_at.desc())
        .limit(MAX_FOLLOWS)
        .select(follows::creator_id)
        .load(conn)
        .await?)
}
