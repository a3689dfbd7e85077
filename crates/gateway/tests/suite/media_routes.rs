//! The media routes through the real gateway, identity, payments and media: a creator posts, a
//! fan sees the paid post locked in the creator's feed and in their home feed, buys it on the
//! provider's page, and then reads it whole; bad input is refused with its code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_devstack::platform::Platform;
use df_media::testing::TestMedia;
use df_payments::testing::TestPayments;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{buy_ppv, eventually_some, onboard};

/// The whole text of the paid post: longer than the preview.
const PAID_TEXT: &str = "The full-length cut of this week's shoot, with the lighting setup, \
    the outtakes, the playlist we used and a long note on how the set was built from scratch.";

fn ids(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|post| post["id"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_buys_a_locked_post_and_then_reads_it_whole() {
    let platform = Platform::builder()
        .with::<TestPayments>()
        .with::<TestMedia>()
        .start()
        .await;
    let (creator, creator_id) = platform.signed_in("post_maker", "creator").await;
    let (fan, _) = platform.signed_in("post_buyer", "fan").await;
    let (other_fan, _) = platform.signed_in("post_looker", "fan").await;
    onboard(&platform, &creator).await;

    let post =
        |body: Value| platform.send_json(Method::POST, "/v1/creator/posts", &creator, Some(body));
    let (status, public) = post(json!({"body": "Hello, fans", "visibility": "public"})).await;
    assert_eq!(status, 201, "{public}");
    let (status, paid) = post(json!({
        "body": PAID_TEXT,
        "visibility": "ppv",
        "price": {"amount_minor": 900, "currency": "usd"},
    }))
    .await;
    assert_eq!(status, 201, "{paid}");
    assert_eq!(paid["body"], PAID_TEXT, "its creator sees it whole");
    let item = paid["ppv_item_id"].as_str().unwrap().to_owned();
    let paid_path = format!("/v1/posts/{}", paid["id"].as_str().unwrap());

    // Locked for fans: the preview and the price, never the whole text.
    let feed_path = format!("/v1/creators/{creator_id}/posts?limit=1");
    let (status, first) = platform.get_json(&feed_path, &fan).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(ids(&first), [paid["id"].as_str().unwrap()]);
    let locked = &first["items"][0];
    assert_eq!(locked["locked"], true);
    assert_ne!(locked["body"], PAID_TEXT);
    assert!(locked["body"].as_str().unwrap().ends_with('…'), "{locked}");
    assert_eq!(
        locked["price"],
        json!({"amount_minor": 900, "currency": "usd"})
    );
    let cursor = first["next_cursor"].as_str().unwrap();
    let (status, second) = platform
        .get_json(&format!("{feed_path}&cursor={cursor}"), &fan)
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(ids(&second), [public["id"].as_str().unwrap()]);
    assert_eq!(second["items"][0]["locked"], false);
    assert_eq!(second["next_cursor"], Value::Null);

    // Following brings both into the home feed.
    let follow = format!("/v1/creators/{creator_id}/follow");
    let (status, answer) = platform.send_json(Method::PUT, &follow, &fan, None).await;
    assert_eq!((status, &answer), (200, &json!({"following": true})));
    let (status, home) = platform.get_json("/v1/me/feed", &fan).await;
    assert_eq!(status, 200, "{home}");
    assert_eq!(ids(&home).len(), 2);

    // Buying it on the provider's page unlocks it for the buyer only.
    buy_ppv(&platform, &fan, &item).await;
    let bought = eventually_some("the purchase unlocks the post", || async {
        let (_, post) = platform.get_json(&paid_path, &fan).await;
        (post["locked"] == false).then_some(post)
    })
    .await;
    assert_eq!(bought["body"], PAID_TEXT);
    let (_, still_locked) = platform.get_json(&paid_path, &other_fan).await;
    assert_eq!(still_locked["locked"], true, "{still_locked}");

    let (status, answer) = platform
        .send_json(Method::DELETE, &follow, &fan, None)
        .await;
    assert_eq!((status, &answer), (200, &json!({"following": false})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_keep_their_codes_through_the_gateway() {
    let platform = Platform::builder()
        .with::<TestPayments>()
        .with::<TestMedia>()
        .start()
        .await;
    let (creator, creator_id) = platform.signed_in("refused_maker", "creator").await;
    let (fan, _) = platform.signed_in("refused_fan", "fan").await;
    let cases = [
        (
            &creator,
            json!({"body": "hi", "visibility": "secret"}),
            400,
            "media.invalid_visibility",
        ),
        (
            &creator,
            json!({"body": " ", "visibility": "public"}),
            400,
            "media.empty_post",
        ),
        (
            &creator,
            json!({"body": "hi", "visibility": "ppv"}),
            400,
            "media.price_mismatch",
        ),
        (
            &creator,
            json!({"body": "hi", "visibility": "public", "extra": 1}),
            400,
            "common.invalid_json",
        ),
        (
            &creator,
            json!({"body": "hi\u{0}", "visibility": "public"}),
            400,
            "common.invalid_json",
        ),
        (
            &fan,
            json!({"body": "hi", "visibility": "public"}),
            403,
            "common.forbidden",
        ),
    ];
    for (who, body, status, code) in cases {
        let (got, problem) = platform
            .send_json(Method::POST, "/v1/creator/posts", who, Some(body.clone()))
            .await;
        assert_eq!(
            (got, problem["code"].as_str()),
            (status, Some(code)),
            "{body}: {problem}"
        );
    }
    let reads = [
        (
            "/v1/posts/not-a-uuid".to_owned(),
            400,
            "common.invalid_path",
        ),
        (
            format!("/v1/posts/{}", uuid::Uuid::now_v7()),
            404,
            "media.post_not_found",
        ),
        (
            format!("/v1/creators/{creator_id}/posts?cursor=bm9wZQ"),
            400,
            "media.invalid_cursor",
        ),
        (
            format!("/v1/creators/{creator_id}/posts?limit=1000"),
            400,
            "media.invalid_limit",
        ),
    ];
    for (path, status, code) in reads {
        let (got, problem) = platform.get_json(&path, &fan).await;
        assert_eq!(
            (got, problem["code"].as_str()),
            (status, Some(code)),
            "{path}: {problem}"
        );
    }
    let (status, feed) = platform
        .get_json(&format!("/v1/creators/{creator_id}/posts"), &creator)
        .await;
    assert_eq!(
        (status, ids(&feed).len()),
        (200, 0),
        "nothing was stored: {feed}"
    );
}
