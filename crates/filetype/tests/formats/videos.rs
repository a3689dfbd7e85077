use std::io::{self, Cursor, Read, Seek, SeekFrom};

use df_filetype::{Kind, Malformed, VideoInfo, video_info};

use df_filetype::fixtures;

fn info_of(kind: Kind, file: &[u8]) -> Result<VideoInfo, Malformed> {
    video_info(kind, &mut Cursor::new(file), file.len() as u64)
}

fn video(kind: Kind, duration_ms: u64, width: u32, height: u32) -> Result<VideoInfo, Malformed> {
    Ok(VideoInfo {
        kind,
        duration_ms,
        width,
        height,
    })
}

fn is_invalid<T>(result: Result<T, Malformed>) -> bool {
    matches!(result, Err(Malformed::Invalid(_)))
}

#[test]
fn mp4_with_a_version_0_movie_header() {
    let file = fixtures::mp4(1000, 12_345, 1920, 1080);
    assert_eq!(
        info_of(Kind::Mp4, &file),
        video(Kind::Mp4, 12_345, 1920, 1080)
    );
}

#[test]
fn mp4_with_a_version_1_movie_header() {
    // Fourteen hours at 90 kHz does not fit in 32 bits.
    let duration = 90_000u64 * 3600 * 14;
    assert!(duration > u64::from(u32::MAX));
    let file = fixtures::mp4_v1(90_000, duration, 3840, 2160);
    assert_eq!(
        info_of(Kind::Mp4, &file),
        video(Kind::Mp4, 50_400_000, 3840, 2160)
    );
}

#[test]
fn quicktime_files() {
    let file = fixtures::mov(600, 9_000, 1280, 720);
    assert_eq!(
        info_of(Kind::Mov, &file),
        video(Kind::Mov, 15_000, 1280, 720)
    );
    let old = fixtures::old_mov(320, 240);
    assert_eq!(info_of(Kind::Mov, &old), video(Kind::Mov, 10_000, 320, 240));
}

#[test]
fn mp4_needs_exactly_one_moov() {
    let mut no_moov = fixtures::ftyp(b"isom", &[]);
    no_moov.extend(fixtures::mdat());
    assert_eq!(
        info_of(Kind::Mp4, &no_moov),
        Err(Malformed::Invalid("no moov box"))
    );

    let mut two_moovs = fixtures::mp4(1000, 1000, 8, 8);
    two_moovs.extend(fixtures::moov(
        fixtures::mvhd_v0(1000, 1000),
        &[fixtures::trak(fixtures::tkhd(0, 8, 8), b"vide")],
    ));
    assert_eq!(
        info_of(Kind::Mp4, &two_moovs),
        Err(Malformed::Invalid("more than one moov"))
    );
}

#[test]
fn mp4_needs_media_data() {
    let mut file = fixtures::ftyp(b"isom", &[]);
    file.extend(fixtures::moov(
        fixtures::mvhd_v0(1000, 1000),
        &[fixtures::trak(fixtures::tkhd(0, 8, 8), b"vide")],
    ));
    assert_eq!(
        info_of(Kind::Mp4, &file),
        Err(Malformed::Invalid("no mdat box"))
    );
}

#[test]
fn mp4_must_start_with_ftyp() {
    let file = fixtures::old_mov(8, 8);
    assert!(is_invalid(info_of(Kind::Mp4, &file)));
}

#[test]
fn boxes_overflowing_the_file_are_truncated() {
    let mut file = fixtures::mp4(1000, 1000, 8, 8);
    // An mdat claiming a gigabyte.
    file.extend_from_slice(&[0x40, 0x00, 0x00, 0x00, b'm', b'd', b'a', b't', 1, 2, 3]);
    assert_eq!(info_of(Kind::Mp4, &file), Err(Malformed::Truncated));

    // The same with a 64-bit size.
    let mut large = fixtures::mp4(1000, 1000, 8, 8);
    large.extend_from_slice(&[0, 0, 0, 1, b'm', b'd', b'a', b't']);
    large.extend_from_slice(&u64::MAX.to_be_bytes());
    assert_eq!(info_of(Kind::Mp4, &large), Err(Malformed::Truncated));

    // A few bytes too few for a box header.
    let mut tail = fixtures::mp4(1000, 1000, 8, 8);
    tail.extend_from_slice(&[0, 0, 0]);
    assert_eq!(info_of(Kind::Mp4, &tail), Err(Malformed::Truncated));
}

