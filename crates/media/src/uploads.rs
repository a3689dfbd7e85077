//! Receiving an upload: the bytes are written to a spool file as they arrive (memory holds one
//! chunk), hashed, and refused as early as they can be: the type is decided from the first
//! bytes, the size checked against the limit of that type on every chunk. Once complete, the
//! declared type and file name must agree with the bytes, an image's pixel count is read from
//! its header before anything decodes it, nothing may follow the image's own end, and a video's
//! container is parsed. Whatever is refused leaves nothing: the spool file is removed when its
//! handle drops, on every path.

use std::io::{Read, Seek, SeekFrom};

use bytes::Bytes;
use df_common::Error;
use df_filetype::{Family, Kind, SNIFF_LEN, Sniffed};
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;
use tokio::io::AsyncWriteExt;

use crate::{
    config::UploadSettings,
    errors::MediaError,
    images::{self, Derived},
    status::MediaKind,
    storage,
};

/// What the client says of its file.
#[derive(Clone, Debug, Default)]
pub struct Declared {
    pub file_name: String,
    pub content_type: String,
    /// The announced size; 0 when none was.
    pub bytes: u64,
}

/// Longest declared file name or type kept (the rest is cut, never echoed).
const MAX_LABEL: usize = 255;

impl Declared {
    /// The client's labels as kept: without control characters (none belongs in a name or a
    /// type, and Postgres cannot store NUL in text) and cut to [`MAX_LABEL`] characters.
    pub fn new(file_name: &str, content_type: &str, bytes: u64) -> Self {
        let label = |text: &str| {
            text.chars()
                .filter(|c| !c.is_control())
                .take(MAX_LABEL)
                .collect()
        };
        Self {
            file_name: label(file_name),
            content_type: label(content_type),
            bytes,
        }
    }
}

/// An upload that passed every check, still in its spool file.
#[derive(Debug)]
pub struct Checked {
    pub kind: MediaKind,
    pub bytes: u64,
    pub sha256: [u8; 32],
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    /// Images: what is served.
    pub derived: Option<Derived>,
    /// The bytes as received; removed from disk when dropped.
    pub spool: NamedTempFile,
}

/// Receives `chunks` into a spool file in `spool_dir` and checks them.
pub async fn receive(
    limits: &UploadSettings,
    spool_dir: &std::path::Path,
    declared: &Declared,
    chunks: impl Stream<Item = Result<Bytes, Error>>,
) -> Result<Checked, Error> {
    let (spool, mut file) = storage::spool_file(spool_dir)?;
    let mut hasher = Sha256::new();
    let mut head = Vec::with_capacity(SNIFF_LEN);
    let mut kind = None;
    let mut size: u64 = 0;
    let mut chunks = std::pin::pin!(chunks);
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        if kind.is_none() && head.len() < SNIFF_LEN {
            let wanted = (SNIFF_LEN - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..wanted]);
            if head.len() == SNIFF_LEN {
                kind = Some(sniffed(&head)?);
            }
        }
        if let Some(kind) = kind
            && (size > max_bytes(limits, kind) || declared.bytes > max_bytes(limits, kind))
        {
            return Err(too_large(limits, kind));
        }
        if declared.bytes > 0 && size > declared.bytes {
            return Err(MediaError::Incomplete.into());
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(Error::internal)?;
    }
    file.flush().await.map_err(Error::internal)?;
    drop(file);
    let kind = match kind {
        Some(kind) => kind,
        None => sniffed(&head)?,
    };
    if size > max_bytes(limits, kind) || declared.bytes > max_bytes(limits, kind) {
        return Err(too_large(limits, kind));
    }
    if declared.bytes > 0 && size != declared.bytes {
        return Err(MediaError::Incomplete.into());
    }
    df_filetype::check_declared(kind, &declared.content_type, &declared.file_name).map_err(
        |disagreement| {
            Error::from(MediaError::TypeMismatch).with_cause(anyhow::anyhow!("{disagreement:?}"))
        },
    )?;
    let sha256: [u8; 32] = hasher.finalize().into();
    let max_pixels = limits.max_image_pixels;
    let path = spool.path().to_owned();
    let structure = tokio::task::spawn_blocking(move || inspect(kind, &path, size, max_pixels))
        .await
        .map_err(Error::internal)??;
    Ok(Checked {
        kind: kind.into(),
        bytes: size,
        sha256,
        width: structure.width,
        height: structure.height,
        duration_ms: structure.duration_ms,
        derived: structure.derived,
        spool,
    })
}

/// The size limit of the type the client declares, before any byte arrives (a resumable
/// upload announces its length first): the declared type and file name must name a type the
/// platform takes, and the bytes must later agree with them.
pub fn declared_limit(limits: &UploadSettings, declared: &Declared) -> Result<u64, Error> {
    Kind::ALL
        .into_iter()
        .filter(|kind| {
            df_filetype::check_declared(*kind, &declared.content_type, &declared.file_name).is_ok()
        })
        .map(|kind| max_bytes(limits, kind))
        .max()
        .ok_or_else(|| MediaError::UnsupportedType.into())
}

