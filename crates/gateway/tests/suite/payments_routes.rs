//! The payments routes through the real gateway, identity and payments, with the simulated
//! provider serving its hosted pages and delivering its signed webhooks to the gateway's
//! webhook route: onboarding, a tier, a subscription unlocking content until its paid period
//! ends after cancellation, a tip and a PPV purchase booked in the ledger, the payout run and the
//! statement, and the webhook route's refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_devstack::platform::Platform;
use df_gateway::testing::{TestGateway, Upstreams};
use df_media::testing::TestMedia;
use df_payments::testing::TestPayments;

use crate::support::{
    APP, browser, buy_ppv, checkout_urls, eventually_some, pay, ppv_post, subscription_checkout,
};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use sha2::Sha256;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_money_path_runs_through_the_gateway() {
    let platform = Platform::builder()
        .with::<TestPayments>()
        .with::<TestMedia>()
        .start()
        .await;
    let (creator, creator_id) = platform.signed_in("maker_one", "creator").await;
    let (fan, fan_id) = platform.signed_in("fan_one", "fan").await;

    // Errors keep payments' codes; the user's role travels with the call.
    let (status, problem) = platform
        .get_json("/v1/creator/payout-account", &creator)
        .await;
    assert_eq!(status, 404, "{problem}");
    assert_eq!(problem["code"], "payments.no_payout_account");
    let onboarding = json!({
        "return_url": format!("{APP}/creator/payouts"),
        "refresh_url": format!("{APP}/creator/payouts/retry"),
        "country": "US",
    });
    let (status, problem) = platform
        .send_json(
            Method::POST,
            "/v1/creator/payout-account/onboarding",
            &fan,
            Some(onboarding.clone()),
        )
        .await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["code"], "common.forbidden");

    // Onboarding: the provider's page completes it and reports back through the webhook route.
    let (status, link) = platform
        .send_json(
            Method::POST,
            "/v1/creator/payout-account/onboarding",
            &creator,
            Some(onboarding),
        )
        .await;
    assert_eq!(status, 200, "{link}");
    let url = link["url"].as_str().unwrap();
    assert!(
        url.starts_with(platform.member::<TestPayments>().provider_url.as_str()),
        "{url}"
    );
    let page = browser().get(url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        page.headers()[header::LOCATION],
        format!("{APP}/creator/payouts").as_str()
    );
    let account = eventually_some("the payout account can take payments", || async {
        let (status, account) = platform
            .get_json("/v1/creator/payout-account", &creator)
            .await;
        (status == 200 && account["charges_enabled"] == true).then_some(account)
    })
    .await;
    assert_eq!(account["creator_id"], creator_id.as_str());
    assert_eq!(account["payouts_enabled"], true);

    // A tier, visible to fans.
    let (status, tier) = platform
        .send_json(
            Method::POST,
            "/v1/creator/tiers",
            &creator,
            Some(json!({
                "name": "Gold",
                "price": {"amount_minor": 999, "currency": "usd"},
                "description": "Every post, every week.",
            })),
        )
        .await;
    assert_eq!(status, 201, "{tier}");
    assert_eq!(
        tier["price"],
        json!({"amount_minor": 999, "currency": "usd"})
    );
    assert_eq!(tier["subscriber_cap"], Value::Null);
    assert_eq!(tier["archived"], false);
    let tier_id = tier["id"].as_str().unwrap().to_owned();
    let (status, tiers) = platform
        .get_json(&format!("/v1/creators/{creator_id}/tiers"), &fan)
        .await;
    assert_eq!(status, 200, "{tiers}");
    assert_eq!(tiers["items"][0]["id"], tier_id.as_str());
    assert_eq!(tiers["next_cursor"], Value::Null);

    // No access before paying; the question is always about the caller.
    let entitlement = format!("/v1/creators/{creator_id}/entitlement");
    let (status, answer) = platform.get_json(&entitlement, &fan).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"allowed": false, "reason": "none", "until": null})
    );
    let (_, answer) = platform.get_json(&entitlement, &creator).await;
    assert_eq!(answer["reason"], "owner");

    // Subscribe, pay on the provider's page, and the subscription unlocks the content.
    let (success_url, cancel_url) = checkout_urls();
    let checkout = subscription_checkout(&platform, &fan, &json!(tier_id)).await;
    assert!(
        checkout["checkout_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    chrono::DateTime::parse_from_rfc3339(checkout["expires_at"].as_str().unwrap()).unwrap();
    pay(&platform, &checkout, &success_url).await;
    let answer = eventually_some("the subscription unlocks the creator's content", || async {
        let (status, answer) = platform.get_json(&entitlement, &fan).await;
        (status == 200 && answer["allowed"] == true).then_some(answer)
    })
    .await;
    assert_eq!(answer["reason"], "subscription");
    chrono::DateTime::parse_from_rfc3339(answer["until"].as_str().unwrap()).unwrap();
    let (status, mine) = platform.get_json("/v1/me/subscriptions", &fan).await;
    assert_eq!(status, 200, "{mine}");
    let subscriptions = mine["items"].as_array().unwrap();
    assert_eq!(subscriptions.len(), 1, "{mine}");
    assert_eq!(subscriptions[0]["tier_id"], tier_id.as_str());
    assert_eq!(subscriptions[0]["creator_id"], creator_id.as_str());
    assert_eq!(subscriptions[0]["status"], "active");
    // Another fan's subscriptions are not this fan's.
    let (_, theirs) = platform.get_json("/v1/me/subscriptions", &creator).await;
    assert_eq!(theirs["items"], json!([]));

    // A tip reaches the creator's earnings. The app retries its request with the same
    // Idempotency-Key and gets the same checkout, not a second one.
    let tip = json!({
        "creator_id": creator_id,
        "amount": {"amount_minor": 500, "currency": "usd"},
        "message": "Thanks for the tutorials!",
        "success_url": success_url,
        "cancel_url": cancel_url,
    });
    let send_tip = |body: Value, key: &'static str| {
        let request = platform
            .http()
            .post(platform.url("/v1/tips"))
            .bearer_auth(&fan)
            .header("Idempotency-Key", key)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, checkout) = send_tip(tip.clone(), "tip-7f3e2a").await;
    assert_eq!(status, 201, "{checkout}");
    let (status, again) = send_tip(tip.clone(), "tip-7f3e2a").await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["checkout_id"], checkout["checkout_id"]);
    assert_eq!(again["checkout_url"], checkout["checkout_url"]);
    let mut bigger = tip.clone();
    bigger["amount"]["amount_minor"] = json!(5_000);
    let (status, problem) = send_tip(bigger, "tip-7f3e2a").await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "payments.idempotency_key_reused");
    let (status, problem) = send_tip(tip, "not a valid key").await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["code"], "gateway.invalid_idempotency_key");
    pay(&platform, &checkout, &success_url).await;
    let earnings = eventually_some("the tip shows in the creator's earnings", || async {
        let (status, earnings) = platform
            .get_json("/v1/creator/earnings?currency=usd", &creator)
            .await;
        let tipped = earnings["lines"].as_array().is_some_and(|lines| {
            lines
                .iter()
                .any(|l| l["kind"] == "payment" && l["gross"]["amount_minor"] == 500)
        });
        (status == 200 && tipped).then_some(earnings)
    })
    .await;
    assert_eq!(earnings["creator_id"], creator_id.as_str());
    assert_eq!(earnings["currency"], "usd");
    assert_eq!(earnings["pending"]["currency"], "usd");
    assert!(
        earnings["pending"]["amount_minor"].as_i64().unwrap() > 0,
        "{earnings}"
    );
    // Earnings are creators' own: the fan who paid is refused.
    let (status, theirs) = platform.get_json("/v1/creator/earnings", &fan).await;
    assert_eq!(status, 403, "{theirs}");
    let _ = fan_id;

    // A PPV purchase unlocks its item, and only that item.
    let item_id = ppv_post(&platform, &creator, 1_500).await;
    let item_entitlement = format!("{entitlement}?ppv_item_id={item_id}");
    let (_, answer) = platform.get_json(&item_entitlement, &fan).await;
    assert_eq!(
        answer["allowed"], false,
        "a subscription must not unlock a PPV item"
    );
    buy_ppv(&platform, &fan, &item_id).await;
    let answer = eventually_some("the purchase unlocks the item", || async {
        let (_, answer) = platform.get_json(&item_entitlement, &fan).await;
        (answer["allowed"] == true).then_some(answer)
    })
    .await;
    assert_eq!(answer["reason"], "ppv");

    // The tip and the purchase are booked as gross, platform fee, processor fee and creator
    // net, and every transaction balances.
    let payments_db = platform.member::<TestPayments>().service.db.db();
    let mut conn = payments_db.conn().await.unwrap();
    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text)]
        kind: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        account: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        amount: i64,
    }
    let lines: Vec<Line> = diesel_async::RunQueryDsl::load(
        diesel::sql_query(
            "SELECT p.kind, e.account, e.amount FROM ledger_entries e
               JOIN ledger_transactions t ON t.id = e.transaction_id AND t.kind = 'payment'
               JOIN payments p ON p.id::text = t.reference
              WHERE p.kind IN ('tip', 'ppv') ORDER BY p.kind DESC, e.id",
        ),
        &mut conn,
    )
    .await
    .unwrap();
    let line = |kind: &str, account: &str, amount: i64| Line {
        kind: kind.into(),
        account: account.into(),
        amount,
    };
    let fee = |gross: i64| df_payments::money::simulated_processor_fee(gross);
    assert_eq!(
        lines,
        vec![
            line("tip", "fan_payments", -500),
            line("tip", "creator_pending", 400),
            line("tip", "platform_revenue", 100),
            line("tip", "platform_revenue", -fee(500)),
            line("tip", "processor_fees", fee(500)),
            line("ppv", "fan_payments", -1_500),
            line("ppv", "creator_pending", 1_200),
            line("ppv", "platform_revenue", 300),
            line("ppv", "platform_revenue", -fee(1_500)),
            line("ppv", "processor_fees", fee(1_500)),
        ]
    );
    assert!(
        df_payments::ledger::integrity::check(&mut conn)
            .await
            .unwrap()
            .is_empty()
    );

    // The fan cancels: access lasts until the paid period ends, and ends after it.
    let subscription_id = subscriptions[0]["id"].as_str().unwrap().to_owned();
    let (status, cancelled) = platform
        .send_json(
            Method::POST,
            &format!("/v1/subscriptions/{subscription_id}/cancel"),
            &fan,
            None,
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["cancel_at_period_end"], true);
    platform
        .member::<TestPayments>()
        .simulated()
        .advance(chrono::Duration::days(29));
    let (_, answer) = platform.get_json(&entitlement, &fan).await;
    assert_eq!(
        answer["allowed"], true,
        "access ended before the paid period did"
    );
    platform
        .member::<TestPayments>()
        .simulated()
        .advance(chrono::Duration::days(2));
    eventually_some("access ends with the period", || async {
        let (_, answer) = platform.get_json(&entitlement, &fan).await;
        (answer["allowed"] == false).then_some(())
    })
    .await;

    // The holds have ended: an admin's payout run pays the whole available balance, and the
    // creator's statement and payout list show it.
    let admin_password = platform
        .verified_user("admin_one@example.com", "admin_one", "fan")
        .await;
    platform
        .identity()
        .grant_role("admin_one", df_common::auth::Role::Admin)
        .await;
    let admin = platform
        .login("admin_one@example.com", &admin_password)
        .await;
    let (status, refused) = platform
        .send_json(Method::POST, "/v1/admin/payouts/run", &creator, None)
        .await;
    assert_eq!(status, 403, "{refused}");
    let (status, run) = platform
        .send_json(Method::POST, "/v1/admin/payouts/run", &admin, None)
        .await;
    assert_eq!(status, 200, "{run}");
    // The moved clock can make payments' weekly payout schedule due first; then this run
    // finds the payout open and starts none. Either way exactly one payout of the whole
    // balance is made (payments' own suite checks what a run reports).
    assert!(run["payouts_started"].as_u64() <= Some(1), "{run}");
    let expected_payout = 799 + 400 + 1_200;
    let payouts = eventually_some("the payout is confirmed", || async {
        let (_, payouts) = platform.get_json("/v1/creator/payouts", &creator).await;
        (payouts["items"][0]["status"] == "paid").then_some(payouts)
    })
    .await;
    assert_eq!(
        payouts["items"].as_array().map(Vec::len),
        Some(1),
        "{payouts}"
    );
    assert_eq!(
        payouts["items"][0]["amount"],
        json!({"amount_minor": expected_payout, "currency": "usd"})
    );
    let (_, earnings) = platform
        .get_json("/v1/creator/earnings?currency=usd", &creator)
        .await;
    assert_eq!(earnings["available"]["amount_minor"], 0, "{earnings}");
    assert_eq!(
        earnings["paid_out"]["amount_minor"], expected_payout,
        "{earnings}"
    );
    assert!(
        earnings["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["kind"] == "payout_started"
                && l["amount"]["amount_minor"] == -expected_payout),
        "{earnings}"
    );
    platform.stop().await;
}

