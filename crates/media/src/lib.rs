//! Media service: creators' posts (public, for subscribers or pay-per-view, optionally
//! scheduled), fans' free follows, and the creator and home feeds, where each post is locked
//! unless payments says the reader may see it. A user's erasure removes their posts and follows.
//!
//! `serve` runs the whole service on listeners the caller bound, so the binary, the all-in-one
//! dev runner and the end-to-end tests start exactly the same code.

pub mod config;
pub mod cursor;
pub mod erasure;
pub mod errors;
pub mod follows;
pub mod grpc;
pub mod ids;
pub mod payments;
pub mod posts;
pub mod schema;
pub mod service;
pub mod sight;
pub mod status;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use df_common::{Error, auth::TokenSigner, clock::Clock};
use df_proto::media::v1::media_server::MediaServer;
use df_runtime::{Listeners, Runtime};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use tokio_util::sync::CancellationToken;

pub use config::MediaConfig;
pub use service::SERVICE;

/// The embedded migrations of `df_media`.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Runs media until `shutdown` is cancelled, then drains and returns.
pub async fn serve(
    config: MediaConfig,
    listeners: Listeners,
    clock: Clock,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let mut runtime = Runtime::start(SERVICE, &config.base, MIGRATIONS, clock, shutdown).await?;
    runtime.consume(df_runtime::erasure::UserErasure(erasure::MediaErasure));
    let signer = Arc::new(TokenSigner::from_config(
        &config.base.internal_auth,
        SERVICE,
    )?);
    let media = service::Media {
        db: runtime.db().clone(),
        payments: payments::Payments::new(&config.own.payments_client(), signer)?,
        clock: runtime.clock().clone(),
        feed: config.own.feed.clone(),
    };
    let api = MediaServer::new(grpc::MediaService::new(media))
        .max_decoding_message_size(config.base.grpc.max_message_bytes);
    runtime.serve(listeners, api).await
}
