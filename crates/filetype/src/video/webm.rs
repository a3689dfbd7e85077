//! WebM: the EBML header, then one Segment whose Info and Tracks come before the Clusters.

use std::io::{Read, Seek};

use crate::{
    Kind, Malformed,
    ebml::{self, EBML_ID, ElementHeader},
    video::{
        VideoInfo, inner,
        stream::{read_at, read_vec_at},
    },
};

const SEGMENT: u32 = 0x1853_8067;
const VOID: u32 = 0xEC;
const INFO: u32 = 0x1549_A966;
const TIMECODE_SCALE: u32 = 0x2A_D7B1;
const DURATION: u32 = 0x4489;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_TYPE: u32 = 0x83;
const VIDEO: u32 = 0xE0;
const PIXEL_WIDTH: u32 = 0xB0;
const PIXEL_HEIGHT: u32 = 0xBA;
const CLUSTER: u32 = 0x1F43_B675;

/// TrackType of a video track.
const TRACK_TYPE_VIDEO: u64 = 1;
/// Nanoseconds per Duration unit when Info does not say.
const DEFAULT_TIMECODE_SCALE: u64 = 1_000_000;
/// The EBML header holds a few short fields; anything longer is not a real file.
const MAX_EBML_HEADER: u64 = 4096;
/// How much of the Segment is looked at for the first Cluster; Info and Tracks must lie in it.
const HEADER_WINDOW: u64 = 16 * 1024 * 1024;
/// An ID and a size take at most 4 + 8 bytes.
const MAX_ELEMENT_HEADER: usize = 12;
/// Every element costs a seek and a read. Real files have a handful before the first Cluster.
const MAX_ELEMENTS: usize = 10_000;

pub(super) fn info<R: Read + Seek>(reader: &mut R, len: u64) -> Result<VideoInfo, Malformed> {
    let segment = find_segment(reader, len)?;
    // A live recording's Segment has an unknown size and runs to the end of the file.
    let segment_end = match segment.header.size {
        Some(_) => segment.end(len)?,
        None => len,
    };
    let headers = read_segment_headers(reader, &segment, segment_end)?;
    check_after_segment(reader, segment_end, len)?;

    let info = headers
        .info
        .ok_or(Malformed::Invalid("WebM without Info"))?;
    let duration_ms = duration_ms(&info).map_err(inner)?;
    let tracks = headers.tracks.ok_or(Malformed::Invalid("no video track"))?;
    let (width, height) = video_size(&tracks).map_err(inner)?;
    Ok(VideoInfo {
        kind: Kind::Webm,
        duration_ms,
        width,
        height,
    })
}

/// Checks the EBML header's DocType and returns the Segment that follows it.
fn find_segment<R: Read + Seek>(reader: &mut R, len: u64) -> Result<Element, Malformed> {
    let ebml_header = element_at(reader, 0, len)?;
    if ebml_header.header.id != EBML_ID {
        return Err(Malformed::Invalid("not an EBML file"));
    }
    if known_size(&ebml_header.header)? > MAX_EBML_HEADER {
        return Err(Malformed::Invalid("EBML header too large"));
    }
    let body = read_body(reader, &ebml_header, len)?;
    if ebml::doc_type(&body).map_err(inner)? != Some(b"webm") {
        return Err(Malformed::Invalid("EBML DocType is not webm"));
    }
    let mut pos = ebml_header.end(len)?;
    for _ in 0..MAX_ELEMENTS {
        let element = element_at(reader, pos, len)?;
        match element.header.id {
            SEGMENT => return Ok(element),
            VOID => pos = element.end(len)?,
            _ => return Err(Malformed::Invalid("no Segment after the EBML header")),
        }
    }
    Err(Malformed::Invalid("too many WebM elements"))
}

/// The Info and Tracks bodies of a Segment.
struct SegmentHeaders {
    info: Option<Vec<u8>>,
    tracks: Option<Vec<u8>>,
}

