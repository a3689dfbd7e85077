//! The object store behind media: a directory of this machine by default, any S3-compatible
//! store in production. Object keys are made here from media ids, never from anything a client
//! sent, under three prefixes that say who may read them:
//!
//! - `incoming/<id>/…`: stored but not yet scanned; read by the scanner only;
//! - `media/<id>/…`: clean, served through signed URLs;
//! - `quarantine/<id>/original`: infected, kept for the legal hold and never served.

use std::{ops::Range, path::PathBuf, sync::Arc, time::Duration};

use bytes::Bytes;
use df_common::Error;
use futures::{Stream, StreamExt, TryStreamExt, stream::BoxStream};
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, PutPayload,
    WriteMultipart, aws::AmazonS3, aws::AmazonS3Builder, local::LocalFileSystem, path::Path,
    signer::Signer,
};
use tempfile::NamedTempFile;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};

use crate::{
    config::{Backend, StorageSettings},
    ids::MediaId,
};

/// An object as a file of this machine ([`Storage::local_copy`]).
#[derive(Debug)]
pub struct LocalFile {
    path: PathBuf,
    /// The copy of an S3 object, removed from disk on drop.
    _spool: Option<tempfile::NamedTempFile>,
}

impl LocalFile {
    /// Where it lies.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

/// Bytes written to a spool file at a time: each write is a hand-off to the blocking pool, and
/// gRPC messages are far smaller.
const SPOOL_WRITE_BYTES: usize = 1024 * 1024;

/// A new spool file in `spool_dir` (removed from disk when its handle drops) and a buffered
/// writer into it; the writer must be flushed before the file is read.
pub fn spool_file(
    spool_dir: &std::path::Path,
) -> Result<(NamedTempFile, BufWriter<tokio::fs::File>), Error> {
    let spool = tempfile::Builder::new()
        .prefix("df-upload-")
        .tempfile_in(spool_dir)
        .map_err(Error::internal)?;
    let file = tokio::fs::File::from_std(spool.reopen().map_err(Error::internal)?);
    Ok((spool, BufWriter::with_capacity(SPOOL_WRITE_BYTES, file)))
}

/// Parts of a multipart write; S3 wants at least 5 MiB for every part but the last.
const PART_BYTES: usize = 8 * 1024 * 1024;

/// One file of a media item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The bytes as uploaded: scanned, then kept only in quarantine; never served.
    Original,
    /// What fans see: the re-encoded image, or the video as uploaded.
    Display,
    /// Thumbnails of images, at most 320 and 960 pixels on their longer side.
    ThumbSmall,
    ThumbLarge,
}

impl Variant {
    /// The variants a client may ask a URL for.
    pub fn servable(name: &str) -> Option<Self> {
        match name {
            "" | "display" => Some(Self::Display),
            "thumb_small" => Some(Self::ThumbSmall),
            "thumb_large" => Some(Self::ThumbLarge),
            _ => None,
        }
    }

    /// Its name in URLs and keys.
    pub fn name(self) -> &'static str {
        match self {
            Self::Original => "original",
            Self::Display => "display",
            Self::ThumbSmall => "thumb_small",
            Self::ThumbLarge => "thumb_large",
        }
    }
}

/// Where each object of a media item lives.
pub mod keys {
    use object_store::path::Path;

    use super::Variant;
    use crate::ids::MediaId;

    /// Stored, not yet scanned.
    pub fn incoming(id: MediaId, variant: Variant) -> Path {
        Path::from(format!("incoming/{id}/{}", variant.name()))
    }

    /// Clean and servable.
    pub fn published(id: MediaId, variant: Variant) -> Path {
        Path::from(format!("media/{id}/{}", variant.name()))
    }

    /// Infected, on legal hold.
    pub fn quarantined(id: MediaId) -> Path {
        Path::from(format!("quarantine/{id}/original"))
    }

    /// One append of a resumable upload (which becomes the file `id`): its offset, then a
    /// nonce, so two appends racing at one offset never write the same object.
    pub fn upload_part(id: MediaId, offset: u64) -> Path {
        Path::from(format!(
            "resumable/{id}/{offset:020}-{}",
            uuid::Uuid::new_v4().simple()
        ))
    }

    /// Every part of a resumable upload.
    pub fn upload_parts(id: MediaId) -> Path {
        Path::from(format!("resumable/{id}"))
    }

    /// Every key of a media item outside quarantine.
    pub fn prefixes(id: MediaId) -> [Path; 3] {
        [
            Path::from(format!("incoming/{id}")),
            Path::from(format!("media/{id}")),
            upload_parts(id),
        ]
    }
}

/// Bytes read from the store, as [`Storage::read_range`] found them.
pub struct Opened {
    /// The object's whole size.
    pub total: u64,
    /// The bytes `chunks` holds.
    pub range: Range<u64>,
    pub chunks: BoxStream<'static, Result<Bytes, Error>>,
}

