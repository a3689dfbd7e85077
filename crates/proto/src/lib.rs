//! Generated protobuf and gRPC types. `proto/` is the only definition of internal RPCs and bus
//! events; this crate mirrors its packages as modules, and names each bus event's routing key
//! once, beside its type ([`Event`]).

#![allow(clippy::all, clippy::pedantic, missing_docs)]

mod credentials;

pub mod identity {
    pub mod v1 {
        tonic::include_proto!("directfanz.identity.v1");
    }
}

pub mod payments {
    pub mod v1 {
        tonic::include_proto!("directfanz.payments.v1");
    }
}

pub mod media {
    pub mod v1 {
        tonic::include_proto!("directfanz.media.v1");
    }
}

pub mod events {
    pub mod v1 {
        tonic::include_proto!("directfanz.events.v1");

        crate::routing_keys! {
            UserRegistered => "identity.user.registered",
            UserEmailVerified => "identity.user.email_verified",
            AccountLocked => "identity.account.locked",
            EntitlementChanged => "payments.entitlement.changed",
            PaymentSucceeded => "payments.payment.succeeded",
            PayoutNeedsAttention => "payments.payout.needs_attention",
            FanDisputeFlagged => "payments.fan.dispute_flagged",
            ContentDelivered => "media.content.delivered",
            MediaUploaded => "media.uploaded",
            MediaQuarantined => "media.upload.quarantined",
            ModerationDecided => "media.moderation.decided",
            UserErasureRequested => "privacy.user.erasure_requested",
        }
    }
}

/// A bus event: a message that is always published under one routing key, so that a producer
/// and its consumers name the type and never spell the key.
pub trait Event: prost::Message + Default + Send + Sync + 'static {
    /// The dotted routing key (`<service>.<entity>.<what happened>`), also the envelope's event
    /// type.
    const ROUTING_KEY: &'static str;
}

/// Implements [`Event`] for each `Type => "routing.key"`.
#[macro_export]
macro_rules! routing_keys {
    ($($event:ident => $key:literal),* $(,)?) => {
        $(impl $crate::Event for $event {
            const ROUTING_KEY: &'static str = $key;
        })*
    };
}