/// Walks the Segment's children up to its first Cluster, which must start within
/// [`HEADER_WINDOW`], reading Info and Tracks on the way (so at most that much is read).
fn read_segment_headers<R: Read + Seek>(
    reader: &mut R,
    segment: &Element,
    segment_end: u64,
) -> Result<SegmentHeaders, Malformed> {
    let window_end = segment.body.saturating_add(HEADER_WINDOW).min(segment_end);
    let mut headers = SegmentHeaders {
        info: None,
        tracks: None,
    };
    let mut pos = segment.body;
    // Every element takes at least two bytes, so the walk advances; the count bounds the seeks.
    for _ in 0..MAX_ELEMENTS {
        if pos >= window_end {
            return Err(Malformed::Invalid(
                "no Cluster in the first 16 MiB of the WebM Segment",
            ));
        }
        let element = element_at(reader, pos, segment_end)?;
        if element.header.id == CLUSTER {
            return Ok(headers);
        }
        let end = element.end(segment_end)?;
        let slot = match element.header.id {
            INFO => &mut headers.info,
            TRACKS => &mut headers.tracks,
            _ => {
                pos = end;
                continue;
            }
        };
        if slot.is_some() {
            return Err(Malformed::Invalid("more than one WebM Info or Tracks"));
        }
        if end > window_end {
            return Err(Malformed::Invalid("WebM Info or Tracks past 16 MiB"));
        }
        *slot = Some(read_body(reader, &element, segment_end)?);
        pos = end;
    }
    Err(Malformed::Invalid(
        "too many WebM elements before the first Cluster",
    ))
}

/// WebM has a single Segment. Only padding may follow it: anything else is an appended
/// payload, which the platform refuses as it does for images.
fn check_after_segment<R: Read + Seek>(
    reader: &mut R,
    mut pos: u64,
    len: u64,
) -> Result<(), Malformed> {
    for _ in 0..MAX_ELEMENTS {
        if pos >= len {
            return Ok(());
        }
        let element = element_at(reader, pos, len)?;
        if element.header.id != VOID {
            return Err(Malformed::Invalid("data after the WebM Segment"));
        }
        pos = element.end(len)?;
    }
    Err(Malformed::Invalid("too many WebM elements"))
}

/// An element in the file: its header and where its body starts.
struct Element {
    header: ElementHeader,
    body: u64,
}

impl Element {
    /// Where the element ends, which must be within `limit` (the end of its parent).
    fn end(&self, limit: u64) -> Result<u64, Malformed> {
        let size = known_size(&self.header)?;
        let end = self.body.checked_add(size).ok_or(Malformed::Truncated)?;
        if end > limit {
            return Err(Malformed::Truncated);
        }
        Ok(end)
    }
}

/// Reads the element header at `pos`, which must fit before `limit`.
fn element_at<R: Read + Seek>(reader: &mut R, pos: u64, limit: u64) -> Result<Element, Malformed> {
    let available = limit.saturating_sub(pos).min(MAX_ELEMENT_HEADER as u64);
    let mut buf = [0u8; MAX_ELEMENT_HEADER];
    let buf = buf
        .get_mut(..usize::try_from(available).unwrap_or(MAX_ELEMENT_HEADER))
        .unwrap_or_default();
    read_at(reader, pos, buf)?;
    let header = ebml::element_header(buf, 0)?;
    Ok(Element {
        header,
        body: pos + header.len as u64,
    })
}

fn known_size(header: &ElementHeader) -> Result<u64, Malformed> {
    header.size.ok_or(Malformed::Invalid(
        "WebM element of unknown size before the first Cluster",
    ))
}

/// Reads an element's body; callers have bounded its size.
fn read_body<R: Read + Seek>(
    reader: &mut R,
    element: &Element,
    limit: u64,
) -> Result<Vec<u8>, Malformed> {
    let end = element.end(limit)?;
    read_vec_at(reader, element.body, end - element.body)
}

