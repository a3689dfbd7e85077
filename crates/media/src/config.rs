//! Media's configuration: the common sections plus its feeds and its client of payments. Every
//! setting is documented in docs/configuration.md.

use std::{collections::BTreeMap, path::PathBuf};

use base64::Engine;
use df_common::{
    config::{Validate, check_range},
    grpc::ClientConfig,
    secret::Secret,
};
use df_runtime::{ServiceConfig, ServiceSettings};
use serde::Deserialize;

/// Everything media reads at start-up: the sections every service reads, and its own.
pub type MediaConfig = ServiceConfig<MediaSections>;

/// Media's own sections.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)] // no deny_unknown_fields here: the base sections share the top level
pub struct MediaSections {
    /// Posts and feed pages.
    pub feed: FeedSettings,
    /// Payments, asked who may see what (as media itself).
    pub payments: ClientConfig,
    /// Where uploaded files are kept.
    pub storage: StorageSettings,
    /// What an upload may be.
    pub uploads: UploadSettings,
    /// The malware scanner.
    pub scanner: ScannerSettings,
    /// Poster frames of videos.
    pub posters: PosterSettings,
    /// Signed URLs.
    pub delivery: DeliverySettings,
    /// Until a moderation service decides.
    pub moderation: ModerationSettings,
}

impl Validate for MediaSections {
    fn validate(&self, problems: &mut Vec<String>) {
        self.feed.validate(problems);
        self.storage.validate(problems);
        self.uploads.validate(problems);
        self.scanner.validate(problems);
        self.posters.validate(problems);
        self.delivery.validate(problems);
        let mut own = Vec::new();
        self.payments_client().validate(&mut own);
        problems.extend(own.into_iter().map(|p| format!("payments.{p}")));
    }
}

impl ServiceSettings for MediaSections {
    const SERVICE: &'static str = crate::SERVICE;
    const CALLS_AS_ITSELF: bool = true;
}

impl MediaSections {
    /// Where uploads are received.
    pub fn spool_dir(&self) -> PathBuf {
        if self.storage.spool_dir.as_os_str().is_empty() {
            std::env::temp_dir()
        } else {
            self.storage.spool_dir.clone()
        }
    }

    /// The payments client settings, its URL defaulting to payments' port on this machine.
    pub fn payments_client(&self) -> ClientConfig {
        let mut client = self.payments.clone();
        if client.url.is_empty() {
            client.url = format!(
                "http://127.0.0.1:{}",
                df_common::ports::of(df_common::auth::service::PAYMENTS).main
            );
        }
        client
    }
}

/// Posts and feed pages.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedSettings {
    /// Posts on a page when the client does not say.
    pub default_page_size: u32,
    /// Most posts on a page.
    pub max_page_size: u32,
    /// Most characters of a locked post's text shown as its preview (never more than half).
    pub preview_chars: u32,
    /// Most characters of a post's text.
    pub max_body_chars: u32,
    /// Seconds a feed page's post ids stay in Redis; 0 turns the cache off.
    pub cache_ttl_secs: u32,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            default_page_size: 20,
            max_page_size: 100,
            preview_chars: 140,
            max_body_chars: 5_000,
            cache_ttl_secs: 30,
        }
    }
}

impl Validate for FeedSettings {
    fn validate(&self, problems: &mut Vec<String>) {
        check_range(problems, "feed.max_page_size", self.max_page_size, 1, 500);
        check_range(
            problems,
            "feed.default_page_size",
            self.default_page_size,
            1,
            self.max_page_size.max(1),
        );
        check_range(problems, "feed.preview_chars", self.preview_chars, 0, 1_000);
        check_range(
            problems,
            "feed.max_body_chars",
            self.max_body_chars,
            1,
            100_000,
        );
        check_range(
            problems,
            "feed.cache_ttl_secs",
            self.cache_ttl_secs,
            0,
            3_600,
        );
    }
}

/// Which object store holds the files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// A directory of this machine (one replica, or a shared volume).
    #[default]
    Filesystem,
    /// Any S3-compatible store.
    S3,
}

