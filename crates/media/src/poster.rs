//! Poster frames of videos, with ffmpeg where it is installed. This is an optional adapter: a
//! service without ffmpeg publishes videos without posters, and a frame that cannot be made
//! never holds a video back. ffmpeg reads only files that scanned clean, runs with a deadline
//! and one thread, and its output is bounded; the frame it writes is then decoded and
//! re-encoded like any uploaded image, so nothing of ffmpeg's reaches a fan unchecked.

use std::{path::PathBuf, process::Stdio, time::Duration};

use df_common::Error;
use tokio::{io::AsyncReadExt, process::Command};

use crate::{
    config::PosterSettings,
    images, items,
    items::Item,
    metrics,
    service::Media,
    status::MediaKind,
    storage::{Variant, keys},
};

/// Largest frame ffmpeg may hand back (a PNG of the largest video frame allowed fits).
const MAX_FRAME_BYTES: u64 = 256 * 1024 * 1024;

/// Where in the video the frame is taken: a second in, or the middle of a shorter video.
fn frame_at(duration_ms: Option<u64>) -> Duration {
    let second = Duration::from_secs(1);
    match duration_ms {
        Some(ms) => second.min(Duration::from_millis(ms / 2)),
        None => Duration::ZERO,
    }
}

/// Makes poster frames; `None` inside when no ffmpeg is configured or found.
#[derive(Clone, Debug)]
pub struct Posters {
    ffmpeg: Option<PathBuf>,
    timeout: Duration,
}

impl Posters {
    /// The adapter `settings` describe: the configured ffmpeg, found on `PATH` unless it is a
    /// path; none when it is empty or cannot be found (logged once, at start-up).
    pub fn new(settings: &PosterSettings) -> Self {
        let ffmpeg = match settings.ffmpeg.trim() {
            "" => None,
            name => {
                let found = which(name);
                if found.is_none() {
                    tracing::info!(ffmpeg = name, "ffmpeg not found: videos get no poster");
                }
                found
            }
        };
        Self {
            ffmpeg,
            timeout: Duration::from_millis(settings.timeout_ms),
        }
    }

    /// True when posters are made.
    pub fn enabled(&self) -> bool {
        self.ffmpeg.is_some()
    }

    /// A PNG of one frame of the video at `video`; `None` when posters are off.
    pub async fn frame(
        &self,
        video: &std::path::Path,
        duration_ms: Option<u64>,
    ) -> Result<Option<Vec<u8>>, Error> {
        let Some(ffmpeg) = &self.ffmpeg else {
            return Ok(None);
        };
        let at = frame_at(duration_ms);
        let mut child = Command::new(ffmpeg)
            .args([
                "-nostdin",
                "-hide_banner",
                "-loglevel",
                "error",
                "-threads",
                "1",
            ])
            .arg("-ss")
            .arg(format!("{:.3}", at.as_secs_f64()))
            .arg("-i")
            .arg(video)
            .args(["-frames:v", "1", "-an", "-sn", "-dn", "-f", "image2pipe"])
            .args(["-c:v", "png", "pipe:1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(Error::internal)?;
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::internal(anyhow::anyhow!("ffmpeg without stdout")))?;
        let run = async {
            let mut frame = Vec::new();
            (&mut stdout)
                .take(MAX_FRAME_BYTES + 1)
                .read_to_end(&mut frame)
                .await
                .map_err(Error::internal)?;
            let status = child.wait().await.map_err(Error::internal)?;
            Ok::<_, Error>((status, frame))
        };
        let (status, frame) = tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| Error::internal(anyhow::anyhow!("ffmpeg ran past its deadline")))??;
        if !status.success() {
            return Err(Error::internal(anyhow::anyhow!("ffmpeg failed: {status}")));
        }
        if frame.is_empty() || frame.len() as u64 > MAX_FRAME_BYTES {
            return Err(Error::internal(anyhow::anyhow!(
                "ffmpeg wrote {} bytes",
                frame.len()
            )));
        }
        Ok(Some(frame))
    }
}

impl Media {
    /// Makes the poster frame and thumbnails of a video that scanned clean, before it is
    /// published. A frame that cannot be made is logged and counted, never an error: the video
    /// publishes without a poster. Repeating it after a crash makes the same objects again.
    pub(crate) async fn make_poster(&self, item: &Item) {
        if item.kind.is_image() || !self.files.posters.enabled() {
            return;
        }
        match self.poster(item).await {
            Ok(()) => metrics::poster("made"),
            Err(e) => {
                tracing::warn!(error = %e, media = %item.id, "no poster frame for a video");
                metrics::poster("failed");
            }
        }
    }

    async fn poster(&self, item: &Item) -> Result<(), Error> {
        let files = &self.files;
        let original = files
            .storage
            .local_copy(
                &keys::incoming(item.id, Variant::Original),
                &files.spool_dir,
            )
            .await?;
        let duration_ms = item.duration_ms.and_then(|ms| u64::try_from(ms).ok());
        let frame = files.posters.frame(original.path(), duration_ms).await?;
        drop(original);
        let Some(frame) = frame else {
            return Ok(());
        };
        let max_pixels = files.uploads.max_image_pixels;
        images::check_pixels(df_filetype::Kind::Png, &frame, max_pixels)?;
        let derived =
            tokio::task::spawn_blocking(move || images::derive(MediaKind::Png, &frame, max_pixels))
                .await
                .map_err(Error::internal)??;
        for (variant, bytes) in [
            (Variant::ThumbSmall, derived.thumb_small),
            (Variant::ThumbLarge, derived.thumb_large),
        ] {
            files
                .storage
                .put(&keys::published(item.id, variant), bytes)
                .await?;
        }
        let mut conn = self.db.conn().await?;
        items::poster_made(&mut conn, item.id).await
    }
}

/// `name` as a path when it has a slash, else the first executable of that name on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    let executable = |path: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        let path = PathBuf::from(name);
        return executable(&path).then_some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| executable(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_is_a_second_in_or_the_middle_of_a_shorter_video() {
        assert_eq!(frame_at(Some(60_000)), Duration::from_secs(1));
        assert_eq!(frame_at(Some(600)), Duration::from_millis(300));
        assert_eq!(frame_at(None), Duration::ZERO);
    }

    #[test]
    fn no_ffmpeg_means_no_posters() {
        let off = Posters::new(&PosterSettings {
            ffmpeg: String::new(),
            timeout_ms: 1_000,
        });
        assert!(!off.enabled());
        let missing = Posters::new(&PosterSettings {
            ffmpeg: "/nonexistent/ffmpeg".into(),
            timeout_ms: 1_000,
        });
        assert!(!missing.enabled());
    }
}
