//! What the end-to-end tests of several route groups share: waiting for what happens in the
//! background, a browser paying on the simulated provider's hosted pages, subscribing, and
//! uploading a photo.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use df_devstack::platform::Platform;
use df_payments::testing::TestPayments;
use image::{ImageEncoder, RgbImage, codecs::jpeg::JpegEncoder};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

/// Where the client app wants the provider to send people back (never followed here).
pub const APP: &str = "https://app.directfanz.test";

pub use df_testkit::eventually_some;

/// A browser that does not follow redirects, so the test sees where the provider sends it.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Pays a checkout on the provider's hosted page, as the fan's browser would.
pub async fn pay(platform: &Platform, checkout: &Value, success_url: &str) {
    let url = checkout["checkout_url"].as_str().unwrap();
    assert!(
        url.starts_with(platform.member::<TestPayments>().provider_url.as_str()),
        "{url}"
    );
    let page = browser().get(url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let paid = browser().post(url).send().await.unwrap();
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    assert_eq!(paid.headers()[header::LOCATION], success_url);
}

pub fn checkout_urls() -> (String, String) {
    (format!("{APP}/paid"), format!("{APP}/cancelled"))
}

/// Opens `fan`'s subscription checkout for `tier_id`; the checkout (pay it with [`pay`]).
pub async fn subscription_checkout(platform: &Platform, fan: &str, tier_id: &Value) -> Value {
    let (success_url, cancel_url) = checkout_urls();
    let (status, checkout) = platform
        .send_json(
            Method::POST,
            "/v1/subscriptions",
            fan,
            Some(json!({"tier_id": tier_id, "success_url": success_url, "cancel_url": cancel_url})),
        )
        .await;
    assert_eq!(status, 201, "{checkout}");
    checkout
}

/// Creates a tier of `creator` at `amount_minor` cents a month; the tier as answered.
pub async fn tier(platform: &Platform, creator: &str, name: &str, amount_minor: i64) -> Value {
    let (status, tier) = platform
        .send_json(
            Method::POST,
            "/v1/creator/tiers",
            creator,
            Some(json!({"name": name, "price": {"amount_minor": amount_minor, "currency": "usd"}})),
        )
        .await;
    assert_eq!(status, 201, "{tier}");
    tier
}

/// `fan` buys the PPV item `item_id` and pays on the provider's page.
pub async fn buy_ppv(platform: &Platform, fan: &str, item_id: &str) {
    let (success_url, cancel_url) = checkout_urls();
    let (status, checkout) = platform
        .send_json(
            Method::POST,
            &format!("/v1/ppv-items/{item_id}/purchase"),
            fan,
            Some(json!({"success_url": success_url, "cancel_url": cancel_url})),
        )
        .await;
    assert_eq!(status, 201, "{checkout}");
    pay(platform, &checkout, &success_url).await;
}

/// Publishes a post of `creator` for a one-off price of `amount_minor` cents (media offers it
/// to payments) and gives the PPV item's id.
pub async fn ppv_post(platform: &Platform, creator: &str, amount_minor: i64) -> String {
    let (status, post) = platform
        .send_json(
            Method::POST,
            "/v1/creator/posts",
            creator,
            Some(json!({
                "body": "Behind the scenes",
                "visibility": "ppv",
                "price": {"amount_minor": amount_minor, "currency": "usd"},
            })),
        )
        .await;
    assert_eq!(status, 201, "{post}");
    post["ppv_item_id"].as_str().unwrap().to_owned()
}

/// Finishes `creator`'s payout-account onboarding on the provider's page and waits until the
/// account takes payments.
pub async fn onboard(platform: &Platform, creator: &str) {
    let (status, link) = platform
        .send_json(
            Method::POST,
            "/v1/creator/payout-account/onboarding",
            creator,
            Some(json!({
                "return_url": format!("{APP}/creator/payouts"),
                "refresh_url": format!("{APP}/creator/payouts/retry"),
                "country": "US",
            })),
        )
        .await;
    assert_eq!(status, 200, "{link}");
    let page = browser()
        .get(link["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    eventually_some("the payout account takes payments", || async {
        let (status, account) = platform
            .get_json("/v1/creator/payout-account", creator)
            .await;
        (status == 200 && account["charges_enabled"] == true).then_some(())
    })
    .await;
}

/// A 40 × 30 JPEG.
pub fn photo() -> Vec<u8> {
    let picture = RgbImage::from_fn(40, 30, |x, y| {
        image::Rgb([(x * 6) as u8, (y * 8) as u8, 90])
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(&picture, 40, 30, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// Uploads `bytes` as `file_name` with `content_type`; the status and the JSON answer.
pub async fn upload(
    platform: &Platform,
    token: &str,
    file_name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let response = platform
        .http()
        .post(platform.url(&format!("/v1/creator/media?file_name={file_name}")))
        .bearer_auth(token)
        .header(header::CONTENT_TYPE, content_type)
        // Said even of an empty body: an upload without its length is refused.
        .header(header::CONTENT_LENGTH, bytes.len())
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Uploads a photo and waits until it is published; its id.
pub async fn published_photo(platform: &Platform, creator: &str) -> String {
    let (status, file) = upload(platform, creator, "beach.jpg", "image/jpeg", photo()).await;
    assert_eq!(status, 201, "{file}");
    assert_eq!(file["state"], "scanning", "{file}");
    let id = file["id"].as_str().unwrap().to_owned();
    eventually_some("the photo is scanned and published", || async {
        let (_, file) = platform.get_json(&format!("/v1/media/{id}"), creator).await;
        (file["state"] == "published").then_some(())
    })
    .await;
    id
}
