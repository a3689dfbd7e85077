//! A subscriber's files through the real gateway, identity, payments, media and clamd: a fan
//! who subscribed and paid gets signed URLs for a subscribers' post that serve the file and its
//! ranges as private, until they expire; a fan who did not is refused with a code; and the
//! delivery reaches payments' access log. A post reserved to a tier opens to that tier and
//! dearer ones only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_devstack::platform::Platform;
use df_media::testing::TestMedia;
use df_payments::testing::TestPayments;
use reqwest::{Method, StatusCode, header};
use serde_json::json;

use crate::support::{
    buy_ppv, checkout_urls, eventually_some, onboard, pay, ppv_post, published_photo,
    subscription_checkout, tier,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_gets_private_urls_that_expire_and_a_stranger_is_refused() {
    // As on one machine (df-dev): the gateway reads media's store itself, media names the file.
    let store = tempfile::tempdir().unwrap();
    let root = store.path().join("store");
    let media_root = root.clone();
    let platform = Platform::builder()
        .with::<TestPayments>()
        .configure::<TestMedia>(move |config| {
            config.own.delivery.url_ttl_secs = 10;
            config.own.storage.root = media_root;
        })
        .gateway(move |config| config.media_store.root = Some(root))
        .start()
        .await;
    let (creator, creator_id) = platform.signed_in("sub_maker", "creator").await;
    let (fan, fan_id) = platform.signed_in("sub_fan", "fan").await;
    let (stranger, _) = platform.signed_in("sub_stranger", "fan").await;
    onboard(&platform, &creator).await;

    let tier = tier(&platform, &creator, "Gold", 999).await;
    let checkout = subscription_checkout(&platform, &fan, &tier["id"]).await;
    pay(&platform, &checkout, &checkout_urls().0).await;
    let entitlement = format!("/v1/creators/{creator_id}/entitlement");
    eventually_some("the subscription is active", || async {
        let (_, answer) = platform.get_json(&entitlement, &fan).await;
        (answer["allowed"] == true).then_some(())
    })
    .await;

    let photo = published_photo(&platform, &creator).await;
    let (status, post) = platform
        .send_json(
            Method::POST,
            "/v1/creator/posts",
            &creator,
            Some(
                json!({"body": "For subscribers", "visibility": "subscribers",
                        "media_ids": [photo]}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{post}");

    // The stranger sees the post locked and is refused its file with a code.
    let (status, refused) = platform
        .get_json(&format!("/v1/media/{photo}/url"), &stranger)
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (403, Some("media.not_entitled"))
    );

    // The subscriber's URL serves the file and its ranges, privately.
    let (status, signed) = platform
        .get_json(&format!("/v1/media/{photo}/url"), &fan)
        .await;
    assert_eq!(status, 200, "{signed}");
    let url = platform.url(signed["url"].as_str().unwrap());
    let whole = platform.http().get(&url).send().await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()[header::CACHE_CONTROL], "private, no-store");
    let whole_etag = whole.headers()[header::ETAG].clone();
    let body = whole.bytes().await.unwrap();
    let ranged = platform
        .http()
        .get(&url)
        .header(header::RANGE, "bytes=2-9")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        ranged.headers()[header::CONTENT_RANGE],
        format!("bytes 2-9/{}", body.len()).as_str()
    );
    assert_eq!(ranged.bytes().await.unwrap(), body.slice(2..10));
    let tail = platform
        .http()
        .get(&url)
        .header(header::RANGE, format!("bytes={}-", body.len() - 3))
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.bytes().await.unwrap(), body.slice(body.len() - 3..));
    let etag = whole_etag.clone();
    let unchanged = platform
        .http()
        .get(&url)
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    // The gateway read the file from the store: the bytes are the stored ones.
    let stored = std::fs::read(store.path().join(format!("store/media/{photo}/display"))).unwrap();
    assert_eq!(body, stored);

    // The delivery is in payments' access log.
    let payments = platform.member::<TestPayments>();
    eventually_some("the delivery in payments' access log", || async {
        let log = payments
            .access_evidence(fan_id.parse().unwrap(), creator_id.parse().unwrap())
            .await;
        log.contains(&format!("media {photo}")).then_some(())
    })
    .await;

    // Ten seconds on, the same URL is refused.
    let expired = eventually_some("the URL expires", || async {
        let answer = platform.http().get(&url).send().await.unwrap();
        (answer.status() == StatusCode::FORBIDDEN).then_some(answer)
    })
    .await;
    let problem: serde_json::Value = expired.json().await.unwrap();
    assert_eq!(problem["code"], "media.invalid_signature");
}

