//! Test-only helpers, generic over services: a fresh database per test, a Redis key prefix per
//! test, a bus namespace per test, a TCP fault proxy, test certificates, bounded waits, metrics
//! reading, and the shared half of starting a service in-process on ephemeral ports
//! ([`service`]). Each service's own `testing` entry builds on them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cleanup;
pub mod db;
pub mod metrics;
pub mod proxy;
pub mod redis;
pub mod tls;

pub use db::{RoleSeparatedDb, TestDb};
pub use proxy::TcpProxy;
pub use redis::TestRedis;
pub use tls::{TestCa, TlsRedis};
pub mod service;
pub use service::{Member, RunningService, Surroundings, TestEnv};
pub mod bus;
pub use bus::TestBus;
pub mod wait;
pub use wait::{eventually, eventually_ok, eventually_some};
