//! Provider events as received. Stripe's objects change shape between API versions (fields move,
//! ids become expanded objects), so payments reads the few fields it needs through tolerant
//! accessors instead of binding to one version's full schema.

use crate::errors::PaymentsError;
use chrono::{DateTime, Utc};
use df_common::Error;
use serde::Deserialize;
use serde_json::Value;

/// A webhook event.
#[derive(Clone, Debug, Deserialize)]
pub struct Event {
    /// `evt_...`; the inbox key.
    pub id: String,
    /// For example `invoice.paid`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Unix seconds when the provider created the event.
    pub created: i64,
    /// The connected account the event happened on (Connect events), if any.
    #[serde(default)]
    pub account: Option<String>,
    /// The object.
    pub data: EventData,
}

/// The event's payload.
#[derive(Clone, Debug, Deserialize)]
pub struct EventData {
    /// The object after the change.
    pub object: Value,
}

impl Event {
    /// Parses a verified payload.
    pub fn parse(payload: &[u8]) -> Result<Self, Error> {
        let event: Event = serde_json::from_slice(payload)
            .map_err(|e| Error::from(PaymentsError::WebhookMalformed).with_cause(e))?;
        if event.id.is_empty() || event.id.len() > 255 || event.event_type.len() > 100 {
            return Err(Error::from(PaymentsError::WebhookMalformed));
        }
        Ok(event)
    }

    /// What the event means to payments.
    pub fn kind(&self) -> super::kind::EventKind {
        super::kind::EventKind::of(&self.event_type)
    }

    /// When the event was created.
    pub fn created_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.created, 0).unwrap_or_default()
    }

    /// The event's object.
    pub fn object(&self) -> Obj<'_> {
        Obj(&self.data.object)
    }
}

/// Read-only view of a provider object.
#[derive(Clone, Copy, Debug)]
pub struct Obj<'a>(pub &'a Value);

impl<'a> Obj<'a> {
    /// A nested object.
    pub fn get(&self, field: &str) -> Obj<'a> {
        Obj(self.0.get(field).unwrap_or(&Value::Null))
    }

    /// A string field.
    pub fn str(&self, field: &str) -> Option<&'a str> {
        self.0.get(field).and_then(Value::as_str)
    }

    /// An integer field.
    pub fn int(&self, field: &str) -> Option<i64> {
        self.0.get(field).and_then(Value::as_i64)
    }

    /// A boolean field (false when absent).
    pub fn flag(&self, field: &str) -> bool {
        self.0.get(field).and_then(Value::as_bool).unwrap_or(false)
    }

    /// A unix-seconds field as a time.
    pub fn time(&self, field: &str) -> Option<DateTime<Utc>> {
        self.int(field)
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
    }

    /// A reference that is either an id string or an expanded object with an `id`.
    pub fn id_of(&self, field: &str) -> Option<&'a str> {
        match self.0.get(field)? {
            Value::String(id) => Some(id),
            Value::Object(map) => map.get("id").and_then(Value::as_str),
            _ => None,
        }
    }

    /// A metadata value.
    pub fn metadata(&self, key: &str) -> Option<&'a str> {
        self.0
            .get("metadata")
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
    }

    /// The first element of a list object's `data`.
    pub fn first_of(&self, field: &str) -> Obj<'a> {
        Obj(self
            .0
            .get(field)
            .and_then(|l| l.get("data"))
            .and_then(|d| d.get(0))
            .unwrap_or(&Value::Null))
    }

    /// True when the value is absent or null.
    pub fn is_null(&self) -> bool {
        self.0.is_null()
    }
}

/// Reads a typed id from metadata, refusing anything else.
pub fn metadata_id<T: std::str::FromStr>(obj: Obj<'_>, key: &str) -> Option<T> {
    obj.metadata(key).and_then(|v| v.parse().ok())
}

/// The subscription an invoice belongs to, in old and new API shapes.
pub fn invoice_subscription(invoice: Obj<'_>) -> Option<&str> {
    invoice
        .get("parent")
        .get("subscription_details")
        .id_of("subscription")
        .or_else(|| invoice.id_of("subscription"))
}

/// Metadata the subscription carried when the invoice was made, in old and new API shapes.
pub fn invoice_subscription_metadata<'a>(invoice: Obj<'a>) -> Obj<'a> {
    let new = invoice.get("parent").get("subscription_details");
    if !new.get("metadata").is_null() {
        return new;
    }
    invoice.get("subscription_details")
}

/// End of the period an invoice paid for: the first line's period end, else the invoice's own.
pub fn invoice_period_end(invoice: Obj<'_>) -> Option<DateTime<Utc>> {
    invoice
        .first_of("lines")
        .get("period")
        .time("end")
        .or_else(|| invoice.time("period_end"))
}

/// A subscription's current period end, in old (top-level) and new (per item) API shapes.
pub fn subscription_period_end(subscription: Obj<'_>) -> Option<DateTime<Utc>> {
    subscription
        .time("current_period_end")
        .or_else(|| subscription.first_of("items").time("current_period_end"))
}