/// Where uploaded files are kept.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// `filesystem` or `s3`.
    pub backend: Backend,
    /// filesystem: the directory (created when missing).
    pub root: PathBuf,
    /// Where uploads are received before they are stored; empty: the system's temporary
    /// directory.
    pub spool_dir: PathBuf,
    /// s3: the bucket.
    pub bucket: String,
    /// s3: the endpoint; empty for AWS itself.
    pub endpoint: String,
    /// s3: the region (any value for most S3-compatible stores).
    pub region: String,
    /// s3: the access key id; empty to take credentials from the environment (instance role).
    pub access_key_id: String,
    /// s3: the secret access key.
    pub secret_access_key: Secret<String>,
    /// s3: allow an `http://` endpoint (a store on the same host only).
    pub allow_http: bool,
    /// Days a quarantined file is kept for the legal hold before the integrity job deletes it.
    pub quarantine_days: u32,
    /// Days after which the integrity job reads a served file back again.
    pub integrity_recheck_days: u32,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            backend: Backend::Filesystem,
            root: PathBuf::from("data/media"),
            spool_dir: PathBuf::new(),
            bucket: String::new(),
            endpoint: String::new(),
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: Secret::from(String::new()),
            allow_http: false,
            quarantine_days: 90,
            integrity_recheck_days: 30,
        }
    }
}

impl Validate for StorageSettings {
    fn validate(&self, problems: &mut Vec<String>) {
        match self.backend {
            Backend::Filesystem if self.root.as_os_str().is_empty() => {
                problems.push("storage.root: required for the filesystem backend".into());
            }
            Backend::S3 if self.bucket.is_empty() => {
                problems.push("storage.bucket: required for the s3 backend".into());
            }
            Backend::Filesystem | Backend::S3 => {}
        }
        check_range(
            problems,
            "storage.quarantine_days",
            self.quarantine_days,
            1,
            3_650,
        );
    }
}

/// The largest file clamd scans whole: libclamav reads no file above about 2 GiB, whatever its
/// limits say, and answers `OK` for one it did not read unless told to flag it. Nothing larger
/// is accepted, so nothing is ever published unread.
pub const MAX_SCANNABLE_BYTES: u64 = 2047 * 1024 * 1024;

/// What an upload may be.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadSettings {
    /// Largest image, bytes.
    pub max_image_bytes: u64,
    /// Largest video, bytes.
    pub max_video_bytes: u64,
    /// Most pixels of an image (width × height), checked from its header before decoding.
    pub max_image_pixels: u64,
    /// Uploads one creator may have in flight at once.
    pub max_open_per_creator: u32,
    /// Resumable uploads one creator may have open at once.
    pub max_sessions_per_creator: u32,
    /// Hours a resumable upload is kept after its last append.
    pub resumable_expiry_hours: u32,
}

impl Default for UploadSettings {
    fn default() -> Self {
        Self {
            max_image_bytes: 25 * 1024 * 1024,
            max_video_bytes: MAX_SCANNABLE_BYTES,
            max_image_pixels: 50_000_000,
            max_open_per_creator: 4,
            max_sessions_per_creator: 10,
            resumable_expiry_hours: 24,
        }
    }
}

impl Validate for UploadSettings {
    fn validate(&self, problems: &mut Vec<String>) {
        check_range(
            problems,
            "uploads.max_image_bytes",
            self.max_image_bytes,
            1024,
            256 * 1024 * 1024,
        );
        check_range(
            problems,
            "uploads.max_video_bytes",
            self.max_video_bytes,
            1024,
            MAX_SCANNABLE_BYTES,
        );
        check_range(
            problems,
            "uploads.max_image_pixels",
            self.max_image_pixels,
            1,
            200_000_000,
        );
        check_range(
            problems,
            "uploads.max_open_per_creator",
            self.max_open_per_creator,
            1,
            100,
        );
        check_range(
            problems,
            "uploads.max_sessions_per_creator",
            self.max_sessions_per_creator,
            1,
            1_000,
        );
        check_range(
            problems,
            "uploads.resumable_expiry_hours",
            self.resumable_expiry_hours,
            1,
            24 * 30,
        );
    }
}

/// The malware scanner: clamd.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScannerSettings {
    /// `tcp://host:port` or `unix:/path/to/clamd.sock`.
    pub address: String,
    /// Deadline of one scan, connection included.
    pub timeout_ms: u64,
}

impl Default for ScannerSettings {
    fn default() -> Self {
        Self {
            address: "tcp://127.0.0.1:3310".into(),
            timeout_ms: 60_000,
        }
    }
}

impl Validate for ScannerSettings {
    fn validate(&self, problems: &mut Vec<String>) {
        if !(self.address.starts_with("tcp://") || self.address.starts_with("unix:")) {
            problems.push("scanner.address: tcp://host:port or unix:/path".into());
        }
        check_range(
            problems,
            "scanner.timeout_ms",
            self.timeout_ms,
            100,
            3_600_000,
        );
    }
}

/// Poster frames of videos: an optional adapter.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PosterSettings {
    /// ffmpeg: a name looked up on `PATH` or a path; empty turns posters off. Not found: no
    /// posters either.
    pub ffmpeg: String,
    /// Deadline of one frame.
    pub timeout_ms: u64,
}

