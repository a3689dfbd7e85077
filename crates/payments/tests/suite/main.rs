//! The payments crate's integration tests, linked into one binary so that every module shares one
//! build of the dependencies.

mod money_flows;
mod stripe_wire;
mod support;
mod webhook_storm;
