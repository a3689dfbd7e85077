//! JPEG: a sequence of marker segments, with entropy-coded data after each scan header.

use crate::{
    Malformed,
    image::Dimensions,
    read::{be_u16_at, expect_magic, u8_at},
};

const SOI: [u8; 2] = [0xFF, 0xD8];
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;

/// Reads the frame header (SOFn) that precedes the first scan.
pub(super) fn dimensions(bytes: &[u8]) -> Result<Dimensions, Malformed> {
    expect_magic(bytes, &SOI, "missing JPEG start of image")?;
    let mut pos = SOI.len();
    loop {
        let (code, after) = marker_at(bytes, pos)?;
        pos = match code {
            code if is_standalone(code) => after,
            code if is_frame(code) => return frame_dimensions(bytes, after),
            SOS => return Err(Malformed::Invalid("JPEG scan before the frame header")),
            EOI => return Err(Malformed::Invalid("JPEG ends before the frame header")),
            _ => segment_end(bytes, code, after)?,
        };
    }
}

/// Walks every segment and scan (progressive images have many) to the EOI marker.
pub(super) fn end(bytes: &[u8]) -> Result<usize, Malformed> {
    expect_magic(bytes, &SOI, "missing JPEG start of image")?;
    let mut pos = SOI.len();
    let mut frame = false;
    let mut scan = false;
    loop {
        let (code, after) = marker_at(bytes, pos)?;
        pos = match code {
            EOI if scan => return Ok(after),
            EOI => return Err(Malformed::Invalid("JPEG ends before any scan")),
            code if is_standalone(code) => after,
            SOS if !frame => return Err(Malformed::Invalid("JPEG scan before the frame header")),
            SOS => {
                scan = true;
                entropy_coded_end(bytes, segment_end(bytes, code, after)?)?
            }
            code => {
                frame |= is_frame(code);
                segment_end(bytes, code, after)?
            }
        };
    }
}

/// Reads the marker at `pos`: 0xFF, any number of 0xFF fill bytes, then the marker code.
/// Returns the code and the offset after it.
fn marker_at(bytes: &[u8], pos: usize) -> Result<(u8, usize), Malformed> {
    if u8_at(bytes, pos)? != 0xFF {
        return Err(Malformed::Invalid("JPEG marker expected"));
    }
    let fill = bytes
        .get(pos + 1..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&b| b == 0xFF)
        .count();
    let code_at = pos + 1 + fill;
    Ok((u8_at(bytes, code_at)?, code_at + 1))
}

/// Markers without a length: restart markers and TEM.
fn is_standalone(code: u8) -> bool {
    matches!(code, 0x01 | 0xD0..=0xD7)
}

/// Start-of-frame markers: C0 to CF, except DHT (C4), JPG (C8) and DAC (CC).
fn is_frame(code: u8) -> bool {
    matches!(code, 0xC0..=0xCF) && !matches!(code, 0xC4 | 0xC8 | 0xCC)
}

/// The end of the segment whose length field is at `at`, checked to be inside `bytes`.
fn segment_end(bytes: &[u8], code: u8, at: usize) -> Result<usize, Malformed> {
    match code {
        // A stuffed zero and a second SOI can only come from a broken or spliced file.
        0x00 => return Err(Malformed::Invalid("JPEG stuffed byte outside a scan")),
        0xD8 => return Err(Malformed::Invalid("JPEG start of image inside an image")),
        _ => {}
    }
    // The length counts itself, so it is at least 2 and every segment advances the walk.
    let len = usize::from(be_u16_at(bytes, at)?);
    if len < 2 {
        return Err(Malformed::Invalid("JPEG segment length below 2"));
    }
    let end = at + len;
    if end > bytes.len() {
        return Err(Malformed::Truncated);
    }
    Ok(end)
}

/// Height and width from a frame header whose length field is at `at`.
fn frame_dimensions(bytes: &[u8], at: usize) -> Result<Dimensions, Malformed> {
    segment_end(bytes, 0xC0, at)?;
    let len = usize::from(be_u16_at(bytes, at)?);
    let components = usize::from(u8_at(bytes, at + 7)?);
    // Length, precision, height, width and the component count, then 3 bytes per component.
    if components == 0 || len != 8 + 3 * components {
        return Err(Malformed::Invalid("JPEG frame header length"));
    }
    Ok(Dimensions {
        height: u32::from(be_u16_at(bytes, at + 3)?),
        width: u32::from(be_u16_at(bytes, at + 5)?),
    })
}

/// Skips the entropy-coded data starting at `pos` and returns the offset of the marker that
/// ends it. Inside it, FF 00 is a stuffed 0xFF byte and FF D0 to FF D7 are restart markers.
fn entropy_coded_end(bytes: &[u8], mut pos: usize) -> Result<usize, Malformed> {
    loop {
        let rest = bytes.get(pos..).ok_or(Malformed::Truncated)?;
        let at = pos
            + rest
                .iter()
                .position(|&b| b == 0xFF)
                .ok_or(Malformed::Truncated)?;
        match u8_at(bytes, at + 1)? {
            0x00 | 0xD0..=0xD7 => pos = at + 2,
            // Any other marker (fill bytes included) ends the scan.
            _ => return Ok(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_bytes_before_a_marker_are_skipped() {
        assert_eq!(marker_at(&[0xFF, 0xFF, 0xFF, 0xD9], 0), Ok((0xD9, 4)));
        assert_eq!(marker_at(&[0xFF, 0xFF], 0), Err(Malformed::Truncated));
        assert!(matches!(marker_at(&[0x12], 0), Err(Malformed::Invalid(_))));
    }

    #[test]
    fn frame_markers() {
        let frames: Vec<u8> = (0..=255u8).filter(|&code| is_frame(code)).collect();
        assert_eq!(
            frames,
            [
                0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF
            ]
        );
    }

    #[test]
    fn entropy_data_ends_at_a_real_marker() {
        let data = [1, 0xFF, 0x00, 2, 0xFF, 0xD3, 3, 0xFF, 0xFF, 0xD9];
        assert_eq!(entropy_coded_end(&data, 0), Ok(7));
        assert_eq!(entropy_coded_end(&data[..6], 0), Err(Malformed::Truncated));
    }

    #[test]
    fn segment_lengths_below_two_are_invalid() {
        assert!(matches!(
            segment_end(&[0x00, 0x01], 0xE0, 0),
            Err(Malformed::Invalid(_))
        ));
        assert_eq!(
            segment_end(&[0x00, 0x05, 0], 0xE0, 0),
            Err(Malformed::Truncated)
        );
    }
}