#[test]
fn truncated_mp4s() {
    let file = fixtures::mp4(1000, 1000, 8, 8);
    for cut in [file.len() - 1, file.len() / 2, 40, 7] {
        assert_eq!(
            info_of(Kind::Mp4, &file[..cut]),
            Err(Malformed::Truncated),
            "{cut}"
        );
    }
    // A reader holding fewer bytes than the length it was given, the moov last.
    let file = fixtures::mp4_v1(1000, 1000, 8, 8);
    let mut short = Cursor::new(&file[..file.len() - 5]);
    let info = video_info(Kind::Mp4, &mut short, file.len() as u64);
    assert_eq!(info, Err(Malformed::Truncated));
}

#[test]
fn box_sizes_zero_and_one() {
    // The last box runs to the end of the file (size 0); another has a 64-bit size.
    let mut file = fixtures::ftyp(b"isom", &[b"isom"]);
    file.extend(fixtures::large_box(b"free", &[0; 4]));
    file.extend(fixtures::moov(
        fixtures::mvhd_v0(1000, 2000),
        &[fixtures::trak(fixtures::tkhd(0, 8, 6), b"vide")],
    ));
    file.extend_from_slice(&[0, 0, 0, 0, b'm', b'd', b'a', b't', 1, 2, 3, 4, 5]);
    assert_eq!(info_of(Kind::Mp4, &file), video(Kind::Mp4, 2000, 8, 6));

    // A box smaller than its own header would never advance.
    let mut tiny = fixtures::ftyp(b"isom", &[]);
    tiny.extend_from_slice(&[0, 0, 0, 4, b'f', b'r', b'e', b'e']);
    assert!(is_invalid(info_of(Kind::Mp4, &tiny)));
}

#[test]
fn the_video_track_is_found_among_others() {
    let mut file = fixtures::ftyp(b"isom", &[]);
    file.extend(fixtures::moov(
        fixtures::mvhd_v0(1000, 1000),
        &[
            fixtures::audio_trak(),
            // Subtitles have a size too, but they are not the video.
            fixtures::trak(fixtures::tkhd(0, 1000, 100), b"sbtl"),
            fixtures::trak(fixtures::tkhd(0, 720, 1280), b"vide"),
        ],
    ));
    file.extend(fixtures::mdat());
    assert_eq!(info_of(Kind::Mp4, &file), video(Kind::Mp4, 1000, 720, 1280));
}

#[test]
fn a_video_track_without_a_size_in_tkhd_uses_its_sample_entry() {
    let mut trak_body = fixtures::tkhd(0, 0, 0);
    let stbl = fixtures::mp4_box(b"stbl", &fixtures::stsd(854, 480));
    let minf = fixtures::mp4_box(b"minf", &stbl);
    let mdia = [fixtures::hdlr(b"vide"), minf].concat();
    trak_body.extend(fixtures::mp4_box(b"mdia", &mdia));
    let mut file = fixtures::ftyp(b"isom", &[]);
    file.extend(fixtures::moov(
        fixtures::mvhd_v0(1000, 1000),
        &[fixtures::mp4_box(b"trak", &trak_body)],
    ));
    file.extend(fixtures::mdat());
    assert_eq!(info_of(Kind::Mp4, &file), video(Kind::Mp4, 1000, 854, 480));
}

