//! What media does with uploaded files: accepting an upload, scanning it (a durable job, so a
//! scan interrupted by a crash or an unreachable scanner is done again), and handing out signed
//! URLs to those who may see the file's post, then serving the bytes those URLs name.

use std::{
    collections::HashMap,
    ops::Range,
    sync::{Arc, Mutex},
    time::Instant,
};

use bytes::Bytes;
use df_common::{
    Error,
    ids::{CreatorId, UserId},
    wire,
};
use df_proto::events::v1 as ev;
use df_runtime::{
    bus::{RelayHandle, outbox},
    jobs::{self, Job, Jobs},
};
use diesel_async::AsyncConnection;
use futures::Stream;
use serde::{Deserialize, Serialize};

use crate::{
    SERVICE,
    config::{ModerationSettings, UploadSettings},
    errors::MediaError,
    ids::MediaId,
    images, items,
    items::Item,
    metrics,
    posts::Post,
    scanner::{Clamd, ScanFailed, Verdict},
    service::Media,
    sight::{Sight, Viewer},
    signing::{Signature, UrlSigner},
    status::{MediaState, Visibility},
    storage::{Storage, Variant, keys},
    uploads::{self, Declared},
};

/// Everything media needs to handle files.
#[derive(Clone)]
pub struct Files {
    pub storage: Storage,
    pub scanner: Clamd,
    /// Poster frames of videos, where ffmpeg is installed.
    pub posters: crate::poster::Posters,
    pub signer: UrlSigner,
    pub uploads: UploadSettings,
    pub spool_dir: std::path::PathBuf,
    pub moderation: ModerationSettings,
    /// Days a quarantined upload is kept.
    pub quarantine_days: u32,
    /// How long a signed URL works.
    pub url_ttl: chrono::Duration,
    /// What gateway URLs start with.
    pub public_base_url: String,
    pub jobs: Jobs,
    pub relay: RelayHandle,
    /// Uploads in flight per creator, in this process.
    pub in_flight: Arc<Mutex<HashMap<CreatorId, u32>>>,
}

/// The scan of one stored upload.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScanUpload {
    pub media_id: MediaId,
}

impl Job for ScanUpload {
    const KIND: &'static str = "media.scan_upload";
    // The scanner being down must never drop a file: retried (back-off up to an hour) for
    // weeks, and the backlog alert fires long before.
    const MAX_ATTEMPTS: i32 = 1_000;
}

/// A signed URL.
#[derive(Clone, Debug)]
pub struct SignedUrl {
    pub url: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// What the viewer asks a URL for, and who they are for the delivery record.
#[derive(Clone, Debug)]
pub struct UrlRequest {
    pub media: MediaId,
    pub variant: Variant,
    pub client_ip: String,
    pub user_agent: String,
}

/// The headers of served content.
#[derive(Clone, Debug)]
pub struct ContentHead {
    pub content_type: &'static str,
    pub total_bytes: u64,
    /// What is served: `start..end` (exclusive).
    pub range: Range<u64>,
    pub etag: String,
    pub public: bool,
    pub file_name: String,
}

/// The bytes of served content: the pieces themselves, or (for a caller that reads the
/// filesystem store itself) the object's key under the store's directory.
pub enum Content {
    Pieces(futures::stream::BoxStream<'static, Result<Bytes, Error>>),
    AtKey(String),
}

/// Releases a creator's in-flight slot when the upload ends, however it ends.
struct Slot {
    in_flight: Arc<Mutex<HashMap<CreatorId, u32>>>,
    creator: CreatorId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut in_flight) = self.in_flight.lock()
            && let Some(count) = in_flight.get_mut(&self.creator)
        {
            *count -= 1;
            if *count == 0 {
                in_flight.remove(&self.creator);
            }
        }
    }
}

impl Media {
    /// Receives, checks and stores an upload of `creator`'s, and queues its scan.
    pub async fn upload(
        &self,
        creator: CreatorId,
        declared: &Declared,
        chunks: impl Stream<Item = Result<Bytes, Error>>,
    ) -> Result<Item, Error> {
        let files = &self.files;
        let _slot = files.reserve(creator)?;
        let checked =
            match uploads::receive(&files.uploads, &files.spool_dir, declared, chunks).await {
                Ok(checked) => checked,
                Err(refused) => {
                    metrics::upload_refused(refused.code());
                    return Err(refused);
                }
            };
        self.store_checked(creator, MediaId::new(), checked, None)
            .await
    }

