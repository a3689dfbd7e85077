use df_filetype::{Dimensions, Kind, Malformed, image_dimensions, image_end};

use df_filetype::fixtures;

fn size(width: u32, height: u32) -> Result<Dimensions, Malformed> {
    Ok(Dimensions { width, height })
}

fn is_invalid<T>(result: Result<T, Malformed>) -> bool {
    matches!(result, Err(Malformed::Invalid(_)))
}

#[test]
fn dimensions_of_every_image_kind() {
    assert_eq!(
        image_dimensions(Kind::Jpeg, &fixtures::jpeg(640, 480)),
        size(640, 480)
    );
    assert_eq!(
        image_dimensions(Kind::Jpeg, &fixtures::progressive_jpeg(17, 9)),
        size(17, 9)
    );
    assert_eq!(
        image_dimensions(Kind::Png, &fixtures::png(300, 200)),
        size(300, 200)
    );
    assert_eq!(
        image_dimensions(Kind::Gif, &fixtures::gif(320, 240)),
        size(320, 240)
    );
    assert_eq!(
        image_dimensions(Kind::Webp, &fixtures::webp_lossy(1024, 768)),
        size(1024, 768)
    );
    assert_eq!(
        image_dimensions(Kind::Webp, &fixtures::webp_lossless(16384, 1)),
        size(16384, 1)
    );
    assert_eq!(
        image_dimensions(Kind::Webp, &fixtures::webp_extended(20_000, 3)),
        size(20_000, 3)
    );
}

#[test]
fn whole_images_end_at_their_length() {
    let files = [
        (Kind::Jpeg, fixtures::jpeg(8, 8)),
        (Kind::Jpeg, fixtures::progressive_jpeg(8, 8)),
        (Kind::Png, fixtures::png(8, 8)),
        (Kind::Gif, fixtures::gif(8, 8)),
        (Kind::Webp, fixtures::webp_lossy(8, 8)),
        (Kind::Webp, fixtures::webp_lossless(8, 8)),
        (Kind::Webp, fixtures::webp_extended(8, 8)),
    ];
    for (kind, file) in files {
        assert_eq!(image_end(kind, &file), Ok(file.len()), "{kind:?}");
    }
}

#[test]
fn bombs_are_measured_from_the_header_alone() {
    // Headers of a 50,000 × 50,000 image; nothing in them is proportional to the pixels.
    let png = fixtures::png_header(50_000, 50_000);
    assert!(png.len() < 64);
    let dimensions = image_dimensions(Kind::Png, &png);
    assert_eq!(dimensions.map(Dimensions::pixels), Ok(2_500_000_000));

    let jpeg = fixtures::jpeg_header(50_000, 50_000);
    assert!(jpeg.len() < 256);
    let dimensions = image_dimensions(Kind::Jpeg, &jpeg);
    assert_eq!(dimensions.map(Dimensions::pixels), Ok(2_500_000_000));

    let gif = fixtures::gif(65_535, 65_535);
    assert_eq!(
        image_dimensions(Kind::Gif, &gif).map(Dimensions::pixels),
        Ok(65_535 * 65_535)
    );
    let webp = fixtures::webp_extended(65_536, 65_535);
    assert_eq!(
        image_dimensions(Kind::Webp, &webp).map(Dimensions::pixels),
        Ok(65_536 * 65_535)
    );
}

#[test]
fn appended_payloads_show_after_the_end() {
    let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00payload.shPK\x05\x06\x00\x00\x00\x00";
    let files = [
        (Kind::Jpeg, fixtures::jpeg(8, 8)),
        (Kind::Png, fixtures::png(8, 8)),
        (Kind::Gif, fixtures::gif(8, 8)),
        (Kind::Webp, fixtures::webp_lossy(8, 8)),
    ];
    for (kind, image) in files {
        let mut polyglot = image.clone();
        polyglot.extend_from_slice(zip);
        assert_eq!(image_end(kind, &polyglot), Ok(image.len()), "{kind:?}");
        assert!(image.len() < polyglot.len());
    }
}

#[test]
fn a_second_jpeg_after_the_first_is_an_appended_payload() {
    let first = fixtures::jpeg(8, 8);
    let mut both = first.clone();
    both.extend(fixtures::jpeg(8, 8));
    assert_eq!(image_end(Kind::Jpeg, &both), Ok(first.len()));
}