/// Refuses the first bytes of a resumable upload as early as a single upload would be: when
/// they are not a type the platform takes, or not the type declared.
pub fn check_head(head: &[u8], declared: &Declared) -> Result<(), Error> {
    if head.len() < SNIFF_LEN {
        return Ok(());
    }
    let kind = sniffed(&head[..SNIFF_LEN])?;
    df_filetype::check_declared(kind, &declared.content_type, &declared.file_name).map_err(
        |disagreement| {
            Error::from(MediaError::TypeMismatch).with_cause(anyhow::anyhow!("{disagreement:?}"))
        },
    )
}

fn sniffed(head: &[u8]) -> Result<Kind, Error> {
    match df_filetype::sniff(head) {
        Sniffed::Accepted(kind) => Ok(kind),
        Sniffed::Refused(df_filetype::Detected::Empty) => Err(MediaError::Empty.into()),
        Sniffed::Refused(detected) => Err(Error::from(MediaError::UnsupportedType)
            .with_cause(anyhow::anyhow!("looks like {}", detected.name()))),
    }
}

fn max_bytes(limits: &UploadSettings, kind: Kind) -> u64 {
    match kind.family() {
        Family::Image => limits.max_image_bytes,
        Family::Video => limits.max_video_bytes,
    }
}

fn too_large(limits: &UploadSettings, kind: Kind) -> Error {
    MediaError::TooLarge.with_message(format!(
        "A {} file has at most {} bytes.",
        kind.extension(),
        max_bytes(limits, kind)
    ))
}

/// What the structure of a complete file says.
struct Structure {
    width: Option<u32>,
    height: Option<u32>,
    duration_ms: Option<u64>,
    derived: Option<Derived>,
}

/// Checks the structure of the spooled file (blocking: reads the disk and decodes).
fn inspect(
    kind: Kind,
    path: &std::path::Path,
    size: u64,
    max_pixels: u64,
) -> Result<Structure, Error> {
    let mut file = std::fs::File::open(path).map_err(Error::internal)?;
    match kind.family() {
        Family::Image => {
            // Within the image size limit, so it may be held whole.
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            file.read_to_end(&mut bytes).map_err(Error::internal)?;
            images::check_pixels(kind, &bytes, max_pixels)?;
            let end = df_filetype::image_end(kind, &bytes).map_err(malformed)?;
            if end < bytes.len() {
                return Err(MediaError::AppendedData.into());
            }
            let derived = images::derive(kind.into(), &bytes, max_pixels)?;
            Ok(Structure {
                width: Some(derived.width),
                height: Some(derived.height),
                duration_ms: None,
                derived: Some(derived),
            })
        }
        Family::Video => {
            file.seek(SeekFrom::Start(0)).map_err(Error::internal)?;
            let mut reader = std::io::BufReader::new(file);
            let info = df_filetype::video_info(kind, &mut reader, size).map_err(malformed)?;
            Ok(Structure {
                width: Some(info.width),
                height: Some(info.height),
                duration_ms: (info.duration_ms > 0).then_some(info.duration_ms),
                derived: None,
            })
        }
    }
}

fn malformed(e: df_filetype::Malformed) -> Error {
    Error::from(MediaError::Corrupt).with_cause(anyhow::anyhow!("{e}"))
}

/// Uploads older than this cannot still be in flight (an upload's deadline is an hour).
const STALE_SPOOL: std::time::Duration = std::time::Duration::from_secs(24 * 3_600);

/// Removes spool files a crashed process left behind: `df-upload-*` files in `spool_dir` last
/// written more than a day ago. Returns how many went.
pub fn sweep_spool(spool_dir: &std::path::Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(spool_dir)? {
        let entry = entry?;
        let stale = entry
            .file_name()
            .to_string_lossy()
            .starts_with("df-upload-")
            && entry.metadata().is_ok_and(|meta| {
                meta.is_file()
                    && meta
                        .modified()
                        .ok()
                        .and_then(|at| at.elapsed().ok())
                        .is_some_and(|age| age > STALE_SPOOL)
            });
        if stale && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_labels_lose_control_characters_and_stop_at_the_limit() {
        let declared = Declared::new("holi\0day\n.jpg", "image/\u{7f}jpeg\r", 9);
        assert_eq!(
            (declared.file_name.as_str(), declared.content_type.as_str()),
            ("holiday.jpg", "image/jpeg")
        );
        assert_eq!(declared.bytes, 9);
        let long = format!("{}.jpg", "é".repeat(300));
        assert_eq!(Declared::new(&long, "", 0).file_name, "é".repeat(MAX_LABEL));
    }

    #[test]
    fn only_stale_upload_files_are_swept_from_the_spool() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let make = |name: &str, age_hours: u64| {
            let path = dir.path().join(name);
            let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
            let at =
                std::time::SystemTime::now() - std::time::Duration::from_secs(age_hours * 3_600);
            file.set_modified(at).unwrap_or_else(|e| panic!("{e}"));
        };
        make("df-upload-old", 25);
        make("df-upload-fresh", 1);
        make("someone-elses-old-file", 48);
        assert_eq!(sweep_spool(dir.path()).ok(), Some(1));
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|entry| {
                entry
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        left.sort();
        assert_eq!(left, ["df-upload-fresh", "someone-elses-old-file"]);
    }
}