    /// Stores a checked upload as the file `id` and queues its scan; when it completes the
    /// resumable upload `finishing`, that upload's row goes in the same transaction and its
    /// parts are deleted by a durable job queued in it.
    pub(crate) async fn store_checked(
        &self,
        creator: CreatorId,
        id: MediaId,
        checked: uploads::Checked,
        finishing: Option<MediaId>,
    ) -> Result<Item, Error> {
        let files = &self.files;
        let (served_bytes, served_sha256) = match &checked.derived {
            Some(derived) => (derived.display.len() as u64, sha256(&derived.display)),
            None => (checked.bytes, checked.sha256),
        };
        let item = Item {
            id,
            creator_id: creator,
            kind: checked.kind,
            state: MediaState::Scanning,
            original_bytes: i64::try_from(checked.bytes).unwrap_or(i64::MAX),
            original_sha256: checked.sha256.to_vec(),
            served_bytes: i64::try_from(served_bytes).unwrap_or(i64::MAX),
            served_sha256: served_sha256.to_vec(),
            width: checked.width.and_then(|w| i32::try_from(w).ok()),
            height: checked.height.and_then(|h| i32::try_from(h).ok()),
            duration_ms: checked.duration_ms.and_then(|d| i64::try_from(d).ok()),
            post_id: None,
            position: None,
            threat: None,
            created_at: self.clock.now(),
            scanned_at: None,
            poster: false,
        };
        let stored = async {
            files
                .storage
                .put_file(&keys::incoming(id, Variant::Original), checked.spool.path())
                .await?;
            if let Some(derived) = &checked.derived {
                for (variant, bytes) in [
                    (Variant::Display, &derived.display),
                    (Variant::ThumbSmall, &derived.thumb_small),
                    (Variant::ThumbLarge, &derived.thumb_large),
                ] {
                    files
                        .storage
                        .put(&keys::incoming(id, variant), bytes.clone())
                        .await?;
                }
            }
            let now = self.clock.now();
            let mut conn = self.db.conn().await?;
            conn.transaction::<_, Error, _>(async move |conn| {
                items::insert(conn, &item).await?;
                jobs::enqueue(conn, &ScanUpload { media_id: id }, now).await?;
                if let Some(upload) = finishing {
                    crate::resumable::finish(conn, upload, now).await?;
                }
                Ok(())
            })
            .await
        }
        .await;
        if let Err(failed) = stored {
            // Best effort: the objects of a file that has no row are never served either (and
            // a resumable upload's parts stay, so the client can complete it again).
            let _ = files.storage.delete_incoming(id).await;
            return Err(failed);
        }
        metrics::upload_accepted(checked.kind.as_str(), checked.bytes);
        files.jobs.wake();
        let mut conn = self.db.conn().await?;
        items::find(&mut conn, id)
            .await?
            .ok_or_else(|| Error::internal(anyhow::anyhow!("media {id} vanished")))
    }

    /// Scans a stored upload and moves it on: quarantined, or waiting for moderation (published
    /// at once when clean scans are approved automatically). Idempotent: every step can be
    /// repeated after a crash.
    pub async fn scan_upload(&self, id: MediaId) -> Result<(), Error> {
        let files = &self.files;
        let mut conn = self.db.conn().await?;
        let Some(item) = items::find(&mut conn, id).await? else {
            return Ok(());
        };
        drop(conn);
        if !matches!(item.state, MediaState::Scanning | MediaState::ScanPending) {
            return Ok(());
        }
        let original = keys::incoming(id, Variant::Original);
        let started = Instant::now();
        let bytes = files.storage.stream(&original, None).await?;
        let size = u64::try_from(item.original_bytes).unwrap_or(u64::MAX);
        let verdict = files.scanner.scan(bytes, size).await;
        metrics::scanned(&verdict, started.elapsed());
        let now = self.clock.now();
        match verdict {
            Err(failed) => {
                let mut conn = self.db.conn().await?;
                items::scan_failed(&mut conn, id).await?;
                let kind = match failed {
                    ScanFailed::Refused(_) | ScanFailed::Source(_) => {
                        df_common::ErrorKind::Internal
                    }
                    ScanFailed::Unreachable(_) | ScanFailed::TimedOut(_) => {
                        df_common::ErrorKind::Unavailable
                    }
                };
                Err(Error::new(
                    kind,
                    "media.scanner_unavailable",
                    "The scan will be retried.",
                )
                .with_cause(anyhow::anyhow!("{failed}")))
            }
            Ok(Verdict::Infected(threat)) => {
                files
                    .storage
                    .copy(&original, &keys::quarantined(id))
                    .await?;
                self.record_verdict(&item, MediaState::Quarantined, Some(&threat), now)
                    .await?;
                files.storage.delete_all(id).await
            }
            Ok(Verdict::Clean) => {
                if item.kind.is_image() {
                    for variant in [Variant::Display, Variant::ThumbSmall, Variant::ThumbLarge] {
                        files
                            .storage
                            .copy(&keys::incoming(id, variant), &keys::published(id, variant))
                            .await?;
                    }
                } else {
                    self.make_poster(&item).await;
                    files
                        .storage
                        .copy(&original, &keys::published(id, Variant::Display))
                        .await?;
                }
                let next = if files.moderation.auto_approve_clean_scans {
                    MediaState::Published
                } else {
                    MediaState::ModerationPending
                };
                self.record_verdict(&item, next, None, now).await?;
                files.storage.delete_incoming(id).await
            }
        }
    }

