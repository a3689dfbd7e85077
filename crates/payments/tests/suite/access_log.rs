//! The access record on its own, against the service's database: erasure drops the addresses
//! and devices but keeps when and what, nothing is kept for an erased fan, retention deletes
//! only what is old, and a pay-per-view dispute's evidence covers only the item bought.

use chrono::{Duration, Utc};
use df_common::ids::{CreatorId, UserId};
use df_payments::ids::{MediaId, PostId, PpvItemId};
use df_payments::{
    access_log::{self, Delivery, Scope},
    erasure,
};

use crate::support::Payments;

fn delivery(
    fan: UserId,
    creator: CreatorId,
    ppv_item: Option<PpvItemId>,
    days_ago: i64,
) -> Delivery {
    Delivery {
        fan_id: fan,
        creator_id: creator,
        post_id: PostId::new(),
        media_id: MediaId::new(),
        ppv_item_id: ppv_item,
        delivered_at: Utc::now() - Duration::days(days_ago),
        client_ip: Some("198.51.100.20".parse().unwrap()),
        user_agent: Some("FanApp/3.1 (iPhone)".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_drops_addresses_and_devices_and_keeps_when_and_what() {
    let p = Payments::start().await;
    let mut conn = p.conn().await;
    let (fan, creator) = (UserId::new(), CreatorId::new());
    let seen = delivery(fan, creator, None, 1);
    access_log::record(&mut conn, &seen).await.unwrap();
    let scope = Scope {
        fan_id: fan,
        creator_id: creator,
        ppv_item_id: None,
        since: Utc::now() - Duration::days(2),
    };
    let before = access_log::evidence(&mut conn, scope).await.unwrap();
    assert!(
        before.contains("from 198.51.100.20  (FanApp/3.1 (iPhone))"),
        "{before}"
    );

    erasure::erase(&mut conn, fan).await.unwrap();
    let after = access_log::evidence(&mut conn, scope).await.unwrap();
    assert!(after.starts_with("1 delivery of"), "{after}");
    assert!(after.contains(&seen.post_id.to_string()), "{after}");
    assert!(after.contains("from an address not kept"), "{after}");
    assert!(
        !after.contains("198.51.100.20") && !after.contains("FanApp"),
        "{after}"
    );

    // A late report about the erased fan is not kept at all.
    access_log::record(&mut conn, &delivery(fan, creator, None, 0))
        .await
        .unwrap();
    let later = access_log::evidence(&mut conn, scope).await.unwrap();
    assert!(later.starts_with("1 delivery of"), "{later}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_only_deliveries_older_than_the_cutoff() {
    let p = Payments::start().await;
    let mut conn = p.conn().await;
    let (fan, creator) = (UserId::new(), CreatorId::new());
    for days_ago in [200, 190, 10] {
        access_log::record(&mut conn, &delivery(fan, creator, None, days_ago))
            .await
            .unwrap();
    }
    let cutoff = Utc::now() - Duration::days(180);
    assert_eq!(access_log::prune(&mut conn, cutoff).await.unwrap(), 2);
    assert_eq!(access_log::prune(&mut conn, cutoff).await.unwrap(), 0);
    let left = access_log::evidence(
        &mut conn,
        Scope {
            fan_id: fan,
            creator_id: creator,
            ppv_item_id: None,
            since: Utc::now() - Duration::days(365),
        },
    )
    .await
    .unwrap();
    assert!(left.starts_with("1 delivery of"), "{left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pay_per_view_evidence_covers_the_item_bought_and_lists_the_most_recent() {
    let p = Payments::start().await;
    let mut conn = p.conn().await;
    let (fan, creator, item) = (UserId::new(), CreatorId::new(), PpvItemId::new());
    let scope = Scope {
        fan_id: fan,
        creator_id: creator,
        ppv_item_id: Some(item),
        since: Utc::now() - Duration::days(30),
    };
    let none = access_log::evidence(&mut conn, scope).await.unwrap();
    assert!(
        none.starts_with("No delivery of the purchased item"),
        "{none}"
    );

    let other_item = delivery(fan, creator, Some(PpvItemId::new()), 1);
    access_log::record(&mut conn, &other_item).await.unwrap();
    let total = access_log::EVIDENCE_LINES + 5;
    for n in 0..total {
        let mut viewed = delivery(fan, creator, Some(item), 20);
        viewed.delivered_at += Duration::minutes(n as i64);
        access_log::record(&mut conn, &viewed).await.unwrap();
    }
    let log = access_log::evidence(&mut conn, scope).await.unwrap();
    assert!(
        log.starts_with(&format!(
            "{total} deliveries of the purchased item to the paying account since the purchase"
        )),
        "{log}"
    );
    assert!(
        log.lines().next().unwrap().ends_with(&format!(
            "; the {} most recent:",
            access_log::EVIDENCE_LINES
        )),
        "{log}"
    );
    assert_eq!(log.lines().count(), access_log::EVIDENCE_LINES + 1);
    assert!(!log.contains(&other_item.post_id.to_string()), "{log}");
}
