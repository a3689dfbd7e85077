//! ISO base media files (MP4, QuickTime, HEIF, AVIF) told apart by their `ftyp` brands.

use crate::{
    Kind,
    read::{be_u32_at, has_at},
    sniff::{Detected, Sniffed},
};

/// Top-level atoms an older QuickTime file may start with, having no `ftyp`.
const QUICKTIME_ATOMS: [&[u8; 4]; 5] = [b"moov", b"mdat", b"wide", b"free", b"skip"];

/// `None` when the head is not an ISO base media file at all.
pub(super) fn sniff(head: &[u8]) -> Option<Sniffed> {
    if has_at(head, 4, b"ftyp") {
        return Some(from_file_type(head));
    }
    let atom = head.get(4..8)?;
    let size = be_u32_at(head, 0).ok()?;
    // 0 (to the end of the file) and 1 (a 64-bit size follows) are the only sizes below a header.
    let plausible_size = size <= 1 || size >= 8;
    (plausible_size && QUICKTIME_ATOMS.iter().any(|known| atom == known.as_slice()))
        .then_some(Sniffed::Accepted(Kind::Mov))
}

/// The major brand decides when it is known; otherwise the first known compatible brand does,
/// since cameras write their own major brands and list the standard ones as compatible.
fn from_file_type(head: &[u8]) -> Sniffed {
    let unknown = Sniffed::Refused(Detected::Unknown);
    let Ok(size) = be_u32_at(head, 0) else {
        return unknown;
    };
    // The box holds size, type, major brand and minor version, then the compatible brands.
    let Ok(size) = usize::try_from(size) else {
        return unknown;
    };
    if size < 16 {
        return unknown;
    }
    let Some(major) = head.get(8..12) else {
        return unknown;
    };
    let compatible = head.get(16..size.min(head.len())).unwrap_or_default();
    std::iter::once(major)
        .chain(compatible.chunks_exact(4))
        .find_map(brand)
        .unwrap_or(unknown)
}

fn brand(brand: &[u8]) -> Option<Sniffed> {
    let sniffed = match brand {
        b"qt  " => Sniffed::Accepted(Kind::Mov),
        b"isom" | b"iso2" | b"iso3" | b"iso4" | b"iso5" | b"iso6" | b"iso7" | b"iso8" | b"iso9"
        | b"mp41" | b"mp42" | b"avc1" | b"dash" | b"M4V " => Sniffed::Accepted(Kind::Mp4),
        b"M4A " | b"M4B " | b"M4P " => Sniffed::Refused(Detected::Audio),
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"hevm" | b"hevs" | b"mif1"
        | b"msf1" => Sniffed::Refused(Detected::Heic),
        b"avif" | b"avis" => Sniffed::Refused(Detected::Avif),
        _ => return None,
    };
    Some(sniffed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len();
        let mut out = u32::try_from(size).unwrap_or(0).to_be_bytes().to_vec();
        out.extend_from_slice(b"ftyp");
        out.extend_from_slice(major);
        out.extend_from_slice(&[0, 0, 2, 0]);
        for brand in compatible {
            out.extend_from_slice(*brand);
        }
        out
    }

    #[test]
    fn the_major_brand_wins() {
        let avif = ftyp(b"avif", &[b"mif1", b"miaf", b"isom"]);
        assert_eq!(sniff(&avif), Some(Sniffed::Refused(Detected::Avif)));
        let mov = ftyp(b"qt  ", &[b"qt  "]);
        assert_eq!(sniff(&mov), Some(Sniffed::Accepted(Kind::Mov)));
    }

    #[test]
    fn an_unknown_major_brand_falls_back_to_compatible_ones() {
        let camera = ftyp(b"XAVC", &[b"XAVC", b"mp42", b"iso2"]);
        assert_eq!(sniff(&camera), Some(Sniffed::Accepted(Kind::Mp4)));
        let nothing = ftyp(b"XAVC", &[b"abcd"]);
        assert_eq!(sniff(&nothing), Some(Sniffed::Refused(Detected::Unknown)));
    }

    #[test]
    fn compatible_brands_past_the_box_are_ignored() {
        let mut short = ftyp(b"XAVC", &[]);
        short.extend_from_slice(b"mp42");
        assert_eq!(sniff(&short), Some(Sniffed::Refused(Detected::Unknown)));
    }

    #[test]
    fn audio_is_not_video() {
        let m4a = ftyp(b"M4A ", &[b"M4A ", b"mp42", b"isom"]);
        assert_eq!(sniff(&m4a), Some(Sniffed::Refused(Detected::Audio)));
    }

    #[test]
    fn old_quicktime_atoms() {
        assert_eq!(
            sniff(b"\0\0\0\x08wide\0\0\0\x10mdat"),
            Some(Sniffed::Accepted(Kind::Mov))
        );
        assert_eq!(sniff(b"\0\0\0\x05wide"), None);
        assert_eq!(sniff(b"\0\0\0\x08trak"), None);
    }
}
