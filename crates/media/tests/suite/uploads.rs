//! Uploads: what is refused and leaves nothing behind, what is scanned, re-encoded and served,
//! what is quarantined, and what waits while the scanner is away.

use std::path::Path;

use chrono::{Duration, Utc};
use df_common::auth::Role;
use df_media::{
    schema::media,
    status::MediaState,
    testing::{clamd_address, storage_root},
};
use df_proto::media::v1::{self as pb, content_part::Part};
use df_testkit::TcpProxy;
use diesel::QueryDsl;
use diesel_async::RunQueryDsl;
use futures::StreamExt;
use image::{ImageEncoder, RgbImage, codecs::jpeg::JpegEncoder};

use crate::support::{User, World, code_of as code, eventually, input};

const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// A JPEG of `width` × `height`; `noise` makes it large (it barely compresses).
fn jpeg(width: u32, height: u32, noise: bool) -> Vec<u8> {
    let mut state: u32 = 7;
    let picture = RgbImage::from_fn(width, height, |x, y| {
        if noise {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let [a, b, c, _] = state.to_le_bytes();
            image::Rgb([a, b, c])
        } else {
            image::Rgb([(x * 4) as u8, (y * 4) as u8, 128])
        }
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(&picture, width, height, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// `jpeg` with `segment` (marker, payload) inserted right after its start marker.
fn with_segment(jpeg: &[u8], marker: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len() + 2).unwrap();
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// An EXIF block saying "rotate 90° clockwise to view" and carrying a GPS position in text.
fn exif_rotated_with_gps() -> Vec<u8> {
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
    // IFD0: one entry, Orientation (0x0112), SHORT, count 1, value 6; no next IFD.
    exif.extend_from_slice(&[
        0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    exif.extend_from_slice(b"GPSLatitude 52.5200 N GPSLongitude 13.4050 E");
    exif
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    let mut covered = kind.to_vec();
    covered.extend_from_slice(data);
    chunk.extend_from_slice(&crc32(&covered).to_be_bytes());
    chunk
}

/// A PNG that claims `width` × `height` pixels in a few bytes (a decompression bomb's header).
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = width.to_be_bytes().to_vec();
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    png.extend(png_chunk(b"IHDR", &header));
    png.extend(png_chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

/// A ZIP archive holding one highly compressible member (the start of a zip bomb).
fn zip_archive() -> Vec<u8> {
    let mut zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00".to_vec();
    zip.extend_from_slice(&[0; 16]);
    zip.extend_from_slice(b"bomb.txt");
    zip.extend_from_slice(&[0x4b, 0x4c, 0x1c, 0x05, 0xa3, 0x60, 0x14, 0x8c]);
    zip
}

impl World {
    /// Uploads `bytes` as `creator`, in chunks of 16 KiB, announcing their length.
    pub async fn upload(
        &self,
        creator: User,
        file_name: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<pb::MediaItem, tonic::Status> {
        self.upload_announcing(creator, file_name, content_type, bytes, bytes.len() as u64)
            .await
    }

    /// Uploads a small clean PNG that the scanner passes.
    async fn upload_png(&self, creator: User, file_name: &str) -> pb::MediaItem {
        self.upload(creator, file_name, "image/png", &png_image())
            .await
            .unwrap()
    }

    /// Uploads a small JPEG carrying the EICAR test string, which the scanner flags.
    async fn upload_infected(&self, creator: User, file_name: &str) -> pb::MediaItem {
        let infected = with_segment(&jpeg(16, 16, false), 0xFE, EICAR);
        self.upload(creator, file_name, "image/jpeg", &infected)
            .await
            .unwrap()
    }

    /// Uploads `bytes`, announcing `declared_bytes`.
    pub async fn upload_announcing(
        &self,
        creator: User,
        file_name: &str,
        content_type: &str,
        bytes: &[u8],
        declared_bytes: u64,
    ) -> Result<pb::MediaItem, tonic::Status> {
        let mut parts = vec![pb::UploadPart {
            part: Some(pb::upload_part::Part::Start(pb::UploadStart {
                file_name: file_name.into(),
                content_type: content_type.into(),
                declared_bytes,
            })),
        }];
        parts.extend(bytes.chunks(16 * 1024).map(|chunk| pb::UploadPart {
            part: Some(pb::upload_part::Part::Chunk(chunk.to_vec().into())),
        }));
        self.media()
            .upload(self.to_media(creator, futures::stream::iter(parts)))
            .await
            .map(tonic::Response::into_inner)
    }

    /// The file as its creator sees it.
    pub async fn item(&self, creator: User, id: &str) -> pb::MediaItem {
        self.media()
            .get_media(self.to_media(
                creator,
                pb::GetMediaRequest {
                    media_id: id.into(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }

    /// The file's state as its creator sees it.
    pub async fn state(&self, creator: User, id: &str) -> String {
        self.item(creator, id).await.state
    }

    /// Waits until the file reaches `state`.
    pub async fn wait_for_state(&self, creator: User, id: &str, state: MediaState) {
        eventually(&format!("media {id} {state}"), async || {
            self.state(creator, id).await == state.as_str()
        })
        .await;
    }

    /// A signed URL of `variant` of `id` for `viewer`.
    pub async fn url(
        &self,
        viewer: User,
        id: &str,
        variant: &str,
    ) -> Result<pb::MediaUrlResponse, tonic::Status> {
        self.media()
            .media_url(self.to_media(
                viewer,
                pb::MediaUrlRequest {
                    media_id: id.into(),
                    variant: variant.into(),
                    client_ip: "203.0.113.7".into(),
                    user_agent: "tests".into(),
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Reads what a signed URL names, as the gateway would: the head and the bytes.
    pub async fn fetch(
        &self,
        url: &str,
        range: Option<(u64, u64)>,
    ) -> Result<(pb::ContentHead, Vec<u8>), tonic::Status> {
        self.fetch_as(url, range, false).await
    }

    /// [`Self::fetch`] by a caller that does (`reads_store`) or does not read the store's
    /// directory itself.
    pub async fn fetch_as(
        &self,
        url: &str,
        range: Option<(u64, u64)>,
        reads_store: bool,
    ) -> Result<(pb::ContentHead, Vec<u8>), tonic::Status> {
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
                .unwrap_or_default()
                .to_owned()
        };
        let media_id = url.split('/').nth(3).unwrap_or_default().to_owned();
        let request = pb::ReadContentRequest {
            media_id,
            variant: param("variant"),
            expires: param("expires").parse().unwrap_or_default(),
            key_id: param("key_id"),
            signature: param("signature"),
            has_range: range.is_some(),
            range_start: range.map(|r| r.0).unwrap_or_default(),
            range_end: range.map(|r| r.1).unwrap_or_default(),
            reads_store,
        };
        let mut parts = self
            .media()
            .read_content(self.as_gateway(request))
            .await?
            .into_inner();
        let mut head = None;
        let mut body = Vec::new();
        while let Some(part) = parts.next().await {
            match part?.part {
                Some(Part::Head(h)) => head = Some(h),
                Some(Part::Chunk(bytes)) => body.extend(bytes),
                None => {}
            }
        }
        Ok((head.expect("a head first"), body))
    }

    /// The store's directory.
    pub fn store_root(&self) -> std::path::PathBuf {
        df_media::testing::storage_root(&self.media.files)
    }

    /// Files under the store's directory and the spool, relative to the test's directory.
    pub fn stored_files(&self) -> Vec<String> {
        let mut found = Vec::new();
        walk(self.media.files.path(), self.media.files.path(), &mut found);
        found.sort();
        found
    }

    /// Rows in media's `media` table.
    pub async fn media_rows(&self) -> i64 {
        let db = self.media.service.db.db();
        let mut conn = db.conn().await.unwrap();
        media::table.count().get_result(&mut conn).await.unwrap()
    }
}

fn walk(root: &Path, dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(root, &path, found);
        } else {
            found.push(path.strip_prefix(root).unwrap().display().to_string());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_files_are_refused_with_their_code_and_leave_nothing_behind() {
    let world = World::start_with(Utc::now(), |config| {
        config.own.uploads.max_image_bytes = 200_000;
        config.own.uploads.max_image_pixels = 20_000_000;
    })
    .await;
    let creator = User::new(Role::Creator);
    let photo = jpeg(64, 48, false);
    let mut polyglot = photo.clone();
    polyglot.extend(zip_archive());
    let svg =
        br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>"#;
    let html = b"<!DOCTYPE html><html><body><script>fetch('/v1/me')</script></body></html>";
    let mut exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff".to_vec();
    exe.resize(600, 0);
    let mut zipped_eicar = zip_archive();
    zipped_eicar.extend_from_slice(EICAR);
    let cases: Vec<(&str, Vec<u8>, &str, &str, &str)> = vec![
        (
            "EICAR as a JPEG",
            EICAR.to_vec(),
            "image/jpeg",
            "a.jpg",
            "media.unsupported_type",
        ),
        (
            "EICAR in a ZIP",
            zipped_eicar,
            "image/jpeg",
            "a.jpg",
            "media.unsupported_type",
        ),
        (
            "a program renamed",
            exe,
            "image/jpeg",
            "cat.jpg",
            "media.unsupported_type",
        ),
        (
            "HTML renamed",
            html.to_vec(),
            "image/jpeg",
            "cat.jpg",
            "media.unsupported_type",
        ),
        (
            "SVG with script",
            svg.to_vec(),
            "image/svg+xml",
            "cat.svg",
            "media.unsupported_type",
        ),
        (
            "a zip bomb",
            zip_archive(),
            "application/zip",
            "a.zip",
            "media.unsupported_type",
        ),
        (
            "JPEG declared PNG",
            photo.clone(),
            "image/png",
            "cat.png",
            "media.type_mismatch",
        ),
        (
            "JPEG named .gif",
            photo.clone(),
            "image/jpeg",
            "cat.gif",
            "media.type_mismatch",
        ),
        (
            "50,000² pixels",
            png_claiming(50_000, 50_000),
            "image/png",
            "big.png",
            "media.pixel_limit",
        ),
        (
            "zero bytes",
            Vec::new(),
            "image/jpeg",
            "a.jpg",
            "media.empty",
        ),
        (
            "truncated JPEG",
            photo[..photo.len() / 2].to_vec(),
            "image/jpeg",
            "a.jpg",
            "media.corrupt",
        ),
        (
            "JPEG with a ZIP appended",
            polyglot,
            "image/jpeg",
            "a.jpg",
            "media.appended_data",
        ),
        (
            "too large",
            jpeg(400, 400, true),
            "image/jpeg",
            "a.jpg",
            "media.too_large",
        ),
    ];
    for (what, bytes, content_type, file_name, expected) in cases {
        let refused = world
            .upload(creator, file_name, content_type, &bytes)
            .await
            .expect_err(what);
        assert_eq!(code(refused), expected, "{what}");
    }
    // The announced length: a longer or shorter body, or an announced size over the limit.
    for (declared, expected) in [
        (photo.len() as u64 + 1, "media.incomplete"),
        (photo.len() as u64 - 1, "media.incomplete"),
        (10_000_000, "media.too_large"),
    ] {
        let refused = world
            .upload_announcing(creator, "a.jpg", "image/jpeg", &photo, declared)
            .await
            .expect_err(expected);
        assert_eq!(code(refused), expected, "announced {declared}");
    }
    let missing_start = world
        .media()
        .upload(world.to_media(
            creator,
            futures::stream::iter(vec![pb::UploadPart {
                part: Some(pb::upload_part::Part::Chunk(photo.clone().into())),
            }]),
        ))
        .await
        .expect_err("no start");
    assert_eq!(code(missing_start), "media.upload_start_missing");
    assert_eq!(world.stored_files(), Vec::<String>::new());
    assert_eq!(world.media_rows().await, 0);

    let fan = User::new(Role::Fan);
    let refused = world.upload(fan, "a.jpg", "image/jpeg", &photo).await;
    assert_eq!(refused.unwrap_err().code(), tonic::Code::PermissionDenied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_is_scanned_stripped_of_exif_and_served_by_signed_url_to_those_who_may_see_it() {
    let world = World::start(Utc::now()).await;
    let (creator, fan) = (User::new(Role::Creator), User::new(Role::Fan));
    let original = with_segment(&jpeg(64, 48, false), 0xE1, &exif_rotated_with_gps());
    let item = world
        .upload(creator, "holiday.JPG", "image/jpeg", &original)
        .await
        .unwrap();
    assert_eq!(
        (item.kind.as_str(), item.bytes),
        ("jpeg", original.len() as u64)
    );
    assert_eq!(
        item.sha256,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&original))
    );
    // Turned upright by its orientation before anything else.
    assert_eq!((item.width, item.height), (48, 64));
    world
        .wait_for_state(creator, &item.id, MediaState::Published)
        .await;

    // Unattached, it is its creator's alone.
    assert_eq!(
        code(world.url(fan, &item.id, "").await.unwrap_err()),
        "media.media_not_found"
    );
    let locked = world
        .post(
            creator,
            pb::PostInput {
                media_ids: vec![item.id.clone()],
                ..input("for subscribers", "subscribers")
            },
        )
        .await;
    assert_eq!(locked.attachments.len(), 1);
    let seen_by_fan = world
        .media()
        .get_post(world.to_media(
            fan,
            pb::GetPostRequest {
                post_id: locked.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(seen_by_fan.locked);
    assert_eq!(seen_by_fan.attachments.len(), 1);
    assert_eq!(seen_by_fan.attachments[0].kind, "jpeg");
    assert_eq!(
        seen_by_fan.attachments[0].media_id, "",
        "a locked post names no file"
    );
    assert_eq!(
        code(world.url(fan, &item.id, "").await.unwrap_err()),
        "media.not_entitled"
    );

    // Made public, the fan gets a URL that works, by ranges too.
    world
        .media()
        .update_post(world.to_media(
            creator,
            pb::UpdatePostRequest {
                post_id: locked.id.clone(),
                post: Some(pb::PostInput {
                    media_ids: vec![item.id.clone()],
                    ..input("for everyone", "public")
                }),
            },
        ))
        .await
        .unwrap();
    let signed = world.url(fan, &item.id, "display").await.unwrap();
    assert!(
        signed
            .url
            .starts_with(&format!("/v1/media/{}/content?", item.id)),
        "{}",
        signed.url
    );
    let (head, served) = world.fetch(&signed.url, None).await.unwrap();
    assert_eq!(head.content_type, "image/jpeg");
    assert!(head.public);
    assert_eq!(head.total_bytes, served.len() as u64);
    assert_eq!(head.file_name, format!("{}.jpg", item.id));
    assert!(
        !served.windows(4).any(|w| w == b"Exif"),
        "EXIF left in the served image"
    );
    assert!(!served.windows(11).any(|w| w == b"GPSLatitude"));
    let decoded = image::load_from_memory(&served).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (48, 64));
    let (ranged, part) = world.fetch(&signed.url, Some((10, 19))).await.unwrap();
    assert_eq!((ranged.start, ranged.end_inclusive), (10, 19));
    assert_eq!(part, served[10..20]);
    let past_end = world
        .fetch(
            &signed.url,
            Some((served.len() as u64, served.len() as u64 + 5)),
        )
        .await;
    assert_eq!(code(past_end.unwrap_err()), "media.range_not_satisfiable");
    // A gateway that reads the store itself gets the same head and the file's key, not its
    // bytes; the key names the very bytes, and ranges and refusals are media's as before.
    for range in [None, Some((10, 19)), Some((5, u64::MAX))] {
        let (streamed, _) = world.fetch(&signed.url, range).await.unwrap();
        let (named, no_bytes) = world.fetch_as(&signed.url, range, true).await.unwrap();
        assert!(no_bytes.is_empty());
        assert_eq!(
            named.store_key,
            format!("media/{}/display", item.id),
            "{range:?}"
        );
        assert_eq!(
            pb::ContentHead {
                store_key: String::new(),
                ..named.clone()
            },
            streamed
        );
        let stored = std::fs::read(world.store_root().join(&named.store_key)).unwrap();
        assert_eq!(stored, served);
    }
    let past_end = world
        .fetch_as(&signed.url, Some((served.len() as u64, u64::MAX)), true)
        .await;
    assert_eq!(code(past_end.unwrap_err()), "media.range_not_satisfiable");
    let thumb = world.url(fan, &item.id, "thumb_small").await.unwrap();
    let (thumb_head, thumb_bytes) = world.fetch(&thumb.url, None).await.unwrap();
    assert_eq!(thumb_head.content_type, "image/jpeg");
    let small = image::load_from_memory(&thumb_bytes).unwrap();
    assert!(small.width() <= 320 && small.height() <= 320);

    // A changed URL, another file's signature or a passed expiry is refused alike.
    let tampered = signed.url.replace("variant=display", "variant=thumb_large");
    assert_eq!(
        code(world.fetch(&tampered, None).await.unwrap_err()),
        "media.invalid_signature"
    );
    let bad_mac = format!("{}0", signed.url);
    assert_eq!(
        code(world.fetch(&bad_mac, None).await.unwrap_err()),
        "media.invalid_signature"
    );
    world.clock.advance(Duration::seconds(301));
    assert_eq!(
        code(world.fetch(&signed.url, None).await.unwrap_err()),
        "media.invalid_signature"
    );

    // Only the display and thumbnails are kept: the original (with its EXIF) goes once the
    // verdict is recorded.
    let expected: Vec<String> = ["display", "thumb_large", "thumb_small"]
        .iter()
        .map(|variant| format!("store/media/{}/{variant}", item.id))
        .collect();
    eventually("only the served variants remain", async || {
        world.stored_files() == expected
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_carrying_eicar_is_quarantined_and_never_served() {
    let world = World::start(Utc::now()).await;
    let creator = User::new(Role::Creator);
    let infected = with_segment(&jpeg(32, 32, false), 0xFE, EICAR);
    let item = world
        .upload(creator, "innocent.jpg", "image/jpeg", &infected)
        .await
        .unwrap();
    world
        .wait_for_state(creator, &item.id, MediaState::Quarantined)
        .await;
    assert_eq!(
        code(world.url(creator, &item.id, "").await.unwrap_err()),
        "media.not_ready"
    );
    let attach = world
        .media()
        .create_post(world.to_media(
            creator,
            pb::PostInput {
                media_ids: vec![item.id.clone()],
                ..input("look", "public")
            },
        ))
        .await;
    assert_eq!(code(attach.unwrap_err()), "media.invalid_attachment");
    // The verdict is recorded before the upload's other files are deleted (a crash between
    // the two scans again), so their deletion may still be under way.
    let quarantined = vec![format!("store/quarantine/{}/original", item.id)];
    eventually("only the quarantined original is left", async || {
        world.stored_files() == quarantined
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_wait_while_the_scanner_is_unreachable_and_publish_when_it_returns() {
    let clamd = clamd_address();
    let proxy = TcpProxy::in_front_of(clamd.trim_start_matches("tcp://")).await;
    let address = format!("tcp://{}", proxy.addr());
    let world = World::start_with(Utc::now(), |config| {
        config.own.scanner.address = address;
        config.own.scanner.timeout_ms = 2_000;
        // Cached pages outlive the test unless the verdict moves them.
        config.own.feed.cache_ttl_secs = 600;
    })
    .await;
    let (creator, fan) = (User::new(Role::Creator), User::new(Role::Fan));
    proxy.cut();
    let item = world.upload_png(creator, "a.png").await;
    world
        .wait_for_state(creator, &item.id, MediaState::ScanPending)
        .await;
    assert_eq!(
        code(world.url(creator, &item.id, "").await.unwrap_err()),
        "media.not_ready",
        "nothing is served unscanned, not even to its creator"
    );
    world
        .post(
            creator,
            pb::PostInput {
                media_ids: vec![item.id.clone()],
                ..input("soon", "public")
            },
        )
        .await;
    assert_eq!(
        world.files_in_feed(fan, creator).await,
        Vec::<String>::new()
    );
    proxy.restore();
    // The retry is due after its back-off: move the clock past it.
    world.clock.advance(Duration::minutes(5));
    world
        .wait_for_state(creator, &item.id, MediaState::Published)
        .await;
    // The verdict moved the fan's cached page: the file is on it now.
    eventually("the published file in the fan's feed", async || {
        world.files_in_feed(fan, creator).await == [item.id.clone()]
    })
    .await;
    // The unscanned copies are removed after the verdict is recorded, so they go a moment later.
    let published = format!("store/media/{}/", item.id);
    eventually("only the published objects remain", async || {
        let stored = world.stored_files();
        !stored.is_empty() && stored.iter().all(|path| path.starts_with(&published))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_cut_short_by_killing_media_is_done_again_after_the_restart() {
    let clamd = clamd_address();
    let proxy = TcpProxy::in_front_of(clamd.trim_start_matches("tcp://")).await;
    let address = format!("tcp://{}", proxy.addr());
    let mut world = World::start_with(Utc::now(), |config| {
        config.own.scanner.address = address;
        // Long enough that the hung scan is still waiting when media is killed.
        config.own.scanner.timeout_ms = 120_000;
    })
    .await;
    world.restart_media_killable().await;
    let creator = User::new(Role::Creator);
    // clamd takes the connection and never answers: the scan is under way when media dies.
    proxy.stall();
    let item = world.upload_png(creator, "a.png").await;
    eventually("the scan reached clamd", async || proxy.accepted() > 0).await;
    world.kill_media();
    proxy.restore();
    world.restart_media().await;
    assert_eq!(
        world.state(creator, &item.id).await,
        MediaState::Scanning.as_str(),
        "the killed scan recorded nothing"
    );
    // The killed worker's lease on the scan runs out, and a worker of the new media takes it.
    world.clock.advance(Duration::minutes(11));
    world
        .wait_for_state(creator, &item.id, MediaState::Published)
        .await;
    assert!(proxy.accepted() > 1, "the file was scanned again");
}

fn png_image() -> Vec<u8> {
    let picture = RgbImage::from_fn(20, 10, |x, _| image::Rgb([x as u8 * 10, 0, 0]));
    let mut out = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_creator_leaves_no_upload_behind_but_quarantine() {
    let world = World::start(Utc::now()).await;
    let creator = User::new(Role::Creator);
    let kept = User::new(Role::Creator);
    let clean = world.upload_png(creator, "a.png").await;
    let infected = world.upload_infected(creator, "b.jpg").await;
    let others = world.upload_png(kept, "c.png").await;
    world
        .wait_for_state(creator, &clean.id, MediaState::Published)
        .await;
    world
        .wait_for_state(creator, &infected.id, MediaState::Quarantined)
        .await;
    world
        .wait_for_state(kept, &others.id, MediaState::Published)
        .await;
    world
        .env
        .bus
        .consumed(df_media::SERVICE, df_runtime::erasure::CONSUMER)
        .await;
    crate::erasure::erasure_of(&world, creator).await;
    eventually("the erased creator's objects are gone", async || {
        !world
            .stored_files()
            .iter()
            .any(|path| path.contains(&clean.id))
    })
    .await;
    let stored = world.stored_files();
    assert!(
        stored.contains(&format!("store/quarantine/{}/original", infected.id)),
        "{stored:?}"
    );
    assert!(
        stored.contains(&format!("store/media/{}/display", others.id)),
        "{stored:?}"
    );
    assert_eq!(
        world.media_rows().await,
        2,
        "the quarantined and the other creator's"
    );
}

/// Moderation's decision on `id`, over the broker.
async fn decide(world: &World, id: &str, decision: &str) {
    world
        .env
        .bus
        .publish_event(
            "moderation",
            &df_proto::events::v1::ModerationDecided {
                media_id: id.into(),
                decision: decision.into(),
                reason: String::new(),
                decided_at: None,
            },
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_uploads_wait_for_moderation_which_publishes_or_removes_them() {
    let world = World::start_with(Utc::now(), |config| {
        config.own.moderation.auto_approve_clean_scans = false;
        // Cached pages outlive the test unless a decision moves them.
        config.own.feed.cache_ttl_secs = 600;
    })
    .await;
    let (creator, fan) = (User::new(Role::Creator), User::new(Role::Fan));
    let queue = world
        .env
        .bus
        .consumed(
            df_media::SERVICE,
            <df_media::moderation::ModerationDecisions as df_runtime::bus::typed::Consumer>::NAME,
        )
        .await;
    let kept = world.upload_png(creator, "a.png").await;
    let dropped = world.upload_png(creator, "b.png").await;
    let infected = world.upload_infected(creator, "c.jpg").await;
    for item in [&kept, &dropped] {
        world
            .wait_for_state(creator, &item.id, MediaState::ModerationPending)
            .await;
    }
    world
        .wait_for_state(creator, &infected.id, MediaState::Quarantined)
        .await;
    world
        .post(
            creator,
            pb::PostInput {
                media_ids: vec![kept.id.clone()],
                ..input("waiting", "public")
            },
        )
        .await;
    assert_eq!(
        code(world.url(fan, &kept.id, "").await.unwrap_err()),
        "media.not_ready"
    );
    // The fan's page (cached now) lists no file of the post yet.
    assert_eq!(
        world.files_in_feed(fan, creator).await,
        Vec::<String>::new()
    );

    // In this order, so that once the last is applied the first one was too.
    decide(&world, &infected.id, "publish").await;
    decide(&world, &dropped.id, "remove").await;
    world
        .wait_for_state(creator, &dropped.id, MediaState::Removed)
        .await;
    decide(&world, &kept.id, "publish").await;
    world
        .wait_for_state(creator, &kept.id, MediaState::Published)
        .await;
    eventually("the removed file's objects are gone", async || {
        !world
            .stored_files()
            .iter()
            .any(|path| path.contains(&dropped.id))
    })
    .await;
    assert!(world.url(fan, &kept.id, "").await.is_ok());
    // The decision moved the cached page: the published file is on it.
    eventually("the published file in the fan's feed", async || {
        world.files_in_feed(fan, creator).await == [kept.id.clone()]
    })
    .await;
    assert_eq!(
        world.state(creator, &infected.id).await,
        "quarantined",
        "no decision publishes what the scanner quarantined"
    );

    decide(&world, "not-an-id", "publish").await;
    let dead = world.env.bus.wait_for_dead_letters(&queue, 1).await;
    assert_eq!(dead.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_is_parsed_scanned_and_served_by_range_as_uploaded() {
    let world = World::start(Utc::now()).await;
    let (creator, fan) = (User::new(Role::Creator), User::new(Role::Fan));
    let movie = df_filetype::fixtures::mp4(1000, 2_500, 1280, 720);
    let item = world
        .upload(creator, "clip.mp4", "video/mp4", &movie)
        .await
        .unwrap();
    assert_eq!(
        (
            item.kind.as_str(),
            item.width,
            item.height,
            item.duration_ms
        ),
        ("mp4", 1280, 720, 2_500)
    );
    world
        .wait_for_state(creator, &item.id, MediaState::Published)
        .await;
    world
        .post(
            creator,
            pb::PostInput {
                media_ids: vec![item.id.clone()],
                ..input("a clip", "public")
            },
        )
        .await;
    assert_eq!(
        code(world.url(fan, &item.id, "thumb_small").await.unwrap_err()),
        "media.invalid_variant",
        "no frame can be made of this synthetic video: it publishes without thumbnails"
    );
    let signed = world.url(fan, &item.id, "display").await.unwrap();
    let (head, served) = world.fetch(&signed.url, None).await.unwrap();
    assert_eq!(head.content_type, "video/mp4");
    assert_eq!(served, movie, "a video is served as uploaded");
    let (_, tail) = world
        .fetch(&signed.url, Some((movie.len() as u64 - 8, u64::MAX)))
        .await
        .unwrap();
    assert_eq!(tail, movie[movie.len() - 8..]);

    let mut truncated = movie.clone();
    truncated.truncate(movie.len() - 4);
    let refused = world
        .upload(creator, "cut.mp4", "video/mp4", &truncated)
        .await
        .unwrap_err();
    assert_eq!(code(refused), "media.corrupt");
}

/// A real video, two seconds of ffmpeg's test pattern at 320 × 240, encoded by ffmpeg.
fn test_pattern_video() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pattern.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-f", "lavfi"])
        .args(["-i", "testsrc=duration=2:size=320x240:rate=10"])
        .args(["-c:v", "mpeg4", "-f", "mp4"])
        .arg(&out)
        .status()
        .expect("ffmpeg is installed (scripts/test installs it)");
    assert!(made.success());
    std::fs::read(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_gets_a_poster_frame_and_thumbnails_where_ffmpeg_is_installed() {
    let world = World::start(Utc::now()).await;
    let (creator, fan) = (User::new(Role::Creator), User::new(Role::Fan));
    let movie = test_pattern_video();
    let item = world
        .upload(creator, "pattern.mp4", "video/mp4", &movie)
        .await
        .unwrap();
    assert_eq!(
        (item.width, item.height, item.duration_ms),
        (320, 240, 2_000)
    );
    assert!(!item.thumbnails, "no poster before the scan");
    world
        .wait_for_state(creator, &item.id, MediaState::Published)
        .await;
    let published = world.item(creator, &item.id).await;
    assert!(published.thumbnails, "{published:?}");
    let post = world
        .post(
            creator,
            pb::PostInput {
                media_ids: vec![item.id.clone()],
                ..input("a pattern", "public")
            },
        )
        .await;
    assert!(post.attachments[0].thumbnails, "{post:?}");
    // Both fit the 320 × 240 frame: a thumbnail is never blown up past its picture.
    for variant in ["thumb_small", "thumb_large"] {
        let signed = world.url(fan, &item.id, variant).await.unwrap();
        let (head, served) = world.fetch(&signed.url, None).await.unwrap();
        assert_eq!(head.content_type, "image/jpeg");
        let poster = image::load_from_memory(&served).unwrap().to_rgb8();
        assert_eq!(poster.dimensions(), (320, 240));
        // The test pattern is colour bars, not one flat colour.
        let first = poster.get_pixel(0, 0);
        assert!(poster.pixels().any(|pixel| pixel != first));
    }
    let (head, served) = world
        .fetch(
            &world.url(fan, &item.id, "display").await.unwrap().url,
            None,
        )
        .await
        .unwrap();
    assert_eq!(head.content_type, "video/mp4");
    assert_eq!(served, movie, "the video itself is served as uploaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_integrity_job_reads_files_back_and_ends_the_quarantine_hold() {
    let world = World::start_with(Utc::now(), |config| {
        config.own.storage.quarantine_days = 2;
        config.own.storage.integrity_recheck_days = 1;
    })
    .await;
    let creator = User::new(Role::Creator);
    let kept = world.upload_png(creator, "a.png").await;
    let infected = world.upload_infected(creator, "b.jpg").await;
    world
        .wait_for_state(creator, &kept.id, MediaState::Published)
        .await;
    world
        .wait_for_state(creator, &infected.id, MediaState::Quarantined)
        .await;
    let readings = async || -> Vec<(String, bool)> {
        use df_media::schema::integrity_checks as checks;
        let db = world.media.service.db.db();
        let mut conn = db.conn().await.unwrap();
        let rows: Vec<(uuid::Uuid, bool)> = checks::table
            .select((checks::media_id, checks::intact))
            .load(&mut conn)
            .await
            .unwrap();
        rows.into_iter()
            .map(|(id, ok)| (id.to_string(), ok))
            .collect()
    };

    // The first run, an hour on: the file reads back intact.
    world.clock.advance(Duration::minutes(61));
    eventually("the first integrity run", async || {
        !readings().await.is_empty()
    })
    .await;
    assert_eq!(readings().await, vec![(kept.id.clone(), true)]);
    eventually("the first integrity run ends", async || {
        world.job_runs("media.check_integrity").await == 1
    })
    .await;

    // The stored bytes change under the service; the next reading after a day says so.
    let stored = storage_root(&world.media.files).join(format!("media/{}/display", kept.id));
    std::fs::write(&stored, b"not the image any more").unwrap();
    world.clock.advance(Duration::hours(25));
    eventually("the damage is found", async || {
        readings().await == vec![(kept.id.clone(), false)]
    })
    .await;
    // Each run ends before the clock moves again: its next run is an hour after it.
    eventually("the second integrity run ends", async || {
        world.job_runs("media.check_integrity").await == 2
    })
    .await;

    // Two days after its scan the quarantined upload is gone, object and row.
    let quarantined = format!("store/quarantine/{}/original", infected.id);
    assert!(world.stored_files().contains(&quarantined));
    world.clock.advance(Duration::hours(24));
    eventually("the hold ends", async || {
        !world.stored_files().contains(&quarantined)
    })
    .await;
    assert_eq!(world.media_rows().await, 1);
}