/// Gives `target` the file at `source` without copying it: a hard link made beside `source`,
/// then renamed into place, so `target` appears whole or not at all.
fn link(source: &std::path::Path, target: &std::path::Path) -> std::io::Result<()> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut staging = source.as_os_str().to_owned();
    staging.push(format!(".link-{}", uuid::Uuid::new_v4().simple()));
    std::fs::hard_link(source, &staging)?;
    std::fs::rename(&staging, target).inspect_err(|_| {
        let _ = std::fs::remove_file(&staging);
    })
}

/// The object store.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// S3 signs its own URLs.
    s3: Option<Arc<AmazonS3>>,
    /// The filesystem store's directory: a spooled upload on the same filesystem is linked
    /// into it instead of copied.
    root: Option<PathBuf>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("store", &self.store.to_string())
            .finish()
    }
}

impl Storage {
    /// The store `settings` describe (the filesystem root is created when missing).
    pub fn open(settings: &StorageSettings) -> Result<Self, Error> {
        match settings.backend {
            Backend::Filesystem => {
                std::fs::create_dir_all(&settings.root).map_err(Error::internal)?;
                let root = settings.root.canonicalize().map_err(Error::internal)?;
                let store = LocalFileSystem::new_with_prefix(&root)
                    .map_err(Error::internal)?
                    .with_automatic_cleanup(true);
                Ok(Self {
                    store: Arc::new(store),
                    s3: None,
                    root: Some(root),
                })
            }
            Backend::S3 => {
                let mut builder = AmazonS3Builder::from_env()
                    .with_bucket_name(&settings.bucket)
                    .with_region(&settings.region)
                    .with_allow_http(settings.allow_http);
                if !settings.endpoint.is_empty() {
                    builder = builder
                        .with_endpoint(&settings.endpoint)
                        .with_virtual_hosted_style_request(false);
                }
                if !settings.access_key_id.is_empty() {
                    builder = builder
                        .with_access_key_id(&settings.access_key_id)
                        .with_secret_access_key(settings.secret_access_key.expose());
                }
                let s3 = Arc::new(builder.build().map_err(Error::internal)?);
                Ok(Self {
                    store: s3.clone(),
                    s3: Some(s3),
                    root: None,
                })
            }
        }
    }

    /// Stores `bytes` at `key`.
    pub async fn put(&self, key: &Path, bytes: Bytes) -> Result<(), Error> {
        self.store
            .put(key, PutPayload::from_bytes(bytes))
            .await
            .map_err(Error::internal)?;
        Ok(())
    }

