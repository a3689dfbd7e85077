//! The payments crate's integration tests, linked into one binary so that every module shares one
//! build of the dependencies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access_log;
mod batch_apply;
mod entitlement_cache;
mod erasure;
mod foreign_events;
mod grpc_metrics;
mod inbox_pruning;
mod ledger_guards;
mod migration_roles;
mod money_flows;
mod service_permissions;
mod stripe_wire;
mod support;
mod tax_flows;
mod webhook_storm;