/// A fan's home feed is cached whole and served without asking payments, and still shows what
/// a subscription and then a purchase unlock: payments announces each change (an entitlement
/// change, a PPV payment), and the cached answer moves aside. With a time to live that outlives
/// the test, nothing else could retire it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_feed_unlocks_what_the_fan_paid_for_once_payments_announces_it() {
    let Followed {
        platform,
        creator,
        creator_id,
        fan,
        tier,
    } = followed_creator_with_a_subscribers_post("home").await;
    let item_id = ppv_post(&platform, &creator, 700).await;

    // (visibility, locked) of each post on the fan's home feed.
    let home = async || -> Vec<(String, bool)> {
        let (status, page) = platform.get_json("/v1/me/feed", &fan).await;
        assert_eq!(status, 200, "{page}");
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|post| {
                (
                    post["visibility"].as_str().unwrap().to_owned(),
                    post["locked"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let locked = vec![("ppv".to_owned(), true), ("subscribers".to_owned(), true)];
    assert_eq!(home().await, locked);
    assert_eq!(home().await, locked, "the cached answer says the same");
    let hits = home_hits(&platform).await;
    assert!(hits > 0, "the second read came from the cache");

    let entitlement = format!("/v1/creators/{creator_id}/entitlement");
    let checkout = subscription_checkout(&platform, &fan, &tier["id"]).await;
    pay(&platform, &checkout, &checkout_urls().0).await;
    eventually_some("the subscription is active", || async {
        let (_, answer) = platform.get_json(&entitlement, &fan).await;
        (answer["allowed"] == true).then_some(())
    })
    .await;
    let subscribed = vec![("ppv".to_owned(), true), ("subscribers".to_owned(), false)];
    eventually_some("the home feed shows the subscription", || async {
        (home().await == subscribed).then_some(())
    })
    .await;

    buy_ppv(&platform, &fan, &item_id).await;
    let item_entitlement = format!("{entitlement}?ppv_item_id={item_id}");
    eventually_some("the purchase unlocks the item", || async {
        let (_, answer) = platform.get_json(&item_entitlement, &fan).await;
        (answer["allowed"] == true).then_some(())
    })
    .await;
    let bought = vec![("ppv".to_owned(), false), ("subscribers".to_owned(), false)];
    eventually_some("the home feed shows the purchase", || async {
        (home().await == bought).then_some(())
    })
    .await;
    assert_eq!(home().await, bought);
    assert!(
        home_hits(&platform).await > hits,
        "answers are cached again after each change"
    );
}

/// A cached home answer holds only until the first of the fan's subscriptions lapses by the
/// clock alone: here a past-due subscription's grace period ends, and nothing is announced, so
/// only the moment payments gave with its list (`changes_at`) can retire the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_home_feed_locks_when_a_subscription_lapses_unannounced() {
    // The follow keeps the post on the home feed, locked, once access ends.
    let Followed {
        platform,
        creator_id,
        fan,
        tier,
        ..
    } = followed_creator_with_a_subscribers_post("lapse").await;
    let locked = async || -> bool {
        let (status, page) = platform.get_json("/v1/me/feed", &fan).await;
        assert_eq!(status, 200, "{page}");
        page["items"][0]["locked"].as_bool().unwrap()
    };
    assert!(locked().await);
    let checkout = subscription_checkout(&platform, &fan, &tier["id"]).await;
    pay(&platform, &checkout, &checkout_urls().0).await;
    eventually_some("the subscription opens the post", || async {
        (!locked().await).then_some(())
    })
    .await;

    // Both services' clocks move a month on; the renewal fails and the subscription is past
    // due, with three days of grace (announced: its answers are computed again).
    let payments = platform.member::<TestPayments>();
    let media_clock = &platform.member::<TestMedia>().clock;
    payments.simulated().set_fail_renewals(true);
    payments.simulated().advance(chrono::Duration::days(31));
    media_clock.advance(chrono::Duration::days(31));
    eventually_some("the subscription is past due", || async {
        let (_, mine) = platform.get_json("/v1/me/subscriptions", &fan).await;
        (mine["items"][0]["status"] == "past_due").then_some(())
    })
    .await;
    // Until two reads in a row come from the cache, the announcement may still be on its way.
    eventually_some("a past-due answer is cached", || async {
        let before = home_hits(&platform).await;
        assert!(!locked().await, "the grace period keeps the post open");
        assert!(!locked().await);
        (home_hits(&platform).await == before + 2).then_some(())
    })
    .await;

    // The grace period ends with no event: the cached answer must not outlive it.
    payments.simulated().advance(chrono::Duration::days(4));
    media_clock.advance(chrono::Duration::days(4));
    let entitlement = format!("/v1/creators/{creator_id}/entitlement");
    let (_, answer) = platform.get_json(&entitlement, &fan).await;
    assert_eq!(answer["allowed"], false, "payments ended the access");
    assert!(locked().await, "the home feed follows at once");
}

/// A platform whose cached home answers outlive the test (only what they were computed from
/// can retire them), an onboarded creator with a tier and a subscribers' post, and a fan who
/// follows the creator for free.
struct Followed {
    platform: Platform,
    creator: String,
    creator_id: String,
    fan: String,
    tier: serde_json::Value,
}

async fn followed_creator_with_a_subscribers_post(name: &str) -> Followed {
    let platform = Platform::builder()
        .with::<TestPayments>()
        .configure::<TestMedia>(|config| config.own.feed.cache_ttl_secs = 600)
        .start()
        .await;
    let (creator, creator_id) = platform
        .signed_in(&format!("{name}_maker"), "creator")
        .await;
    let (fan, _) = platform.signed_in(&format!("{name}_fan"), "fan").await;
    onboard(&platform, &creator).await;
    let tier = tier(&platform, &creator, "Monthly", 499).await;
    let (status, post) = platform
        .send_json(
            Method::POST,
            "/v1/creator/posts",
            &creator,
            Some(json!({"body": "For subscribers", "visibility": "subscribers"})),
        )
        .await;
    assert_eq!(status, 201, "{post}");
    let (status, _) = platform
        .send_json(
            Method::PUT,
            &format!("/v1/creators/{creator_id}/follow"),
            &fan,
            None,
        )
        .await;
    assert_eq!(status, 200);
    Followed {
        platform,
        creator,
        creator_id,
        fan,
        tier,
    }
}

/// Home-feed answers media served from its cache so far.
async fn home_hits(platform: &Platform) -> u64 {
    df_testkit::metrics::value(
        &platform.member::<TestMedia>().service.metrics().await,
        "df_media_feed_cache_total{layer=\"home\",result=\"hit\"}",
    )
}

/// A subscribers' post reserved to a tier opens to subscribers of that tier or a dearer one,
/// on the post, in the home feed and for its files; when the creator reprices a tier, what
/// each subscriber sees follows, cached home answers included (payments announces the change
/// for the creator's subscribers; the post and its files ask payments each time). A minimum
/// tier that is not
/// the creator's, or on a post not for subscribers, is refused with a code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_reserved_to_a_tier_opens_to_that_price_and_above() {
    let platform = Platform::builder()
        .with::<TestPayments>()
        // Cached answers would outlive the test: only what they depend on can retire them.
        .configure::<TestMedia>(|config| config.own.feed.cache_ttl_secs = 600)
        .start()
        .await;
    let (creator, creator_id) = platform.signed_in("tiered_maker", "creator").await;
    let (basic_fan, _) = platform.signed_in("tiered_basic", "fan").await;
    let (vip_fan, _) = platform.signed_in("tiered_vip", "fan").await;
    onboard(&platform, &creator).await;
    let basic = tier(&platform, &creator, "Basic", 499).await;
    let vip = tier(&platform, &creator, "VIP", 1_999).await;
    for (fan, tier) in [(&basic_fan, &basic), (&vip_fan, &vip)] {
        let checkout = subscription_checkout(&platform, fan, &tier["id"]).await;
        pay(&platform, &checkout, &checkout_urls().0).await;
    }
    let entitlement = format!("/v1/creators/{creator_id}/entitlement");
    for fan in [&basic_fan, &vip_fan] {
        eventually_some("the subscription is active", || async {
            let (_, answer) = platform.get_json(&entitlement, fan).await;
            (answer["allowed"] == true).then_some(())
        })
        .await;
    }

    let write = async |post: serde_json::Value| {
        platform
            .send_json(Method::POST, "/v1/creator/posts", &creator, Some(post))
            .await
    };
    let (status, refused) = write(json!({"body": "For all", "visibility": "public",
        "min_tier_id": vip["id"]}))
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("media.min_tier_mismatch"))
    );
    let (status, refused) = write(json!({"body": "Not mine", "visibility": "subscribers",
        "min_tier_id": uuid::Uuid::now_v7()}))
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("media.unknown_tier"))
    );
    let photo = published_photo(&platform, &creator).await;
    let (status, post) = write(json!({"body": "VIP only", "visibility": "subscribers",
        "min_tier_id": vip["id"], "media_ids": [photo]}))
    .await;
    assert_eq!(status, 201, "{post}");
    assert_eq!(post["min_tier_id"], vip["id"]);
    let post_path = format!("/v1/posts/{}", post["id"].as_str().unwrap());

    // (locked on the post, locked on the home feed, status of a URL of its file) for a fan.
    let sees = async |fan: &str| {
        let (status, read) = platform.get_json(&post_path, fan).await;
        assert_eq!(status, 200, "{read}");
        assert_eq!(
            read["min_tier_id"], vip["id"],
            "the tier shows, locked or not"
        );
        let (status, page) = platform.get_json("/v1/me/feed", fan).await;
        assert_eq!(status, 200, "{page}");
        let (url_status, _) = platform
            .get_json(&format!("/v1/media/{photo}/url"), fan)
            .await;
        (
            read["locked"].as_bool().unwrap(),
            page["items"][0]["locked"].as_bool().unwrap(),
            url_status,
        )
    };
    assert_eq!(sees(&vip_fan).await, (false, false, 200));
    assert_eq!(sees(&basic_fan).await, (true, true, 403));
    assert_eq!(
        sees(&basic_fan).await,
        (true, true, 403),
        "cached, the same"
    );

    let reprice_vip = async |amount_minor: i64| {
        let (status, repriced) = platform
            .send_json(
                Method::PATCH,
                &format!("/v1/creator/tiers/{}", vip["id"].as_str().unwrap()),
                &creator,
                Some(json!({"name": "VIP",
                    "price": {"amount_minor": amount_minor, "currency": "usd"}})),
            )
            .await;
        assert_eq!(status, 200, "{repriced}");
    };
    // VIP now costs less than Basic: Basic's subscribers are at or above it.
    reprice_vip(299).await;
    let opened = (false, false, 200);
    eventually_some("Basic's subscriber sees the post", || async {
        (sees(&basic_fan).await == opened).then_some(())
    })
    .await;
    assert_eq!(sees(&vip_fan).await, opened);

    // Dearer again than Basic: Basic's subscribers are locked out again.
    reprice_vip(2_499).await;
    eventually_some("Basic's subscriber is locked out", || async {
        (sees(&basic_fan).await == (true, true, 403)).then_some(())
    })
    .await;
    assert_eq!(sees(&vip_fan).await, opened);
}
