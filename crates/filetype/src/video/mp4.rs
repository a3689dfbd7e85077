//! MP4 and QuickTime: top-level boxes walked by seeking, then the `moov` box read whole.

use std::io::{Read, Seek};

use crate::{
    Kind, Malformed,
    read::{be_u32_at, be_u64_at},
    video::{
        VideoInfo, inner, moov,
        stream::{read_at, read_vec_at},
    },
};

/// The largest `moov` read into memory. Hours of video at many tracks stay well below it.
const MAX_MOOV: u64 = 64 * 1024 * 1024;
/// Every top-level box costs a seek and a read; fragmented files have two per fragment, so
/// this leaves room for days of one-second fragments.
const MAX_TOP_LEVEL_BOXES: usize = 1_000_000;

pub(super) fn info<R: Read + Seek>(
    kind: Kind,
    reader: &mut R,
    len: u64,
) -> Result<VideoInfo, Malformed> {
    let mut moov = None;
    let mut media_data = false;
    let mut pos = 0;
    let mut count = 0;
    while pos < len {
        count += 1;
        if count > MAX_TOP_LEVEL_BOXES {
            return Err(Malformed::Invalid("too many top-level boxes"));
        }
        let header = box_header(reader, pos, len)?;
        // Sniffing accepted an MP4 for its ftyp, so it must lead.
        if count == 1 && kind == Kind::Mp4 && &header.kind != b"ftyp" {
            return Err(Malformed::Invalid("MP4 does not start with ftyp"));
        }
        match &header.kind {
            b"moov" if moov.is_some() => return Err(Malformed::Invalid("more than one moov")),
            b"moov" => moov = Some(header),
            b"mdat" => media_data = true,
            _ => {}
        }
        // Every box is at least as long as its header, so the walk advances.
        pos = header.end;
    }
    let moov = moov.ok_or(Malformed::Invalid("no moov box"))?;
    if !media_data {
        return Err(Malformed::Invalid("no mdat box"));
    }
    let body_len = moov.end - moov.body;
    if body_len > MAX_MOOV {
        return Err(Malformed::Invalid("moov too large"));
    }
    let body = read_vec_at(reader, moov.body, body_len)?;
    let movie = moov::parse(&body).map_err(inner)?;
    Ok(VideoInfo {
        kind,
        duration_ms: movie.duration_ms,
        width: movie.width,
        height: movie.height,
    })
}

/// A top-level box: its type, and where its body starts and the box ends.
#[derive(Clone, Copy)]
struct BoxHeader {
    kind: [u8; 4],
    body: u64,
    end: u64,
}

/// Reads the box header at `pos`, checking that the box fits in the file.
fn box_header<R: Read + Seek>(reader: &mut R, pos: u64, len: u64) -> Result<BoxHeader, Malformed> {
    let remaining = len - pos;
    if remaining < 8 {
        return Err(Malformed::Truncated);
    }
    let mut head = [0u8; 8];
    read_at(reader, pos, &mut head)?;
    let [_, _, _, _, k0, k1, k2, k3] = head;
    let (size, header_len) = match be_u32_at(&head, 0)? {
        // The last box may run to the end of the file.
        0 => (remaining, 8),
        // A 64-bit size follows the type.
        1 => {
            if remaining < 16 {
                return Err(Malformed::Truncated);
            }
            let mut large = [0u8; 8];
            read_at(reader, pos + 8, &mut large)?;
            (be_u64_at(&large, 0)?, 16)
        }
        size => (u64::from(size), 8),
    };
    if size < header_len {
        return Err(Malformed::Invalid("box size smaller than its header"));
    }
    if size > remaining {
        return Err(Malformed::Truncated);
    }
    Ok(BoxHeader {
        kind: [k0, k1, k2, k3],
        body: pos + header_len,
        end: pos + size,
    })
}
