//! Erasure: when privacy asks to erase a user, media removes their posts (a creator's) and every
//! follow they are part of (a fan's, and fans' follows of an erased creator), in the
//! transaction that records the event. PPV items stay at payments, which keeps what the law
//! requires of sales; once media holds uploads, their objects go with the posts.

use async_trait::async_trait;
use df_common::{Error, ids::UserId};
use df_runtime::erasure::Erase;
use diesel::{BoolExpressionMethods, ExpressionMethods, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::schema::{follows, posts};

/// What media erases of a user.
pub struct MediaErasure;

#[async_trait]
impl Erase for MediaErasure {
    async fn erase(&self, conn: &mut AsyncPgConnection, user: UserId) -> Result<(), Error> {
        erase(conn, user).await
    }
}

/// Erases what media holds about `user`.
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