/// `t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`, as the provider signs.
fn stripe_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_route_hands_the_raw_body_to_payments_and_keeps_its_refusals() {
    let platform = Platform::builder().with::<TestPayments>().start().await;
    let http = platform.http();
    let webhook = platform.url("/v1/webhooks/stripe");
    let secret = platform
        .member::<TestPayments>()
        .webhook_secret
        .expose()
        .clone();
    let now = platform.member::<TestPayments>().clock.now().timestamp();

    // A correctly signed event goes through byte for byte (the signature covers the exact
    // body, whitespace included); the same delivery again is a duplicate.
    let event = format!(
        "{{\"id\": \"evt_gw_{}\", \"object\": \"event\", \"type\": \"customer.created\",\n \"created\": {now}, \"data\": {{\"object\": {{}}}}}}",
        uuid::Uuid::new_v4().simple()
    );
    for outcome in ["ignored", "duplicate"] {
        let response = http
            .post(&webhook)
            .header("content-type", "application/json")
            .header(
                "stripe-signature",
                stripe_signature(&secret, now, event.as_bytes()),
            )
            .body(event.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"received": true, "outcome": outcome}));
    }

    // A bad signature is payments' 400, even with a stray session cookie and no origin (the
    // route is exempt from CSRF checks, which would refuse that with 403).
    let response = http
        .post(&webhook)
        .header("content-type", "application/json")
        .header("cookie", "__Host-df_session=not-a-session")
        .header(
            "stripe-signature",
            stripe_signature("another secret", now, event.as_bytes()),
        )
        .body(event.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "payments.webhook_signature_invalid");

    // No signature header at all: refused at the edge.
    let response = http
        .post(&webhook)
        .body(event.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "gateway.webhook_signature_missing");

    // Bodies past 256 KiB are refused before payments sees them.
    let large = vec![b' '; 256 * 1024 + 1];
    let response = http
        .post(&webhook)
        .header("stripe-signature", stripe_signature(&secret, now, &large))
        .body(large)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "common.payload_too_large");

    // The webhook has its own rate-limit class.
    let response = http.post(&webhook).body("{}").send().await.unwrap();
    assert_eq!(response.headers()["ratelimit-policy"], "6000;w=60");

    // The other payments routes need a session.
    let response = http
        .get(platform.url("/v1/me/subscriptions"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "gateway.unauthenticated");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_payments_down_logins_still_work_and_webhooks_get_503() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // The platform starts only once the gateway reports ready, so readiness ignores payments.
    let platform = Platform::builder()
        .gateway(move |config| config.upstream_mut("payments").url = format!("http://{closed}"))
        .start()
        .await;
    let (fan, _) = platform.signed_in("fan_two", "fan").await;

    let (status, problem) = platform.get_json("/v1/me/subscriptions", &fan).await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["code"], "common.unavailable");

    // The provider must deliver again later: 503, not a 4xx that would make it give up.
    let response = platform
        .http()
        .post(platform.url("/v1/webhooks/stripe"))
        .header("stripe-signature", "t=1,v1=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "common.unavailable");
    platform.stop().await;
}

