//! The gateway crate's integration tests, linked into one binary: every module shares one build
//! of the dependencies, which keeps the test build small and fast to link.

mod account_flows;
mod auth_flow;
mod brute_force;
mod csrf;
mod forged_cache_entries;
mod identity_events;
mod internal_tls;
mod media_files;
mod media_routes;
mod openapi_document;
mod payments_routes;
mod ppv_paywall;
mod production_mode;
mod ratelimit_redis;
mod redis_outage;
mod redis_tls;
mod resumable_uploads;
mod security_headers;
mod session_revocation;
mod strangers;
mod subscriber_media;
mod support;
mod unrouted;
