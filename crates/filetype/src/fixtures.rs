//! Minimal, structurally valid files of every accepted kind, built byte by byte (feature
//! `fixtures`, for tests of this crate and of the services that take uploads). They need not
//! decode to pixels; every length, size and checksum in them is right.

/// Appends a big-endian `u32`.
fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_be_bytes());
}

fn len_u32(bytes: &[u8]) -> u32 {
    u32::try_from(bytes.len()).unwrap_or(u32::MAX)
}

fn len_u16(bytes: &[u8]) -> u16 {
    u16::try_from(bytes.len()).unwrap_or(u16::MAX)
}

// ---- PNG -----------------------------------------------------------------------------------

pub const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// CRC-32 computed bit by bit, independently of the table-driven one under test.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_u32(&mut out, len_u32(data));
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut checked = kind.to_vec();
    checked.extend_from_slice(data);
    put_u32(&mut out, crc32(&checked));
    out
}

pub fn ihdr(width: u32, height: u32) -> Vec<u8> {
    let mut data = Vec::new();
    put_u32(&mut data, width);
    put_u32(&mut data, height);
    // 8-bit RGBA, deflate, adaptive filtering, not interlaced.
    data.extend_from_slice(&[8, 6, 0, 0, 0]);
    png_chunk(b"IHDR", &data)
}

/// The signature and IHDR: all a header check reads.
pub fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut out = PNG_SIGNATURE.to_vec();
    out.extend(ihdr(width, height));
    out
}

pub fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = png_header(width, height);
    out.extend(png_chunk(b"tEXt", b"Comment\0made by the tests"));
    out.extend(png_chunk(b"IDAT", &[0x78, 0x9C, 0x63, 0x60, 0x00, 0x00]));
    out.extend(png_chunk(b"IDAT", &[0x00, 0x01, 0x00, 0x01]));
    out.extend(png_chunk(b"IEND", &[]));
    out
}

// ---- JPEG ----------------------------------------------------------------------------------

/// A marker segment: FF, the marker, a length that counts itself, the payload.
pub fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0xFF, marker];
    out.extend_from_slice(&(len_u16(payload) + 2).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

pub fn jfif() -> Vec<u8> {
    segment(0xE0, b"JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00")
}

pub fn quantisation_table() -> Vec<u8> {
    let mut payload = vec![0x00];
    payload.extend_from_slice(&[1; 64]);
    segment(0xDB, &payload)
}

/// A frame header for three components (Y subsampled 2×2).
pub fn frame(marker: u8, width: u16, height: u16) -> Vec<u8> {
    let mut payload = vec![8];
    payload.extend_from_slice(&height.to_be_bytes());
    payload.extend_from_slice(&width.to_be_bytes());
    payload.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 0, 3, 0x11, 0]);
    segment(marker, &payload)
}

pub fn huffman_table() -> Vec<u8> {
    let mut payload = vec![0x00, 0, 1];
    payload.extend_from_slice(&[0; 14]);
    payload.push(0x00);
    segment(0xC4, &payload)
}

pub fn scan_header() -> Vec<u8> {
    segment(0xDA, &[3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0])
}

/// Entropy-coded bytes with a stuffed FF 00 (once right before D9, which must not end the
/// scan), restart markers and fill bytes.
pub const ENTROPY: &[u8] = &[
    0x12, 0x34, 0xFF, 0x00, 0xD9, 0x56, 0xFF, 0xD0, 0x78, 0xFF, 0x00, 0xFF, 0xD1, 0x9A, 0xBC,
];

/// The segments up to the frame header: all a dimensions check reads.
pub fn jpeg_header(width: u16, height: u16) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    out.extend(jfif());
    out.extend(quantisation_table());
    out.extend(frame(0xC0, width, height));
    out
}