/// The Duration in Info, in TimecodeScale units (nanoseconds each); 0 when absent, as in live
/// recordings.
fn duration_ms(info: &[u8]) -> Result<u64, Malformed> {
    let mut scale = DEFAULT_TIMECODE_SCALE;
    let mut duration = None;
    for child in ebml::children(info) {
        let (id, body) = child?;
        match id {
            TIMECODE_SCALE => scale = ebml::uint(body)?,
            DURATION => duration = Some(ebml::float(body)?),
            _ => {}
        }
    }
    if scale == 0 {
        return Err(Malformed::Invalid("WebM TimecodeScale is zero"));
    }
    let Some(duration) = duration else {
        return Ok(0);
    };
    if !duration.is_finite() || duration < 0.0 {
        return Err(Malformed::Invalid(
            "WebM Duration is not a finite positive number",
        ));
    }
    // Float to integer conversion saturates, so an absurd duration cannot wrap around.
    Ok((duration * scale as f64 / 1_000_000.0).round() as u64)
}

/// The pixel size of the first video track: TrackType 1, or a Video element when the type is
/// not given.
fn video_size(tracks: &[u8]) -> Result<(u32, u32), Malformed> {
    for child in ebml::children(tracks) {
        let (id, entry) = child?;
        if id != TRACK_ENTRY {
            continue;
        }
        let mut track_type = None;
        let mut video = None;
        for child in ebml::children(entry) {
            let (id, body) = child?;
            match id {
                TRACK_TYPE => track_type = Some(ebml::uint(body)?),
                VIDEO => video = Some(body),
                _ => {}
            }
        }
        let is_video = match track_type {
            Some(track_type) => track_type == TRACK_TYPE_VIDEO,
            None => video.is_some(),
        };
        if is_video {
            return pixel_size(video.unwrap_or_default());
        }
    }
    Err(Malformed::Invalid("no video track"))
}

fn pixel_size(video: &[u8]) -> Result<(u32, u32), Malformed> {
    let mut width = 0;
    let mut height = 0;
    for child in ebml::children(video) {
        let (id, body) = child?;
        match id {
            PIXEL_WIDTH => width = ebml::uint(body)?,
            PIXEL_HEIGHT => height = ebml::uint(body)?,
            _ => {}
        }
    }
    let width =
        u32::try_from(width).map_err(|_| Malformed::Invalid("WebM PixelWidth too large"))?;
    let height =
        u32::try_from(height).map_err(|_| Malformed::Invalid("WebM PixelHeight too large"))?;
    if width == 0 || height == 0 {
        return Err(Malformed::Invalid("WebM video track without dimensions"));
    }
    Ok((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_scale_to_milliseconds() {
        // Duration 2500.0 in the default 1 ms units.
        let mut info = vec![0x44, 0x89, 0x88];
        info.extend_from_slice(&2500.0f64.to_be_bytes());
        assert_eq!(duration_ms(&info), Ok(2500));
        // Duration 3.0 in 1 s units (TimecodeScale 1e9, written in 4 bytes).
        let mut info = vec![0x2A, 0xD7, 0xB1, 0x84];
        info.extend_from_slice(&1_000_000_000u32.to_be_bytes());
        info.extend_from_slice(&[0x44, 0x89, 0x84]);
        info.extend_from_slice(&3.0f32.to_be_bytes());
        assert_eq!(duration_ms(&info), Ok(3000));
        assert_eq!(duration_ms(&[]), Ok(0));
    }

    #[test]
    fn bad_durations() {
        let mut info = vec![0x44, 0x89, 0x88];
        info.extend_from_slice(&f64::NAN.to_be_bytes());
        assert!(matches!(duration_ms(&info), Err(Malformed::Invalid(_))));
        let zero_scale = [0x2A, 0xD7, 0xB1, 0x81, 0x00];
        assert!(matches!(
            duration_ms(&zero_scale),
            Err(Malformed::Invalid(_))
        ));
    }

    #[test]
    fn the_first_video_track_decides() {
        // An audio track, then a video track of 640 × 360.
        let tracks = [
            0xAE, 0x83, 0x83, 0x81, 0x02, //
            0xAE, 0x8C, 0x83, 0x81, 0x01, 0xE0, 0x87, 0xB0, 0x82, 0x02, 0x80, 0xBA, 0x81, 0xFF,
        ];
        assert!(matches!(video_size(&tracks), Ok((640, 255))));
        let audio_only = [0xAE, 0x83, 0x83, 0x81, 0x02];
        assert!(matches!(
            video_size(&audio_only),
            Err(Malformed::Invalid(_))
        ));
    }
}
