//! Media's integration tests: the service and payments running in this process against the
//! machine's Postgres, Redis and RabbitMQ, called over gRPC as the gateway calls them.

// A failed step is a failed test, with its value in the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod announcements;
mod erasure;
mod feed_cache;
mod posts_and_feeds;
mod resumable;
mod storage;
mod support;
mod uploads;