pub fn jpeg_with_entropy(width: u16, height: u16, entropy: &[u8]) -> Vec<u8> {
    let mut out = jpeg_header(width, height);
    out.extend(huffman_table());
    out.extend(scan_header());
    out.extend_from_slice(entropy);
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

pub fn jpeg(width: u16, height: u16) -> Vec<u8> {
    jpeg_with_entropy(width, height, ENTROPY)
}

/// A progressive JPEG: several scans, with tables and fill bytes between them.
pub fn progressive_jpeg(width: u16, height: u16) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    out.extend(jfif());
    out.extend(quantisation_table());
    out.extend(frame(0xC2, width, height));
    for _ in 0..3 {
        out.extend(huffman_table());
        out.extend(scan_header());
        out.extend_from_slice(ENTROPY);
        out.push(0xFF);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

// ---- GIF -----------------------------------------------------------------------------------

pub fn gif(width: u16, height: u16) -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    // A global colour table of two entries.
    out.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF]);
    // Graphic control extension, then a comment.
    out.extend_from_slice(&[0x21, 0xF9, 0x04, 0x00, 0x0A, 0x00, 0x00, 0x00]);
    out.extend_from_slice(&[0x21, 0xFE, 0x03, b'h', b'i', b'!', 0x00]);
    // Image descriptor with a local colour table of two entries.
    out.push(0x2C);
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&[0x80, 1, 2, 3, 4, 5, 6]);
    // LZW minimum code size, two data sub-blocks, terminator.
    out.extend_from_slice(&[0x02, 0x02, 0x4C, 0x01, 0x01, 0x44, 0x00]);
    out.push(0x3B);
    out
}

// ---- WebP ----------------------------------------------------------------------------------

pub fn riff_chunk(fourcc: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = fourcc.to_vec();
    out.extend_from_slice(&len_u32(data).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
    out
}

pub fn webp(chunks: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = chunks.concat();
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(len_u32(&body) + 4).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend(body);
    out
}

pub fn vp8_chunk(width: u16, height: u16) -> Vec<u8> {
    // Frame tag with the key-frame bit (bit 0) clear, start code, sizes, then frame data.
    let mut data = vec![0x50, 0x02, 0x00, 0x9D, 0x01, 0x2A];
    data.extend_from_slice(&width.to_le_bytes());
    data.extend_from_slice(&height.to_le_bytes());
    data.extend_from_slice(&[0x11; 11]);
    riff_chunk(b"VP8 ", &data)
}

pub fn vp8l_chunk(width: u32, height: u32) -> Vec<u8> {
    let bits = (width - 1) | ((height - 1) << 14) | (1 << 28);
    let mut data = vec![0x2F];
    data.extend_from_slice(&bits.to_le_bytes());
    data.extend_from_slice(&[0x22; 6]);
    riff_chunk(b"VP8L", &data)
}

pub fn vp8x_chunk(width: u32, height: u32) -> Vec<u8> {
    let mut data = vec![0x10, 0, 0, 0];
    data.extend_from_slice(&(width - 1).to_le_bytes()[..3]);
    data.extend_from_slice(&(height - 1).to_le_bytes()[..3]);
    riff_chunk(b"VP8X", &data)
}

pub fn webp_lossy(width: u16, height: u16) -> Vec<u8> {
    webp(&[vp8_chunk(width, height)])
}

pub fn webp_lossless(width: u32, height: u32) -> Vec<u8> {
    webp(&[vp8l_chunk(width, height)])
}

pub fn webp_extended(width: u32, height: u32) -> Vec<u8> {
    webp(&[vp8x_chunk(width, height), vp8l_chunk(width, height)])
}

// ---- MP4 and QuickTime ---------------------------------------------------------------------

pub fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_u32(&mut out, len_u32(body) + 8);
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out
}

/// A box with a 64-bit size (size field 1).
pub fn large_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_u32(&mut out, 1);
    out.extend_from_slice(kind);
    out.extend_from_slice(&(body.len() as u64 + 16).to_be_bytes());
    out.extend_from_slice(body);
    out
}

pub fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
    let mut body = major.to_vec();
    body.extend_from_slice(&[0, 0, 2, 0]);
    for brand in compatible {
        body.extend_from_slice(*brand);
    }
    mp4_box(b"ftyp", &body)
}

/// The part of `mvhd` after the duration: rate, volume, reserved, matrix, predefined, next ID.
fn movie_header_tail() -> Vec<u8> {
    let mut tail = Vec::new();
    put_u32(&mut tail, 0x0001_0000);
    tail.extend_from_slice(&[0x01, 0x00]);
    tail.extend_from_slice(&[0; 10]);
    tail.extend(unity_matrix());
    tail.extend_from_slice(&[0; 24]);
    put_u32(&mut tail, 3);
    tail
}

fn unity_matrix() -> Vec<u8> {
    let mut matrix = Vec::new();
    for value in [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000u32] {
        put_u32(&mut matrix, value);
    }
    matrix
}

pub fn mvhd_v0(timescale: u32, duration: u32) -> Vec<u8> {
    let mut body = vec![0, 0, 0, 0];
    put_u32(&mut body, 3_700_000_000);
    put_u32(&mut body, 3_700_000_001);
    put_u32(&mut body, timescale);
    put_u32(&mut body, duration);
    body.extend(movie_header_tail());
    mp4_box(b"mvhd", &body)
}

