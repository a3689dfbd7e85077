//! Media service: creators' posts (public, for subscribers or pay-per-view, optionally
//! scheduled), fans' free follows, and the creator and home feeds, where each post is locked
//! unless payments says the reader may see it. A user's erasure removes their posts and follows.
//!
//! `serve` runs the whole service on listeners the caller bound, so the binary, the all-in-one
//! dev runner and the end-to-end tests start exactly the same code.

pub mod config;
pub mod cursor;
pub mod entitlement_events;
pub mod erasure;
pub mod errors;
pub mod feed_cache;
pub mod files;
pub mod follows;
pub mod grpc;
pub mod home_cache;
pub mod ids;
pub mod images;
pub mod integrity;
pub mod items;
pub mod metrics;
pub mod moderation;
pub mod payments;
pub mod poster;
pub mod posts;
pub mod resumable;
pub mod scanner;
pub mod schema;
pub mod service;
pub mod sight;
pub mod signing;
pub mod status;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;
pub mod uploads;

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
    let clock = runtime.clock().clone();
    let feed_ttl = std::time::Duration::from_secs(u64::from(config.own.feed.cache_ttl_secs));
    let feed_cache = feed_cache::FeedCache::new(runtime.cache().clone(), feed_ttl);
    let home_cache = home_cache::HomeCache::new(runtime.cache().clone(), feed_ttl);
    runtime.consume(df_runtime::erasure::UserErasure(erasure::MediaErasure {
        clock: clock.clone(),
        feed_cache: feed_cache.clone(),
        home_cache: home_cache.clone(),
    }));
    runtime.handle_events(entitlement_events::EntitlementAnnouncements {
        home_cache: home_cache.clone(),
        feed_cache: feed_cache.clone(),
    });
    runtime.consume(moderation::ModerationDecisions {
        clock,
        db: runtime.db().clone(),
        feed_cache: feed_cache.clone(),
    });
    let signer = Arc::new(TokenSigner::from_config(
        &config.base.internal_auth,
        SERVICE,
    )?);
    let own = &config.own;
    match uploads::sweep_spool(&own.spool_dir()) {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "removed upload spool files left by a crash"),
        Err(e) => tracing::warn!(error = %e, "the upload spool directory could not be swept"),
    }
    let files = files::Files {
        storage: storage::Storage::open(&own.storage)?,
        scanner: scanner::Clamd::new(&own.scanner),
        posters: poster::Posters::new(&own.posters),
        signer: signing::UrlSigner::new(&own.delivery)?,
        uploads: own.uploads.clone(),
        spool_dir: own.spool_dir(),
        moderation: own.moderation.clone(),
        quarantine_days: own.storage.quarantine_days,
        url_ttl: chrono::Duration::seconds(i64::try_from(own.delivery.url_ttl_secs).unwrap_or(300)),
        public_base_url: own.delivery.public_base_url.clone(),
        jobs: runtime.job_waker(),
        relay: runtime.relay().clone(),
        in_flight: Default::default(),
    };
    let media = service::Media {
        db: runtime.db().clone(),
        payments: payments::Payments::new(&own.payments_client(), signer)?,
        clock: runtime.clock().clone(),
        feed: own.feed.clone(),
        feed_cache,
        home_cache,
        files,
    };
    let scanning = media.clone();
    runtime.jobs().on(move |job: files::ScanUpload| {
        let media = scanning.clone();
        async move { media.scan_upload(job.media_id).await }
    });
    let erasing = media.files.storage.clone();
    runtime.jobs().on(move |job: erasure::DeleteObjects| {
        let storage = erasing.clone();
        async move {
            for id in job.media_ids {
                storage.delete_all(id).await?;
            }
            Ok(())
        }
    });
    let dropping = media.files.storage.clone();
    runtime.jobs().on(move |job: resumable::DropUploadParts| {
        let storage = dropping.clone();
        async move {
            storage
                .delete_prefix(&storage::keys::upload_parts(job.upload_id))
                .await
        }
    });
    let expiring = media.clone();
    runtime.jobs().every(
        "media.expire_uploads",
        std::time::Duration::from_secs(15 * 60),
        df_runtime::jobs::FirstRun::AfterInterval,
        move || {
            let media = expiring.clone();
            async move {
                let expired = media.expire_uploads().await?;
                if expired > 0 {
                    tracing::info!(expired, "abandoned resumable uploads deleted");
                }
                Ok(())
            }
        },
    );
    let checking = media.clone();
    let recheck = chrono::Duration::days(i64::from(own.storage.integrity_recheck_days));
    runtime.jobs().every(
        "media.check_integrity",
        std::time::Duration::from_secs(3_600),
        df_runtime::jobs::FirstRun::AfterInterval,
        move || {
            let media = checking.clone();
            async move {
                let report = media.check_integrity(recheck).await?;
                tracing::info!(?report, "integrity checked");
                Ok(())
            }
        },
    );
    let measuring = media.clone();
    runtime.jobs().every(
        "media.measure_backlog",
        std::time::Duration::from_secs(30),
        df_runtime::jobs::FirstRun::Now,
        move || {
            let media = measuring.clone();
            async move { media.measure_backlog().await }
        },
    );
    let api = MediaServer::new(grpc::MediaService::new(media))
        .max_decoding_message_size(config.base.grpc.max_message_bytes);
    runtime.serve(listeners, api).await
}
