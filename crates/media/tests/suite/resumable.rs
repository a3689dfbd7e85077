//! Resumable uploads: an upload goes on from its offset after its stream broke off and after
//! media restarted; wrong offsets, growth past the announced length and files that are not
//! what they claim are refused and leave nothing; open uploads are limited, cancelled and
//! expired; another creator cannot touch them.

use chrono::{Duration, Utc};
use df_common::auth::Role;
use df_media::{schema::upload_sessions, status::MediaState};
use df_proto::media::v1 as pb;
use diesel::QueryDsl;
use diesel_async::RunQueryDsl;

use df_filetype::fixtures::mp4_with_samples as movie;

use crate::support::{User, World, code_of as code, eventually, input};

impl World {
    /// Opens a resumable upload as `creator`.
    async fn open_upload(
        &self,
        creator: User,
        file_name: &str,
        content_type: &str,
        length: u64,
    ) -> Result<pb::UploadSession, tonic::Status> {
        self.media()
            .create_upload(self.to_media(
                creator,
                pb::CreateUploadRequest {
                    file_name: file_name.into(),
                    content_type: content_type.into(),
                    length,
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Appends `bytes` at `offset`, in chunks of 16 KiB; the stream ends after them, as it
    /// does when the client's connection breaks off.
    async fn append(
        &self,
        creator: User,
        id: &str,
        offset: u64,
        bytes: &[u8],
    ) -> Result<pb::UploadSession, tonic::Status> {
        let mut parts = vec![pb::AppendPart {
            part: Some(pb::append_part::Part::Start(pb::AppendStart {
                upload_id: id.into(),
                offset,
            })),
        }];
        parts.extend(bytes.chunks(16 * 1024).map(|chunk| pb::AppendPart {
            part: Some(pb::append_part::Part::Chunk(chunk.to_vec().into())),
        }));
        self.media()
            .append_upload(self.to_media(creator, futures::stream::iter(parts)))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn upload_status(
        &self,
        creator: User,
        id: &str,
    ) -> Result<pb::UploadSession, tonic::Status> {
        self.media()
            .get_upload(self.to_media(
                creator,
                pb::GetUploadRequest {
                    upload_id: id.into(),
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn cancel(&self, creator: User, id: &str) -> Result<(), tonic::Status> {
        self.media()
            .cancel_upload(self.to_media(
                creator,
                pb::GetUploadRequest {
                    upload_id: id.into(),
                },
            ))
            .await
            .map(|_| ())
    }

    /// Open uploads in media's table.
    async fn session_rows(&self) -> i64 {
        let db = self.media.service.db.db();
        let mut conn = db.conn().await.unwrap();
        upload_sessions::table
            .count()
            .get_result(&mut conn)
            .await
            .unwrap()
    }

    /// Stored objects under `resumable/`.
    fn stored_parts(&self) -> Vec<String> {
        self.stored_files()
            .into_iter()
            .filter(|path| path.starts_with("store/resumable/"))
            .collect()
    }

    /// Files in the upload spool directory.
    fn spooled(&self) -> usize {
        std::fs::read_dir(self.media.files.path().join("spool"))
            .unwrap()
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_goes_on_from_its_offset_after_a_break_and_a_restart_and_is_published() {
    let mut world = World::start(Utc::now()).await;
    let (creator, fan) = (User::new(Role::Creator), User::new(Role::Fan));
    let clip = movie(300 * 1024);
    let length = clip.len() as u64;
    let opened = world
        .open_upload(creator, "holiday.mp4", "video/mp4", length)
        .await
        .unwrap();
    assert_eq!((opened.offset, opened.length), (0, length));
    let expires = opened.expires_at.unwrap().seconds;
    assert_eq!(
        expires,
        (world.clock.now() + Duration::hours(24)).timestamp()
    );

    // The connection breaks off after 120 KiB: those bytes are kept.
    let cut = 120 * 1024;
    let first = world
        .append(creator, &opened.id, 0, &clip[..cut])
        .await
        .unwrap();
    assert_eq!(first.offset, cut as u64);
    assert!(first.media.is_none());

    // A client that lost track appends at a wrong offset: refused, nothing moves.
    let stale = world
        .append(creator, &opened.id, 0, &clip[..4096])
        .await
        .unwrap_err();
    assert_eq!(code(stale), "media.upload_offset_mismatch");
    let ahead = world
        .append(creator, &opened.id, length, &[])
        .await
        .unwrap_err();
    assert_eq!(code(ahead), "media.upload_offset_mismatch");

    // Another creator does not see it, and cannot append to it or cancel it.
    let stranger = User::new(Role::Creator);
    for refused in [
        world
            .upload_status(stranger, &opened.id)
            .await
            .map(|_| ())
            .unwrap_err(),
        world
            .append(stranger, &opened.id, cut as u64, &clip[cut..])
            .await
            .map(|_| ())
            .unwrap_err(),
        world.cancel(stranger, &opened.id).await.unwrap_err(),
    ] {
        assert_eq!(code(refused), "media.upload_not_found");
    }

    world.restart_media().await;
    let status = world.upload_status(creator, &opened.id).await.unwrap();
    assert_eq!(status.offset, cut as u64, "the offset survives a restart");

    let done = world
        .append(creator, &opened.id, status.offset, &clip[cut..])
        .await
        .unwrap();
    assert_eq!(done.offset, length);
    let item = done.media.expect("the last append answers with the file");
    assert_eq!(item.id, opened.id, "the file keeps the upload's id");
    assert_eq!(
        (item.kind.as_str(), item.bytes, item.width, item.height),
        ("mp4", length, 1280, 720)
    );
    assert_eq!(
        code(world.upload_status(creator, &opened.id).await.unwrap_err()),
        "media.upload_not_found",
        "a finished upload is closed"
    );

    world
        .wait_for_state(creator, &item.id, MediaState::Published)
        .await;
    world
        .post(
            creator,
            pb::PostInput {
                media_ids: vec![item.id.clone()],
                ..input("the whole holiday", "public")
            },
        )
        .await;
    let signed = world.url(fan, &item.id, "display").await.unwrap();
    let (_, served) = world.fetch(&signed.url, None).await.unwrap();
    assert!(served == clip, "served as uploaded, across both appends");
    eventually("the parts are deleted", async || {
        world.stored_parts().is_empty()
    })
    .await;
    assert_eq!(world.session_rows().await, 0);
    assert_eq!(world.spooled(), 0, "no spool file is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_that_grow_too_large_or_are_not_what_they_claim_are_refused_and_leave_nothing() {
    let world = World::start_with(Utc::now(), |config| {
        config.own.uploads.max_image_bytes = 64 * 1024;
    })
    .await;
    let creator = User::new(Role::Creator);

    // Announcements the platform does not take are refused before any byte.
    let refusals = [
        ("big.png", "image/png", 64 * 1024 + 1, "media.too_large"),
        ("page.html", "text/html", 100, "media.unsupported_type"),
        (
            "archive.zip",
            "application/zip",
            100,
            "media.unsupported_type",
        ),
        ("empty.png", "image/png", 0, "media.empty"),
    ];
    for (name, content_type, length, expected) in refusals {
        let refused = world
            .open_upload(creator, name, content_type, length)
            .await
            .unwrap_err();
        assert_eq!(code(refused), expected, "{name}");
    }

    // An append past the announced length is refused whole.
    let image = df_filetype::fixtures::png(8, 8);
    let small = world
        .open_upload(creator, "a.png", "image/png", image.len() as u64)
        .await
        .unwrap();
    let mut longer = image.clone();
    longer.extend_from_slice(&[0; 16]);
    let grown = world
        .append(creator, &small.id, 0, &longer)
        .await
        .unwrap_err();
    assert_eq!(code(grown), "media.too_large");
    assert_eq!(
        world
            .upload_status(creator, &small.id)
            .await
            .unwrap()
            .offset,
        0
    );
    world.cancel(creator, &small.id).await.unwrap();

    // HTML announced as a PNG is refused at its first bytes, and the upload ends.
    let mut page = b"<!DOCTYPE html><html><script>alert(1)</script>".to_vec();
    page.resize(4096, b' ');
    let disguised = world
        .open_upload(creator, "a.png", "image/png", page.len() as u64 * 2)
        .await
        .unwrap();
    let refused = world
        .append(creator, &disguised.id, 0, &page)
        .await
        .unwrap_err();
    assert_eq!(code(refused), "media.unsupported_type");
    assert_eq!(
        code(
            world
                .upload_status(creator, &disguised.id)
                .await
                .unwrap_err()
        ),
        "media.upload_not_found"
    );

    // A JPEG with a ZIP behind it passes every append and is refused once complete.
    let mut polyglot = df_filetype::fixtures::jpeg(16, 16);
    polyglot.extend_from_slice(b"PK\x03\x04hidden archive");
    let hidden = world
        .open_upload(creator, "a.jpg", "image/jpeg", polyglot.len() as u64)
        .await
        .unwrap();
    let half = polyglot.len() / 2;
    world
        .append(creator, &hidden.id, 0, &polyglot[..half])
        .await
        .unwrap();
    let refused = world
        .append(creator, &hidden.id, half as u64, &polyglot[half..])
        .await
        .unwrap_err();
    assert_eq!(code(refused), "media.appended_data");

    assert_eq!(
        world.stored_files(),
        Vec::<String>::new(),
        "nothing is stored"
    );
    assert_eq!(world.session_rows().await, 0);
    assert_eq!(world.media_rows().await, 0);
    assert_eq!(world.spooled(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_uploads_are_limited_per_creator_and_deleted_when_cancelled_or_idle() {
    let world = World::start_with(Utc::now(), |config| {
        config.own.uploads.max_sessions_per_creator = 2;
    })
    .await;
    let creator = User::new(Role::Creator);
    let clip = movie(64 * 1024);
    let length = clip.len() as u64;
    let kept = world
        .open_upload(creator, "a.mp4", "video/mp4", length)
        .await
        .unwrap();
    let dropped = world
        .open_upload(creator, "b.mp4", "video/mp4", length)
        .await
        .unwrap();
    let third = world
        .open_upload(creator, "c.mp4", "video/mp4", length)
        .await
        .unwrap_err();
    assert_eq!(code(third), "media.too_many_uploads");
    let other = User::new(Role::Creator);
    world
        .open_upload(other, "d.mp4", "video/mp4", length)
        .await
        .expect("the limit is per creator");

    // Cancelling deletes what was received at once, and frees the place.
    world
        .append(creator, &dropped.id, 0, &clip[..1024])
        .await
        .unwrap();
    world.cancel(creator, &dropped.id).await.unwrap();
    assert!(
        world
            .stored_parts()
            .iter()
            .all(|path| !path.contains(&dropped.id))
    );
    world
        .open_upload(creator, "c.mp4", "video/mp4", length)
        .await
        .expect("a cancelled upload no longer counts");

    // An upload idle past its expiry answers as gone, and the expiry job deletes its parts.
    world
        .append(creator, &kept.id, 0, &clip[..2048])
        .await
        .unwrap();
    assert!(world.stored_parts().iter().any(|p| p.contains(&kept.id)));
    world.clock.advance(Duration::hours(25));
    assert_eq!(
        code(world.upload_status(creator, &kept.id).await.unwrap_err()),
        "media.upload_not_found"
    );
    eventually("idle uploads are deleted", async || {
        world.session_rows().await == 0
    })
    .await;
    assert_eq!(world.stored_parts(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_creator_leaves_no_open_upload_behind() {
    let world = World::start(Utc::now()).await;
    let creator = User::new(Role::Creator);
    let clip = movie(32 * 1024);
    let open = world
        .open_upload(creator, "a.mp4", "video/mp4", clip.len() as u64)
        .await
        .unwrap();
    world
        .append(creator, &open.id, 0, &clip[..4096])
        .await
        .unwrap();
    world
        .env
        .bus
        .consumed(df_media::SERVICE, df_runtime::erasure::CONSUMER)
        .await;
    crate::erasure::erasure_of(&world, creator).await;
    eventually("the erased creator's upload is gone", async || {
        world.session_rows().await == 0 && world.stored_parts().is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_appends_racing_at_one_offset_one_is_kept_and_the_other_leaves_nothing() {
    let world = World::start(Utc::now()).await;
    let creator = User::new(Role::Creator);
    let clip = movie(64 * 1024);
    let open = world
        .open_upload(creator, "a.mp4", "video/mp4", clip.len() as u64)
        .await
        .unwrap();
    let (first, second) = (&clip[..20_000], &clip[..30_000]);
    // Both appends start at offset 0 and send everything; only then do both streams end, so
    // both passed the offset check and race to move the offset.
    let racer = |bytes: &[u8]| {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        sender
            .send(pb::AppendPart {
                part: Some(pb::append_part::Part::Start(pb::AppendStart {
                    upload_id: open.id.clone(),
                    offset: 0,
                })),
            })
            .unwrap();
        sender
            .send(pb::AppendPart {
                part: Some(pb::append_part::Part::Chunk(bytes.to_vec().into())),
            })
            .unwrap();
        let parts = tokio_stream::wrappers::UnboundedReceiverStream::new(receiver);
        let mut media = world.media();
        let request = world.to_media(creator, parts);
        let call = tokio::spawn(async move { media.append_upload(request).await });
        (sender, call)
    };
    let (end_first, first_call) = racer(first);
    let (end_second, second_call) = racer(second);
    let spool = world.media.files.path().join("spool");
    eventually("both appends are spooled", async || {
        let mut sizes: Vec<u64> = std::fs::read_dir(&spool)
            .unwrap()
            .filter_map(Result::ok)
            .filter_map(|entry| entry.metadata().ok().map(|m| m.len()))
            .collect();
        sizes.sort_unstable();
        sizes == [first.len() as u64, second.len() as u64]
    })
    .await;
    drop((end_first, end_second));
    let answers = [
        first_call.await.unwrap().map(|r| r.into_inner().offset),
        second_call.await.unwrap().map(|r| r.into_inner().offset),
    ];
    let kept: Vec<u64> = answers
        .iter()
        .filter_map(|a| a.as_ref().ok().copied())
        .collect();
    assert_eq!(kept.len(), 1, "exactly one append wins: {answers:?}");
    let lost = answers.into_iter().find_map(Result::err).unwrap();
    assert_eq!(code(lost), "media.upload_offset_mismatch");
    let status = world.upload_status(creator, &open.id).await.unwrap();
    assert_eq!(status.offset, kept[0]);
    assert_eq!(
        world.stored_parts().len(),
        1,
        "the losing append's object is deleted"
    );
}
