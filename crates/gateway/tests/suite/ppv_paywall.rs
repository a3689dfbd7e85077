//! The pay-per-view paywall seen from outside: an account that did not create a PPV item and
//! did not buy it is never told it may see it, whichever creator it names in the question and in
//! whichever order it asks (the first answer is cached, so a wrong first answer would be served
//! for every later question too).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_devstack::platform::Platform;
use df_media::testing::TestMedia;
use df_payments::testing::TestPayments;

use crate::support::ppv_post;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ppv_item_is_never_unlocked_by_naming_oneself_or_its_creator() {
    let platform = Platform::builder()
        .with::<TestPayments>()
        .with::<TestMedia>()
        .start()
        .await;
    let (creator, creator_id) = platform.signed_in("ppv_maker", "creator").await;
    let (fan, fan_id) = platform.signed_in("ppv_snoop", "fan").await;
    let item_id = &ppv_post(&platform, &creator, 1500).await;

    // The reproduction: first naming oneself as the creator, then the real creator.
    for named in [&fan_id, &creator_id, &fan_id] {
        let (status, answer) = platform
            .get_json(
                &format!("/v1/creators/{named}/entitlement?ppv_item_id={item_id}"),
                &fan,
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["allowed"], false, "naming {named}: {answer}");
        assert_eq!(answer["reason"], "none", "naming {named}: {answer}");
    }

    // The creator sees their own item, but only under their own name.
    let (status, answer) = platform
        .get_json(
            &format!("/v1/creators/{creator_id}/entitlement?ppv_item_id={item_id}"),
            &creator,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["allowed"], true, "{answer}");
    assert_eq!(answer["reason"], "owner", "{answer}");
    let (_, answer) = platform
        .get_json(
            &format!("/v1/creators/{fan_id}/entitlement?ppv_item_id={item_id}"),
            &creator,
        )
        .await;
    assert_eq!(
        answer["allowed"], false,
        "the item is not the fan's: {answer}"
    );
    platform.stop().await;
}
