use df_filetype::{Detected, Kind, SNIFF_LEN, Sniffed, sniff};

use df_filetype::fixtures;

fn refused(head: &[u8]) -> Option<Detected> {
    match sniff(head) {
        Sniffed::Refused(detected) => Some(detected),
        Sniffed::Accepted(_) => None,
    }
}

#[test]
fn every_accepted_kind_is_sniffed() {
    let files = [
        (Kind::Jpeg, fixtures::jpeg(4, 3)),
        (Kind::Jpeg, fixtures::progressive_jpeg(4, 3)),
        (Kind::Png, fixtures::png(4, 3)),
        (Kind::Gif, fixtures::gif(4, 3)),
        (Kind::Webp, fixtures::webp_lossy(4, 3)),
        (Kind::Webp, fixtures::webp_lossless(4, 3)),
        (Kind::Webp, fixtures::webp_extended(4, 3)),
        (Kind::Mp4, fixtures::mp4(1000, 5000, 640, 360)),
        (Kind::Mp4, fixtures::mp4_v1(1000, 5000, 640, 360)),
        (Kind::Mov, fixtures::mov(600, 6000, 640, 360)),
        (Kind::Mov, fixtures::old_mov(640, 360)),
        (Kind::Webm, fixtures::webm(Some(1000.0), 640, 360)),
        (Kind::Webm, fixtures::live_webm(640, 360)),
    ];
    for (kind, file) in files {
        assert_eq!(sniff(&file), Sniffed::Accepted(kind), "{kind:?}");
        assert_eq!(sniff(&file).accepted(), Some(kind));
    }
}

#[test]
fn gif87a_and_other_mp4_brands() {
    assert_eq!(
        sniff(b"GIF87a\x01\x00\x01\x00"),
        Sniffed::Accepted(Kind::Gif)
    );
    for brand in [b"iso5", b"mp41", b"avc1", b"dash", b"M4V "] {
        let file = fixtures::ftyp(brand, &[]);
        assert_eq!(sniff(&file), Sniffed::Accepted(Kind::Mp4), "{brand:?}");
    }
}

#[test]
fn archives_are_refused() {
    let mut tar = b"notes.txt".to_vec();
    tar.resize(257, 0);
    tar.extend_from_slice(b"ustar\x0000");
    tar.resize(512, 0);
    let cases: [(&[u8], Detected); 9] = [
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", Detected::Zip),
        (b"PK\x05\x06\x00\x00", Detected::Zip),
        (b"\x1F\x8B\x08\x00\x00\x00\x00\x00", Detected::Gzip),
        (b"BZh91AY&SY", Detected::Bzip2),
        (b"\xFD7zXZ\x00\x00\x04", Detected::Xz),
        (b"7z\xBC\xAF\x27\x1C\x00\x04", Detected::SevenZip),
        (b"Rar!\x1A\x07\x00\xCF\x90", Detected::Rar),
        (b"Rar!\x1A\x07\x01\x00\x33", Detected::Rar),
        (&tar, Detected::Tar),
    ];
    for (head, detected) in cases {
        assert_eq!(refused(head), Some(detected), "{head:?}");
    }
    assert_eq!(refused(b"\x28\xB5\x2F\xFD\x00"), Some(Detected::Zstd));
}

#[test]
fn a_tar_header_wins_over_an_image_signature() {
    let mut polyglot = fixtures::jpeg(4, 3);
    polyglot.resize(257, 0);
    polyglot.extend_from_slice(b"ustar  \0");
    assert_eq!(refused(&polyglot), Some(Detected::Tar));
}

