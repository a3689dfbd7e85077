//! WebP: a RIFF container whose first chunk is VP8 (lossy), VP8L (lossless) or VP8X (extended:
//! animation, alpha, metadata).

use crate::{
    Malformed,
    image::Dimensions,
    read::{array_at, bytes_at, has_at, le_u16_at, le_u24_at, le_u32_at, to_usize, u8_at},
};

/// "RIFF", the size of what follows, "WEBP".
const HEADER_LEN: usize = 12;
/// A chunk's FourCC and size.
const CHUNK_HEADER_LEN: usize = 8;
const VP8_START_CODE: [u8; 3] = [0x9D, 0x01, 0x2A];
const VP8L_SIGNATURE: u8 = 0x2F;

/// Reads the size of the first frame (VP8, VP8L) or of the canvas (VP8X).
pub(super) fn dimensions(bytes: &[u8]) -> Result<Dimensions, Malformed> {
    check_header(bytes)?;
    let kind: [u8; 4] = array_at(bytes, HEADER_LEN)?;
    let size = le_u32_at(bytes, HEADER_LEN + 4)?;
    let data = HEADER_LEN + CHUNK_HEADER_LEN;
    match &kind {
        b"VP8 " => {
            // Frame tag (3 bytes), start code (3 bytes), then 14-bit width and height, each
            // with 2 bits of scaling above.
            if size < 10 {
                return Err(Malformed::Invalid("WebP VP8 chunk too small"));
            }
            if u8_at(bytes, data)? & 1 != 0 {
                return Err(Malformed::Invalid("WebP VP8 frame is not a key frame"));
            }
            if !has_at(bytes, data + 3, &VP8_START_CODE) {
                return match bytes_at(bytes, data + 3, 3) {
                    Ok(_) => Err(Malformed::Invalid("WebP VP8 start code")),
                    Err(truncated) => Err(truncated),
                };
            }
            Ok(Dimensions {
                width: u32::from(le_u16_at(bytes, data + 6)? & 0x3FFF),
                height: u32::from(le_u16_at(bytes, data + 8)? & 0x3FFF),
            })
        }
        b"VP8L" => {
            // Signature, then width - 1 and height - 1 (14 bits each), alpha (1 bit) and a
            // version (3 bits) that must be 0.
            if size < 5 {
                return Err(Malformed::Invalid("WebP VP8L chunk too small"));
            }
            if u8_at(bytes, data)? != VP8L_SIGNATURE {
                return Err(Malformed::Invalid("WebP VP8L signature"));
            }
            let bits = le_u32_at(bytes, data + 1)?;
            if bits >> 29 != 0 {
                return Err(Malformed::Invalid("WebP VP8L version"));
            }
            Ok(Dimensions {
                width: (bits & 0x3FFF) + 1,
                height: ((bits >> 14) & 0x3FFF) + 1,
            })
        }
        b"VP8X" => {
            // Flags (1 byte), reserved (3 bytes), then canvas width - 1 and height - 1 (24 bits).
            if size < 10 {
                return Err(Malformed::Invalid("WebP VP8X chunk too small"));
            }
            let dimensions = Dimensions {
                width: le_u24_at(bytes, data + 4)? + 1,
                height: le_u24_at(bytes, data + 7)? + 1,
            };
            if dimensions.pixels() > u64::from(u32::MAX) {
                return Err(Malformed::Invalid("WebP canvas above 2^32 - 1 pixels"));
            }
            Ok(dimensions)
        }
        _ => Err(Malformed::Invalid(
            "WebP does not start with VP8, VP8L or VP8X",
        )),
    }
}

/// The end of the RIFF chunk, after checking that the chunks inside it fit.
pub(super) fn end(bytes: &[u8]) -> Result<usize, Malformed> {
    check_header(bytes)?;
    let first: [u8; 4] = array_at(bytes, HEADER_LEN)?;
    if !matches!(&first, b"VP8 " | b"VP8L" | b"VP8X") {
        return Err(Malformed::Invalid(
            "WebP does not start with VP8, VP8L or VP8X",
        ));
    }
    // Offsets are u64 so that a size near 4 GiB cannot wrap around on 32-bit targets.
    let riff_size = u64::from(le_u32_at(bytes, 4)?);
    let end = 8 + riff_size + (riff_size & 1);
    if end > bytes.len() as u64 {
        return Err(Malformed::Truncated);
    }
    if end < (HEADER_LEN + CHUNK_HEADER_LEN) as u64 {
        return Err(Malformed::Invalid(
            "WebP RIFF size leaves out the first chunk",
        ));
    }
    let mut pos = HEADER_LEN as u64;
    while pos < end {
        if end - pos < CHUNK_HEADER_LEN as u64 {
            return Err(Malformed::Invalid("WebP chunk header past the RIFF size"));
        }
        let size = u64::from(le_u32_at(bytes, to_usize(pos + 4)?)?);
        let unpadded = pos + CHUNK_HEADER_LEN as u64 + size;
        // Chunks are padded to even sizes; tolerate a last chunk whose pad byte was left out.
        let padded = unpadded + (size & 1);
        pos = if padded <= end {
            padded
        } else if unpadded == end {
            unpadded
        } else {
            return Err(Malformed::Invalid("WebP chunk past the RIFF size"));
        };
    }
    to_usize(end)
}

fn check_header(bytes: &[u8]) -> Result<(), Malformed> {
    // A short input is truncated only if what is there matches as far as it goes.
    let riff = has_at(bytes, 0, b"RIFF") || b"RIFF".starts_with(bytes);
    let webp = has_at(bytes, 8, b"WEBP") || b"WEBP".starts_with(bytes.get(8..).unwrap_or_default());
    if !riff || !webp {
        return Err(Malformed::Invalid("missing WebP RIFF header"));
    }
    if bytes.len() < HEADER_LEN {
        return Err(Malformed::Truncated);
    }
    Ok(())
}