/// Readiness is per upstream: made to gate it, payments being down keeps the gateway unready
/// while identity alone does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_set_to_gate_readiness_keeps_the_gateway_unready_while_down() {
    let platform = Platform::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let upstreams: Upstreams = &[("identity", platform.identity_addr()), ("payments", closed)];
    let env = &platform.env;
    let readiness = |gates: bool| async move {
        let (http, _) = TestGateway::bind();
        let mut gateway = TestGateway::launch(env, http, upstreams, APP, |config| {
            config.upstream_mut("payments").gates_readiness = Some(gates);
        })
        .await;
        let response = reqwest::get(format!("{}/readyz", gateway.admin_url))
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        gateway.stop().await;
        (status, body)
    };
    let (status, body) = readiness(true).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["payments"], false, "{body}");
    assert_eq!(body["checks"]["identity"], true, "{body}");
    let (status, body) = readiness(false).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["checks"].get("payments").is_none(), "{body}");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn return_urls_must_point_at_the_platform_s_own_apps() {
    let platform = Platform::builder().with::<TestPayments>().start().await;
    let (creator, creator_id) = platform.signed_in("maker_urls", "creator").await;
    let (fan, _) = platform.signed_in("fan_urls", "fan").await;
    let onboarding = |return_url: &str| {
        json!({
            "return_url": return_url,
            "refresh_url": format!("{APP}/creator/payouts/retry"),
            "country": "US",
        })
    };
    for (url, code) in [
        (
            "https://evil.example/phish",
            "payments.return_url_not_allowed",
        ),
        (
            "https://app.directfanz.test.evil.example/",
            "payments.return_url_not_allowed",
        ),
        (
            "http://app.directfanz.test/",
            "payments.return_url_not_allowed",
        ),
        (
            "https://app.directfanz.test@evil.example/",
            "payments.invalid_url",
        ),
    ] {
        let (status, problem) = platform
            .send_json(
                Method::POST,
                "/v1/creator/payout-account/onboarding",
                &creator,
                Some(onboarding(url)),
            )
            .await;
        assert_eq!(status, 400, "{url}: {problem}");
        assert_eq!(problem["code"], code, "{url}");
    }
    let (status, problem) = platform
        .send_json(
            Method::POST,
            "/v1/tips",
            &fan,
            Some(json!({
                "creator_id": creator_id,
                "amount": {"amount_minor": 500, "currency": "usd"},
                "message": "",
                "success_url": format!("{APP}/paid"),
                "cancel_url": "https://evil.example/cancelled",
            })),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["code"], "payments.return_url_not_allowed");
    platform.stop().await;
}
