//! Payments' announcements move media's cached home answers aside, through the real broker and
//! Redis: one fan's entitlement change, a PPV purchase, a creator's repriced tier. An
//! announcement media cannot read goes to the dead letters.

use chrono::Utc;
use df_common::auth::Role;
use df_proto::{
    events::v1::{EntitlementChanged, PaymentSucceeded},
    media::v1 as pb,
};

use crate::support::{User, World, eventually, input};

/// Home-answer lookups by `result` so far, from media's metrics.
async fn home_lookups(world: &World, result: &str) -> u64 {
    let series = format!("df_media_feed_cache_total{{layer=\"home\",result=\"{result}\"}}");
    df_testkit::metrics::value(&world.metrics().await, &series)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_move_cached_home_answers_and_unreadable_ones_are_dead_lettered() {
    let world = World::start_with(Utc::now(), |config| {
        // Answers outlive the test: only what they were computed from can retire them.
        config.own.feed.cache_ttl_secs = 600;
    })
    .await;
    let (creator, fan) = (User::new(Role::Creator), User::new(Role::Fan));
    let queue = world
        .env
        .bus
        .queue(df_media::SERVICE, df_media::entitlement_events::CONSUMER);
    world.env.bus.wait_for_consumer(&queue).await;
    world.post(creator, input("hello", "public")).await;
    world
        .media()
        .follow(world.to_media(
            fan,
            pb::FollowRequest {
                creator_id: creator.id.to_string(),
            },
        ))
        .await
        .unwrap();
    let read_home = async || {
        world
            .media()
            .home_feed(world.to_media(fan, pb::HomeFeedRequest::default()))
            .await
            .unwrap()
    };
    read_home().await;
    let hits = home_lookups(&world, "hit").await;
    read_home().await;
    assert_eq!(home_lookups(&world, "hit").await, hits + 1, "cached");

    let fans_change = EntitlementChanged {
        fan_id: fan.id.to_string(),
        creator_id: String::new(),
    };
    let creators_change = EntitlementChanged {
        fan_id: String::new(),
        creator_id: creator.id.to_string(),
    };
    let purchase = PaymentSucceeded {
        fan_id: fan.id.to_string(),
        creator_id: creator.id.to_string(),
        kind: "ppv".into(),
        ..PaymentSucceeded::default()
    };
    for what in ["the fan's change", "a PPV purchase", "the creator's change"] {
        let misses = home_lookups(&world, "miss").await;
        match what {
            "the fan's change" => world.env.bus.publish_event("payments", &fans_change).await,
            "a PPV purchase" => world.env.bus.publish_event("payments", &purchase).await,
            _ => {
                world
                    .env
                    .bus
                    .publish_event("payments", &creators_change)
                    .await
            }
        }
        // Served from the cache until the announcement lands; then computed again.
        eventually(what, async || {
            read_home().await;
            home_lookups(&world, "miss").await > misses
        })
        .await;
    }

    for unreadable in [
        EntitlementChanged::default(),
        EntitlementChanged {
            fan_id: "not-an-id".into(),
            creator_id: String::new(),
        },
        EntitlementChanged {
            fan_id: fan.id.to_string(),
            creator_id: creator.id.to_string(),
        },
    ] {
        world.env.bus.publish_event("payments", &unreadable).await;
    }
    let dead = world.env.bus.wait_for_dead_letters(&queue, 3).await;
    assert_eq!(dead.len(), 3);
}