impl Default for PosterSettings {
    fn default() -> Self {
        Self {
            ffmpeg: "ffmpeg".into(),
            timeout_ms: 20_000,
        }
    }
}

impl Validate for PosterSettings {
    fn validate(&self, problems: &mut Vec<String>) {
        check_range(
            problems,
            "posters.timeout_ms",
            self.timeout_ms,
            100,
            600_000,
        );
    }
}

/// Signed URLs.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliverySettings {
    /// How long a signed URL works.
    pub url_ttl_secs: u64,
    /// filesystem: what signed gateway URLs start with (the gateway's public origin); empty: a
    /// path alone.
    pub public_base_url: String,
    /// filesystem: HMAC keys of signed URLs by id, each at least 32 bytes, base64. Keep a
    /// retired key here for one `url_ttl_secs` after switching `signing_key_id`.
    pub signing_keys: BTreeMap<String, Secret<String>>,
    /// The key new URLs are signed with.
    pub signing_key_id: String,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            url_ttl_secs: 300,
            public_base_url: String::new(),
            signing_keys: BTreeMap::new(),
            signing_key_id: "u1".into(),
        }
    }
}

impl Validate for DeliverySettings {
    fn validate(&self, problems: &mut Vec<String>) {
        check_range(
            problems,
            "delivery.url_ttl_secs",
            self.url_ttl_secs,
            10,
            86_400,
        );
        if !self.signing_keys.contains_key(&self.signing_key_id) {
            problems.push(format!(
                "delivery.signing_keys.{}: required (the key named by delivery.signing_key_id)",
                self.signing_key_id
            ));
        }
        for (id, key) in &self.signing_keys {
            let decoded = base64::engine::general_purpose::STANDARD.decode(key.expose().trim());
            if !decoded.is_ok_and(|bytes| bytes.len() >= 32) {
                problems.push(format!(
                    "delivery.signing_keys.{id}: at least 32 bytes, base64"
                ));
            }
        }
    }
}

/// What happens to clean uploads while no moderation service decides.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModerationSettings {
    /// Publish an upload as soon as its scan is clean (development; off in production, where
    /// moderation decides).
    pub auto_approve_clean_scans: bool,
}

#[cfg(test)]
mod tests {
    use df_common::auth::generate_key_pair;

    use super::*;

    fn problems(config: &MediaConfig) -> Vec<String> {
        let mut problems = Vec::new();
        config.validate(&mut problems);
        problems
    }

    #[test]
    fn no_upload_limit_goes_past_what_the_scanner_reads_whole() {
        let mut config = MediaConfig::default();
        assert_eq!(config.own.uploads.max_video_bytes, MAX_SCANNABLE_BYTES);
        config.own.uploads.max_video_bytes = MAX_SCANNABLE_BYTES + 1;
        let refused = problems(&config);
        assert!(
            refused
                .iter()
                .any(|p| p.starts_with("uploads.max_video_bytes")),
            "{refused:?}"
        );
    }

    #[test]
    fn media_needs_a_key_of_its_own_that_signs_for_media_only() {
        let mut config = MediaConfig::default();
        let (gateway_seed, gateway_public) = generate_key_pair();
        drop(gateway_seed);
        let auth = &mut config.base.internal_auth;
        auth.verifying_keys.insert("k1".into(), gateway_public);
        let refused = problems(&config);
        assert!(
            refused
                .iter()
                .any(|p| p.starts_with("internal_auth.signing_key:")),
            "{refused:?}"
        );

        let (seed, _) = generate_key_pair();
        let auth = &mut config.base.internal_auth;
        auth.signing_key = Some(seed);
        auth.signing_key_id = "media-1".into();
        let refused = problems(&config);
        assert!(
            refused
                .iter()
                .any(|p| p.starts_with("internal_auth.key_issuers.media-1:")),
            "a key that could speak for anyone: {refused:?}"
        );
        config
            .base
            .internal_auth
            .key_issuers
            .insert("media-1".into(), "payments".into());
        assert!(!problems(&config).is_empty(), "listed as another service's");

        config
            .base
            .internal_auth
            .key_issuers
            .insert("media-1".into(), "media".into());
        assert_eq!(
            problems(&config),
            vec!["delivery.signing_keys.u1: required (the key named by delivery.signing_key_id)"]
        );
        let (url_key, _) = generate_key_pair();
        config
            .own
            .delivery
            .signing_keys
            .insert("u1".into(), url_key);
        assert_eq!(problems(&config), Vec::<String>::new());
    }
}