    /// Stores the file at `file` under `key`, in parts, never holding more than one part in
    /// memory; a failed write leaves nothing at `key`.
    pub async fn put_file(&self, key: &Path, file: &std::path::Path) -> Result<(), Error> {
        if let Some(root) = &self.root {
            let (target, source) = (root.join(key.as_ref()), file.to_owned());
            match tokio::task::spawn_blocking(move || link(&source, &target)).await {
                Ok(Ok(())) => return Ok(()),
                // Another filesystem (or a link refused): the bytes are copied instead.
                Ok(Err(e)) => tracing::debug!(error = %e, "upload copied, not linked"),
                Err(e) => return Err(Error::internal(e)),
            }
        }
        let mut source = tokio::fs::File::open(file).await.map_err(Error::internal)?;
        let upload = self
            .store
            .put_multipart(key)
            .await
            .map_err(Error::internal)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buffer = vec![0; 256 * 1024];
        loop {
            let read = match source.read(&mut buffer).await {
                Ok(read) => read,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(Error::internal(e));
                }
            };
            if read == 0 {
                break;
            }
            if let Err(e) = writer.wait_for_capacity(2).await {
                return Err(Error::internal(e));
            }
            writer.write(&buffer[..read]);
        }
        writer.finish().await.map_err(Error::internal)?;
        Ok(())
    }

    /// The object at `key`, whole (for objects known to be small).
    pub async fn read(&self, key: &Path) -> Result<Bytes, Error> {
        let found = self.store.get(key).await.map_err(Error::internal)?;
        found.bytes().await.map_err(Error::internal)
    }

    /// `range` (or all) of the object at `key`, as a stream of chunks.
    pub async fn stream(
        &self,
        key: &Path,
        range: Option<Range<u64>>,
    ) -> Result<impl Stream<Item = Result<Bytes, Error>> + Send + use<>, Error> {
        Ok(self.read_range(key, range).await?.chunks)
    }

    /// `range` of the object at `key` (the whole object without one; a range running past the
    /// end is cut at the end): its total size, the range served and its bytes. `None` when the
    /// range starts at or past the end.
    pub async fn read_range(&self, key: &Path, range: Option<Range<u64>>) -> Result<Opened, Error> {
        let options = GetOptions {
            range: range.clone().map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let found = match self.store.get_opts(key, options).await {
            Ok(found) => found,
            Err(e) => {
                return match range {
                    Some(asked) if asked.start >= self.size(key).await? => {
                        Err(crate::errors::MediaError::RangeNotSatisfiable.into())
                    }
                    _ => Err(Error::internal(e)),
                };
            }
        };
        let total = found.meta.size;
        let served = found.range.clone();
        let chunks = match found.payload {
            // object_store reads files in 8 KiB pieces, each on the blocking pool; served files
            // are read in pieces as large as the gRPC messages that carry them.
            GetResultPayload::File(file, _) => df_common::files::range_pieces(file, served.clone())
                .map_err(Error::internal)
                .boxed(),
            GetResultPayload::Stream(stream) => stream.map_err(Error::internal).boxed(),
        };
        Ok(Opened {
            total,
            range: served,
            chunks,
        })
    }

    /// For the filesystem store, the object at `key`'s size and the part of it `range` asks
    /// for (clipped to the object, as [`Self::read_range`] serves it), without reading it: for
    /// a caller that reads the store's directory itself. `None` for S3.
    pub async fn locate(
        &self,
        key: &Path,
        range: Option<Range<u64>>,
    ) -> Result<Option<(u64, Range<u64>)>, Error> {
        if self.root.is_none() {
            return Ok(None);
        }
        let total = self.size(key).await?;
        let served = match range {
            None => 0..total,
            Some(asked) if asked.start >= total => {
                return Err(crate::errors::MediaError::RangeNotSatisfiable.into());
            }
            Some(asked) => asked.start..asked.end.min(total),
        };
        Ok(Some((total, served)))
    }

    /// A file of this machine holding the object at `key`, for programs that read files (such
    /// as ffmpeg): the filesystem store's own file, or for S3 a copy in a new spool file in
    /// `spool_dir`, deleted when the returned handle drops.
    pub async fn local_copy(
        &self,
        key: &Path,
        spool_dir: &std::path::Path,
    ) -> Result<LocalFile, Error> {
        if let Some(root) = &self.root {
            return Ok(LocalFile {
                path: root.join(key.as_ref()),
                _spool: None,
            });
        }
        let (spool, mut file) = spool_file(spool_dir)?;
        let mut chunks = std::pin::pin!(self.stream(key, None).await?);
        while let Some(chunk) = chunks.next().await {
            file.write_all(&chunk?).await.map_err(Error::internal)?;
        }
        file.flush().await.map_err(Error::internal)?;
        Ok(LocalFile {
            path: spool.path().to_owned(),
            _spool: Some(spool),
        })
    }

    /// The size of the object at `key`.
    pub async fn size(&self, key: &Path) -> Result<u64, Error> {
        let meta = self.store.head(key).await.map_err(Error::internal)?;
        Ok(meta.size)
    }

    /// Copies an object (server-side on S3); repeating it is harmless.
    pub async fn copy(&self, from: &Path, to: &Path) -> Result<(), Error> {
        if self.s3.is_some() {
            return self.store.copy(from, to).await.map_err(Error::internal);
        }
        // On the filesystem an overwriting copy of the same file again leaves its staging link
        // behind (renaming a hard link onto another link of the same file does nothing); the
        // copies here always copy the same source, so an existing target is the copy.
        match self.store.copy_if_not_exists(from, to).await {
            Ok(()) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(Error::internal(e)),
        }
    }

    /// Deletes an object; one already gone is not an error (deletes are retried).
    pub async fn delete(&self, key: &Path) -> Result<(), Error> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::internal(e)),
        }
    }

    /// Deletes every object of `id` outside quarantine.
    pub async fn delete_all(&self, id: MediaId) -> Result<(), Error> {
        for prefix in keys::prefixes(id) {
            self.delete_prefix(&prefix).await?;
        }
        Ok(())
    }

    /// Deletes the unscanned objects of `id` (once they were copied on or quarantined).
    pub async fn delete_incoming(&self, id: MediaId) -> Result<(), Error> {
        let [incoming, _, _] = keys::prefixes(id);
        self.delete_prefix(&incoming).await
    }

    /// Deletes every object under `prefix`.
    pub async fn delete_prefix(&self, prefix: &Path) -> Result<(), Error> {
        let listed: Vec<_> = self
            .store
            .list(Some(prefix))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(Error::internal)?;
        for key in listed {
            self.delete(&key).await?;
        }
        Ok(())
    }

    /// Every key under `prefix` (tests and the integrity job).
    pub async fn list(&self, prefix: &str) -> Result<Vec<Path>, Error> {
        let prefix = Path::from(prefix);
        self.store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(Error::internal)
    }

    /// A URL the store itself signed for reading `key` until `ttl` from now (S3); `None` when
    /// the store cannot sign (the filesystem: the gateway serves it instead).
    pub async fn presigned(&self, key: &Path, ttl: Duration) -> Result<Option<String>, Error> {
        let Some(s3) = &self.s3 else {
            return Ok(None);
        };
        let url = s3
            .signed_url(http::Method::GET, key, ttl)
            .await
            .map_err(Error::internal)?;
        Ok(Some(url.to_string()))
    }
}
