//! Files through the real gateway, identity, payments, media and clamd: a creator uploads a
//! photo, it is scanned and published, a fan sees it on a public post through a signed URL that
//! serves ranges and conditional requests; a post for subscribers names no file and its URL is
//! refused; the delivery reaches payments' access log; hostile uploads keep their codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_devstack::platform::Platform;
use df_media::testing::TestMedia;
use df_payments::testing::TestPayments;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::support::{eventually_some, photo, published_photo, upload};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_views_a_published_photo_by_a_signed_url_that_serves_ranges() {
    let platform = Platform::builder()
        .with::<TestPayments>()
        .with::<TestMedia>()
        .start()
        .await;
    let (creator, creator_id) = platform.signed_in("photo_maker", "creator").await;
    let (fan, fan_id) = platform.signed_in("photo_viewer", "fan").await;
    let public_photo = published_photo(&platform, &creator).await;
    let private_photo = published_photo(&platform, &creator).await;

    let post =
        |body: Value| platform.send_json(Method::POST, "/v1/creator/posts", &creator, Some(body));
    let (status, public) = post(json!({
        "body": "At the beach", "visibility": "public", "media_ids": [public_photo],
    }))
    .await;
    assert_eq!(status, 201, "{public}");
    assert_eq!(public["attachments"][0]["media_id"], public_photo.as_str());
    let (status, locked) = post(json!({
        "body": "Only for subscribers", "visibility": "subscribers", "media_ids": [private_photo],
    }))
    .await;
    assert_eq!(status, 201, "{locked}");

    // The locked post shows one JPEG and no id; asking for its file is refused.
    let (_, seen) = platform
        .get_json(
            &format!("/v1/posts/{}", locked["id"].as_str().unwrap()),
            &fan,
        )
        .await;
    assert_eq!(seen["locked"], true);
    assert_eq!(
        seen["attachments"],
        json!([{"media_id": null, "kind": "jpeg", "width": 40, "height": 30, "duration_ms": null,
            "thumbnails": true}])
    );
    let (status, refused) = platform
        .get_json(&format!("/v1/media/{private_photo}/url"), &fan)
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (403, Some("media.not_entitled"))
    );
    // Another creator's file's state is not the fan's to read.
    let (status, hidden) = platform
        .get_json(&format!("/v1/media/{public_photo}"), &fan)
        .await;
    assert_eq!(
        (status, hidden["code"].as_str()),
        (404, Some("media.media_not_found"))
    );

    // The public one: a URL that needs no session.
    let (status, signed) = platform
        .get_json(&format!("/v1/media/{public_photo}/url"), &fan)
        .await;
    assert_eq!(status, 200, "{signed}");
    let url = platform.url(signed["url"].as_str().unwrap());
    let whole = platform.http().get(&url).send().await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    let headers = whole.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(
        headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers[header::CONTENT_DISPOSITION].to_str().unwrap(),
        format!("inline; filename=\"{public_photo}.jpg\"")
    );
    assert_eq!(headers[header::ACCEPT_RANGES], "bytes");
    let body = whole.bytes().await.unwrap();
    let decoded = image::load_from_memory(&body).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (40, 30));

    let ranged = platform
        .http()
        .get(&url)
        .header(header::RANGE, "bytes=4-13")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        ranged.headers()[header::CONTENT_RANGE].to_str().unwrap(),
        format!("bytes 4-13/{}", body.len())
    );
    assert_eq!(ranged.bytes().await.unwrap(), body.slice(4..14));

    let etag = headers[header::ETAG].to_str().unwrap();
    let again = platform
        .http()
        .get(&url)
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let tampered = url.replace(&public_photo, &private_photo);
    let refused = platform.http().get(&tampered).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["code"], "media.invalid_signature");

    // The URL handed to the fan reached payments' access log, where a dispute finds it; the
    // refused one did not.
    let payments = platform.member::<TestPayments>();
    let evidence = eventually_some("the delivery in payments' access log", async || {
        let log = payments
            .access_evidence(fan_id.parse().unwrap(), creator_id.parse().unwrap())
            .await;
        log.starts_with("1 delivery of").then_some(log)
    })
    .await;
    assert!(
        evidence.contains(&format!("media {public_photo}")),
        "{evidence}"
    );
    assert!(!evidence.contains(&private_photo), "{evidence}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_uploads_keep_their_codes_through_the_gateway() {
    let platform = Platform::builder()
        .with::<TestPayments>()
        .with::<TestMedia>()
        .start()
        .await;
    let (creator, _) = platform.signed_in("hostile_maker", "creator").await;
    let (fan, _) = platform.signed_in("hostile_fan", "fan").await;
    let html = b"<!DOCTYPE html><html><script>alert(1)</script></html>".to_vec();
    let cases = [
        (
            "page.jpg",
            "image/jpeg",
            html,
            422,
            "media.unsupported_type",
        ),
        (
            "photo.png",
            "image/png",
            photo(),
            422,
            "media.type_mismatch",
        ),
        ("empty.jpg", "image/jpeg", Vec::new(), 400, "media.empty"),
    ];
    for (file_name, content_type, bytes, status, code) in cases {
        let (got, problem) = upload(&platform, &creator, file_name, content_type, bytes).await;
        assert_eq!(
            (got, problem["code"].as_str()),
            (status, Some(code)),
            "{file_name}"
        );
    }
    let (status, problem) = upload(&platform, &fan, "photo.jpg", "image/jpeg", photo()).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("common.forbidden"))
    );
}
