//! The identity crate's integration tests, linked into one binary: every module shares one build
//! of the dependencies, which keeps the test build small and fast to link.

mod account_mail_timing;
mod breached_password;
mod grpc_tls;
mod internal_auth;
mod mail_adapters;
mod mail_cooldown;
mod password_rehash;
mod support;
