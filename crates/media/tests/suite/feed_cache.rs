//! The feed caches never change an answer: random sequences of posts, edits, deletions,
//! follows and unfollows, interleaved with reads of creator and home feeds at random page sizes
//! (each read twice, so the second comes from the cache: a page for a creator feed, the whole
//! answer for a home feed), always answer what a plain model of the posts says, read without
//! any cache.

use std::collections::BTreeSet;

use chrono::Utc;
use df_common::auth::Role;
use df_proto::media::v1 as pb;
use quickcheck::{Arbitrary, Gen};

use crate::support::{User, World, input};

const CREATORS: usize = 3;
const FANS: usize = 2;

#[derive(Clone, Debug)]
enum Op {
    Post {
        creator: usize,
    },
    Edit {
        post: usize,
    },
    Delete {
        post: usize,
    },
    Follow {
        fan: usize,
        creator: usize,
    },
    Unfollow {
        fan: usize,
        creator: usize,
    },
    ReadCreator {
        fan: usize,
        creator: usize,
        limit: u32,
    },
    ReadHome {
        fan: usize,
        limit: u32,
    },
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Self {
        let creator = usize::arbitrary(g) % CREATORS;
        let fan = usize::arbitrary(g) % FANS;
        let post = usize::arbitrary(g);
        let limit = u32::arbitrary(g) % 4 + 1;
        match u8::arbitrary(g) % 8 {
            0 | 1 => Op::Post { creator },
            2 => Op::Edit { post },
            3 => Op::Delete { post },
            4 => Op::Follow { fan, creator },
            5 => Op::Unfollow { fan, creator },
            6 => Op::ReadCreator {
                fan,
                creator,
                limit,
            },
            _ => Op::ReadHome { fan, limit },
        }
    }
}

/// A post as the model keeps it.
#[derive(Clone, Debug)]
struct Kept {
    id: String,
    creator: usize,
    body: String,
}

/// What the feeds must say.
#[derive(Default)]
struct Model {
    posts: Vec<Kept>,
    follows: BTreeSet<(usize, usize)>,
}

impl Model {
    /// (id, body) of the posts of `creators`, newest first (one instant: by id, descending).
    fn feed(&self, creators: &BTreeSet<usize>) -> Vec<(String, String)> {
        let mut feed: Vec<(String, String)> = self
            .posts
            .iter()
            .filter(|post| creators.contains(&post.creator))
            .map(|post| (post.id.clone(), post.body.clone()))
            .collect();
        feed.sort_by(|a, b| b.0.cmp(&a.0));
        feed
    }
}

impl Model {
    /// What `fan`'s home feed must say: the posts of the creators they follow.
    fn home(&self, fan: usize) -> Vec<(String, String)> {
        let followed = self
            .follows
            .iter()
            .filter(|(follower, _)| *follower == fan)
            .map(|(_, creator)| *creator)
            .collect();
        self.feed(&followed)
    }
}

/// Every page of a feed, read with `limit`.
async fn read_all(
    world: &World,
    fan: User,
    creator: Option<User>,
    limit: u32,
) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = match creator {
            Some(creator) => {
                world
                    .media()
                    .creator_feed(world.to_media(
                        fan,
                        pb::CreatorFeedRequest {
                            creator_id: creator.id.to_string(),
                            cursor: cursor.clone(),
                            limit,
                        },
                    ))
                    .await
            }
            None => {
                world
                    .media()
                    .home_feed(world.to_media(
                        fan,
                        pb::HomeFeedRequest {
                            cursor: cursor.clone(),
                            limit,
                        },
                    ))
                    .await
            }
        }
        .unwrap()
        .into_inner();
        assert!(page.posts.len() <= limit as usize);
        seen.extend(page.posts.into_iter().map(|post| (post.id, post.body)));
        if page.next_cursor.is_empty() {
            return seen;
        }
        cursor = page.next_cursor;
    }
}