    async fn record_verdict(
        &self,
        item: &Item,
        state: MediaState,
        threat: Option<&str>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), Error> {
        let mut conn = self.db.conn().await?;
        let id = item.id;
        let creator = item.creator_id;
        let sha = hex::encode(&item.original_sha256);
        let bytes = u64::try_from(item.original_bytes).unwrap_or_default();
        let kind = item.kind;
        let threat = threat.map(str::to_owned);
        conn.transaction::<_, Error, _>(async move |conn| {
            items::set_state(conn, id, state, threat.as_deref(), now).await?;
            match state {
                MediaState::Quarantined => {
                    let event = ev::MediaQuarantined {
                        media_id: id.to_string(),
                        creator_id: creator.to_string(),
                        threat: threat.unwrap_or_default(),
                        original_sha256: sha,
                        quarantined_at: Some(wire::timestamp(now)),
                    };
                    outbox::enqueue(conn, SERVICE, &event).await?;
                }
                _ => {
                    let event = ev::MediaUploaded {
                        media_id: id.to_string(),
                        creator_id: creator.to_string(),
                        kind: kind.as_str().to_owned(),
                        original_sha256: sha,
                        bytes,
                        uploaded_at: Some(wire::timestamp(now)),
                    };
                    outbox::enqueue(conn, SERVICE, &event).await?;
                }
            }
            Ok(())
        })
        .await?;
        self.files.relay.notify();
        // A file attached before its verdict shows in its post from now on (or not at all).
        self.changed(creator).await;
        Ok(())
    }

    /// A file as its creator (or staff) sees it.
    pub async fn get_media(&self, viewer: Viewer, id: MediaId) -> Result<Item, Error> {
        let mut conn = self.db.conn().await?;
        items::find(&mut conn, id)
            .await?
            .filter(|item| item.creator_id == viewer.user || viewer.staff)
            .ok_or_else(|| MediaError::MediaNotFound.into())
    }

    /// A signed URL of a file for `viewer`, who must be its creator or allowed to see its
    /// post; each URL handed to a fan is recorded for payments' access log.
    pub async fn media_url(&self, viewer: Viewer, asked: &UrlRequest) -> Result<SignedUrl, Error> {
        let (item, post) = self.item_and_post(asked.media).await?;
        let own = item.creator_id == viewer.user;
        if !own {
            let post = post.as_ref().ok_or(MediaError::MediaNotFound)?;
            if post.scheduled(self.clock.now()) {
                return Err(MediaError::MediaNotFound.into());
            }
            if post.adult {
                return Err(MediaError::AdultOnly.into());
            }
            if !Sight::new(&self.payments, viewer).unlocked(post).await? {
                return Err(MediaError::NotEntitled.into());
            }
            if item.state != MediaState::Published {
                return Err(MediaError::MediaNotReady.into());
            }
        } else if matches!(item.state, MediaState::Quarantined | MediaState::Removed) {
            return Err(MediaError::MediaNotReady.into());
        }
        if asked.variant != Variant::Display && !item.has_thumbnails() {
            return Err(MediaError::InvalidVariant.into());
        }
        let key = match item.state {
            MediaState::Scanning | MediaState::ScanPending => {
                // Its creator may not see an unscanned file either: nothing is served unscanned.
                return Err(MediaError::MediaNotReady.into());
            }
            _ => keys::published(item.id, asked.variant),
        };
        let expires_at = self.clock.now() + self.files.url_ttl;
        let url = match self
            .files
            .storage
            .presigned(&key, self.files.url_ttl.to_std().unwrap_or_default())
            .await?
        {
            Some(url) => url,
            None => {
                let signed = self
                    .files
                    .signer
                    .sign(item.id, asked.variant, expires_at.timestamp());
                format!(
                    "{}/v1/media/{}/content?variant={}&expires={}&key_id={}&signature={}",
                    self.files.public_base_url.trim_end_matches('/'),
                    item.id,
                    asked.variant.name(),
                    signed.expires,
                    signed.key_id,
                    signed.mac
                )
            }
        };
        if let (false, Some(post)) = (own, &post) {
            self.record_delivery(viewer.user, &item, post, asked)
                .await?;
        }
        metrics::delivered(asked.variant.name());
        Ok(SignedUrl { url, expires_at })
    }

