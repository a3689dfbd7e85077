//! Events identity emits, written to the outbox inside the transaction of the change.

use chrono::{DateTime, Utc};
use df_common::{Error, auth::Role, ids::UserId, wire};
use df_proto::events::v1 as ev;
use df_runtime::bus::outbox;
use diesel_async::AsyncPgConnection;

/// Name of this service on the bus.
pub const SOURCE: &str = "identity";

/// A user signed up.
pub async fn user_registered(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    role: Role,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let event = ev::UserRegistered {
        user_id: user_id.to_string(),
        role: role.as_str().to_owned(),
        registered_at: Some(wire::timestamp(at)),
    };
    outbox::enqueue(conn, SOURCE, &event).await.map(|_| ())
}

/// A user proved they own their email address.
pub async fn email_verified(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let event = ev::UserEmailVerified {
        user_id: user_id.to_string(),
        verified_at: Some(wire::timestamp(at)),
    };
    outbox::enqueue(conn, SOURCE, &event).await.map(|_| ())
}

/// Repeated failures locked an existing account's login.
pub async fn account_locked(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    failures: u32,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let event = ev::AccountLocked {
        user_id: user_id.to_string(),
        failed_attempts: failures,
        locked_at: Some(wire::timestamp(at)),
    };
    outbox::enqueue(conn, SOURCE, &event).await.map(|_| ())
}