#[test]
fn jpeg_entropy_data_with_stuffing_and_restarts() {
    // FF 00 followed by D9 is a stuffed byte and then data, not an end of image.
    let entropy = [
        0xFF, 0x00, 0xD9, 0xFF, 0xD0, 0xFF, 0x00, 0xFF, 0xD7, 0x01, 0xFF, 0xFF,
    ];
    let file = fixtures::jpeg_with_entropy(8, 8, &entropy);
    assert_eq!(image_end(Kind::Jpeg, &file), Ok(file.len()));
    let mut polyglot = file.clone();
    polyglot.extend_from_slice(b"<?php system($_GET['c']); ?>");
    assert_eq!(image_end(Kind::Jpeg, &polyglot), Ok(file.len()));
}

#[test]
fn an_embedded_thumbnail_does_not_end_the_image() {
    // Exif carries a whole JPEG, EOI included, inside an APP1 segment.
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend(fixtures::jpeg(2, 2));
    let mut file = vec![0xFF, 0xD8];
    file.extend(fixtures::segment(0xE1, &exif));
    file.extend_from_slice(&fixtures::jpeg(8, 8)[2..]);
    assert_eq!(image_dimensions(Kind::Jpeg, &file), size(8, 8));
    assert_eq!(image_end(Kind::Jpeg, &file), Ok(file.len()));
}

#[test]
fn jpeg_fill_bytes_and_standalone_markers_between_segments() {
    let mut file = vec![0xFF, 0xD8, 0xFF, 0xFF];
    file.extend(fixtures::jfif());
    file.extend_from_slice(&[0xFF, 0x01]);
    file.extend(fixtures::frame(0xC1, 33, 44));
    file.extend(fixtures::huffman_table());
    file.extend(fixtures::scan_header());
    file.extend_from_slice(&[0x01, 0x02, 0xFF, 0xFF, 0xFF, 0xD9]);
    assert_eq!(image_dimensions(Kind::Jpeg, &file), size(33, 44));
    assert_eq!(image_end(Kind::Jpeg, &file), Ok(file.len()));
}

#[test]
fn broken_jpegs() {
    assert!(is_invalid(image_dimensions(
        Kind::Jpeg,
        &fixtures::jpeg(0, 8)
    )));
    assert!(is_invalid(image_dimensions(
        Kind::Jpeg,
        &fixtures::jpeg(8, 0)
    )));
    assert!(is_invalid(image_dimensions(
        Kind::Jpeg,
        b"\x89PNG\r\n\x1a\n"
    )));
    // A scan before any frame header.
    let mut scan_first = vec![0xFF, 0xD8];
    scan_first.extend(fixtures::scan_header());
    scan_first.extend_from_slice(&[0x00, 0xFF, 0xD9]);
    assert!(is_invalid(image_dimensions(Kind::Jpeg, &scan_first)));
    assert!(is_invalid(image_end(Kind::Jpeg, &scan_first)));
    // A segment length below 2 would not advance the walk.
    assert!(is_invalid(image_end(
        Kind::Jpeg,
        &[0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x01]
    )));
    // Garbage where a marker belongs.
    let mut garbage = fixtures::jpeg_header(8, 8);
    garbage.extend_from_slice(b"garbage");
    assert!(is_invalid(image_end(Kind::Jpeg, &garbage)));
}

#[test]
fn truncated_jpegs() {
    let file = fixtures::jpeg(8, 8);
    // Cut inside the entropy data, inside a segment, and right after SOI.
    for cut in [file.len() - 1, file.len() - 3, 30, 2, 1] {
        assert_eq!(
            image_end(Kind::Jpeg, &file[..cut]),
            Err(Malformed::Truncated),
            "{cut}"
        );
    }
    let header = fixtures::jpeg_header(8, 8);
    assert_eq!(
        image_dimensions(Kind::Jpeg, &header[..header.len() - 2]),
        Err(Malformed::Truncated)
    );
}

