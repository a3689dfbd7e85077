//! Privacy's erasure request over the real broker: an erased creator's posts and followers are
//! gone, an erased fan's follows are gone, and nobody else's posts or follows change.

use chrono::Utc;
use df_common::auth::Role;
use df_proto::{events::v1::UserErasureRequested, media::v1 as pb};

use crate::support::{User, World, eventually, input};

pub async fn erasure_of(world: &World, user: User) {
    world
        .env
        .bus
        .publish_event(
            "privacy",
            &UserErasureRequested {
                user_id: user.id.to_string(),
                request_id: uuid::Uuid::now_v7().to_string(),
                requested_at: None,
            },
        )
        .await;
}

async fn home(world: &World, fan: User) -> Vec<String> {
    world
        .media()
        .home_feed(world.to_media(
            fan,
            pb::HomeFeedRequest {
                cursor: String::new(),
                limit: 50,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .posts
        .into_iter()
        .map(|post| post.body)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_user_leaves_no_posts_and_no_follows_behind() {
    let world = World::start_with(Utc::now(), |config| {
        // Cached pages outlive the test unless the erasure moves them.
        config.own.feed.cache_ttl_secs = 600;
    })
    .await;
    let (erased, kept) = (User::new(Role::Creator), User::new(Role::Creator));
    let (fan, other_fan) = (User::new(Role::Fan), User::new(Role::Fan));
    let admin = User::new(Role::Admin);
    world.post(erased, input("soon gone", "public")).await;
    world.post(kept, input("still here", "public")).await;
    for (who, creator) in [(fan, erased), (fan, kept), (other_fan, kept)] {
        world
            .media()
            .follow(world.to_media(
                who,
                pb::FollowRequest {
                    creator_id: creator.id.to_string(),
                },
            ))
            .await
            .unwrap();
    }
    assert_eq!(home(&world, fan).await, ["still here", "soon gone"]);
    // Read once before the erasure, so the creator's page is cached.
    assert_eq!(world.whole_feed(admin, erased, 10).await.len(), 1);

    world
        .env
        .bus
        .consumed(df_media::SERVICE, df_runtime::erasure::CONSUMER)
        .await;
    erasure_of(&world, erased).await;
    eventually("the creator's posts are gone", async || {
        world.whole_feed(admin, erased, 10).await.is_empty()
    })
    .await;
    assert_eq!(home(&world, fan).await, ["still here"]);
    assert_eq!(world.whole_feed(admin, kept, 10).await.len(), 1);

    // A fan's erasure takes their follows and nobody else's.
    erasure_of(&world, fan).await;
    eventually("the fan's follows are gone", async || {
        home(&world, fan).await.is_empty()
    })
    .await;
    assert_eq!(home(&world, other_fan).await, ["still here"]);
}
