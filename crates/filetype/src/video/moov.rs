//! The `moov` box of an MP4 or QuickTime file: the movie header and the tracks.

use crate::{
    Malformed,
    read::{array_at, be_u16_at, be_u32_at, be_u64_at, u8_at},
    video::boxes::{children, find, find_path},
};

/// What the movie box says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Movie {
    pub(super) duration_ms: u64,
    pub(super) width: u32,
    pub(super) height: u32,
}

/// Reads the movie header and picks the video track from the body of `moov`.
pub(super) fn parse(moov: &[u8]) -> Result<Movie, Malformed> {
    let mut header = None;
    let mut fragment_duration = None;
    let mut video = None;
    let mut undeclared = None;
    for child in children(moov) {
        let (kind, body) = child?;
        match &kind {
            b"mvhd" if header.is_some() => {
                return Err(Malformed::Invalid("more than one mvhd"));
            }
            b"mvhd" => header = Some(movie_header(body)?),
            b"mvex" => {
                fragment_duration = find(body, b"mehd")?.map(fragments_header).transpose()?
            }
            b"trak" => {
                let track = track(body)?;
                match track.handler {
                    Some(handler) if &handler == b"vide" => {
                        video = video.or(track.dimensions);
                    }
                    // A track without a handler counts if it has a visual size; tracks with
                    // another handler (sound, subtitles, timecodes) never do.
                    None => undeclared = undeclared.or(track.dimensions),
                    Some(_) => {}
                }
            }
            _ => {}
        }
    }
    let header = header.ok_or(Malformed::Invalid("moov without mvhd"))?;
    let (width, height) = video
        .or(undeclared)
        .ok_or(Malformed::Invalid("no video track"))?;
    // A fragmented file may leave the movie duration at 0 (or unknown) and declare the total
    // in the movie extends header instead.
    let duration = header
        .duration
        .filter(|&duration| duration > 0)
        .or(fragment_duration)
        .unwrap_or(0);
    Ok(Movie {
        duration_ms: milliseconds(duration, header.timescale),
        width,
        height,
    })
}

struct MovieHeader {
    timescale: u32,
    /// `None` when all bits are set, which means "unknown".
    duration: Option<u64>,
}

/// `mvhd`: version and flags, creation and modification times, timescale, duration; the times
/// and the duration are 64-bit in version 1.
fn movie_header(body: &[u8]) -> Result<MovieHeader, Malformed> {
    let (timescale, duration) = match u8_at(body, 0)? {
        0 => {
            let duration = be_u32_at(body, 16)?;
            let duration = (duration != u32::MAX).then_some(u64::from(duration));
            (be_u32_at(body, 12)?, duration)
        }
        1 => {
            let duration = be_u64_at(body, 24)?;
            (
                be_u32_at(body, 20)?,
                (duration != u64::MAX).then_some(duration),
            )
        }
        _ => return Err(Malformed::Invalid("unknown mvhd version")),
    };
    if timescale == 0 {
        return Err(Malformed::Invalid("mvhd timescale is zero"));
    }
    Ok(MovieHeader {
        timescale,
        duration,
    })
}

/// `mehd`: version and flags, then the fragment duration (64-bit in version 1).
fn fragments_header(body: &[u8]) -> Result<u64, Malformed> {
    match u8_at(body, 0)? {
        0 => be_u32_at(body, 4).map(u64::from),
        1 => be_u64_at(body, 4),
        _ => Err(Malformed::Invalid("unknown mehd version")),
    }
}

fn milliseconds(duration: u64, timescale: u32) -> u64 {
    let ms = u128::from(duration) * 1000 / u128::from(timescale);
    u64::try_from(ms).unwrap_or(u64::MAX)
}

struct Track {
    handler: Option<[u8; 4]>,
    /// The track's size, when it has a non-zero one.
    dimensions: Option<(u32, u32)>,
}

fn track(trak: &[u8]) -> Result<Track, Malformed> {
    let header = find(trak, b"tkhd")?.ok_or(Malformed::Invalid("trak without tkhd"))?;
    let handler = match find_path(trak, &[b"mdia", b"hdlr"])? {
        // Version and flags, a predefined zero, then the handler type.
        Some(hdlr) => Some(array_at(hdlr, 8)?),
        None => None,
    };
    let mut dimensions = non_zero(track_header_size(header)?);
    // Some writers leave the track header's size at zero; the visual sample entry has it too.
    if dimensions.is_none()
        && handler.as_ref() == Some(b"vide")
        && let Some(stsd) = find_path(trak, &[b"mdia", b"minf", b"stbl", b"stsd"])?
    {
        dimensions = non_zero(sample_entry_size(stsd)?);
    }
    Ok(Track {
        handler,
        dimensions,
    })
}

/// `tkhd` width and height: 16.16 fixed point, of which the integer part is kept. Version 1
/// has 64-bit times and duration, which moves them by 12 bytes.
fn track_header_size(body: &[u8]) -> Result<(u32, u32), Malformed> {
    let at = match u8_at(body, 0)? {
        0 => 76,
        1 => 88,
        _ => return Err(Malformed::Invalid("unknown tkhd version")),
    };
    Ok((be_u32_at(body, at)? >> 16, be_u32_at(body, at + 4)? >> 16))
}

/// Width and height of the first visual sample entry in `stsd`: version and flags, entry
/// count, then the entry's header (8 bytes), 6 reserved bytes, a data reference index and 16
/// predefined or reserved bytes.
fn sample_entry_size(stsd: &[u8]) -> Result<(u32, u32), Malformed> {
    Ok((
        u32::from(be_u16_at(stsd, 40)?),
        u32::from(be_u16_at(stsd, 42)?),
    ))
}

fn non_zero((width, height): (u32, u32)) -> Option<(u32, u32)> {
    (width > 0 && height > 0).then_some((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_down_and_saturate() {
        assert_eq!(milliseconds(90_000, 90_000), 1000);
        assert_eq!(milliseconds(1, 3), 333);
        assert_eq!(milliseconds(u64::MAX, 1), u64::MAX);
    }
}