#[test]
fn broken_pngs() {
    assert!(is_invalid(image_dimensions(
        Kind::Png,
        &fixtures::png(0, 1)
    )));
    assert!(is_invalid(image_dimensions(
        Kind::Png,
        &fixtures::png(1 << 31, 1)
    )));

    // IHDR must come first.
    let mut late_header = fixtures::PNG_SIGNATURE.to_vec();
    late_header.extend(fixtures::png_chunk(b"tEXt", b"a\0b"));
    late_header.extend(fixtures::ihdr(1, 1));
    assert!(is_invalid(image_dimensions(Kind::Png, &late_header)));

    // A corrupted checksum.
    let mut bad_crc = fixtures::png(2, 2);
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 1;
    assert!(is_invalid(image_end(Kind::Png, &bad_crc)));

    // IHDR of the wrong length.
    let mut long_header = fixtures::PNG_SIGNATURE.to_vec();
    long_header.extend(fixtures::png_chunk(
        b"IHDR",
        &[0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0],
    ));
    assert!(is_invalid(image_dimensions(Kind::Png, &long_header)));

    // No image data before IEND.
    let mut empty = fixtures::png_header(1, 1);
    empty.extend(fixtures::png_chunk(b"IEND", &[]));
    assert!(is_invalid(image_end(Kind::Png, &empty)));

    // A chunk length beyond 2^31 - 1.
    let mut huge = fixtures::png_header(1, 1);
    huge.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xF0, b'I', b'D', b'A', b'T']);
    assert!(is_invalid(image_end(Kind::Png, &huge)));
}

#[test]
fn truncated_pngs() {
    let file = fixtures::png(8, 8);
    for cut in [file.len() - 1, file.len() - 12, 40, 33] {
        assert_eq!(
            image_end(Kind::Png, &file[..cut]),
            Err(Malformed::Truncated),
            "{cut}"
        );
    }
    for cut in [32, 20, 8, 3] {
        assert_eq!(
            image_dimensions(Kind::Png, &file[..cut]),
            Err(Malformed::Truncated),
            "{cut}"
        );
    }
    // A chunk claiming far more bytes than there are.
    let mut claims_more = fixtures::png_header(1, 1);
    claims_more.extend_from_slice(&[0x7F, 0xFF, 0xFF, 0xFF, b'I', b'D', b'A', b'T', 1, 2, 3]);
    assert_eq!(
        image_end(Kind::Png, &claims_more),
        Err(Malformed::Truncated)
    );
}

#[test]
fn broken_and_truncated_gifs() {
    assert!(is_invalid(image_dimensions(
        Kind::Gif,
        &fixtures::gif(0, 5)
    )));
    assert!(is_invalid(image_dimensions(
        Kind::Gif,
        b"GIF90a\x01\x00\x01\x00\x00\x00\x00"
    )));
    let file = fixtures::gif(8, 8);
    for cut in [file.len() - 1, file.len() - 4, 30, 13, 5] {
        assert_eq!(
            image_end(Kind::Gif, &file[..cut]),
            Err(Malformed::Truncated),
            "{cut}"
        );
    }
    assert_eq!(
        image_dimensions(Kind::Gif, &file[..9]),
        Err(Malformed::Truncated)
    );
    // An unknown block type where a block belongs.
    let mut unknown_block = file[..file.len() - 1].to_vec();
    unknown_block.push(0x99);
    assert!(is_invalid(image_end(Kind::Gif, &unknown_block)));
    // Only a header and a trailer.
    assert!(is_invalid(image_end(
        Kind::Gif,
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00\x3B"
    )));
}

#[test]
fn broken_and_truncated_webps() {
    // A VP8 frame that is not a key frame.
    let mut inter_frame = fixtures::webp_lossy(8, 8);
    inter_frame[20] |= 1;
    assert!(is_invalid(image_dimensions(Kind::Webp, &inter_frame)));
    // A VP8L header with a version other than 0.
    let mut versioned = fixtures::webp_lossless(8, 8);
    versioned[24] |= 0x20;
    assert!(is_invalid(image_dimensions(Kind::Webp, &versioned)));
    // Another RIFF format.
    assert!(is_invalid(image_dimensions(
        Kind::Webp,
        b"RIFF\x04\x00\x00\x00WAVE"
    )));
    // A first chunk that is not a bitstream.
    let other_first = fixtures::webp(&[fixtures::riff_chunk(b"EXIF", b"xx")]);
    assert!(is_invalid(image_dimensions(Kind::Webp, &other_first)));
    assert!(is_invalid(image_end(Kind::Webp, &other_first)));
    // A chunk running past the RIFF size.
    let mut overlong = fixtures::webp_lossy(8, 8);
    overlong[16] = 0xF0;
    assert!(is_invalid(image_end(Kind::Webp, &overlong)));

    let file = fixtures::webp_extended(8, 8);
    for cut in [file.len() - 1, 20, 11, 4] {
        assert_eq!(
            image_end(Kind::Webp, &file[..cut]),
            Err(Malformed::Truncated),
            "{cut}"
        );
    }
    assert_eq!(
        image_dimensions(Kind::Webp, &file[..26]),
        Err(Malformed::Truncated)
    );
}
