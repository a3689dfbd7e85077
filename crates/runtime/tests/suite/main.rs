//! The runtime crate's integration tests, linked into one binary: every module shares one build
//! of the dependencies, which keeps the test build small and fast to link.

mod bus_flow;
mod db_pool;
mod db_tls;
mod jobs;
