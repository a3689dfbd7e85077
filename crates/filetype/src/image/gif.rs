//! GIF: header, logical screen descriptor, then extension and image blocks to the trailer.

use crate::{
    Malformed,
    image::Dimensions,
    read::{bytes_at, le_u16_at, u8_at},
};

const EXTENSION: u8 = 0x21;
const IMAGE: u8 = 0x2C;
const TRAILER: u8 = 0x3B;
/// Header (6 bytes) and logical screen descriptor (7 bytes).
const SCREEN_END: usize = 13;

/// Reads the logical screen size.
pub(super) fn dimensions(bytes: &[u8]) -> Result<Dimensions, Malformed> {
    check_header(bytes)?;
    Ok(Dimensions {
        width: u32::from(le_u16_at(bytes, 6)?),
        height: u32::from(le_u16_at(bytes, 8)?),
    })
}

/// Walks the blocks to the trailer.
pub(super) fn end(bytes: &[u8]) -> Result<usize, Malformed> {
    check_header(bytes)?;
    let flags = u8_at(bytes, 10)?;
    let mut pos = SCREEN_END + colour_table_len(flags);
    let mut image = false;
    loop {
        let block = u8_at(bytes, pos)?;
        pos += 1;
        match block {
            TRAILER if image => return Ok(pos),
            TRAILER => return Err(Malformed::Invalid("GIF without an image")),
            // Label, then data sub-blocks.
            EXTENSION => pos = sub_blocks_end(bytes, pos + 1)?,
            IMAGE => {
                // Left, top, width, height (2 bytes each), then flags.
                let flags = u8_at(bytes, pos + 8)?;
                pos += 9 + colour_table_len(flags);
                let code_size = u8_at(bytes, pos)?;
                if code_size > 11 {
                    return Err(Malformed::Invalid("GIF LZW code size above 11"));
                }
                pos = sub_blocks_end(bytes, pos + 1)?;
                image = true;
            }
            _ => return Err(Malformed::Invalid("GIF block of unknown type")),
        }
    }
}

fn check_header(bytes: &[u8]) -> Result<(), Malformed> {
    let magic = bytes_at(bytes, 0, 6).map_err(|_| {
        if b"GIF89a".starts_with(bytes) || b"GIF87a".starts_with(bytes) {
            Malformed::Truncated
        } else {
            Malformed::Invalid("missing GIF signature")
        }
    })?;
    if magic != b"GIF87a" && magic != b"GIF89a" {
        return Err(Malformed::Invalid("missing GIF signature"));
    }
    // The rest of the logical screen descriptor must be there too.
    bytes_at(bytes, 0, SCREEN_END).map(|_| ())
}

/// The size of the colour table a flags byte announces (bit 7 set: 3 × 2^(n+1) bytes).
fn colour_table_len(flags: u8) -> usize {
    if flags & 0x80 == 0 {
        0
    } else {
        3 << ((flags & 0x07) + 1)
    }
}

/// The offset past the sub-blocks starting at `pos`: each a length byte and that many bytes,
/// ended by a zero length. Every step advances by at least one byte.
fn sub_blocks_end(bytes: &[u8], mut pos: usize) -> Result<usize, Malformed> {
    loop {
        let len = usize::from(u8_at(bytes, pos)?);
        pos += 1;
        if len == 0 {
            return Ok(pos);
        }
        pos += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_tables() {
        assert_eq!(colour_table_len(0x00), 0);
        assert_eq!(colour_table_len(0x07), 0);
        assert_eq!(colour_table_len(0x80), 6);
        assert_eq!(colour_table_len(0xF7), 768);
    }

    #[test]
    fn sub_blocks() {
        assert_eq!(sub_blocks_end(&[2, 9, 9, 1, 9, 0, 7], 0), Ok(6));
        assert_eq!(sub_blocks_end(&[2, 9, 9, 1], 0), Err(Malformed::Truncated));
        assert_eq!(sub_blocks_end(&[200, 0], 0), Err(Malformed::Truncated));
    }
}
