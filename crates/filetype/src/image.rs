//! Image headers: dimensions without decoding pixels, and where the image's own structure ends.

mod crc32;
mod gif;
mod jpeg;
mod png;
mod webp;

use crate::{Kind, Malformed};

/// Image dimensions read from the header only, without decoding pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dimensions {
    /// Width in pixels; never 0.
    pub width: u32,
    /// Height in pixels; never 0.
    pub height: u32,
}

impl Dimensions {
    /// Width times height, which a decoder allocates for; it cannot overflow.
    pub fn pixels(self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// Reads an image's dimensions from its header, which is all that `bytes` needs to hold.
///
/// GIF reports its logical screen and WebP its canvas. A zero width or height is
/// [`Malformed::Invalid`]; a video kind is too.
pub fn image_dimensions(kind: Kind, bytes: &[u8]) -> Result<Dimensions, Malformed> {
    let dimensions = match kind {
        Kind::Jpeg => jpeg::dimensions(bytes),
        Kind::Png => png::dimensions(bytes),
        Kind::Gif => gif::dimensions(bytes),
        Kind::Webp => webp::dimensions(bytes),
        Kind::Mp4 | Kind::Mov | Kind::Webm => Err(Malformed::Invalid("not an image kind")),
    }?;
    if dimensions.width == 0 || dimensions.height == 0 {
        return Err(Malformed::Invalid("zero width or height"));
    }
    Ok(dimensions)
}

/// The offset just past the image's own structure, read from the whole file.
///
/// JPEG: past the EOI marker that ends the last scan. PNG: past the IEND chunk. GIF: past the
/// trailer. WebP: past the RIFF chunk (8 + its size, padded to even). Bytes after this offset
/// are an appended payload, a polyglot the caller refuses; note that cameras put a second
/// image or a short video there too (MPO, motion photos), which are refused the same way.
pub fn image_end(kind: Kind, bytes: &[u8]) -> Result<usize, Malformed> {
    match kind {
        Kind::Jpeg => jpeg::end(bytes),
        Kind::Png => png::end(bytes),
        Kind::Gif => gif::end(bytes),
        Kind::Webp => webp::end(bytes),
        Kind::Mp4 | Kind::Mov | Kind::Webm => Err(Malformed::Invalid("not an image kind")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_do_not_overflow() {
        let largest = Dimensions {
            width: u32::MAX,
            height: u32::MAX,
        };
        assert_eq!(largest.pixels(), 0xFFFF_FFFE_0000_0001);
    }

    #[test]
    fn video_kinds_are_not_images() {
        for kind in [Kind::Mp4, Kind::Mov, Kind::Webm] {
            assert!(matches!(
                image_dimensions(kind, b""),
                Err(Malformed::Invalid(_))
            ));
            assert!(matches!(image_end(kind, b""), Err(Malformed::Invalid(_))));
        }
    }
}
