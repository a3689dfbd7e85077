//! tus 1.0 through the real gateway, identity, payments, media and clamd: a creator uploads a
//! video whose connection breaks off halfway, asks where it stands and goes on; the file is
//! scanned, published and served to a fan byte for byte. The protocol's refusals (version,
//! body type, offset) carry their statuses and codes, and termination deletes an upload.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_devstack::platform::Platform;
use df_filetype::fixtures::mp4_with_samples as movie;
use df_media::testing::TestMedia;
use df_payments::testing::TestPayments;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::support::eventually_some;

/// `Upload-Metadata` naming `file_name` of `file_type`, as tus-js-client writes it.
fn metadata(file_name: &str, file_type: &str) -> String {
    use base64::Engine;
    let encode = |value: &str| base64::engine::general_purpose::STANDARD.encode(value);
    format!(
        "filename {},filetype {}",
        encode(file_name),
        encode(file_type)
    )
}

/// Opens an upload of `length` bytes; its path.
async fn open(platform: &Platform, token: &str, length: usize) -> String {
    let response = platform
        .http()
        .post(platform.url("/v1/creator/uploads"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", length.to_string())
        .header("Upload-Metadata", metadata("holiday.mp4", "video/mp4"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let headers = response.headers();
    assert_eq!(headers["tus-resumable"], "1.0.0");
    assert!(headers.contains_key("upload-expires"));
    let location = headers[header::LOCATION].to_str().unwrap().to_owned();
    assert!(location.starts_with("/v1/creator/uploads/"), "{location}");
    location
}

/// `HEAD` on an upload: its status and `Upload-Offset`.
async fn offset(platform: &Platform, token: &str, location: &str) -> (StatusCode, Option<u64>) {
    let response = platform
        .http()
        .head(platform.url(location))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["tus-resumable"], "1.0.0");
    let offset = response
        .headers()
        .get("upload-offset")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (response.status(), offset)
}

/// `PATCH` `bytes` at `offset`.
async fn append(
    platform: &Platform,
    token: &str,
    location: &str,
    offset: usize,
    bytes: Vec<u8>,
) -> reqwest::Response {
    platform
        .http()
        .patch(platform.url(location))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", offset.to_string())
        .header(header::CONTENT_TYPE, "application/offset+octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

/// Sends a `PATCH` announcing `announced` bytes, writes only `sent`, and drops the connection
/// once media has them: a client whose network went away.
async fn append_and_break_off(
    platform: &Platform,
    token: &str,
    location: &str,
    announced: usize,
    sent: &[u8],
) {
    let address = platform.url("").trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Tus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n\
         Content-Type: application/offset+octet-stream\r\nContent-Length: {announced}\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(sent).await.unwrap();
    socket.flush().await.unwrap();
    // Media spools an append as it arrives: once the spool file holds every byte sent, the
    // connection breaks.
    let spool = platform.member::<TestMedia>().files.path().join("spool");
    eventually_some("media received what was sent", || async {
        std::fs::read_dir(&spool)
            .unwrap()
            .filter_map(Result::ok)
            .any(|entry| entry.metadata().is_ok_and(|m| m.len() == sent.len() as u64))
            .then_some(())
    })
    .await;
    drop(socket);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_uploaded_with_tus_goes_on_after_a_broken_connection_and_is_served_whole() {
    let platform = Platform::builder()
        .with::<TestPayments>()
        .with::<TestMedia>()
        .start()
        .await;
    let (creator, _) = platform.signed_in("tus_maker", "creator").await;
    let (fan, _) = platform.signed_in("tus_viewer", "fan").await;
    let http = platform.http();

    // Discovery.
    let options = http
        .request(Method::OPTIONS, platform.url("/v1/creator/uploads"))
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), StatusCode::NO_CONTENT);
    assert_eq!(options.headers()["tus-version"], "1.0.0");
    assert_eq!(
        options.headers()["tus-extension"],
        "creation,termination,expiration"
    );

    let clip = movie(400 * 1024);
    let location = open(&platform, &creator, clip.len()).await;

    // The connection breaks off after 150 KiB: those bytes are kept.
    let cut = 150 * 1024;
    append_and_break_off(&platform, &creator, &location, clip.len(), &clip[..cut]).await;
    let reached = eventually_some("the broken-off append is kept", || async {
        match offset(&platform, &creator, &location).await {
            (StatusCode::OK, Some(reached)) if reached > 0 => Some(reached),
            _ => None,
        }
    })
    .await;
    assert_eq!(reached, cut as u64, "every byte that arrived is kept");

    // Refusals of the protocol.
    let stale = append(&platform, &creator, &location, 0, clip[..1024].to_vec()).await;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    assert_eq!(stale.headers()["tus-resumable"], "1.0.0");
    let problem: Value = stale.json().await.unwrap();
    assert_eq!(problem["code"], "media.upload_offset_mismatch");
    let typeless = http
        .patch(platform.url(&location))
        .bearer_auth(&creator)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", cut.to_string())
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(clip[cut..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(typeless.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let versionless = http
        .patch(platform.url(&location))
        .bearer_auth(&creator)
        .header("Upload-Offset", cut.to_string())
        .header(header::CONTENT_TYPE, "application/offset+octet-stream")
        .body(clip[cut..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(versionless.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(versionless.headers()["tus-version"], "1.0.0");
    let problem: Value = versionless.json().await.unwrap();
    assert_eq!(
        (problem["status"].as_u64(), problem["code"].as_str()),
        (Some(412), Some("gateway.tus_version"))
    );
    assert_eq!(
        offset(&platform, &fan, &location).await.0,
        StatusCode::FORBIDDEN,
        "fans do not upload"
    );
    assert_eq!(
        offset(&platform, &creator, &location).await.1,
        Some(cut as u64),
        "refusals moved nothing"
    );

    // The rest, from where it stands.
    let done = append(&platform, &creator, &location, cut, clip[cut..].to_vec()).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        done.headers()["upload-offset"].to_str().unwrap(),
        clip.len().to_string()
    );
    let file = done.headers()[header::CONTENT_LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let id = location.trim_start_matches("/v1/creator/uploads/");
    assert_eq!(file, format!("/v1/media/{id}"));
    assert_eq!(
        offset(&platform, &creator, &location).await.0,
        StatusCode::NOT_FOUND,
        "a completed upload is closed"
    );

    eventually_some("the video is scanned and published", || async {
        let (_, file) = platform.get_json(&file, &creator).await;
        (file["state"] == "published").then_some(())
    })
    .await;
    let (status, post) = platform
        .send_json(
            Method::POST,
            "/v1/creator/posts",
            &creator,
            Some(json!({"body": "Holiday", "visibility": "public", "media_ids": [id]})),
        )
        .await;
    assert_eq!(status, 201, "{post}");
    let (status, signed) = platform.get_json(&format!("{file}/url"), &fan).await;
    assert_eq!(status, 200, "{signed}");
    let url = platform.url(signed["url"].as_str().unwrap());
    let served = http.get(&url).send().await.unwrap();
    assert_eq!(served.headers()[header::CONTENT_TYPE], "video/mp4");
    assert!(
        served.bytes().await.unwrap() == clip,
        "served byte for byte"
    );
    let tail = http
        .get(&url)
        .header(header::RANGE, format!("bytes={cut}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert!(
        tail.bytes().await.unwrap() == clip[cut..],
        "a range across both appends"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tus_termination_and_bad_announcements() {
    let platform = Platform::builder()
        .with::<TestPayments>()
        .with::<TestMedia>()
        .start()
        .await;
    let (creator, _) = platform.signed_in("tus_quitter", "creator").await;
    let http = platform.http();
    let create = |length: &str, metadata: String| {
        http.post(platform.url("/v1/creator/uploads"))
            .bearer_auth(&creator)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", length.to_owned())
            .header("Upload-Metadata", metadata)
            .send()
    };
    let refusals = [
        (
            "-5",
            metadata("a.mp4", "video/mp4"),
            400,
            "gateway.upload_length_required",
        ),
        (
            "100",
            "filename !!!".to_owned(),
            400,
            "gateway.invalid_upload_metadata",
        ),
        (
            "100",
            metadata("a.exe", "application/x-msdownload"),
            422,
            "media.unsupported_type",
        ),
        (
            "99999999999",
            metadata("a.jpg", "image/jpeg"),
            413,
            "media.too_large",
        ),
    ];
    for (length, metadata, status, code) in refusals {
        let response = create(length, metadata).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{code}");
        assert_eq!(response.headers()["tus-resumable"], "1.0.0");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], code);
    }
    // Control characters in a declared name are dropped: Postgres cannot store NUL in text.
    let named = create("100", metadata("clip\0\u{1b}.mp4", "video/mp4"));
    assert_eq!(named.await.unwrap().status(), StatusCode::CREATED);

    // DELETE, and DELETE sent as POST with the override header.
    let clip = movie(8 * 1024);
    for overridden in [false, true] {
        let location = open(&platform, &creator, clip.len()).await;
        let sent = append(&platform, &creator, &location, 0, clip[..4096].to_vec()).await;
        assert_eq!(sent.status(), StatusCode::NO_CONTENT);
        let request = if overridden {
            http.post(platform.url(&location))
                .header("X-HTTP-Method-Override", "DELETE")
        } else {
            http.delete(platform.url(&location))
        };
        let deleted = request
            .bearer_auth(&creator)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            offset(&platform, &creator, &location).await.0,
            StatusCode::NOT_FOUND
        );
    }
}