#[test]
fn audio_only_mp4_has_no_video_track() {
    let mut file = fixtures::ftyp(b"isom", &[]);
    file.extend(fixtures::moov(
        fixtures::mvhd_v0(44_100, 44_100),
        &[fixtures::audio_trak()],
    ));
    file.extend(fixtures::mdat());
    assert_eq!(
        info_of(Kind::Mp4, &file),
        Err(Malformed::Invalid("no video track"))
    );
}

#[test]
fn broken_movie_headers() {
    let build = |mvhd: Vec<u8>| {
        let mut file = fixtures::ftyp(b"isom", &[]);
        file.extend(fixtures::moov(
            mvhd,
            &[fixtures::trak(fixtures::tkhd(0, 8, 8), b"vide")],
        ));
        file.extend(fixtures::mdat());
        file
    };
    assert_eq!(
        info_of(Kind::Mp4, &build(fixtures::mvhd_v0(0, 100))),
        Err(Malformed::Invalid("mvhd timescale is zero"))
    );
    assert!(is_invalid(info_of(
        Kind::Mp4,
        &build(fixtures::mp4_box(b"mvhd", &[0; 10]))
    )));
    assert!(is_invalid(info_of(Kind::Mp4, &build(Vec::new()))));
    // All ones means the duration is unknown.
    assert_eq!(
        info_of(Kind::Mp4, &build(fixtures::mvhd_v0(1000, u32::MAX))),
        video(Kind::Mp4, 0, 8, 8)
    );
}

#[test]
fn a_fragmented_mp4_declares_its_duration_in_mehd() {
    let mehd = fixtures::mp4_box(b"mehd", &[0, 0, 0, 0, 0, 0, 0x75, 0x30]);
    let mvex = fixtures::mp4_box(b"mvex", &mehd);
    let mut file = fixtures::ftyp(b"iso6", &[]);
    file.extend(fixtures::moov(
        fixtures::mvhd_v0(1000, 0),
        &[fixtures::trak(fixtures::tkhd(0, 8, 8), b"vide"), mvex],
    ));
    file.extend(fixtures::mp4_box(b"moof", &[0; 8]));
    file.extend(fixtures::mdat());
    assert_eq!(info_of(Kind::Mp4, &file), video(Kind::Mp4, 30_000, 8, 8));
}

#[test]
fn a_huge_moov_is_refused_before_it_is_read() {
    let mut file = fixtures::ftyp(b"isom", &[]);
    file.extend(fixtures::mdat());
    // A moov running to the end of a 100 MiB file.
    file.extend_from_slice(&[0, 0, 0, 0, b'm', b'o', b'o', b'v']);
    // The reader holds only the headers: the length is all the check may go by.
    let len = 100 * 1024 * 1024;
    let mut reader = Cursor::new(file);
    assert_eq!(
        video_info(Kind::Mp4, &mut reader, len),
        Err(Malformed::Invalid("moov too large"))
    );
}

struct Failing;

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::from(io::ErrorKind::ConnectionReset))
    }
}

impl Seek for Failing {
    fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
        Ok(0)
    }
}

#[test]
fn reader_failures_are_not_malformed_files() {
    for kind in [Kind::Mp4, Kind::Webm] {
        assert_eq!(
            video_info(kind, &mut Failing, 1000),
            Err(Malformed::Unreadable(io::ErrorKind::ConnectionReset))
        );
    }
}

#[test]
fn image_kinds_are_not_videos() {
    assert!(is_invalid(info_of(Kind::Png, &fixtures::png(1, 1))));
}

#[test]
fn webm_duration_and_dimensions() {
    let file = fixtures::webm(Some(2500.4), 640, 360);
    assert_eq!(
        info_of(Kind::Webm, &file),
        video(Kind::Webm, 2500, 640, 360)
    );
}

#[test]
fn live_webm_has_no_duration() {
    let file = fixtures::live_webm(1280, 720);
    assert_eq!(info_of(Kind::Webm, &file), video(Kind::Webm, 0, 1280, 720));
    let sized = fixtures::webm(None, 1280, 720);
    assert_eq!(info_of(Kind::Webm, &sized), video(Kind::Webm, 0, 1280, 720));
}

