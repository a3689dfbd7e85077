//! Video containers: duration and dimensions, read by walking their structure.

mod boxes;
mod moov;
mod mp4;
mod stream;
mod webm;

use std::io::{Read, Seek};

use crate::{Kind, Malformed};

/// What a video container says, read by parsing its structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VideoInfo {
    /// The kind that was parsed.
    pub kind: Kind,
    /// The duration the container declares, in milliseconds. WebM live recordings declare none,
    /// and neither do fragmented MP4s without a fragment duration: then it is 0.
    pub duration_ms: u64,
    /// Width of the first video track, in pixels, as stored (before any rotation), never 0.
    pub width: u32,
    /// Height of the first video track, in pixels, as stored (before any rotation), never 0.
    pub height: u32,
}

/// Reads a video's duration and dimensions from its container, `len` bytes long.
///
/// MP4 and QuickTime: the top-level boxes are walked by seeking; each must fit in `len`, there
/// must be exactly one `moov` (read into memory only up to 64 MiB) and an `mdat`, and an MP4
/// must start with `ftyp`. WebM: the EBML header must say "webm", Info and Tracks are read from
/// the first 16 MiB of the Segment, which must reach its first Cluster within them, and only
/// Void padding may follow a Segment of known size. An image kind is [`Malformed::Invalid`].
///
/// A reader that holds fewer than `len` bytes gives [`Malformed::Truncated`]; any other read
/// error gives [`Malformed::Unreadable`].
pub fn video_info<R: Read + Seek>(
    kind: Kind,
    reader: &mut R,
    len: u64,
) -> Result<VideoInfo, Malformed> {
    match kind {
        Kind::Mp4 | Kind::Mov => mp4::info(kind, reader, len),
        Kind::Webm => webm::info(reader, len),
        Kind::Jpeg | Kind::Png | Kind::Gif | Kind::Webp => {
            Err(Malformed::Invalid("not a video kind"))
        }
    }
}

/// Inside an element that was read whole, running out of bytes means the element is broken,
/// not that the file was cut short.
fn inner(error: Malformed) -> Malformed {
    match error {
        Malformed::Truncated => Malformed::Invalid("field or child past the end of its parent"),
        other => other,
    }
}