#[test]
fn documents_are_refused() {
    assert_eq!(refused(b"%PDF-1.7\n%\xE2\xE3"), Some(Detected::Pdf));
    assert_eq!(
        refused(b"\xEF\xBB\xBF  \n\t<!DoCtYpE hTmL>\n<html><body>"),
        Some(Detected::Html)
    );
    assert_eq!(refused(b"\r\n   <HtMl lang=en>"), Some(Detected::Html));
    assert_eq!(
        refused(b"<script>fetch('/api')</script>"),
        Some(Detected::Html)
    );
    assert_eq!(
        refused(b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>"),
        Some(Detected::Svg)
    );
    assert_eq!(
        refused(b"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Svg onload=\"x()\">"),
        Some(Detected::Svg)
    );
    assert_eq!(
        refused(b"<?xml version=\"1.0\"?><note><to>you</to></note>"),
        Some(Detected::Xml)
    );
}

#[test]
fn executables_are_refused() {
    let cases: [(&[u8], Detected); 10] = [
        (b"\x7FELF\x02\x01\x01\x00", Detected::Elf),
        (b"MZ\x90\x00\x03\x00\x00\x00", Detected::WindowsExecutable),
        (b"\xFE\xED\xFA\xCE\x00\x00\x00\x07", Detected::MachO),
        (b"\xFE\xED\xFA\xCF\x01\x00\x00\x07", Detected::MachO),
        (b"\xCE\xFA\xED\xFE\x07\x00\x00\x00", Detected::MachO),
        (b"\xCF\xFA\xED\xFE\x07\x00\x00\x01", Detected::MachO),
        (b"\xCA\xFE\xBA\xBE\x00\x00\x00\x02", Detected::MachO),
        (b"\xCA\xFE\xBA\xBF\x00\x00\x00\x02", Detected::MachO),
        (b"#!/bin/sh\nrm -rf /\n", Detected::Script),
        (b"\0asm\x01\x00\x00\x00", Detected::Wasm),
    ];
    for (head, detected) in cases {
        assert_eq!(refused(head), Some(detected), "{head:?}");
    }
}

#[test]
fn images_and_audio_the_platform_does_not_take_are_refused() {
    let heic = fixtures::ftyp(b"heic", &[b"mif1", b"heic"]);
    assert_eq!(refused(&heic), Some(Detected::Heic));
    let heif = fixtures::ftyp(b"mif1", &[b"mif1", b"heic"]);
    assert_eq!(refused(&heif), Some(Detected::Heic));
    let avif = fixtures::ftyp(b"avif", &[b"avif", b"mif1", b"miaf", b"MA1B"]);
    assert_eq!(refused(&avif), Some(Detected::Avif));
    let m4a = fixtures::ftyp(b"M4A ", &[b"M4A ", b"mp42", b"isom"]);
    assert_eq!(refused(&m4a), Some(Detected::Audio));
    let unknown_brand = fixtures::ftyp(b"zzzz", &[b"yyyy"]);
    assert_eq!(refused(&unknown_brand), Some(Detected::Unknown));
}

#[test]
fn matroska_is_not_webm() {
    let mut mkv = fixtures::ebml_header("matroska");
    mkv.extend(fixtures::element(
        0x1853_8067,
        &fixtures::segment_children(None, 4, 3),
    ));
    assert_eq!(refused(&mkv), Some(Detected::Matroska));
    let other = fixtures::ebml_header("other");
    assert_eq!(refused(&other), Some(Detected::Unknown));
}

#[test]
fn empty_and_random_inputs() {
    assert_eq!(refused(b""), Some(Detected::Empty));
    assert_eq!(refused(b"\x00"), Some(Detected::Unknown));
    assert_eq!(refused(b"hello, world"), Some(Detected::Unknown));
    assert_eq!(
        refused(b"\x13\x9a\x44\x01\xfe\x77\x00\x10\x88\xc3\x52\x9e"),
        Some(Detected::Unknown)
    );
    // Signatures cut short are not recognised.
    assert_eq!(refused(b"\xFF\xD8"), Some(Detected::Unknown));
    assert_eq!(refused(b"GIF89"), Some(Detected::Unknown));
    assert_eq!(
        refused(b"RIFF\x10\x00\x00\x00WAVEfmt "),
        Some(Detected::Unknown)
    );
}

#[test]
fn signatures_must_be_at_the_start() {
    let mut late = vec![0u8; 16];
    late.extend(fixtures::png(1, 1));
    assert_eq!(refused(&late), Some(Detected::Unknown));
    let mut padded_pdf = b"   ".to_vec();
    padded_pdf.extend_from_slice(b"%PDF-1.4");
    assert_eq!(refused(&padded_pdf), Some(Detected::Unknown));
}

#[test]
fn the_verdict_depends_on_the_first_sniff_len_bytes_only() {
    let mut long = fixtures::png(1, 1);
    long.resize(SNIFF_LEN * 3, 0xAB);
    assert_eq!(sniff(&long), sniff(&long[..SNIFF_LEN]));
}

#[test]
fn every_detected_has_a_name() {
    let all = [
        Detected::Empty,
        Detected::Zip,
        Detected::Gzip,
        Detected::Bzip2,
        Detected::Xz,
        Detected::Zstd,
        Detected::SevenZip,
        Detected::Rar,
        Detected::Tar,
        Detected::Pdf,
        Detected::Html,
        Detected::Svg,
        Detected::Xml,
        Detected::Elf,
        Detected::WindowsExecutable,
        Detected::MachO,
        Detected::JavaClass,
        Detected::Wasm,
        Detected::CompoundFile,
        Detected::Script,
        Detected::Heic,
        Detected::Avif,
        Detected::Audio,
        Detected::Matroska,
        Detected::Unknown,
    ];
    let mut names: Vec<_> = all.iter().map(|detected| detected.name()).collect();
    assert!(names.iter().all(|name| !name.is_empty()));
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len());
}
