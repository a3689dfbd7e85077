//! Test-only helpers: a fresh database per test, a Redis key prefix per test, a bus namespace per
//! test, a TCP fault proxy, and a harness that starts services in-process on ephemeral ports.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cleanup;
pub mod db;
pub mod proxy;
pub mod redis;
pub mod tls;

pub use db::{RoleSeparatedDb, TestDb};
pub use proxy::TcpProxy;
pub use redis::TestRedis;
pub use tls::{TestCa, TlsRedis};
pub mod harness;
pub use harness::Platform;
pub mod bus;
pub use bus::TestBus;