pub fn mvhd_v1(timescale: u32, duration: u64) -> Vec<u8> {
    let mut body = vec![1, 0, 0, 0];
    body.extend_from_slice(&3_700_000_000u64.to_be_bytes());
    body.extend_from_slice(&3_700_000_001u64.to_be_bytes());
    put_u32(&mut body, timescale);
    body.extend_from_slice(&duration.to_be_bytes());
    body.extend(movie_header_tail());
    mp4_box(b"mvhd", &body)
}

/// `tkhd` in version 0 or 1, with the size in 16.16 fixed point.
pub fn tkhd(version: u8, width: u32, height: u32) -> Vec<u8> {
    let mut body = vec![version, 0, 0, 3];
    let times = if version == 1 { 8 } else { 4 };
    body.extend(std::iter::repeat_n(0x01, 2 * times));
    put_u32(&mut body, 1);
    put_u32(&mut body, 0);
    body.extend(std::iter::repeat_n(0x02, times));
    body.extend_from_slice(&[0; 8]);
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    body.extend(unity_matrix());
    put_u32(&mut body, (width << 16) | 0x8000);
    put_u32(&mut body, height << 16);
    mp4_box(b"tkhd", &body)
}

pub fn hdlr(handler: &[u8; 4]) -> Vec<u8> {
    let mut body = vec![0; 8];
    body.extend_from_slice(handler);
    body.extend_from_slice(&[0; 12]);
    body.extend_from_slice(b"Handler\0");
    mp4_box(b"hdlr", &body)
}

/// A visual sample description carrying its own width and height.
pub fn stsd(width: u16, height: u16) -> Vec<u8> {
    let mut entry = vec![0; 6];
    entry.extend_from_slice(&[0, 1]);
    entry.extend_from_slice(&[0; 16]);
    entry.extend_from_slice(&width.to_be_bytes());
    entry.extend_from_slice(&height.to_be_bytes());
    entry.extend_from_slice(&[0; 50]);
    let mut body = vec![0, 0, 0, 0, 0, 0, 0, 1];
    body.extend(mp4_box(b"avc1", &entry));
    mp4_box(b"stsd", &body)
}

pub fn trak(tkhd: Vec<u8>, handler: &[u8; 4]) -> Vec<u8> {
    let mut body = tkhd;
    body.extend(mp4_box(b"mdia", &hdlr(handler)));
    mp4_box(b"trak", &body)
}

pub fn moov(mvhd: Vec<u8>, traks: &[Vec<u8>]) -> Vec<u8> {
    let mut body = mvhd;
    for trak in traks {
        body.extend_from_slice(trak);
    }
    mp4_box(b"moov", &body)
}

pub fn mdat() -> Vec<u8> {
    mp4_box(b"mdat", &[0x00, 0x00, 0x00, 0x02, 0x09, 0x10, 0xAA, 0xBB])
}

pub fn audio_trak() -> Vec<u8> {
    trak(tkhd(0, 0, 0), b"soun")
}

/// An MP4 with a version 0 `mvhd`: an audio track, then a video track.
pub fn mp4(timescale: u32, duration: u32, width: u32, height: u32) -> Vec<u8> {
    let mut out = ftyp(b"isom", &[b"isom", b"iso2", b"avc1", b"mp41"]);
    out.extend(moov(
        mvhd_v0(timescale, duration),
        &[audio_trak(), trak(tkhd(0, width, height), b"vide")],
    ));
    out.extend(mdat());
    out
}

/// [`mp4`] (1280 × 720, 2.5 s) followed by `media_bytes` of sample data in a second `mdat`: a
/// file large enough to upload in parts, whose bytes differ all along.
pub fn mp4_with_samples(media_bytes: usize) -> Vec<u8> {
    let samples: Vec<u8> = (0..media_bytes).map(|i| (i * 31 % 251) as u8).collect();
    let mut out = mp4(1000, 2_500, 1280, 720);
    out.extend(mp4_box(b"mdat", &samples));
    out
}

/// An MP4 with version 1 `mvhd` and `tkhd`, the media data first.
pub fn mp4_v1(timescale: u32, duration: u64, width: u32, height: u32) -> Vec<u8> {
    let mut out = ftyp(b"mp42", &[b"mp42", b"isom"]);
    out.extend(mdat());
    out.extend(moov(
        mvhd_v1(timescale, duration),
        &[trak(tkhd(1, width, height), b"vide")],
    ));
    out
}

