//! Entitlement answers come from Redis once cached, changes invalidate them at once, and with
//! Redis cut off the answer still comes, from Postgres.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_common::ids::{CreatorId, UserId};
use df_payments::ids::{PpvItemId, TierId};
use df_payments::webhook::signature;
use df_proto::payments::v1::{self as pb, IngestWebhookRequest};
use df_testkit::{TcpProxy, redis::server_addr};
use diesel_async::RunQueryDsl;
use serde_json::json;
use uuid::Uuid;

use df_payments::entitlements::Question;
use quickcheck::Arbitrary;

use crate::support::Payments;

async fn send(p: &Payments, event: serde_json::Value) {
    let body = event.to_string();
    let header = signature::sign(body.as_bytes(), &p.secret, chrono::Utc::now().timestamp());
    p.client()
        .ingest_webhook(p.as_service(IngestWebhookRequest {
            payload: body.into_bytes(),
            signature: header,
        }))
        .await
        .unwrap();
}

/// A `payment_intent.succeeded` event for `amount` cents with our `metadata`.
fn payment_succeeded(
    event_id: &str,
    intent_id: &str,
    amount: i64,
    metadata: serde_json::Value,
) -> serde_json::Value {
    json!({"id": event_id, "type": "payment_intent.succeeded", "object": "event",
        "created": chrono::Utc::now().timestamp(),
        "data": {"object": {"id": intent_id, "object": "payment_intent", "amount": amount,
            "amount_received": amount, "currency": "usd", "status": "succeeded",
            "metadata": metadata}}})
}

async fn allowed(p: &Payments, fan: Uuid, creator: Uuid, item: Uuid) -> bool {
    p.client()
        .check_entitlement(p.as_media(pb::CheckEntitlementRequest {
            fan_id: fan.to_string(),
            creator_id: creator.to_string(),
            ppv_item_id: item.to_string(),
            min_tier_id: String::new(),
        }))
        .await
        .unwrap()
        .into_inner()
        .allowed
}

/// A PPV item and a fan who bought it (through a signed provider event).
async fn purchase(p: &Payments) -> (Uuid, Uuid, Uuid) {
    let creator = Uuid::now_v7();
    let fan = Uuid::now_v7();
    let item = p
        .client()
        .create_ppv_item(p.as_media(pb::PpvItemInput {
            post_id: Uuid::now_v7().to_string(),
            price: Some(pb::Money {
                amount: 900,
                currency: "usd".into(),
            }),
            title: String::new(),
            creator_id: creator.to_string(),
        }))
        .await
        .unwrap()
        .into_inner();
    let item = Uuid::parse_str(&item.id).unwrap();
    assert!(!allowed(p, fan, creator, item).await);
    send(
        p,
        payment_succeeded(
            "evt_ppv_1",
            "pi_ppv_1",
            900,
            json!({"kind": "ppv", "fan_id": fan.to_string(), "creator_id": creator.to_string(),
                   "ppv_item_id": item.to_string()}),
        ),
    )
    .await;
    (fan, creator, item)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_cached_and_invalidated_by_the_events_that_change_them() {
    let p = Payments::start().await;
    let (fan, creator, item) = purchase(&p).await;
    // The purchase event invalidated the cached "no": the fan has access at once.
    assert!(allowed(&p, fan, creator, item).await);

    // Revoked behind the service's back, the cached answer still stands: it is served from
    // Redis, not recomputed.
    let mut conn = p.conn().await;
    diesel::sql_query("UPDATE ppv_purchases SET revoked_at = now()")
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(allowed(&p, fan, creator, item).await);

    // A tip from the same fan grants no access, so it leaves the cached answers in place.
    send(
        &p,
        payment_succeeded(
            "evt_tip_1",
            "pi_tip_1",
            500,
            json!({"kind": "tip", "fan_id": fan.to_string(), "creator_id": creator.to_string()}),
        ),
    )
    .await;
    assert!(
        allowed(&p, fan, creator, item).await,
        "a tip does not invalidate the fan's cached answers"
    );

    // A full refund arrives: the change invalidates the answer and access ends at once.
    send(
        &p,
        json!({"id": "evt_refund_1", "type": "charge.refunded", "object": "event",
            "created": chrono::Utc::now().timestamp(),
            "data": {"object": {"id": "ch_ppv_1", "object": "charge", "amount": 900,
                "amount_refunded": 900, "currency": "usd", "payment_intent": "pi_ppv_1",
                "metadata": {}}}}),
    )
    .await;
    assert!(!allowed(&p, fan, creator, item).await);
}

/// A tier of `creator` and `fan`'s active subscription to it for 30 days, as the provider's
/// events would leave them.
async fn active_subscription(
    conn: &mut df_runtime::db::PooledConn,
    fan: Uuid,
    creator: Uuid,
    provider_id: &str,
) -> Uuid {
    let tier = Uuid::now_v7();
    diesel::sql_query(format!(
        "INSERT INTO tiers (id, creator_id, name, price_minor, currency)
         VALUES ('{tier}', '{creator}', 'Gold', 900, 'usd')"
    ))
    .execute(conn)
    .await
    .unwrap();
    diesel::sql_query(format!(
        "INSERT INTO subscriptions (id, provider_subscription_id, fan_id, creator_id, tier_id,
             status, current_period_end)
         VALUES ('{}', '{provider_id}', '{fan}', '{creator}', '{tier}', 'active',
             now() + interval '30 days')",
        Uuid::now_v7()
    ))
    .execute(conn)
    .await
    .unwrap();
    tier
}

