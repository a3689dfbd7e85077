//! Shared building blocks of every DirectFanz service, the gateway included: configuration and
//! secrets, errors, typed ids, telemetry, Redis, gRPC with internal auth, TLS, origins, sealed
//! values and the process lifecycle. Postgres and the event bus live in `df-runtime`, which the
//! gateway does not need.

pub mod auth;
pub mod config;
pub mod error;
pub mod files;
pub mod ids;
pub mod keyring;
pub mod origin;
pub mod ports;
pub mod secret;
pub mod telemetry;
pub mod text_enum;
pub mod tls;
pub mod wire;

pub use error::{Error, ErrorKind, Result};
pub use secret::Secret;
pub mod cache;
pub mod catalogue;
pub mod clock;
pub mod grpc;
pub mod lifecycle;

/// Every DirectFanz process allocates with mimalloc: handling a request allocates and frees many
/// small buffers on several threads, where glibc's allocator took about a tenth of the home
/// feed's time and mimalloc raised its throughput by about a third (`scripts/bench/media`,
/// docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