pub fn mov(timescale: u32, duration: u32, width: u32, height: u32) -> Vec<u8> {
    let mut out = ftyp(b"qt  ", &[b"qt  "]);
    out.extend(mp4_box(b"wide", &[]));
    out.extend(mdat());
    out.extend(moov(
        mvhd_v0(timescale, duration),
        &[trak(tkhd(0, width, height), b"vide")],
    ));
    out
}

/// An older QuickTime file without `ftyp`.
pub fn old_mov(width: u32, height: u32) -> Vec<u8> {
    let mut out = mp4_box(b"wide", &[]);
    out.extend(mdat());
    out.extend(moov(
        mvhd_v0(600, 6000),
        &[trak(tkhd(0, width, height), b"vide")],
    ));
    out
}

// ---- WebM ----------------------------------------------------------------------------------

/// An element ID as written: its big-endian bytes without leading zeros.
fn element_id(id: u32) -> Vec<u8> {
    let bytes = id.to_be_bytes();
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    bytes[zeros..].to_vec()
}

/// An element with the shortest size that fits (one byte below 127, eight bytes otherwise).
pub fn element(id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = element_id(id);
    if body.len() < 0x7F {
        out.push(0x80 | u8::try_from(body.len()).unwrap_or(0));
    } else {
        out.push(0x01);
        out.extend_from_slice(&(body.len() as u64).to_be_bytes()[1..]);
    }
    out.extend_from_slice(body);
    out
}

/// An element of unknown size: all value bits of an eight-byte size set.
pub fn unknown_size_element(id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = element_id(id);
    out.extend_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    out.extend_from_slice(body);
    out
}

pub fn uint_element(id: u32, value: u64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let zeros = bytes.iter().take_while(|&&b| b == 0).count().min(7);
    element(id, &bytes[zeros..])
}

pub fn ebml_header(doc_type: &str) -> Vec<u8> {
    let body = [
        uint_element(0x4286, 1),
        uint_element(0x42F7, 1),
        uint_element(0x42F2, 4),
        uint_element(0x42F3, 8),
        element(0x4282, doc_type.as_bytes()),
        uint_element(0x4287, 4),
        uint_element(0x4285, 2),
    ]
    .concat();
    element(0x1A45_DFA3, &body)
}

/// Info with the default TimecodeScale written out and an optional Duration (8-byte float).
pub fn info(duration: Option<f64>) -> Vec<u8> {
    let mut body = uint_element(0x2A_D7B1, 1_000_000);
    body.extend(element(0x4D80, b"df-filetype tests"));
    if let Some(duration) = duration {
        body.extend(element(0x4489, &duration.to_be_bytes()));
    }
    element(0x1549_A966, &body)
}

/// Tracks with an audio track, then a VP9 video track.
pub fn tracks(width: u64, height: u64) -> Vec<u8> {
    let audio = [
        uint_element(0xD7, 1),
        uint_element(0x83, 2),
        element(0x86, b"A_OPUS"),
    ]
    .concat();
    let video = [
        uint_element(0xD7, 2),
        uint_element(0x83, 1),
        element(0x86, b"V_VP9"),
        element(
            0xE0,
            &[uint_element(0xB0, width), uint_element(0xBA, height)].concat(),
        ),
    ]
    .concat();
    element(
        0x1654_AE6B,
        &[element(0xAE, &audio), element(0xAE, &video)].concat(),
    )
}

pub fn cluster() -> Vec<u8> {
    let body = [
        uint_element(0xE7, 0),
        element(0xA3, &[0x82, 0x00, 0x00, 0x80, 0x12, 0x34]),
    ]
    .concat();
    element(0x1F43_B675, &body)
}

/// The children of a typical Segment: a Void, Info, Tracks and one Cluster.
pub fn segment_children(duration: Option<f64>, width: u64, height: u64) -> Vec<u8> {
    [
        element(0xEC, &[0; 6]),
        info(duration),
        tracks(width, height),
        cluster(),
    ]
    .concat()
}

pub fn webm(duration: Option<f64>, width: u64, height: u64) -> Vec<u8> {
    let mut out = ebml_header("webm");
    out.extend(element(
        0x1853_8067,
        &segment_children(duration, width, height),
    ));
    out
}

/// A live recording: the Segment's size is unknown.
pub fn live_webm(width: u64, height: u64) -> Vec<u8> {
    let mut out = ebml_header("webm");
    out.extend(unknown_size_element(
        0x1853_8067,
        &segment_children(None, width, height),
    ));
    out
}
