//! Posts, follows and feeds over gRPC: who sees what, scheduling, paging, and the refusals of
//! bad input (which store nothing).

use chrono::{Duration, Utc};
use df_common::auth::Role;
use df_proto::{
    media::v1::{self as pb},
    payments::v1 as payments_pb,
};

use crate::support::{User, World, code, input};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_are_locked_for_fans_who_may_not_see_them_and_whole_for_their_creator() {
    let world = World::start(Utc::now()).await;
    let creator = User::new(Role::Creator);
    let fan = User::new(Role::Fan);
    let admin = User::new(Role::Admin);
    let long = "A subscriber-only story that runs well past the preview";
    world
        .post(creator, input("Hello, everyone", "public"))
        .await;
    world.post(creator, input(long, "subscribers")).await;
    let mut ppv = input("The full-length behind the scenes cut", "ppv");
    ppv.price = Some(pb::Price {
        amount: 900,
        currency: "usd".into(),
    });
    let ppv = world.post(creator, ppv).await;
    let mut adult = input("Explicit words here", "public");
    adult.adult = true;
    world.post(creator, adult).await;

    let as_fan = world.whole_feed(fan, creator, 10).await;
    assert_eq!(as_fan.len(), 4);
    let [adult, ppv_seen, subscribers, public] = &as_fan[..] else {
        panic!("{as_fan:?}");
    };
    assert!(!public.locked);
    assert_eq!(public.body, "Hello, everyone");
    assert!(subscribers.locked);
    assert_eq!(
        subscribers.body, "A subscrib…",
        "the preview, ten characters"
    );
    assert!(ppv_seen.locked);
    assert_eq!(ppv_seen.price.as_ref().map(|p| p.amount), Some(900));
    assert_eq!(ppv_seen.ppv_item_id, ppv.ppv_item_id);
    // Adult posts fail closed until identity records verified adults: no preview either.
    assert!(adult.locked);
    assert!(adult.body.is_empty());

    for whole in [creator, admin] {
        let seen = world.whole_feed(whole, creator, 10).await;
        assert!(seen.iter().all(|post| !post.locked), "{whole:?}: {seen:?}");
        assert_eq!(seen[2].body, long);
    }

    // The PPV item was offered at payments for this creator and this post: its owner is the
    // creator, and the fan has not bought it.
    assert!(!ppv.ppv_item_id.is_empty());
    for (asker, allowed, reason) in [(creator, true, "owner"), (fan, false, "none")] {
        let answer = world
            .payments()
            .check_entitlement(world.to_payments(
                asker,
                payments_pb::CheckEntitlementRequest {
                    fan_id: asker.id.to_string(),
                    creator_id: creator.id.to_string(),
                    ppv_item_id: ppv.ppv_item_id.clone(),
                    min_tier_id: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((answer.allowed, answer.reason.as_str()), (allowed, reason));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_post_exists_only_for_its_creator_until_its_time() {
    let world = World::start(Utc::now()).await;
    let creator = User::new(Role::Creator);
    let fan = User::new(Role::Fan);
    let mut later = input("Coming soon", "public");
    later.publish_at = Some(df_common::wire::timestamp(
        world.clock.now() + Duration::hours(1),
    ));
    let post = world.post(creator, later).await;
    assert!(post.scheduled);

    let get = async |viewer| {
        world
            .media()
            .get_post(world.to_media(
                viewer,
                pb::GetPostRequest {
                    post_id: post.id.clone(),
                },
            ))
            .await
    };
    assert_eq!(code(get(fan).await), "media.post_not_found");
    assert!(world.whole_feed(fan, creator, 5).await.is_empty());
    let own = world.whole_feed(creator, creator, 5).await;
    assert_eq!(own.len(), 1);
    assert!(own[0].scheduled);

    world.clock.advance(Duration::seconds(3_601));
    let seen = get(fan).await.unwrap().into_inner();
    assert!(!seen.scheduled && !seen.locked);
    assert_eq!(world.whole_feed(fan, creator, 5).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_page_newest_first_without_gaps_or_repeats() {
    let world = World::start(Utc::now()).await;
    let creator = User::new(Role::Creator);
    let fan = User::new(Role::Fan);
    for n in 0..7 {
        world
            .post(creator, input(&format!("post {n}"), "public"))
            .await;
        world.clock.advance(Duration::seconds(1));
    }
    // Two posts in the same instant are still told apart by id.
    world.post(creator, input("post 7", "public")).await;
    world.post(creator, input("post 8", "public")).await;

    let paged = world.whole_feed(fan, creator, 2).await;
    let in_one = world.whole_feed(fan, creator, 100).await;
    let ids = |posts: &[pb::Post]| posts.iter().map(|p| p.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&paged), ids(&in_one));
    assert_eq!(paged.len(), 9);
    let mut bodies: Vec<&str> = paged.iter().map(|p| p.body.as_str()).collect();
    assert_eq!(
        &bodies[2..],
        [
            "post 6", "post 5", "post 4", "post 3", "post 2", "post 1", "post 0"
        ]
    );
    bodies.truncate(2);
    bodies.sort_unstable();
    assert_eq!(bodies, ["post 7", "post 8"]);

    let page = async |cursor: &str, limit| {
        world
            .media()
            .creator_feed(world.to_media(
                fan,
                pb::CreatorFeedRequest {
                    creator_id: creator.id.to_string(),
                    cursor: cursor.into(),
                    limit,
                },
            ))
            .await
    };
    assert_eq!(
        code(page("bm90IGEgY3Vyc29y", 2).await),
        "media.invalid_cursor"
    );
    assert_eq!(code(page("", 101).await), "media.invalid_limit");
    let default = page("", 0).await.unwrap().into_inner();
    assert_eq!(default.posts.len(), 9);
    assert!(default.next_cursor.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_feed_holds_the_creators_a_fan_follows() {
    let world = World::start(Utc::now()).await;
    let (followed, other) = (User::new(Role::Creator), User::new(Role::Creator));
    let fan = User::new(Role::Fan);
    world
        .post(followed, input("from the followed one", "public"))
        .await;
    world
        .post(followed, input("for subscribers", "subscribers"))
        .await;
    world
        .post(other, input("from someone else", "public"))
        .await;

    let home = async |cursor: String| {
        world
            .media()
            .home_feed(world.to_media(fan, pb::HomeFeedRequest { cursor, limit: 10 }))
            .await
    };
    assert!(
        home(String::new())
            .await
            .unwrap()
            .into_inner()
            .posts
            .is_empty()
    );
    let follow = pb::FollowRequest {
        creator_id: followed.id.to_string(),
    };
    for _ in 0..2 {
        let answer = world
            .media()
            .follow(world.to_media(fan, follow.clone()))
            .await
            .unwrap();
        assert!(
            answer.into_inner().following,
            "following twice changes nothing"
        );
    }
    let feed = home(String::new()).await.unwrap().into_inner();
    let seen: Vec<(&str, bool)> = feed
        .posts
        .iter()
        .map(|p| (p.body.as_str(), p.locked))
        .collect();
    assert_eq!(seen, [("for sub…", true), ("from the followed one", false)]);
    // The answer is cached whole now; the creator's next post is on the feed at once.
    world.post(followed, input("and one more", "public")).await;
    let feed = home(String::new()).await.unwrap().into_inner();
    let bodies: Vec<&str> = feed.posts.iter().map(|p| p.body.as_str()).collect();
    assert_eq!(
        bodies,
        ["and one more", "for sub…", "from the followed one"]
    );

    world
        .media()
        .unfollow(world.to_media(fan, follow.clone()))
        .await
        .unwrap();
    assert!(
        home(String::new())
            .await
            .unwrap()
            .into_inner()
            .posts
            .is_empty()
    );
    let own = pb::FollowRequest {
        creator_id: followed.id.to_string(),
    };
    assert_eq!(
        code(world.media().follow(world.to_media(followed, own)).await),
        "media.follow_self"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_its_creator_edits_a_post_and_staff_may_delete_it() {
    let world = World::start(Utc::now()).await;
    let creator = User::new(Role::Creator);
    let rival = User::new(Role::Creator);
    let fan = User::new(Role::Fan);
    let admin = User::new(Role::Admin);
    let post = world.post(creator, input("first words", "public")).await;
    let edit = async |editor, body: &str| {
        world
            .media()
            .update_post(world.to_media(
                editor,
                pb::UpdatePostRequest {
                    post_id: post.id.clone(),
                    post: Some(input(body, "public")),
                },
            ))
            .await
    };
    assert_eq!(code(edit(rival, "taken over").await), "common.forbidden");
    assert_eq!(
        code(
            world
                .media()
                .create_post(world.to_media(fan, input("fans do not post", "public")))
                .await
        ),
        "common.forbidden"
    );
    world.clock.advance(Duration::seconds(5));
    let edited = edit(creator, "second words").await.unwrap().into_inner();
    assert_eq!(edited.body, "second words");
    assert!(edited.edited_at.is_some());

    // A PPV post keeps its price once offered.
    let mut ppv = input("paid", "ppv");
    ppv.price = Some(pb::Price {
        amount: 500,
        currency: "usd".into(),
    });
    let paid = world.post(creator, ppv.clone()).await;
    let mut cheaper = ppv.clone();
    cheaper.price = Some(pb::Price {
        amount: 100,
        currency: "usd".into(),
    });
    for change in [cheaper, input("now free", "public")] {
        let refused = world
            .media()
            .update_post(world.to_media(
                creator,
                pb::UpdatePostRequest {
                    post_id: paid.id.clone(),
                    post: Some(change),
                },
            ))
            .await;
        assert_eq!(code(refused), "media.ppv_fixed");
    }
    let mut retitled = ppv;
    retitled.body = "paid, with a better description".into();
    let kept = world
        .media()
        .update_post(world.to_media(
            creator,
            pb::UpdatePostRequest {
                post_id: paid.id.clone(),
                post: Some(retitled),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.ppv_item_id, paid.ppv_item_id);

    let delete = async |who, id: &str| {
        world
            .media()
            .delete_post(world.to_media(
                who,
                pb::DeletePostRequest {
                    post_id: id.to_owned(),
                },
            ))
            .await
    };
    assert_eq!(code(delete(rival, &post.id).await), "common.forbidden");
    assert_eq!(code(delete(fan, &post.id).await), "common.forbidden");
    delete(admin, &post.id).await.unwrap();
    delete(creator, &paid.id).await.unwrap();
    assert_eq!(
        code(delete(creator, &post.id).await),
        "media.post_not_found"
    );
    assert!(world.whole_feed(creator, creator, 10).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_its_code_and_stores_nothing() {
    let world = World::start(Utc::now()).await;
    let creator = User::new(Role::Creator);
    let priced = |visibility: &str| {
        let mut post = input("priced", visibility);
        post.price = Some(pb::Price {
            amount: 500,
            currency: "usd".into(),
        });
        post
    };
    let mut far = input("far away", "public");
    far.publish_at = Some(df_common::wire::timestamp(
        world.clock.now() + Duration::days(400),
    ));
    let mut bad_price = priced("ppv");
    bad_price.price = Some(pb::Price {
        amount: -5,
        currency: "usd".into(),
    });
    let cases = [
        (input("   ", "public"), "media.empty_post"),
        (input(&"x".repeat(5_001), "public"), "media.body_too_long"),
        (input("hello", "secret"), "media.invalid_visibility"),
        (input("hello", ""), "media.invalid_visibility"),
        (input("no price", "ppv"), "media.price_mismatch"),
        (priced("public"), "media.price_mismatch"),
        (far, "media.invalid_publish_at"),
        (bad_price, "payments.invalid_amount"),
    ];
    for (post, expected) in cases {
        let refused = world
            .media()
            .create_post(world.to_media(creator, post.clone()))
            .await;
        assert_eq!(code(refused), expected, "{post:?}");
    }
    let get = world
        .media()
        .get_post(world.to_media(
            creator,
            pb::GetPostRequest {
                post_id: "not-an-id".into(),
            },
        ))
        .await;
    assert_eq!(code(get), "common.invalid_id");
    assert!(world.whole_feed(creator, creator, 10).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_payments_tells_media_it_tells_no_user() {
    let world = World::start(Utc::now()).await;
    let fan = User::new(Role::Fan);
    let creator = User::new(Role::Creator);
    let asked = world
        .payments()
        .list_subscribed_creators(world.to_payments(
            fan,
            payments_pb::ListSubscribedCreatorsRequest {
                fan_id: fan.id.to_string(),
            },
        ))
        .await;
    assert_eq!(code(asked), "common.forbidden");
    // Only media offers items (for the post's creator, as it holds the post): a creator can
    // neither name another nor offer for themself a post id payments cannot check.
    for named in [User::new(Role::Creator).id.to_string(), String::new()] {
        let offered = world
            .payments()
            .create_ppv_item(world.to_payments(
                creator,
                payments_pb::PpvItemInput {
                    post_id: uuid::Uuid::now_v7().to_string(),
                    price: Some(payments_pb::Money {
                        amount: 500,
                        currency: "usd".into(),
                    }),
                    title: String::new(),
                    creator_id: named,
                },
            ))
            .await;
        assert_eq!(code(offered), "common.forbidden");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_edit_to_pay_per_view_does_not_block_the_next() {
    let world = World::start(Utc::now()).await;
    let creator = User::new(Role::Creator);
    let post = world.post(creator, input("soon paid", "public")).await;
    let to_ppv = async |amount: i64, media_ids: Vec<String>| {
        let mut ppv = input("paid now", "ppv");
        ppv.price = Some(pb::Price {
            amount,
            currency: "usd".into(),
        });
        ppv.media_ids = media_ids;
        world
            .media()
            .update_post(world.to_media(
                creator,
                pb::UpdatePostRequest {
                    post_id: post.id.clone(),
                    post: Some(ppv),
                },
            ))
            .await
    };
    // Payments makes the offer before media finds the attachment is not the creator's.
    let refused = to_ppv(500, vec![uuid::Uuid::now_v7().to_string()]).await;
    assert_eq!(code(refused), "media.invalid_attachment");
    let paid = to_ppv(700, Vec::new()).await.unwrap().into_inner();
    assert!(!paid.ppv_item_id.is_empty());
    assert_eq!(paid.price.map(|price| price.amount), Some(700));
}
