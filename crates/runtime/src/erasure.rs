//! Privacy's erasure requests as every service receives them: the kit decodes the request and
//! names the consumer; a service says only what it erases ([`Erase`]), inside the transaction
//! that records the event, so a redelivered request changes nothing.

use async_trait::async_trait;
use df_common::{Error, ids::UserId};
use df_proto::events::v1::UserErasureRequested;
use diesel_async::AsyncPgConnection;

use crate::bus::{Consumer, EventEnvelope};

/// The consumer's name in every service (its queue is `<ns><service>.user_erasure`).
pub const CONSUMER: &str = "user_erasure";

/// What a service erases of a user.
#[async_trait]
pub trait Erase: Send + Sync + 'static {
    /// Erases what the service holds about `user` (keeping what the law requires it to keep).
    async fn erase(&self, conn: &mut AsyncPgConnection, user: UserId) -> Result<(), Error>;

    /// Runs after the erasure of `user` committed (see [`Consumer::committed`]).
    async fn erased(&self, _user: UserId) {}
}

/// The consumer of `privacy.user.erasure_requested` that applies an [`Erase`].
pub struct UserErasure<E>(pub E);

#[async_trait]
impl<E: Erase> Consumer for UserErasure<E> {
    type Event = UserErasureRequested;
    const NAME: &'static str = CONSUMER;

    async fn apply(
        &self,
        conn: &mut AsyncPgConnection,
        event: UserErasureRequested,
        _envelope: &EventEnvelope,
    ) -> Result<(), Error> {
        let user: UserId = df_common::wire::id("user_id", &event.user_id)?;
        self.0.erase(conn, user).await
    }

    async fn committed(&self, event: UserErasureRequested) {
        if let Ok(user) = df_common::wire::id::<UserId>("user_id", &event.user_id) {
            self.0.erased(user).await;
        }
    }
}
