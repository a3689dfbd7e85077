//! The money flows end to end with the simulated provider: onboarding, a subscription with
//! cancellation and period end, a tip and a PPV purchase booked as gross, platform fee,
//! processor fee and creator net, the hold, the payout run and the statement, a dispute, and
//! dunning with its grace period.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_common::auth::Role;
use df_payments::{
    access_log::AccessLogHandler, ledger::integrity, money::simulated_processor_fee,
};
use df_proto::{events::v1::ContentDelivered, payments::v1 as pb};
use df_runtime::bus::Consumer as _;
use df_testkit::eventually;
use diesel::{QueryableByName, sql_types};
use diesel_async::RunQueryDsl;
use uuid::Uuid;

use crate::support::Payments;

const URLS: (&str, &str) = (
    "https://app.directfanz.test/ok",
    "https://app.directfanz.test/no",
);

async fn entitled(p: &Payments, fan: Uuid, creator: Uuid, item: Option<&str>) -> bool {
    p.client()
        .check_entitlement(p.as_media(pb::CheckEntitlementRequest {
            fan_id: fan.to_string(),
            creator_id: creator.to_string(),
            ppv_item_id: item.unwrap_or_default().to_owned(),
            min_tier_id: String::new(),
        }))
        .await
        .unwrap()
        .into_inner()
        .allowed
}

