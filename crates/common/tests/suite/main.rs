//! The common crate's integration tests, linked into one binary: every module shares one build
//! of the dependencies, which keeps the test build small and fast to link.

mod redis_tls;
mod telemetry;