#[test]
fn webm_with_a_matroska_doc_type_is_refused() {
    let mut file = fixtures::ebml_header("matroska");
    file.extend(fixtures::element(
        0x1853_8067,
        &fixtures::segment_children(Some(1.0), 8, 8),
    ));
    assert_eq!(
        info_of(Kind::Webm, &file),
        Err(Malformed::Invalid("EBML DocType is not webm"))
    );
}

#[test]
fn webm_needs_a_video_track_with_dimensions() {
    let build = |tracks: Vec<u8>| {
        let mut file = fixtures::ebml_header("webm");
        let children = [fixtures::info(Some(10.0)), tracks, fixtures::cluster()].concat();
        file.extend(fixtures::element(0x1853_8067, &children));
        file
    };
    let audio_only = fixtures::element(
        0x1654_AE6B,
        &fixtures::element(
            0xAE,
            &[
                fixtures::uint_element(0x83, 2),
                fixtures::element(0x86, b"A_OPUS"),
            ]
            .concat(),
        ),
    );
    assert_eq!(
        info_of(Kind::Webm, &build(audio_only)),
        Err(Malformed::Invalid("no video track"))
    );
    assert!(is_invalid(info_of(
        Kind::Webm,
        &build(fixtures::tracks(0, 360))
    )));
    assert!(is_invalid(info_of(Kind::Webm, &build(Vec::new()))));
}

#[test]
fn webm_needs_a_cluster() {
    let mut file = fixtures::ebml_header("webm");
    let children = [fixtures::info(Some(10.0)), fixtures::tracks(8, 8)].concat();
    file.extend(fixtures::element(0x1853_8067, &children));
    assert!(is_invalid(info_of(Kind::Webm, &file)));
}

#[test]
fn truncated_webms() {
    let file = fixtures::webm(Some(10.0), 8, 8);
    let info_start = file.windows(4).position(|w| w == [0x15, 0x49, 0xA9, 0x66]);
    let Some(info_start) = info_start else {
        panic!("the fixture has an Info element");
    };
    for cut in [info_start + 10, info_start + 3, 20, 3] {
        assert_eq!(
            info_of(Kind::Webm, &file[..cut]),
            Err(Malformed::Truncated),
            "{cut}"
        );
    }
    // Without a Segment size, an element cut short is noticed by its own size.
    let live = fixtures::live_webm(8, 8);
    let tracks_start = live.windows(4).position(|w| w == [0x16, 0x54, 0xAE, 0x6B]);
    let Some(tracks_start) = tracks_start else {
        panic!("the fixture has a Tracks element");
    };
    assert_eq!(
        info_of(Kind::Webm, &live[..tracks_start + 8]),
        Err(Malformed::Truncated)
    );
}

#[test]
fn webm_elements_must_fit_in_the_segment() {
    let mut file = fixtures::ebml_header("webm");
    // A Segment whose size says 4 GiB.
    file.extend_from_slice(&[0x18, 0x53, 0x80, 0x67, 0x01, 0, 0, 0, 1, 0, 0, 0]);
    file.extend(fixtures::segment_children(None, 8, 8));
    assert_eq!(info_of(Kind::Webm, &file), Err(Malformed::Truncated));
}

#[test]
fn nothing_but_padding_may_follow_the_webm_segment() {
    let mut padded = fixtures::webm(Some(10.0), 8, 8);
    padded.extend(fixtures::element(0xEC, &[0; 20]));
    assert_eq!(info_of(Kind::Webm, &padded), video(Kind::Webm, 10, 8, 8));

    let mut polyglot = fixtures::webm(Some(10.0), 8, 8);
    polyglot.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x08\x00payload");
    assert_eq!(
        info_of(Kind::Webm, &polyglot),
        Err(Malformed::Invalid("data after the WebM Segment"))
    );
}
