//! Erasure: when privacy asks to erase a user, media removes their posts (a creator's) and every
//! follow they are part of (a fan's, and fans' follows of an erased creator), in the
//! transaction that records the event. PPV items stay at payments, which keeps what the law
//! requires of sales; once media holds uploads, their objects go with the posts.

use async_trait::async_trait;
use df_common::{Error, ids::UserId};
use df_proto::events::v1::UserErasureRequested;
use df_runtime::bus::{Consumer, EventEnvelope};
use diesel::{BoolExpressionMethods, ExpressionMethods, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::schema::{follows, posts};

/// Consumes erasure requests.
pub struct Erasure;

#[async_trait]
impl Consumer for Erasure {
    type Event = UserErasureRequested;
    const NAME: &'static str = "user_erasure";

    async fn apply(
        &self,
        conn: &mut AsyncPgConnection,
        event: UserErasureRequested,
        _envelope: &EventEnvelope,
    ) -> Result<(), Error> {
        let user: UserId = df_common::wire::id("user_id", &event.user_id)?;
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