async fn run(world: &World, ops: &[Op]) {
    let creators: Vec<User> = (0..CREATORS).map(|_| User::new(Role::Creator)).collect();
    let fans: Vec<User> = (0..FANS).map(|_| User::new(Role::Fan)).collect();
    let mut model = Model::default();
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Post { creator } => {
                let body = format!("post {step}");
                let post = world.post(creators[creator], input(&body, "public")).await;
                model.posts.push(Kept {
                    id: post.id,
                    creator,
                    body,
                });
            }
            Op::Edit { post } if !model.posts.is_empty() => {
                let index = post % model.posts.len();
                let kept = &mut model.posts[index];
                kept.body = format!("edited at {step}");
                world
                    .media()
                    .update_post(world.to_media(
                        creators[kept.creator],
                        pb::UpdatePostRequest {
                            post_id: kept.id.clone(),
                            post: Some(input(&kept.body, "public")),
                        },
                    ))
                    .await
                    .unwrap();
            }
            Op::Delete { post } if !model.posts.is_empty() => {
                let kept = model.posts.remove(post % model.posts.len());
                world
                    .media()
                    .delete_post(world.to_media(
                        creators[kept.creator],
                        pb::DeletePostRequest { post_id: kept.id },
                    ))
                    .await
                    .unwrap();
            }
            Op::Edit { .. } | Op::Delete { .. } => {}
            Op::Follow { fan, creator } => {
                world
                    .media()
                    .follow(world.to_media(
                        fans[fan],
                        pb::FollowRequest {
                            creator_id: creators[creator].id.to_string(),
                        },
                    ))
                    .await
                    .unwrap();
                model.follows.insert((fan, creator));
            }
            Op::Unfollow { fan, creator } => {
                world
                    .media()
                    .unfollow(world.to_media(
                        fans[fan],
                        pb::FollowRequest {
                            creator_id: creators[creator].id.to_string(),
                        },
                    ))
                    .await
                    .unwrap();
                model.follows.remove(&(fan, creator));
            }
            Op::ReadCreator {
                fan,
                creator,
                limit,
            } => {
                let expected = model.feed(&BTreeSet::from([creator]));
                for _ in 0..2 {
                    let got = read_all(world, fans[fan], Some(creators[creator]), limit).await;
                    assert_eq!(got, expected, "step {step} of {ops:?}");
                }
            }
            Op::ReadHome { fan, limit } => {
                let expected = model.home(fan);
                for _ in 0..2 {
                    let got = read_all(world, fans[fan], None, limit).await;
                    assert_eq!(got, expected, "step {step} of {ops:?}");
                }
            }
        }
        // Every fan's first home page after every step, at one size: a cached answer that
        // outlived a change it depends on shows here.
        for (fan, user) in fans.iter().enumerate() {
            let page = world
                .media()
                .home_feed(world.to_media(
                    *user,
                    pb::HomeFeedRequest {
                        cursor: String::new(),
                        limit: 2,
                    },
                ))
                .await
                .unwrap()
                .into_inner();
            let got: Vec<(String, String)> = page
                .posts
                .into_iter()
                .map(|post| (post.id, post.body))
                .collect();
            let mut expected = model.home(fan);
            expected.truncate(2);
            assert_eq!(got, expected, "after step {step} of {ops:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_feeds_answer_what_the_posts_say_after_any_sequence_of_changes() {
    let world = World::start(Utc::now()).await;
    let mut random = Gen::new(30);
    for _ in 0..12 {
        let ops: Vec<Op> = Vec::arbitrary(&mut random);
        run(&world, &ops).await;
    }
    // The second of each pair of reads came from the cache: both layers were used, not
    // bypassed (creator feeds read pages; home feeds read whole answers).
    let metrics = world.metrics().await;
    for layer in ["page", "home"] {
        let series = format!("df_media_feed_cache_total{{layer=\"{layer}\",result=\"hit\"}}");
        let hits = df_testkit::metrics::value(&metrics, &series);
        assert!(hits > 0, "no {layer} came from the cache:\n{metrics}");
    }
}