    async fn record_delivery(
        &self,
        fan: UserId,
        item: &Item,
        post: &Post,
        asked: &UrlRequest,
    ) -> Result<(), Error> {
        let event = ev::ContentDelivered {
            fan_id: fan.to_string(),
            creator_id: item.creator_id.to_string(),
            post_id: post.id.to_string(),
            media_id: item.id.to_string(),
            ppv_item_id: post.ppv_item_id.map(|i| i.to_string()).unwrap_or_default(),
            delivered_at: Some(wire::timestamp(self.clock.now())),
            client_ip: asked.client_ip.clone(),
            user_agent: asked.user_agent.clone(),
        };
        let mut conn = self.db.conn().await?;
        conn.transaction::<_, Error, _>(async move |conn| {
            outbox::enqueue(conn, SERVICE, &event).await.map(drop)
        })
        .await?;
        self.files.relay.notify();
        Ok(())
    }

    /// The bytes a signed URL names (a range of them): the signature is the only authority, and
    /// only a published file (or its creator's copy, for the URLs handed to its creator) is
    /// served.
    pub async fn read_content(
        &self,
        id: MediaId,
        variant: Variant,
        signature: &Signature,
        range: Option<Range<u64>>,
        reads_store: bool,
    ) -> Result<(ContentHead, Content), Error> {
        self.files
            .signer
            .verify(id, variant, signature, self.clock.now().timestamp())?;
        let (item, post) = self.item_and_post(id).await?;
        if matches!(
            item.state,
            MediaState::Scanning
                | MediaState::ScanPending
                | MediaState::Quarantined
                | MediaState::Removed
        ) {
            return Err(MediaError::MediaNotFound.into());
        }
        let key = keys::published(id, variant);
        let storage = &self.files.storage;
        let located = match reads_store {
            true => storage.locate(&key, range.clone()).await?,
            false => None,
        };
        let (total_bytes, served, content) = match located {
            Some((total, served)) => (total, served, Content::AtKey(key.to_string())),
            None => {
                let opened = storage.read_range(&key, range).await?;
                (opened.total, opened.range, Content::Pieces(opened.chunks))
            }
        };
        let public = item.state == MediaState::Published
            && post.is_some_and(|p: Post| p.visibility == Visibility::Public && !p.adult);
        let (content_type, extension) = match variant {
            Variant::Display | Variant::Original => (
                images::served_mime(item.kind),
                images::served_extension(item.kind),
            ),
            Variant::ThumbSmall | Variant::ThumbLarge => ("image/jpeg", "jpg"),
        };
        let etag = match variant {
            Variant::Display | Variant::Original => hex::encode(&item.served_sha256),
            // Thumbnails are never rewritten: the id and variant name them for good.
            Variant::ThumbSmall | Variant::ThumbLarge => format!("{id}-{}", variant.name()),
        };
        Ok((
            ContentHead {
                content_type,
                total_bytes,
                range: served,
                etag,
                public,
                file_name: format!("{id}.{extension}"),
            },
            content,
        ))
    }
}

impl Files {
    fn reserve(&self, creator: CreatorId) -> Result<Slot, Error> {
        let mut in_flight = self
            .in_flight
            .lock()
            .map_err(|_| Error::internal(anyhow::anyhow!("in-flight uploads lock poisoned")))?;
        let count = in_flight.entry(creator).or_default();
        if *count >= self.uploads.max_open_per_creator {
            return Err(MediaError::TooManyUploads.into());
        }
        *count += 1;
        Ok(Slot {
            in_flight: Arc::clone(&self.in_flight),
            creator,
        })
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

impl Media {
    /// A file and the post it is attached to.
    async fn item_and_post(&self, id: MediaId) -> Result<(Item, Option<Post>), Error> {
        let mut conn = self.db.conn().await?;
        Ok(items::with_post(&mut conn, id)
            .await?
            .ok_or(MediaError::MediaNotFound)?)
    }

    /// Updates the scan backlog gauge.
    pub async fn measure_backlog(&self) -> Result<(), Error> {
        let mut conn = self.db.conn().await?;
        metrics::backlog(items::unscanned(&mut conn).await?);
        Ok(())
    }
}