/// A creator whose payout account finished onboarding.
async fn onboarded_creator(p: &Payments) -> Uuid {
    let creator = Uuid::now_v7();
    let link = p
        .client()
        .start_onboarding(p.as_user(
            creator,
            Role::Creator,
            pb::StartOnboardingRequest {
                return_url: URLS.0.into(),
                refresh_url: URLS.1.into(),
                country: "US".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .url;
    // The creator completes the provider's onboarding page.
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&link)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    eventually("payout account enabled", || async {
        p.client()
            .get_payout_account(p.as_user(
                creator,
                Role::Creator,
                pb::GetPayoutAccountRequest::default(),
            ))
            .await
            .is_ok_and(|a| a.into_inner().charges_enabled)
    })
    .await;
    creator
}

/// A fan's checkout for a tier (not paid yet).
async fn open_subscription(p: &Payments, fan: Uuid, tier_id: &str) -> pb::Checkout {
    p.client()
        .subscribe(p.as_user(
            fan,
            Role::Fan,
            pb::SubscribeRequest {
                tier_id: tier_id.to_owned(),
                success_url: URLS.0.into(),
                cancel_url: URLS.1.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

/// A creator's monthly tier at `price` cents.
async fn monthly_tier(p: &Payments, creator: Uuid, name: &str, price: i64) -> pb::Tier {
    p.client()
        .create_tier(p.as_user(
            creator,
            Role::Creator,
            pb::TierInput {
                name: name.into(),
                price: Some(pb::Money {
                    amount: price,
                    currency: "usd".into(),
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

/// A fan's tip of `amount` cents with `message`, paid on the provider's page.
async fn paid_tip(p: &Payments, fan: Uuid, creator: Uuid, amount: i64, message: &str) {
    let tip = p
        .client()
        .tip(p.as_user(
            fan,
            Role::Fan,
            pb::TipRequest {
                creator_id: creator.to_string(),
                amount: Some(pb::Money {
                    amount,
                    currency: "usd".into(),
                }),
                message: message.into(),
                success_url: URLS.0.into(),
                cancel_url: URLS.1.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    p.simulated()
        .complete_checkout(&session_of(&tip.url))
        .unwrap();
}

/// The creator's balances and statement in USD.
/// Media offering `post` of `creator` for `amount` US cents.
async fn offer_post(
    p: &Payments,
    creator: Uuid,
    post: &str,
    amount: i64,
    title: &str,
) -> Result<pb::PpvItem, tonic::Status> {
    let input = pb::PpvItemInput {
        post_id: post.to_owned(),
        price: Some(pb::Money {
            amount,
            currency: "usd".into(),
        }),
        title: title.to_owned(),
        creator_id: creator.to_string(),
    };
    let item = p.client().create_ppv_item(p.as_media(input)).await?;
    Ok(item.into_inner())
}

/// A fan's checkout for a PPV item.
async fn ppv_checkout(p: &Payments, fan: Uuid, item: &str) -> pb::Checkout {
    let request = pb::BuyPpvRequest {
        ppv_item_id: item.to_owned(),
        success_url: URLS.0.into(),
        cancel_url: URLS.1.into(),
        ..Default::default()
    };
    let checkout = p.client().buy_ppv(p.as_user(fan, Role::Fan, request)).await;
    checkout.unwrap().into_inner()
}

async fn earnings_of(p: &Payments, creator: Uuid) -> pb::Earnings {
    p.client()
        .get_earnings(p.as_user(creator, Role::Creator, pb::GetEarningsRequest::default()))
        .await
        .unwrap()
        .into_inner()
}

fn session_of(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = sql_types::Text)]
    account: String,
    #[diesel(sql_type = sql_types::BigInt)]
    amount: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_tip_ppv_payout_and_statement() {
    let p = Payments::start().await;
    let creator = onboarded_creator(&p).await;
    let fan = Uuid::now_v7();
    let tier = monthly_tier(&p, creator, "Inner circle", 1_000).await;

    // Bad input is refused with a clear code and creates nothing.
    let error = p
        .client()
        .create_tier(p.as_user(
            creator,
            Role::Creator,
            pb::TierInput {
                name: "Free lunch".into(),
                price: Some(pb::Money {
                    amount: 5,
                    currency: "usd".into(),
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        error.metadata().get("x-df-error-code").unwrap(),
        "payments.invalid_amount"
    );
    let fans_cannot = p
        .client()
        .create_tier(p.as_user(fan, Role::Fan, pb::TierInput::default()))
        .await
        .unwrap_err();
    assert_eq!(fans_cannot.code(), tonic::Code::PermissionDenied);

    // Subscribe: no access before paying, access after.
    assert!(!entitled(&p, fan, creator, None).await);
    let checkout = open_subscription(&p, fan, &tier.id).await;
    assert!(!entitled(&p, fan, creator, None).await);
    p.simulated()
        .complete_checkout(&session_of(&checkout.url))
        .unwrap();
    eventually("subscriber access", || entitled(&p, fan, creator, None)).await;

    // Cancel: access stays until the period ends, then goes.
    let subscriptions = p
        .client()
        .list_my_subscriptions(p.as_user(fan, Role::Fan, pb::ListMySubscriptionsRequest {}))
        .await
        .unwrap()
        .into_inner()
        .subscriptions;
    assert_eq!(subscriptions.len(), 1);
    let cancelled = p
        .client()
        .cancel_subscription(p.as_user(
            fan,
            Role::Fan,
            pb::CancelSubscriptionRequest {
                subscription_id: subscriptions[0].id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(cancelled.cancel_at_period_end);
    p.simulated().advance(chrono::Duration::days(20));
    assert!(
        entitled(&p, fan, creator, None).await,
        "access ended before the period did"
    );
    p.simulated().advance(chrono::Duration::days(11));
    eventually("access ends at period end", || async {
        !entitled(&p, fan, creator, None).await
    })
    .await;

    // A tip and a PPV purchase.
    paid_tip(&p, fan, creator, 2_500, "thanks!").await;
    let post = Uuid::now_v7().to_string();
    let item = offer_post(&p, creator, &post, 4_000, "Behind the scenes")
        .await
        .unwrap();
    assert!(!entitled(&p, fan, creator, Some(&item.id)).await);
    let buy = ppv_checkout(&p, fan, &item.id).await;
    p.simulated()
        .complete_checkout(&session_of(&buy.url))
        .unwrap();
    eventually("PPV access", || entitled(&p, fan, creator, Some(&item.id))).await;

    // The tip's ledger transaction: gross, platform fee, processor fee, creator net, balanced.
    let mut conn = p.conn().await;
    let lines: Vec<Line> = diesel::sql_query(
        "SELECT e.account, e.amount FROM ledger_entries e
           JOIN ledger_transactions t ON t.id = e.transaction_id
           JOIN payments p ON p.id::text = t.reference
          WHERE t.kind = 'payment' AND p.kind = 'tip' ORDER BY e.id",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let fee = simulated_processor_fee(2_500);
    let lines: Vec<(String, i64)> = lines.into_iter().map(|l| (l.account, l.amount)).collect();
    assert_eq!(
        lines,
        vec![
            ("fan_payments".to_owned(), -2_500),
            ("creator_pending".to_owned(), 2_000),
            ("platform_revenue".to_owned(), 500),
            ("platform_revenue".to_owned(), -fee),
            ("processor_fees".to_owned(), fee),
        ]
    );
    assert!(integrity::check(&mut conn).await.unwrap().is_empty());

    // Earnings are pending during the hold; the run releases only the subscription payment (its
    // hold ended while the period ran out) and pays nothing: 800 is below the minimum. Moving
    // the clock also made the weekly scheduled run due: it may release the payment first, or
    // hold it locked while the admin run skips it, so the balances are awaited. Between the two
    // runs it is released once, which the balances show.
    let admin = Uuid::now_v7();
    let run = p
        .client()
        .run_payouts(p.as_user(admin, Role::Admin, pb::RunPayoutsRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(run.released <= 1, "{run:?}");
    assert_eq!(run.payouts_started, 0);
    // Tip 2,000 + PPV 3,200 pending, subscription 800 available (creator nets after the 20 % fee).
    eventually("the subscription payment released", || async {
        let balances = earnings_of(&p, creator).await;
        (balances.pending, balances.available) == (2_000 + 3_200, 800)
    })
    .await;

    // After the hold the payout run pays the whole available balance.
    p.simulated().advance(chrono::Duration::days(8));
    let run = p
        .client()
        .run_payouts(p.as_user(admin, Role::Admin, pb::RunPayoutsRequest {}))
        .await
        .unwrap()
        .into_inner();
    // As above, the scheduled run may do this first; the list below shows exactly one payout.
    assert!(run.payouts_started <= 1 && run.released <= 2, "{run:?}");
    eventually("payout confirmed", || async {
        earnings_of(&p, creator).await.paid_out == 6_000
    })
    .await;
    let after = earnings_of(&p, creator).await;
    assert_eq!(
        (after.pending, after.available, after.in_transit),
        (0, 0, 0)
    );
    let kinds: Vec<&str> = after.lines.iter().map(|l| l.kind.as_str()).collect();
    assert!(
        kinds.contains(&"payout_started") && kinds.contains(&"payment"),
        "{kinds:?}"
    );
    let payouts = p
        .client()
        .list_payouts(p.as_user(creator, Role::Creator, pb::ListPayoutsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .payouts;
    assert_eq!(payouts.len(), 1);
    assert_eq!(payouts[0].status, "paid");
    assert_eq!(payouts[0].amount.as_ref().unwrap().amount, 6_000);

    // Another creator cannot read these earnings.
    let other = Uuid::now_v7();
    let refused = p
        .client()
        .get_earnings(p.as_user(
            other,
            Role::Creator,
            pb::GetEarningsRequest {
                creator_id: creator.to_string(),
                currency: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    assert!(integrity::check(&mut conn).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_renewal_keeps_access_through_the_grace_period_only() {
    let p = Payments::start().await;
    let creator = onboarded_creator(&p).await;
    let fan = Uuid::now_v7();
    let tier = monthly_tier(&p, creator, "Monthly", 700).await;
    let checkout = open_subscription(&p, fan, &tier.id).await;
    p.simulated()
        .complete_checkout(&session_of(&checkout.url))
        .unwrap();
    eventually("access", || entitled(&p, fan, creator, None)).await;

    p.simulated().set_fail_renewals(true);
    p.simulated().advance(chrono::Duration::days(31));
    eventually("past due", || async {
        p.client()
            .list_my_subscriptions(p.as_user(fan, Role::Fan, pb::ListMySubscriptionsRequest {}))
            .await
            .unwrap()
            .into_inner()
            .subscriptions[0]
            .status
            == "past_due"
    })
    .await;
    // Within the 3-day grace period access continues…
    assert!(entitled(&p, fan, creator, None).await);
    // …and ends after it, unless a payment succeeds.
    p.simulated().advance(chrono::Duration::days(4));
    assert!(!entitled(&p, fan, creator, None).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispute_holds_the_funds_gets_evidence_and_a_loss_is_booked() {
    let p = Payments::start_with(|config| config.own.policy.job_interval_secs = 1).await;
    let creator = onboarded_creator(&p).await;
    let fan = Uuid::now_v7();
    paid_tip(&p, fan, creator, 5_000, "").await;
    let earnings = || earnings_of(&p, creator);
    eventually("tip booked", || async { earnings().await.pending == 4_000 }).await;

    let mut conn = p.conn().await;
    let intent = only_payment_intent(&p).await;
    let dispute = p.simulated().dispute(&intent).unwrap();
    // The creator's 4,000 pending and the further 2,500 (rest of the gross and the fee) that
    // they now owe move into the reserve.
    eventually("funds held", || async {
        earnings().await.dispute_reserve == 6_500
    })
    .await;
    let held = earnings().await;
    assert_eq!(
        (held.pending, held.available, held.receivable),
        (0, 0, 2_500)
    );

    assert_eq!(
        disputes_with(&p, "needs_response").await.unwrap(),
        [creator.to_string()]
    );
    assert_eq!(
        disputes_with(&p, "lost").await.unwrap(),
        Vec::<String>::new()
    );

    p.simulated()
        .close_dispute(&dispute, &intent, false)
        .unwrap();
    eventually("loss booked", || async {
        earnings().await.dispute_reserve == 0
    })
    .await;
    assert!(integrity::check(&mut conn).await.unwrap().is_empty());
    assert_eq!(
        disputes_with(&p, "lost").await.unwrap(),
        [creator.to_string()]
    );
    // A status filter outside the statuses is refused, not answered with nothing.
    let refused = disputes_with(&p, "closed").await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("needs_response"), "{refused:?}");
}

/// The creators of the disputes an admin lists with `status`.
async fn disputes_with(p: &Payments, status: &str) -> Result<Vec<String>, tonic::Status> {
    let request = pb::ListDisputesRequest {
        status: status.into(),
    };
    let listed = p
        .client()
        .list_disputes(p.as_user(Uuid::now_v7(), Role::Admin, request))
        .await?;
    Ok(listed
        .into_inner()
        .disputes
        .into_iter()
        .map(|d| d.creator_id)
        .collect())
}

/// The provider's id of the one payment booked so far.
async fn only_payment_intent(p: &Payments) -> String {
    #[derive(QueryableByName)]
    struct Pi {
        #[diesel(sql_type = sql_types::Text)]
        provider_payment_id: String,
    }
    let mut conn = p.conn().await;
    let pi: Pi = diesel::sql_query("SELECT provider_payment_id FROM payments")
        .get_result(&mut conn)
        .await
        .unwrap();
    pi.provider_payment_id
}

/// Reports a delivery the way the media service does: an event on the bus.
async fn report_delivery(p: &Payments, delivery: ContentDelivered) {
    p.bus.publish_event("media", &delivery).await;
}

fn delivery(
    fan: Uuid,
    creator: Uuid,
    at: chrono::DateTime<chrono::Utc>,
    ip: &str,
) -> ContentDelivered {
    ContentDelivered {
        fan_id: fan.to_string(),
        creator_id: creator.to_string(),
        post_id: Uuid::now_v7().to_string(),
        media_id: Uuid::now_v7().to_string(),
        ppv_item_id: String::new(),
        delivered_at: Some(prost_types::Timestamp {
            seconds: at.timestamp(),
            nanos: 0,
        }),
        client_ip: ip.into(),
        user_agent: "Mozilla/5.0 (X11; Linux x86_64)".into(),
    }
}

/// The media service's delivery reports become the dispute evidence: the fan's deliveries of
/// the creator's content since the purchase, with when and from where, and nothing of anyone
/// else's. A malformed report is dead-lettered and holds up none of the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispute_evidence_lists_when_and_from_where_the_fan_received_the_content() {
    let p = Payments::start_with(|config| config.own.policy.job_interval_secs = 1).await;
    let creator = onboarded_creator(&p).await;
    let (fan, other_fan, other_creator) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    paid_tip(&p, fan, creator, 5_000, "").await;
    eventually("tip booked", || async {
        earnings_of(&p, creator).await.pending == 4_000
    })
    .await;

    let queue = p
        .bus
        .consumed(df_payments::SERVICE, AccessLogHandler::NAME)
        .await;
    let now = p.clock.now();
    let viewed = [
        delivery(
            fan,
            creator,
            now + chrono::Duration::minutes(1),
            "203.0.113.7",
        ),
        delivery(
            fan,
            creator,
            now + chrono::Duration::minutes(2),
            "2001:db8::7",
        ),
    ];
    let unrelated = [
        delivery(fan, creator, now - chrono::Duration::days(1), "203.0.113.1"),
        delivery(
            fan,
            other_creator,
            now + chrono::Duration::minutes(3),
            "203.0.113.2",
        ),
        delivery(
            other_fan,
            creator,
            now + chrono::Duration::minutes(4),
            "203.0.113.3",
        ),
    ];
    report_delivery(
        &p,
        ContentDelivered {
            client_ip: "999.1.1.1".into(),
            ..delivery(fan, creator, now, "")
        },
    )
    .await;
    for report in viewed.iter().chain(&unrelated) {
        report_delivery(&p, report.clone()).await;
    }
    let letters = p.bus.wait_for_dead_letters(&queue, 1).await;
    assert_eq!(letters.len(), 1, "only the malformed report is refused");
    eventually("deliveries recorded", || async {
        p.count("SELECT count(*)::bigint AS n FROM content_deliveries")
            .await
            == 5
    })
    .await;

    let intent = only_payment_intent(&p).await;
    let dispute = p.simulated().dispute(&intent).unwrap();
    // The dispute is applied (its funds held) before time moves: a webhook signed before the
    // jump and checked after it would be refused as stale.
    eventually("funds held", || async {
        earnings_of(&p, creator).await.dispute_reserve > 0
    })
    .await;
    // Evidence goes out once the due date (a week away) is within the lead time.
    p.simulated().advance(chrono::Duration::days(6));
    eventually("evidence submitted", || async {
        p.simulated().evidence_for(&dispute).is_some()
    })
    .await;
    let log = p
        .simulated()
        .evidence_for(&dispute)
        .unwrap()
        .access_activity_log;
    assert!(
        log.starts_with("2 deliveries of the creator's content"),
        "{log}"
    );
    for (report, ip) in viewed.iter().zip(["203.0.113.7", "2001:db8::7"]) {
        let line = log
            .lines()
            .find(|line| line.contains(&report.post_id))
            .unwrap_or_else(|| panic!("no line for {}: {log}", report.post_id));
        assert!(line.contains(&format!("from {ip}")), "{line}");
        assert!(line.contains("Mozilla/5.0 (X11; Linux x86_64)"), "{line}");
    }
    let first = log.find(&viewed[0].post_id).unwrap();
    assert!(
        first < log.find(&viewed[1].post_id).unwrap(),
        "oldest first"
    );
    for report in &unrelated {
        assert!(!log.contains(&report.post_id), "{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_payouts_are_retried_then_surfaced_to_admins_with_the_money_back() {
    let p = Payments::start_with(|config| {
        config.own.policy.payout_max_attempts = 2;
        config.own.policy.payout_retry_base_minutes = 10;
        // The scheduled run must not start a payout of its own as the test moves the clock.
        config.own.policy.payout_interval_hours = 31 * 24;
    })
    .await;
    let creator = onboarded_creator(&p).await;
    let fan = Uuid::now_v7();
    paid_tip(&p, fan, creator, 10_000, "").await;
    let earnings = || earnings_of(&p, creator);
    eventually("tip booked", || async { earnings().await.pending == 8_000 }).await;
    p.simulated().advance(chrono::Duration::days(8));
    p.simulated().fail_next_payouts(10);
    let admin = Uuid::now_v7();
    let run = || {
        let request = p.as_user(admin, Role::Admin, pb::RunPayoutsRequest {});
        let mut client = p.client();
        async move { client.run_payouts(request).await.unwrap().into_inner() }
    };

    // First attempt fails: the money waits in transit, a retry is scheduled.
    assert_eq!(run().await.payouts_started, 1);
    let during = earnings().await;
    assert_eq!((during.available, during.in_transit), (0, 8_000));
    // Not yet due: nothing is retried.
    assert_eq!(run().await.retried, 0);
    // After the back-off the retry fails too, the last attempt: the money is available again
    // and admins see the payout.
    p.simulated().advance(chrono::Duration::minutes(11));
    assert_eq!(run().await.retried, 1);
    let after = earnings().await;
    assert_eq!(
        (after.available, after.in_transit, after.paid_out),
        (8_000, 0, 0)
    );
    let failed = p
        .client()
        .list_failed_payouts(p.as_user(admin, Role::Admin, pb::ListFailedPayoutsRequest {}))
        .await
        .unwrap()
        .into_inner()
        .payouts;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].status, "needs_attention");
    assert_eq!(failed[0].attempts, 2);
    assert_eq!(failed[0].failure_code, "payments.provider_unavailable");
    let mut conn = p.conn().await;
    assert!(integrity::check(&mut conn).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiers_change_archive_and_fill_up_as_their_creator_says() {
    let p = Payments::start().await;
    let creator = onboarded_creator(&p).await;
    let tier = monthly_tier(&p, creator, "Front row", 900).await;
    let capped = pb::TierInput {
        name: "Front row".into(),
        price: Some(pb::Money {
            amount: 1_200,
            currency: "usd".into(),
        }),
        subscriber_cap: 1,
        ..Default::default()
    };
    // Only the tier's creator may change it.
    let stranger = p
        .client()
        .update_tier(p.as_user(
            Uuid::now_v7(),
            Role::Creator,
            pb::UpdateTierRequest {
                tier_id: tier.id.clone(),
                tier: Some(capped.clone()),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(stranger.code(), tonic::Code::NotFound);
    let updated = p
        .client()
        .update_tier(p.as_user(
            creator,
            Role::Creator,
            pb::UpdateTierRequest {
                tier_id: tier.id.clone(),
                tier: Some(capped),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.price.unwrap().amount, 1_200);
    assert_eq!(updated.subscriber_cap, 1);

    // The first fan fills the tier; the second is refused before any checkout opens.
    let subscribe = |fan: Uuid| {
        let request = p.as_user(
            fan,
            Role::Fan,
            pb::SubscribeRequest {
                tier_id: tier.id.clone(),
                success_url: URLS.0.into(),
                cancel_url: URLS.1.into(),
                ..Default::default()
            },
        );
        let mut client = p.client();
        async move { client.subscribe(request).await }
    };
    let first = Uuid::now_v7();
    let checkout = subscribe(first).await.unwrap().into_inner();
    p.simulated()
        .complete_checkout(&session_of(&checkout.url))
        .unwrap();
    eventually("the first subscriber has access", || {
        entitled(&p, first, creator, None)
    })
    .await;
    let full = subscribe(Uuid::now_v7()).await.unwrap_err();
    assert_eq!(
        full.metadata().get("x-df-error-code").unwrap(),
        "payments.tier_full"
    );
    let again = subscribe(first).await.unwrap_err();
    assert_eq!(
        again.metadata().get("x-df-error-code").unwrap(),
        "payments.already_subscribed"
    );
    let listed = p
        .client()
        .list_tiers(p.as_user(
            first,
            Role::Fan,
            pb::ListTiersRequest {
                creator_id: creator.to_string(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .tiers;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].subscriber_count, 1);

    // Archived, the tier is no longer offered; its subscriber keeps access.
    let archived = p
        .client()
        .archive_tier(p.as_user(
            creator,
            Role::Creator,
            pb::ArchiveTierRequest {
                tier_id: tier.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(archived.archived);
    let gone = subscribe(Uuid::now_v7()).await.unwrap_err();
    assert_eq!(
        gone.metadata().get("x-df-error-code").unwrap(),
        "payments.tier_not_found"
    );
    assert!(entitled(&p, first, creator, None).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_offered_again_gets_its_offer_back_on_new_terms_until_a_fan_pays() {
    let p = Payments::start().await;
    let creator = onboarded_creator(&p).await;
    let post = Uuid::now_v7().to_string();
    let offer = async |amount: i64| offer_post(&p, creator, &post, amount, "").await;
    let first = offer(900).await.unwrap();
    // Media's own write failed after the offer, and the creator retries: on the same terms,
    // or on new ones while nobody has paid.
    for amount in [900, 1_200] {
        let again = offer(amount).await.unwrap();
        assert_eq!(again.id, first.id);
        assert_eq!(again.price.unwrap().amount, amount);
    }
    ppv_checkout(&p, Uuid::now_v7(), &first.id).await;
    // A fan has a checkout at 12.00: the price stays.
    let refused = offer(1_500).await.unwrap_err();
    assert_eq!(
        df_common::Error::from_status(&refused).code(),
        "payments.ppv_exists"
    );
    assert_eq!(offer(1_200).await.unwrap().id, first.id);
}
