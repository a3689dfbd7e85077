//! Media's filesystem store, read by the gateway itself where it shares the directory (df-dev,
//! a single host: the same directory, mounted read-only). Media still decides everything about
//! a signed URL (signature, state, range, headers); it then names the file instead of streaming
//! its bytes through a second process, the way a front server serves a file its application
//! authorised. Where the store is S3, URLs are presigned and no bytes pass here at all.

use std::path::{Path, PathBuf};

use df_common::{Error, ErrorKind};

/// The store's directory, when this gateway reads it.
#[derive(Clone, Debug, Default)]
pub struct MediaStore {
    root: Option<PathBuf>,
}

impl MediaStore {
    /// Reads the store at `root` (none: media streams every file). A directory that is not
    /// there yet (media makes it when it starts) is only warned about.
    pub fn new(root: Option<&Path>) -> Self {
        if let Some(root) = root
            && !root.is_dir()
        {
            tracing::warn!(
                root = %root.display(),
                "media_store.root is not a directory (yet): files media names there are not found"
            );
        }
        Self {
            root: root.map(Path::to_path_buf),
        }
    }

    /// True when media may name files instead of sending them.
    pub fn reads(&self) -> bool {
        self.root.is_some()
    }

    /// The file media named by `key`, checked to hold the `total_bytes` media found there (so
    /// a directory other than media's serves nothing).
    pub async fn open(&self, key: &str, total_bytes: u64) -> Result<std::fs::File, Error> {
        let root = self
            .root
            .as_ref()
            .ok_or_else(|| Error::internal(anyhow::anyhow!("media named a file unasked")))?;
        let path = root.join(relative(key)?);
        let key = key.to_owned();
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&path).map_err(|e| match e.kind() {
                // Deleted since media looked: as gone as media would have said.
                std::io::ErrorKind::NotFound => gone(),
                _ => Error::internal(anyhow::anyhow!("media store file {key}: {e}")),
            })?;
            let size = file.metadata().map_err(Error::internal)?.len();
            if size != total_bytes {
                return Err(Error::internal(anyhow::anyhow!(
                    "media store file {key}: {size} bytes where media found {total_bytes}"
                )));
            }
            Ok(file)
        })
        .await
        .map_err(Error::internal)?
    }
}

/// `key` as a path under the root: plain names only (media makes its keys from ids and
/// variant names), never a way out of the directory.
fn relative(key: &str) -> Result<&Path, Error> {
    let plain = key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'))
        && key
            .split('/')
            .all(|name| !name.is_empty() && !name.starts_with('.'));
    if plain {
        Ok(Path::new(key))
    } else {
        Err(Error::internal(anyhow::anyhow!(
            "media named a store key that is not a plain relative path"
        )))
    }
}

fn gone() -> Error {
    Error::new(
        ErrorKind::NotFound,
        "media.media_not_found",
        "The file is gone (deleted, removed or quarantined).",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_keys_name_a_file() {
        for key in ["media/0192/display", "media/0192/thumb_small", "a"] {
            assert!(relative(key).is_ok(), "{key}");
        }
        for key in [
            "",
            "/etc/passwd",
            "../secret",
            "media/../../secret",
            "media/./display",
            "media/.hidden",
            "media//display",
            "media\\display",
            "media/display?x",
            "media/%2e%2e/display",
        ] {
            assert!(relative(key).is_err(), "{key}");
        }
    }

    #[tokio::test]
    async fn a_file_of_another_size_or_outside_the_store_is_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("media/x")).unwrap();
        std::fs::write(dir.path().join("media/x/display"), b"12345").unwrap();
        let store = MediaStore::new(Some(dir.path()));
        assert!(store.reads());
        assert!(store.open("media/x/display", 5).await.is_ok());
        let wrong_size = store.open("media/x/display", 6).await.unwrap_err();
        assert_eq!(wrong_size.code(), "common.internal");
        let gone = store.open("media/y/display", 5).await.unwrap_err();
        assert_eq!(gone.code(), "media.media_not_found");
        assert!(store.open("../media/x/display", 5).await.is_err());
        assert!(!MediaStore::default().reads());
        assert!(
            MediaStore::default()
                .open("media/x/display", 5)
                .await
                .is_err()
        );
        let elsewhere = MediaStore::new(Some(&dir.path().join("missing")));
        let gone = elsewhere.open("media/x/display", 5).await.unwrap_err();
        assert_eq!(gone.code(), "media.media_not_found");
    }
}
