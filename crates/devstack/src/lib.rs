//! The whole platform in one process: `df-dev` for local development, and (feature `testing`)
//! [`platform::Platform`], the same services started for end-to-end tests.

#[cfg(feature = "testing")]
pub mod platform;
