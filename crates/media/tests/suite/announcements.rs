//! Payments' announcements move media's cached home answers aside, through the real broker and
//! Redis: one fan's entitlement change, a PPV purchase, a creator's repriced tier; a tip moves
//! nothing. An announcement media cannot read goes to the dead letters.

use chrono::Utc;
use df_common::auth::Role;
use df_proto::{
    Event,
    events::v1::{EntitlementChanged, PaymentSucceeded},
    media::v1 as pb,
};

use crate::support::{User, World, eventually, input};

/// Home-answer lookups by `result` so far, from media's metrics.
async fn home_lookups(world: &World, result: &str) -> u64 {
    let series = format!("df_media_feed_cache_total{{layer=\"home\",result=\"{result}\"}}");
    df_testkit::metrics::value(&world.metrics().await, &series)
}

/// Announcements media has applied so far, from its bus inbox.
async fn announcements_applied(world: &World) -> i64 {
    let db = world.media.service.db.db();
    let sql = format!(
        "SELECT count(*) AS n FROM inbox WHERE consumer = '{}'",
        df_media::entitlement_events::CONSUMER
    );
    df_testkit::db::count(&mut db.conn().await.unwrap(), &sql).await
}

async fn read_home(world: &World, fan: User) {
    world
        .media()
        .home_feed(world.to_media(fan, pb::HomeFeedRequest::default()))
        .await
        .unwrap();
}

/// Publishes `announcement` as payments would, then waits until `fan`'s home answer, served
/// from the cache until then, is computed again.
async fn moves_the_answer(world: &World, fan: User, what: &str, announcement: &impl Event) {
    let misses = home_lookups(world, "miss").await;
    world.env.bus.publish_event("payments", announcement).await;
    eventually(what, async || {
        read_home(world, fan).await;
        home_lookups(world, "miss").await > misses
    })
    .await;
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
        .consumed(df_media::SERVICE, df_media::entitlement_events::CONSUMER)
        .await;
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
    read_home(&world, fan).await;
    let hits = home_lookups(&world, "hit").await;
    read_home(&world, fan).await;
    assert_eq!(home_lookups(&world, "hit").await, hits + 1, "cached");

    let payment = |kind: &str| PaymentSucceeded {
        fan_id: fan.id.to_string(),
        creator_id: creator.id.to_string(),
        kind: kind.into(),
        ..PaymentSucceeded::default()
    };
    let fans_change = EntitlementChanged {
        fan_id: fan.id.to_string(),
        creator_id: String::new(),
    };
    let creators_change = EntitlementChanged {
        fan_id: String::new(),
        creator_id: creator.id.to_string(),
    };
    moves_the_answer(&world, fan, "the fan's change", &fans_change).await;
    moves_the_answer(&world, fan, "a PPV purchase", &payment("ppv")).await;
    moves_the_answer(&world, fan, "the creator's change", &creators_change).await;

    // A tip opens nothing: once media has applied it, the cached answer still serves.
    let applied = announcements_applied(&world).await;
    world
        .env
        .bus
        .publish_event("payments", &payment("tip"))
        .await;
    eventually("the tip is applied", async || {
        announcements_applied(&world).await > applied
    })
    .await;
    let hits = home_lookups(&world, "hit").await;
    read_home(&world, fan).await;
    assert_eq!(
        home_lookups(&world, "hit").await,
        hits + 1,
        "a tip moved the answer"
    );

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
