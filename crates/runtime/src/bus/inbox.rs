//! The inbox: which events each consumer has applied.

use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::schema::inbox;
use df_common::{error::Error, ids::EventId};

/// Records that `consumer` applies `event_id`; false when it already had. Called first in the
/// transaction that applies the event: a concurrent delivery of the same event waits on the
/// primary key until this transaction ends, then sees the row (or, after a rollback, gets to
/// apply the event itself).
pub async fn record(
    conn: &mut AsyncPgConnection,
    consumer: &str,
    event_id: EventId,
) -> Result<bool, Error> {
    let inserted = diesel::insert_into(inbox::table)
        .values((inbox::consumer.eq(consumer), inbox::event_id.eq(event_id)))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// True when `consumer` has applied `event_id`.
pub async fn contains(
    conn: &mut AsyncPgConnection,
    consumer: &str,
    event_id: EventId,
) -> Result<bool, Error> {
    let found: i64 = inbox::table
        .filter(inbox::consumer.eq(consumer))
        .filter(inbox::event_id.eq(event_id))
        .count()
        .get_result(conn)
        .await?;
    Ok(found > 0)
}

/// Forgets entries processed before `before` and returns how many. Keep them longer than any
/// redelivery can take (the broker's retries, plus a replay from a DLQ an operator might do).
pub async fn prune(conn: &mut AsyncPgConnection, before: DateTime<Utc>) -> Result<usize, Error> {
    Ok(
        diesel::delete(inbox::table.filter(inbox::processed_at.lt(before)))
            .execute(conn)
            .await?,
    )
}