/// Adds a tier of `creator` at `price_minor` cents; its id.
async fn tier_of(conn: &mut df_runtime::db::PooledConn, creator: Uuid, price_minor: i64) -> Uuid {
    let tier = Uuid::now_v7();
    diesel::sql_query(format!(
        "INSERT INTO tiers (id, creator_id, name, price_minor, currency)
         VALUES ('{tier}', '{creator}', 'Tier', {price_minor}, 'usd')"
    ))
    .execute(conn)
    .await
    .unwrap();
    tier
}

async fn subscribed_to(p: &Payments, fan: Uuid) -> Vec<String> {
    p.client()
        .list_subscribed_creators(p.as_media(pb::ListSubscribedCreatorsRequest {
            fan_id: fan.to_string(),
        }))
        .await
        .unwrap()
        .into_inner()
        .creator_ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fans_subscribed_creators_are_cached_until_their_entitlements_change() {
    let p = Payments::start().await;
    let (fan, creator) = (Uuid::now_v7(), Uuid::now_v7());
    let mut conn = p.conn().await;
    active_subscription(&mut conn, fan, creator, "sub_cached").await;
    assert_eq!(subscribed_to(&p, fan).await, [creator.to_string()]);

    // Ended behind the service's back, the cached list still stands: it is served from Redis.
    diesel::sql_query(
        "UPDATE subscriptions SET status = 'ended' WHERE provider_subscription_id = 'sub_cached'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(subscribed_to(&p, fan).await, [creator.to_string()]);

    // Any change of the fan's entitlements (here a purchase) makes the cached list stale.
    let (_, seller, item) = purchase(&p).await;
    send(
        &p,
        payment_succeeded(
            "evt_ppv_cached",
            "pi_ppv_cached",
            900,
            json!({"kind": "ppv", "fan_id": fan.to_string(), "creator_id": seller.to_string(),
                   "ppv_item_id": item.to_string()}),
        ),
    )
    .await;
    assert!(allowed(&p, fan, seller, item).await);
    assert_eq!(subscribed_to(&p, fan).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_the_answer_comes_from_postgres() {
    let proxy = TcpProxy::in_front_of(&server_addr()).await;
    let url = format!("redis://{}", proxy.addr());
    let p = Payments::start_with(move |config| {
        config.base.redis.url = url.into();
    })
    .await;
    let (fan, creator, item) = purchase(&p).await;
    assert!(allowed(&p, fan, creator, item).await);
    proxy.cut();
    assert!(allowed(&p, fan, creator, item).await);
    let stranger = Uuid::now_v7();
    assert!(!allowed(&p, stranger, creator, item).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_written_into_redis_by_anyone_else_is_a_miss() {
    let p = Payments::start().await;
    let (fan, creator, item) = purchase(&p).await;
    let stranger = Uuid::now_v7();
    // Someone with write access to the shared Redis plants "owner" answers, in payments'
    // format and at the current generation (none was ever bumped for the stranger).
    let cache = p.redis.cache();
    for key in [
        format!("ent:{stranger}:c:{creator}:p:{item}"),
        format!("ent:{stranger}:c:{creator}"),
    ] {
        cache
            .set_px(&key, b"0|owner|-1", std::time::Duration::from_secs(600))
            .await
            .unwrap();
    }
    assert!(!allowed(&p, stranger, creator, item).await);
    let answer = p
        .client()
        .check_entitlement(p.as_media(pb::CheckEntitlementRequest {
            fan_id: stranger.to_string(),
            creator_id: creator.to_string(),
            ppv_item_id: String::new(),
            min_tier_id: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!answer.allowed, "{answer:?}");
    // The real buyer's answer is unaffected.
    assert!(allowed(&p, fan, creator, item).await);
}

/// A small world of people and PPV items, and what each may see.
struct World {
    payments: Payments,
    /// Everyone who may ask: two fans, then the two creators.
    people: [Uuid; 4],
    /// Three items of the creators, then one that does not exist.
    items: [Uuid; 4],
    /// The creator of each real item.
    item_owner: [Uuid; 3],
    /// (buyer, item) pairs.
    purchases: Vec<(Uuid, Uuid)>,
    /// (fan, creator) pairs with an active subscription.
    subscriptions: Vec<(Uuid, Uuid)>,
    /// Tiers a post may be reserved to: (tier, its creator, its price); the last one does not
    /// exist.
    tiers: [(Uuid, Uuid, i64); 5],
    /// The price of the tier every subscription of the world is to.
    subscribed_price: i64,
}

impl World {
    async fn build() -> Self {
        let payments = Payments::start().await;
        let (fan0, fan1, creator0, creator1) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let mut items = [Uuid::nil(); 4];
        let item_owner = [creator0, creator0, creator1];
        for (slot, owner) in items.iter_mut().zip(item_owner) {
            let item = payments
                .client()
                .create_ppv_item(payments.as_media(pb::PpvItemInput {
                    post_id: Uuid::now_v7().to_string(),
                    price: Some(pb::Money {
                        amount: 700,
                        currency: "usd".into(),
                    }),
                    title: String::new(),
                    creator_id: owner.to_string(),
                }))
                .await
                .unwrap()
                .into_inner();
            *slot = Uuid::parse_str(&item.id).unwrap();
        }
        items[3] = Uuid::now_v7();
        // A fan buys one item of each creator; a creator buys another creator's item.
        let purchases = vec![(fan0, items[0]), (fan1, items[2]), (creator1, items[1])];
        for (n, (buyer, item)) in purchases.iter().enumerate() {
            let owner = item_owner[items.iter().position(|i| i == item).unwrap()];
            send(
                &payments,
                payment_succeeded(
                    &format!("evt_world_{n}"),
                    &format!("pi_world_{n}"),
                    700,
                    json!({"kind": "ppv", "fan_id": buyer.to_string(),
                           "creator_id": owner.to_string(), "ppv_item_id": item.to_string()}),
                ),
            )
            .await;
        }
        // One subscription, written as the provider's events would leave it.
        let mut conn = payments.conn().await;
        let gold = active_subscription(&mut conn, fan1, creator0, "sub_world").await;
        let tiers = [
            (tier_of(&mut conn, creator0, 500).await, creator0, 500),
            (gold, creator0, 900),
            (tier_of(&mut conn, creator0, 2_000).await, creator0, 2_000),
            (tier_of(&mut conn, creator1, 100).await, creator1, 100),
            (Uuid::now_v7(), creator1, 0),
        ];
        drop(conn);
        Self {
            payments,
            people: [fan0, fan1, creator0, creator1],
            items,
            item_owner,
            purchases,
            subscriptions: vec![(fan1, creator0)],
            tiers,
            subscribed_price: 900,
        }
    }

    /// What the rules say, from the facts the world was built with.
    fn expected(&self, question: &Question) -> &'static str {
        match question.ppv_item_id {
            Some(item) => match self.items[..3].iter().position(|i| *i == item.as_uuid()) {
                Some(index) if self.item_owner[index] != question.creator_id.as_uuid() => "none",
                Some(_) if question.fan_id == question.creator_id => "owner",
                Some(_)
                    if self
                        .purchases
                        .contains(&(question.fan_id.as_uuid(), item.as_uuid())) =>
                {
                    "ppv"
                }
                _ => "none",
            },
            None if question.fan_id == question.creator_id => "owner",
            None if self
                .subscriptions
                .contains(&(question.fan_id.as_uuid(), question.creator_id.as_uuid()))
                && self.tier_opens_to_subscribers(question) =>
            {
                "subscription"
            }
            None => "none",
        }
    }

    /// True when the question names no tier, or a real tier of its creator that the world's
    /// subscriptions are priced for.
    fn tier_opens_to_subscribers(&self, question: &Question) -> bool {
        let Some(tier) = question.min_tier_id else {
            return true;
        };
        self.tiers[..4].iter().any(|(id, creator, price)| {
            *id == tier.as_uuid()
                && *creator == question.creator_id.as_uuid()
                && *price <= self.subscribed_price
        })
    }

    /// The answer through the service: the cache first, then the database.
    async fn served(&self, question: &Question) -> (bool, String) {
        let answer = self
            .payments
            .client()
            .check_entitlement(
                self.payments.as_media(pb::CheckEntitlementRequest {
                    fan_id: question.fan_id.to_string(),
                    creator_id: question.creator_id.to_string(),
                    ppv_item_id: question
                        .ppv_item_id
                        .map(|i| i.to_string())
                        .unwrap_or_default(),
                    min_tier_id: question
                        .min_tier_id
                        .map(|t| t.to_string())
                        .unwrap_or_default(),
                }),
            )
            .await
            .unwrap()
            .into_inner();
        (answer.allowed, answer.reason)
    }

    /// The creators `fan` subscribes to, through the service (the cache first), from the
    /// database alone, and as the world was built.
    async fn subscribed(&self, fan: Uuid) -> [Vec<String>; 3] {
        let served = self
            .payments
            .client()
            .list_subscribed_creators(self.payments.as_media(pb::ListSubscribedCreatorsRequest {
                fan_id: fan.to_string(),
            }))
            .await
            .unwrap()
            .into_inner()
            .creator_ids;
        let mut conn = self.payments.conn().await;
        let policy = df_payments::entitlements::AccessPolicy {
            grace: chrono::Duration::days(3),
        };
        let access = df_payments::entitlements::subscription_access(
            &mut conn,
            UserId::from_uuid(fan),
            policy,
        )
        .await
        .unwrap();
        let uncached = df_payments::entitlements::subscribed_at(&access, chrono::Utc::now())
            .iter()
            .map(ToString::to_string)
            .collect();
        let expected = self
            .subscriptions
            .iter()
            .filter(|(subscriber, _)| *subscriber == fan)
            .map(|(_, creator)| creator.to_string())
            .collect();
        [served, uncached, expected]
    }

    /// The answer from the database alone.
    async fn uncached(&self, question: &Question) -> (bool, String) {
        let mut conn = self.payments.conn().await;
        let policy = df_payments::entitlements::AccessPolicy {
            grace: chrono::Duration::days(3),
        };
        let grant = df_payments::entitlements::from_database(&mut conn, question, policy)
            .await
            .unwrap();
        let allowed = grant.allows(chrono::Utc::now());
        let reason = if allowed {
            grant.reason.as_str()
        } else {
            "none"
        };
        (allowed, reason.to_owned())
    }
}

/// One question about the world: indexes into its people and items.
#[derive(Clone, Debug)]
struct Asked {
    fan: usize,
    creator: usize,
    item: Option<usize>,
    tier: Option<usize>,
}

impl Arbitrary for Asked {
    fn arbitrary(g: &mut quickcheck::Gen) -> Self {
        Self {
            fan: usize::arbitrary(g) % 4,
            creator: usize::arbitrary(g) % 4,
            item: Option::<usize>::arbitrary(g).map(|i| i % 4),
            tier: Option::<usize>::arbitrary(g).map(|i| i % 5),
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        Box::new(std::iter::empty())
    }
}

thread_local! {
    /// The world the property runs in (quickcheck takes a plain function, not a closure).
    static WORLD: std::cell::RefCell<Option<(tokio::runtime::Runtime, World)>> =
        const { std::cell::RefCell::new(None) };
}

/// For any sequence of questions, the answer served (cached once asked) is the database's
/// answer and the one the rules give; so is the list of the asking fan's subscriptions.
fn cached_and_uncached_agree(sequence: Vec<Asked>) -> quickcheck::TestResult {
    WORLD.with_borrow(|world| {
        let Some((runtime, world)) = world else {
            return quickcheck::TestResult::error("no world");
        };
        runtime.block_on(async {
            // Long enough to revisit every question of this small world several times.
            for asked in sequence.iter().take(24) {
                let question = Question {
                    fan_id: UserId::from_uuid(world.people[asked.fan]),
                    creator_id: CreatorId::from_uuid(world.people[asked.creator]),
                    ppv_item_id: asked.item.map(|i| PpvItemId::from_uuid(world.items[i])),
                    min_tier_id: asked.tier.map(|t| TierId::from_uuid(world.tiers[t].0)),
                };
                let served = world.served(&question).await;
                let uncached = world.uncached(&question).await;
                let expected = world.expected(&question);
                if served != uncached || served.1 != expected {
                    return quickcheck::TestResult::error(format!(
                        "{question:?}: served {served:?}, database {uncached:?}, rules {expected}"
                    ));
                }
                let [served, uncached, expected] = world.subscribed(world.people[asked.fan]).await;
                if served != uncached || served != expected {
                    return quickcheck::TestResult::error(format!(
                        "subscriptions of fan {}: served {served:?}, database {uncached:?}, \
                         world {expected:?}",
                        asked.fan
                    ));
                }
            }
            quickcheck::TestResult::passed()
        })
    })
}

#[test]
fn cached_and_uncached_answers_agree_for_any_sequence_of_questions() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let world = runtime.block_on(World::build());
    WORLD.with_borrow_mut(|slot| *slot = Some((runtime, world)));
    quickcheck::QuickCheck::new()
        .tests(50)
        .quickcheck(cached_and_uncached_agree as fn(Vec<Asked>) -> quickcheck::TestResult);
    if let Some((runtime, world)) = WORLD.with_borrow_mut(Option::take) {
        runtime.block_on(async move {
            let mut payments = world.payments;
            payments.stop().await;
        });
    }
}
