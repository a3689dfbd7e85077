//! Provider webhooks: signature check, the inbox of applied events, and the handlers.

pub mod apply;
pub mod batch;
pub mod event;
pub mod kind;
pub mod seen;
pub mod signature;

pub use apply::{Outcome, Webhooks};
