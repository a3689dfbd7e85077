//! Writing events to the outbox, inside the caller's transaction.

use df_proto::Event;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, TransactionManager};
use prost::Message;

use super::{envelope, schema::outbox};
use df_common::{
    error::{Error, ErrorKind},
    ids::EventId,
    telemetry::propagation,
};

/// Writes an event to the outbox and returns its id. The relay publishes it after the
/// transaction commits; if the transaction rolls back, the event never existed.
///
/// Must be called inside the transaction that makes the change the event announces
/// (`conn.transaction(async |conn| { ...; enqueue(conn, ...).await })`); outside one it refuses
/// with `common.bus_outside_transaction`, because the event could then outlive a change that
/// failed, or be lost after one that succeeded. Wake the relay with
/// [`super::RelayHandle::notify`] after the commit for low latency.
///
/// `source` is the writing service; the event's type names its routing key.
pub async fn enqueue<E: Event>(
    conn: &mut AsyncPgConnection,
    source: &str,
    event: &E,
) -> Result<EventId, Error> {
    let event_type = E::ROUTING_KEY;
    envelope::validate_event_type(event_type)?;
    let in_transaction = AnsiTransactionManager::transaction_manager_status_mut(conn)
        .transaction_depth()
        .map_err(Error::internal)?
        .is_some();
    if !in_transaction {
        return Err(Error::new(
            ErrorKind::Internal,
            "common.bus_outside_transaction",
            "Something went wrong on our side.",
        )
        .with_cause(anyhow::anyhow!(
            "bus::outbox::enqueue called outside a transaction"
        )));
    }
    let (id, sealed) = seal(source, event)?;
    diesel::insert_into(outbox::table)
        .values((
            outbox::id.eq(id),
            outbox::event_type.eq(event_type),
            outbox::payload.eq(sealed),
        ))
        .execute(conn)
        .await?;
    Ok(id)
}

/// The id and wire bytes (envelope) of an event, for code that writes the outbox row itself
/// in the same transaction as its change (a database function booking many changes in one
/// call); [`enqueue`] is the usual way.
pub fn seal<E: Event>(source: &str, event: &E) -> Result<(EventId, Vec<u8>), Error> {
    let event_type = E::ROUTING_KEY;
    envelope::validate_event_type(event_type)?;
    let id = EventId::new();
    let envelope = envelope::build(
        id,
        source,
        event_type,
        chrono::Utc::now(),
        // The consumer's work joins the trace of the request that caused the event.
        propagation::inject_current_into_map(),
        event.encode_to_vec(),
    );
    Ok((id, envelope.encode_to_vec()))
}

/// Events not yet published (for metrics and tests).
pub async fn backlog(conn: &mut AsyncPgConnection) -> Result<i64, Error> {
    Ok(outbox::table.count().get_result(conn).await?)
}
