//! Building and checking [`EventEnvelope`]s.

use chrono::{DateTime, Utc};
use prost::Message;

use super::EventEnvelope;
use df_common::{error::Error, ids::EventId};

/// Longest event type: it is the AMQP routing key (a short string of at most 255 bytes).
const MAX_EVENT_TYPE_LEN: usize = 255;

/// Checks that `event_type` is a dotted name usable as a routing key (`identity.user.registered`):
/// lowercase letters, digits, `_`, `-` and `.`, without the wildcards `*` and `#`.
pub fn validate_event_type(event_type: &str) -> Result<(), Error> {
    let valid_chars = event_type
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if event_type.is_empty()
        || event_type.len() > MAX_EVENT_TYPE_LEN
        || !valid_chars
        || event_type.starts_with('.')
        || event_type.ends_with('.')
        || event_type.contains("..")
    {
        return Err(Error::invalid_input(
            "common.bus_invalid_event_type",
            "An event type is a dotted lowercase name such as identity.user.registered.",
        ));
    }
    Ok(())
}

/// A new envelope around an encoded `payload`.
pub(crate) fn build(
    id: EventId,
    source: &str,
    event_type: &str,
    occurred_at: DateTime<Utc>,
    trace_context: std::collections::HashMap<String, String>,
    payload: Vec<u8>,
) -> EventEnvelope {
    EventEnvelope {
        id: id.to_string(),
        event_type: event_type.to_owned(),
        source: source.to_owned(),
        occurred_at: Some(df_common::wire::timestamp(occurred_at)),
        trace_context,
        payload,
    }
}

/// Decodes a message body and checks what consumers rely on: a UUID id and a valid event type.
pub fn decode_envelope(bytes: &[u8]) -> Result<EventEnvelope, Error> {
    let envelope = EventEnvelope::decode(bytes).map_err(|e| {
        Error::invalid_input(
            "common.bus_undecodable_event",
            "The message is not an event envelope.",
        )
        .with_cause(e)
    })?;
    envelope_id(&envelope)?;
    validate_event_type(&envelope.event_type)?;
    Ok(envelope)
}

/// The envelope's id as a typed id.
pub fn envelope_id(envelope: &EventEnvelope) -> Result<EventId, Error> {
    envelope.id.parse().map_err(|e: uuid::Error| {
        Error::invalid_input("common.bus_invalid_event_id", "The event id is not a UUID.")
            .with_cause(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_are_dotted_lowercase_names() {
        for good in [
            "identity.user.registered",
            "payments.tip_received",
            "a",
            "x-1.y",
        ] {
            assert!(validate_event_type(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "User.Registered",
            "a.*",
            "a.#",
            ".a",
            "a.",
            "a..b",
            "a b",
            "ä",
        ] {
            assert!(validate_event_type(bad).is_err(), "{bad:?}");
        }
        assert!(validate_event_type(&"a".repeat(256)).is_err());
    }

    #[test]
    fn envelopes_round_trip_and_bad_ones_are_refused() {
        let id = EventId::new();
        let envelope = build(
            id,
            "identity",
            "identity.user.registered",
            Utc::now(),
            [("traceparent".to_owned(), "00-abc-def-01".to_owned())].into(),
            vec![1, 2, 3],
        );
        let decoded = decode_envelope(&envelope.encode_to_vec()).unwrap();
        assert_eq!(decoded, envelope);
        assert_eq!(envelope_id(&decoded).unwrap(), id);

        assert_eq!(
            decode_envelope(&[0xff, 0xff, 0xff]).unwrap_err().code(),
            "common.bus_undecodable_event"
        );
        let mut no_id = envelope.clone();
        no_id.id = "not-a-uuid".into();
        assert_eq!(
            decode_envelope(&no_id.encode_to_vec()).unwrap_err().code(),
            "common.bus_invalid_event_id"
        );
        let mut no_type = envelope;
        no_type.event_type.clear();
        assert_eq!(
            decode_envelope(&no_type.encode_to_vec())
                .unwrap_err()
                .code(),
            "common.bus_invalid_event_type"
        );
    }
}
