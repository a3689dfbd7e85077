//! Shared building blocks of every DirectFanz service: configuration and secrets, errors, typed
//! ids, telemetry, Postgres, Redis, RabbitMQ (outbox and inbox), gRPC with internal auth, and the
//! process lifecycle.

pub mod auth;
pub mod config;
pub mod error;
pub mod ids;
pub mod keyring;
pub mod origin;
pub mod secret;
pub mod telemetry;
pub mod tls;

pub use error::{Error, ErrorKind, Result};
pub use secret::Secret;
pub mod bus;
pub mod cache;
pub mod db;
pub mod grpc;
pub mod lifecycle;
pub mod worker;
