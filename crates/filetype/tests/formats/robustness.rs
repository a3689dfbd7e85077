//! Arbitrary and damaged input must be refused, never crash or hang a parser.

use std::io::Cursor;

use df_filetype::{
    Family, Kind, Malformed, SNIFF_LEN, image_dimensions, image_end, sniff, video_info,
};

use df_filetype::fixtures;

/// xorshift64: small, fast and reproducible, which is all these inputs need.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number below `bound` (which must not be 0).
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }
}

/// Runs every parser over `bytes` as every kind, checking what an `Ok` promises.
fn exercise(bytes: &[u8]) {
    let sniffed = sniff(bytes);
    assert_eq!(sniffed, sniff(bytes.get(..SNIFF_LEN).unwrap_or(bytes)));
    for kind in Kind::ALL {
        match kind.family() {
            Family::Image => {
                if let Ok(dimensions) = image_dimensions(kind, bytes) {
                    assert!(dimensions.width > 0 && dimensions.height > 0);
                }
                if let Ok(end) = image_end(kind, bytes) {
                    assert!(
                        end <= bytes.len(),
                        "{kind:?} ends at {end} of {}",
                        bytes.len()
                    );
                }
            }
            Family::Video => {
                let result = video_info(kind, &mut Cursor::new(bytes), bytes.len() as u64);
                if let Ok(info) = result {
                    assert!(info.width > 0 && info.height > 0);
                    assert_eq!(info.kind, kind);
                }
                assert!(!matches!(result, Err(Malformed::Unreadable(_))));
            }
        }
    }
}

/// Signatures that lead the parsers past their first check, so random input reaches deeper.
const PREFIXES: &[&[u8]] = &[
    b"",
    &[0xFF, 0xD8, 0xFF],
    &[
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
    ],
    b"GIF89a",
    b"RIFF\x00\x01\x00\x00WEBPVP8 ",
    b"RIFF\x00\x01\x00\x00WEBPVP8L",
    b"RIFF\x00\x01\x00\x00WEBPVP8X",
    b"\x00\x00\x00\x18ftypisom",
    b"\x00\x00\x00\x08wide",
    &[0x1A, 0x45, 0xDF, 0xA3],
    b"\xEF\xBB\xBF <?xml ",
    b"<!-- ",
];

#[test]
fn random_bytes_never_crash_a_parser() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let prefix = PREFIXES[rng.below(PREFIXES.len())];
        let mut bytes = prefix.to_vec();
        let len = rng.below(600);
        bytes.extend((0..len).map(|_| rng.byte()));
        exercise(&bytes);
    }
}

#[test]
fn damaged_fixtures_never_crash_a_parser() {
    let files = [
        fixtures::jpeg(64, 48),
        fixtures::progressive_jpeg(64, 48),
        fixtures::png(64, 48),
        fixtures::gif(64, 48),
        fixtures::webp_lossy(64, 48),
        fixtures::webp_lossless(64, 48),
        fixtures::webp_extended(64, 48),
        fixtures::mp4(1000, 5000, 640, 360),
        fixtures::mp4_v1(90_000, 1 << 40, 640, 360),
        fixtures::mov(600, 6000, 640, 360),
        fixtures::old_mov(640, 360),
        fixtures::webm(Some(1000.0), 640, 360),
        fixtures::live_webm(640, 360),
    ];
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for file in &files {
        exercise(file);
        for _ in 0..600 {
            let mut damaged = file.clone();
            for _ in 0..=rng.below(4) {
                let at = rng.below(damaged.len());
                damaged[at] = match rng.below(4) {
                    0 => 0x00,
                    1 => 0xFF,
                    _ => rng.byte(),
                };
            }
            if rng.below(3) == 0 {
                damaged.truncate(rng.below(damaged.len() + 1));
            }
            exercise(&damaged);
        }
        // Every prefix, so that each field is cut at each of its bytes.
        for cut in 0..file.len() {
            exercise(&file[..cut]);
        }
    }
}
