//! PNG: the signature, then chunks (length, type, data, CRC) from IHDR to IEND.

use crate::{
    Malformed,
    image::{Dimensions, crc32::crc32},
    read::{array_at, be_u32_at, bytes_at, expect_magic, u8_at},
};

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
/// PNG limits chunk lengths and dimensions to 2^31 - 1.
const MAX_U31: u32 = 0x7FFF_FFFF;

/// Reads IHDR, which must be the first chunk.
pub(super) fn dimensions(bytes: &[u8]) -> Result<Dimensions, Malformed> {
    expect_magic(bytes, &SIGNATURE, "missing PNG signature")?;
    header(&chunk_at(bytes, SIGNATURE.len())?)
}

/// Walks the chunks to IEND, checking each one's CRC on the way.
pub(super) fn end(bytes: &[u8]) -> Result<usize, Malformed> {
    expect_magic(bytes, &SIGNATURE, "missing PNG signature")?;
    let first = chunk_at(bytes, SIGNATURE.len())?;
    header(&first)?;
    let mut pos = first.end;
    let mut image_data = false;
    loop {
        let chunk = chunk_at(bytes, pos)?;
        match &chunk.kind {
            b"IHDR" => return Err(Malformed::Invalid("PNG has a second IHDR")),
            b"IDAT" => image_data = true,
            b"IEND" if !image_data => return Err(Malformed::Invalid("PNG without IDAT")),
            b"IEND" if !chunk.data.is_empty() => {
                return Err(Malformed::Invalid("PNG IEND is not empty"));
            }
            b"IEND" => return Ok(chunk.end),
            _ => {}
        }
        // Every chunk takes at least 12 bytes, so the walk advances.
        pos = chunk.end;
    }
}

struct Chunk<'a> {
    kind: [u8; 4],
    data: &'a [u8],
    end: usize,
}

/// The chunk at `pos`, its length checked against the bytes and its CRC verified.
fn chunk_at(bytes: &[u8], pos: usize) -> Result<Chunk<'_>, Malformed> {
    let len = be_u32_at(bytes, pos)?;
    if len > MAX_U31 {
        return Err(Malformed::Invalid("PNG chunk length above 2^31 - 1"));
    }
    let kind: [u8; 4] = array_at(bytes, pos + 4)?;
    if !kind.iter().all(u8::is_ascii_alphabetic) {
        return Err(Malformed::Invalid("PNG chunk type is not four letters"));
    }
    let len = usize::try_from(len).map_err(|_| Malformed::Truncated)?;
    let data = bytes_at(bytes, pos + 8, len)?;
    let crc_at = pos + 8 + len;
    if be_u32_at(bytes, crc_at)? != crc32(&[&kind, data]) {
        return Err(Malformed::Invalid("PNG chunk CRC mismatch"));
    }
    Ok(Chunk {
        kind,
        data,
        end: crc_at + 4,
    })
}

/// Checks the IHDR chunk and returns its dimensions.
fn header(chunk: &Chunk<'_>) -> Result<Dimensions, Malformed> {
    if &chunk.kind != b"IHDR" {
        return Err(Malformed::Invalid("PNG does not start with IHDR"));
    }
    if chunk.data.len() != 13 {
        return Err(Malformed::Invalid("PNG IHDR length is not 13"));
    }
    let width = be_u32_at(chunk.data, 0)?;
    let height = be_u32_at(chunk.data, 4)?;
    if width > MAX_U31 || height > MAX_U31 {
        return Err(Malformed::Invalid("PNG dimension above 2^31 - 1"));
    }
    let depth = u8_at(chunk.data, 8)?;
    let colour = u8_at(chunk.data, 9)?;
    let allowed_depths: &[u8] = match colour {
        0 => &[1, 2, 4, 8, 16],
        3 => &[1, 2, 4, 8],
        2 | 4 | 6 => &[8, 16],
        _ => return Err(Malformed::Invalid("PNG colour type")),
    };
    if !allowed_depths.contains(&depth) {
        return Err(Malformed::Invalid("PNG bit depth for its colour type"));
    }
    let [compression, filter, interlace] = array_at(chunk.data, 10)?;
    if compression != 0 || filter != 0 || interlace > 1 {
        return Err(Malformed::Invalid(
            "PNG compression, filter or interlace method",
        ));
    }
    Ok(Dimensions { width, height })
}
