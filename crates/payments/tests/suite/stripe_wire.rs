//! The Stripe adapter against a local server that speaks enough of Stripe's API: it checks the
//! bearer key, the form encoding and the idempotency keys as Stripe does (a key reused with a
//! different body is refused, a key reused with the same body replays the first answer),
//! answers with Stripe's own example objects, records every request, and can be told to fail
//! the next attempts with 5xx, 429 or silence.

// A failed unwrap is a failed test, with the value in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use df_common::ids::CreatorId;
use df_common::{ErrorKind, Secret};
use df_payments::ids::{CheckoutId, PayoutId};
use df_payments::provider::{
    CheckoutMode, CheckoutRequest, DisputeEvidence, PaymentProvider, PayoutRequest,
    stripe::{StripeConfig, StripeProvider},
};
use serde_json::{Value, json};

const SECRET: &str = "sk_test_51DirectFanzLocalOnly0000000000";
/// What each connected account holds; larger payouts are refused as Stripe would.
const ACCOUNT_BALANCE: i64 = 50_000;
/// A phrase of Stripe's refusal that must stay out of public messages.
const REFUSAL_DETAIL: &str = "insufficient funds in your Stripe account";
const EXPIRES_AT: i64 = 1_900_000_000;
const PERIOD_END: i64 = 1_800_000_000;

/// How the server answers the next attempt, whatever it asks.
#[derive(Clone, Copy, Debug)]
enum Fault {
    Status(u16),
    /// Never answer, like a stalled connection.
    Silence,
}

#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    idempotency_key: Option<String>,
    stripe_account: Option<String>,
    body: String,
    form: BTreeMap<String, String>,
}

impl Seen {
    fn get(&self, key: &str) -> Option<&str> {
        self.form.get(key).map(String::as_str)
    }

    /// A decimal field (Stripe reads `20` and `20.0` alike).
    fn decimal(&self, key: &str) -> f64 {
        self.field(key).parse().unwrap()
    }

    /// The value of a field that must be present.
    fn field(&self, key: &str) -> &str {
        self.get(key)
            .unwrap_or_else(|| panic!("{key} missing from {:?}", self.form))
    }
}

#[derive(Default)]
struct Inner {
    requests: Vec<Seen>,
    faults: VecDeque<Fault>,
    /// Idempotency key → (method and path, body, answer), as Stripe keeps them.
    replays: HashMap<String, (String, String, (StatusCode, Value))>,
    counter: u32,
}

#[derive(Clone, Default)]
struct FakeStripe(Arc<Mutex<Inner>>);

impl FakeStripe {
    fn fail_next(&self, faults: &[Fault]) {
        self.0.lock().unwrap().faults.extend(faults.iter().copied());
    }

    fn requests(&self) -> Vec<Seen> {
        self.0.lock().unwrap().requests.clone()
    }

    fn requests_to(&self, method: Method, path: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|seen| seen.method == method && seen.path == path)
            .collect()
    }
}

fn fixture(name: &str) -> Value {
    crate::support::stripe_fixtures()[name].clone()
}

fn stripe_error(status: StatusCode, kind: &str, code: Option<&str>, message: &str) -> Response {
    let mut error = json!({ "type": kind, "message": message });
    if let Some(code) = code {
        error["code"] = json!(code);
    }
    (status, Json(json!({ "error": error }))).into_response()
}

/// `metadata[...]`-style fields under `prefix` as a JSON object.
fn nested(form: &BTreeMap<String, String>, prefix: &str) -> Value {
    let entries = form.iter().filter_map(|(key, value)| {
        let name = key
            .strip_prefix(prefix)?
            .strip_prefix('[')?
            .strip_suffix(']')?;
        Some((name.to_owned(), json!(value)))
    });
    Value::Object(entries.collect())
}

async fn handle(
    State(fake): State<FakeStripe>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let body = String::from_utf8(body.to_vec()).unwrap_or_default();
    let idempotency_key = header("idempotency-key");
    // Recorded first, so tests see every attempt, refused or not.
    // POST parameters come form-encoded in the body, GET parameters in the query string.
    let encoded = if method == Method::GET {
        uri.query().unwrap_or_default()
    } else {
        body.as_str()
    };
    let parsed = serde_urlencoded::from_str::<Vec<(String, String)>>(encoded);
    let well_formed = parsed.is_ok();
    let form: BTreeMap<String, String> = parsed.unwrap_or_default().into_iter().collect();
    fake.0.lock().unwrap().requests.push(Seen {
        method: method.clone(),
        path: uri.path().to_owned(),
        idempotency_key: idempotency_key.clone(),
        stripe_account: header("stripe-account"),
        body: body.clone(),
        form: form.clone(),
    });
    if header("authorization").as_deref() != Some(format!("Bearer {SECRET}").as_str()) {
        // Stripe names the key it was given; the adapter must keep that out of its errors.
        let given = header("authorization").unwrap_or_default();
        return stripe_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            &format!("Invalid API Key provided: {given}"),
        );
    }
    if method == Method::POST {
        if header("content-type").as_deref() != Some("application/x-www-form-urlencoded")
            || !well_formed
        {
            return stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                None,
                "Invalid request: expected a form-encoded body",
            );
        }
        // Stripe accepts a POST without a key; our contract does not.
        if idempotency_key.is_none() {
            return stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                None,
                "test server: every POST must carry an Idempotency-Key",
            );
        }
    }
    let route = format!("{method} {}", uri.path());
    let fault = fake.0.lock().unwrap().faults.pop_front();
    match fault {
        Some(Fault::Silence) => std::future::pending::<()>().await,
        Some(Fault::Status(429)) => {
            return stripe_error(
                StatusCode::TOO_MANY_REQUESTS,
                "invalid_request_error",
                Some("rate_limit"),
                "Too many requests hit the API too quickly.",
            );
        }
        Some(Fault::Status(status)) => {
            return stripe_error(
                StatusCode::from_u16(status).unwrap(),
                "api_error",
                None,
                "An unknown error occurred",
            );
        }
        None => {}
    }
    if let Some(key) = &idempotency_key {
        let state = fake.0.lock().unwrap();
        if let Some((first_route, first_body, (status, answer))) = state.replays.get(key) {
            if *first_route != route || *first_body != body {
                return stripe_error(
                    StatusCode::BAD_REQUEST,
                    "idempotency_error",
                    None,
                    "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                );
            }
            return (*status, Json(answer.clone())).into_response();
        }
    }
    let id = {
        let mut state = fake.0.lock().unwrap();
        state.counter += 1;
        state.counter
    };
    let (status, answer) = answer(
        &method,
        uri.path(),
        &form,
        header("stripe-account").as_deref(),
        id,
    );
    if let Some(key) = idempotency_key {
        fake.0
            .lock()
            .unwrap()
            .replays
            .insert(key, (route, body, (status, answer.clone())));
    }
    (status, Json(answer)).into_response()
}

/// What Stripe would answer to a well-formed request.
fn answer(
    method: &Method,
    path: &str,
    form: &BTreeMap<String, String>,
    stripe_account: Option<&str>,
    id: u32,
) -> (StatusCode, Value) {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let refusal = |status: StatusCode, code: &str, message: &str| {
        let error = json!({ "error": { "type": "invalid_request_error", "code": code, "message": message } });
        (status, error)
    };
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["v1", "checkout", "sessions"]) => {
            let mut session = fixture("checkout.session");
            let session_id = format!("cs_test_{id}");
            session["url"] = json!(format!("https://checkout.stripe.com/c/pay/{session_id}"));
            session["id"] = json!(session_id);
            session["mode"] = json!(form.get("mode"));
            session["expires_at"] = json!(EXPIRES_AT);
            session["metadata"] = nested(form, "metadata");
            session["success_url"] = json!(form.get("success_url"));
            session["cancel_url"] = json!(form.get("cancel_url"));
            (StatusCode::OK, session)
        }
        ("POST", ["v1", "coupons"]) => {
            let mut coupon = fixture("coupon");
            coupon["id"] = json!(format!("promo{id}"));
            coupon["percent_off"] = json!(form["percent_off"].parse::<f64>().unwrap());
            coupon["duration"] = json!(form.get("duration"));
            coupon["currency"] = Value::Null;
            (StatusCode::OK, coupon)
        }
        ("POST", ["v1", "accounts"]) => {
            let mut account = fixture("account");
            account["id"] = json!(format!("acct_test{id}"));
            account["type"] = json!(form.get("type"));
            account["country"] = json!(form.get("country"));
            account["metadata"] = nested(form, "metadata");
            (StatusCode::OK, account)
        }
        ("POST", ["v1", "account_links"]) => {
            let mut link = fixture("account_link");
            link["url"] = json!(format!(
                "https://connect.stripe.com/setup/e/{}/link{id}",
                form["account"]
            ));
            (StatusCode::OK, link)
        }
        (_, ["v1", "subscriptions", "sub_missing"]) => refusal(
            StatusCode::NOT_FOUND,
            "resource_missing",
            "No such subscription: 'sub_missing'",
        ),
        ("POST", ["v1", "subscriptions", subscription]) => {
            let mut remote = fixture("subscription");
            remote["id"] = json!(subscription);
            remote["cancel_at_period_end"] =
                json!(form.get("cancel_at_period_end").map(String::as_str) == Some("true"));
            (StatusCode::OK, remote)
        }
        ("GET", ["v1", "subscriptions", subscription]) => {
            let mut remote = fixture("subscription");
            remote["id"] = json!(subscription);
            remote["status"] = json!("trialing");
            remote["cancel_at_period_end"] = json!(false);
            remote["items"]["data"][0]["current_period_end"] = json!(PERIOD_END);
            (StatusCode::OK, remote)
        }
        ("GET", ["v1", "invoice_payments"]) => {
            let invoice = form.get("invoice").map(String::as_str).unwrap_or_default();
            let mut data = Vec::new();
            // `in_unpaid` has no paid payment yet; any other invoice was paid by one intent.
            if invoice != "in_unpaid" && form.get("status").map(String::as_str) == Some("paid") {
                let mut paid = fixture("invoice_payment");
                paid["id"] = json!(format!("inpay_{id}"));
                paid["invoice"] = json!(invoice);
                paid["status"] = json!("paid");
                paid["currency"] = json!("usd");
                paid["payment"] =
                    json!({"type": "payment_intent", "payment_intent": format!("pi_of_{invoice}")});
                data.push(paid);
            }
            let list = json!({"object": "list", "data": data, "has_more": false,
                              "url": "/v1/invoice_payments"});
            (StatusCode::OK, list)
        }
        ("GET", ["v1", "payment_intents", "pi_gone"]) => refusal(
            StatusCode::NOT_FOUND,
            "resource_missing",
            "No such payment_intent: 'pi_gone'",
        ),
        ("GET", ["v1", "payment_intents", intent]) => {
            let mut remote = fixture("payment_intent");
            remote["id"] = json!(intent);
            if intent.starts_with("pi_ours") {
                remote["metadata"] = json!({"kind": "tip", "fan_id": "f", "creator_id": "c"});
            }
            let charge = format!("ch_of_{intent}");
            remote["latest_charge"] = if expands(form, "latest_charge.balance_transaction") {
                charge_json(&charge, true)
            } else if expands(form, "latest_charge") {
                charge_json(&charge, false)
            } else {
                json!(charge)
            };
            (StatusCode::OK, remote)
        }
        ("GET", ["v1", "charges", charge]) => (
            StatusCode::OK,
            charge_json(charge, expands(form, "balance_transaction")),
        ),
        ("GET", ["v1", "balance_transactions", transaction]) => {
            (StatusCode::OK, balance_transaction_json(transaction))
        }
        ("POST", ["v1", "payouts"]) => {
            let amount: i64 = form["amount"].parse().unwrap();
            if stripe_account.is_none() || amount > ACCOUNT_BALANCE {
                return refusal(
                    StatusCode::BAD_REQUEST,
                    "balance_insufficient",
                    &format!("You have {REFUSAL_DETAIL} for this transfer."),
                );
            }
            let mut payout = fixture("payout");
            payout["id"] = json!(format!("po_test{id}"));
            payout["amount"] = json!(amount);
            payout["currency"] = json!(form.get("currency"));
            payout["automatic"] = json!(false);
            payout["metadata"] = nested(form, "metadata");
            (StatusCode::OK, payout)
        }
        ("POST", ["v1", "disputes", dispute]) => {
            let mut remote = fixture("dispute");
            remote["id"] = json!(dispute);
            for (key, value) in form {
                if let Some(name) = key
                    .strip_prefix("evidence[")
                    .and_then(|k| k.strip_suffix(']'))
                {
                    remote["evidence"][name] = json!(value);
                }
            }
            if form.get("submit").map(String::as_str) == Some("true") {
                remote["status"] = json!("under_review");
                remote["evidence_details"]["submission_count"] = json!(1);
            }
            (StatusCode::OK, remote)
        }
        _ => refusal(
            StatusCode::NOT_FOUND,
            "resource_missing",
            &format!("Unrecognized request URL ({method}: {path})"),
        ),
    }
}

/// Whether the request asked Stripe to expand `path` (`expand[0]=...`, `expand[]=...`).
fn expands(form: &BTreeMap<String, String>, path: &str) -> bool {
    form.iter()
        .any(|(key, value)| key.starts_with("expand[") && value == path)
}

/// A charge whose balance transaction is `txn_of_<charge>`, as an id or expanded.
fn charge_json(charge: &str, expand_balance_transaction: bool) -> Value {
    let mut remote = fixture("charge");
    remote["id"] = json!(charge);
    let transaction = format!("txn_of_{charge}");
    remote["balance_transaction"] = if expand_balance_transaction {
        balance_transaction_json(&transaction)
    } else {
        json!(transaction)
    };
    remote
}

/// A balance transaction of 2,000 with a fee of 88.
fn balance_transaction_json(transaction: &str) -> Value {
    let mut balance = fixture("balance_transaction");
    balance["id"] = json!(transaction);
    balance["amount"] = json!(2_000);
    balance["fee"] = json!(88);
    balance["net"] = json!(1_912);
    balance
}

/// Starts the server on an ephemeral loopback port and returns its origin.
async fn start(fake: FakeStripe) -> String {
    let app = Router::new().fallback(handle).with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

fn config(api_base: &str, max_retries: u32) -> StripeConfig {
    StripeConfig {
        secret_key: Secret::from(SECRET),
        api_base: api_base.to_owned(),
        max_retries,
        // Keeps the retry tests fast; the back-off shape is covered by a unit property.
        retry_base_ms: 1,
        request_timeout_ms: 5_000,
    }
}

async fn setup(max_retries: u32) -> (FakeStripe, StripeProvider) {
    let fake = FakeStripe::default();
    let base = start(fake.clone()).await;
    let provider = StripeProvider::new(&config(&base, max_retries)).unwrap();
    (fake, provider)
}

fn checkout(mode: CheckoutMode) -> CheckoutRequest {
    let checkout_id = CheckoutId::new();
    CheckoutRequest {
        checkout_id,
        mode,
        currency: "usd".into(),
        destination_account: "acct_creator1".into(),
        success_url: "https://app.directfanz.test/checkout/done".into(),
        cancel_url: "https://app.directfanz.test/checkout/cancelled".into(),
        metadata: BTreeMap::from([
            ("checkout_id".to_owned(), checkout_id.to_string()),
            ("fan_id".to_owned(), "fan-7".to_owned()),
        ]),
    }
}

/// Asserts every attempt carried the same key and body, and returns the first.
fn one_logical_request(attempts: &[Seen], expected_attempts: usize, key: &str) -> Seen {
    assert_eq!(attempts.len(), expected_attempts, "{attempts:#?}");
    for attempt in attempts {
        assert_eq!(attempt.idempotency_key.as_deref(), Some(key));
        assert_eq!(
            attempt.body, attempts[0].body,
            "retries resend the same body"
        );
    }
    attempts[0].clone()
}

#[tokio::test]
async fn payment_checkout_survives_a_500_and_a_429_with_one_idempotency_key() {
    let (fake, provider) = setup(3).await;
    fake.fail_next(&[Fault::Status(500), Fault::Status(429)]);
    let request = checkout(CheckoutMode::Payment {
        description: "Tip for @creator".into(),
        amount: 999,
        application_fee_amount: 200,
    });

    let session = provider.create_checkout(&request).await.unwrap();
    assert_eq!(session.provider_id, "cs_test_1");
    assert_eq!(session.url, "https://checkout.stripe.com/c/pay/cs_test_1");
    assert_eq!(session.expires_at.timestamp(), EXPIRES_AT);

    let attempts = fake.requests_to(Method::POST, "/v1/checkout/sessions");
    let key = format!("df-checkout-{}", request.checkout_id);
    let sent = one_logical_request(&attempts, 3, &key);
    assert_eq!(sent.field("mode"), "payment");
    assert_eq!(sent.field("line_items[0][price_data][unit_amount]"), "999");
    assert_eq!(sent.field("line_items[0][price_data][currency]"), "usd");
    assert_eq!(
        sent.field("line_items[0][price_data][product_data][name]"),
        "Tip for @creator"
    );
    assert_eq!(sent.field("line_items[0][quantity]"), "1");
    assert_eq!(
        sent.get("line_items[0][price_data][recurring][interval]"),
        None
    );
    assert_eq!(
        sent.field("payment_intent_data[application_fee_amount]"),
        "200"
    );
    assert_eq!(
        sent.field("payment_intent_data[transfer_data][destination]"),
        "acct_creator1"
    );
    for prefix in ["metadata", "payment_intent_data[metadata]"] {
        assert_eq!(
            sent.field(&format!("{prefix}[checkout_id]")),
            request.checkout_id.to_string()
        );
        assert_eq!(sent.field(&format!("{prefix}[fan_id]")), "fan-7");
    }
    assert_eq!(sent.field("success_url"), request.success_url);
    assert_eq!(sent.field("cancel_url"), request.cancel_url);
    assert!(
        sent.form
            .keys()
            .all(|k| !k.starts_with("subscription_data"))
    );
    assert!(sent.form.keys().all(|k| !k.starts_with("discounts")));
}

#[tokio::test]
async fn subscription_checkout_carries_fee_percent_trial_and_a_first_month_coupon() {
    let (fake, provider) = setup(3).await;
    let request = checkout(CheckoutMode::Subscription {
        tier_name: "Gold".into(),
        unit_amount: 1_500,
        trial_days: 7,
        promo_percent_off: Some(20),
        application_fee_percent: 12.5,
    });
    // The coupon's first attempt fails: its retry must reuse its own key.
    fake.fail_next(&[Fault::Status(502)]);

    let session = provider.create_checkout(&request).await.unwrap();
    assert!(session.provider_id.starts_with("cs_test_"));

    let coupon_attempts = fake.requests_to(Method::POST, "/v1/coupons");
    let coupon = one_logical_request(
        &coupon_attempts,
        2,
        &format!("df-coupon-{}", request.checkout_id),
    );
    assert_eq!(coupon.decimal("percent_off"), 20.0);
    assert_eq!(coupon.field("duration"), "once");
    assert_eq!(coupon.field("max_redemptions"), "1");

    let attempts = fake.requests_to(Method::POST, "/v1/checkout/sessions");
    let sent = one_logical_request(
        &attempts,
        1,
        &format!("df-checkout-{}", request.checkout_id),
    );
    assert_eq!(sent.field("mode"), "subscription");
    assert_eq!(sent.field("line_items[0][price_data][unit_amount]"), "1500");
    assert_eq!(
        sent.field("line_items[0][price_data][recurring][interval]"),
        "month"
    );
    assert_eq!(
        sent.field("line_items[0][price_data][product_data][name]"),
        "Gold"
    );
    assert_eq!(
        sent.decimal("subscription_data[application_fee_percent]"),
        12.5
    );
    assert_eq!(sent.field("subscription_data[trial_period_days]"), "7");
    assert_eq!(
        sent.field("subscription_data[transfer_data][destination]"),
        "acct_creator1"
    );
    assert_eq!(sent.field("subscription_data[metadata][fan_id]"), "fan-7");
    assert_eq!(sent.field("metadata[fan_id]"), "fan-7");
    // The server named the coupon `promo<n>`; the session must use that id.
    assert!(sent.field("discounts[0][coupon]").starts_with("promo"));
    assert!(
        sent.form
            .keys()
            .all(|k| !k.starts_with("payment_intent_data"))
    );

    // Without a trial or a promotion neither is sent, and no coupon is made.
    let plain = checkout(CheckoutMode::Subscription {
        tier_name: "Silver".into(),
        unit_amount: 500,
        trial_days: 0,
        promo_percent_off: None,
        application_fee_percent: 20.0,
    });
    provider.create_checkout(&plain).await.unwrap();
    let sent = fake
        .requests_to(Method::POST, "/v1/checkout/sessions")
        .pop()
        .unwrap();
    assert_eq!(sent.get("subscription_data[trial_period_days]"), None);
    assert_eq!(sent.get("discounts[0][coupon]"), None);
    assert_eq!(
        sent.decimal("subscription_data[application_fee_percent]"),
        20.0
    );
    assert_eq!(fake.requests_to(Method::POST, "/v1/coupons").len(), 2);
}

#[tokio::test]
async fn creators_get_express_accounts_with_manual_payouts_and_onboarding_links() {
    let (fake, provider) = setup(3).await;
    let creator_id = CreatorId::new();

    let account = provider
        .create_connected_account(creator_id, "de")
        .await
        .unwrap();
    assert!(account.starts_with("acct_test"), "{account}");
    let sent = one_logical_request(
        &fake.requests_to(Method::POST, "/v1/accounts"),
        1,
        &format!("df-account-{creator_id}"),
    );
    assert_eq!(sent.field("type"), "express");
    assert_eq!(sent.field("country"), "DE");
    assert_eq!(sent.field("metadata[creator_id]"), creator_id.to_string());
    assert_eq!(
        sent.field("settings[payouts][schedule][interval]"),
        "manual"
    );
    assert_eq!(sent.field("capabilities[transfers][requested]"), "true");

    let url = provider
        .onboarding_link(
            &account,
            "https://app.directfanz.test/payouts/done",
            "https://app.directfanz.test/payouts/again",
        )
        .await
        .unwrap();
    assert!(url.contains(&account), "{url}");
    let link = fake
        .requests_to(Method::POST, "/v1/account_links")
        .remove(0);
    assert_eq!(link.field("account"), account);
    assert_eq!(link.field("type"), "account_onboarding");
    assert_eq!(
        link.field("return_url"),
        "https://app.directfanz.test/payouts/done"
    );
    assert_eq!(
        link.field("refresh_url"),
        "https://app.directfanz.test/payouts/again"
    );
    assert!(link.idempotency_key.is_some());
}

#[tokio::test]
async fn payouts_run_on_the_connected_account_and_are_retried_once_each() {
    let (fake, provider) = setup(3).await;
    fake.fail_next(&[Fault::Status(503)]);
    let request = PayoutRequest {
        payout_id: PayoutId::new(),
        account: "acct_creator1".into(),
        amount: 12_345,
        currency: "eur".into(),
    };

    let payout = provider.create_payout(&request).await.unwrap();
    assert!(payout.starts_with("po_test"), "{payout}");
    let attempts = fake.requests_to(Method::POST, "/v1/payouts");
    let sent = one_logical_request(&attempts, 2, &format!("df-payout-{}", request.payout_id));
    for attempt in &attempts {
        assert_eq!(attempt.stripe_account.as_deref(), Some("acct_creator1"));
    }
    assert_eq!(sent.field("amount"), "12345");
    assert_eq!(sent.field("currency"), "eur");
    assert_eq!(
        sent.field("metadata[df_payout_id]"),
        request.payout_id.to_string()
    );

    // Asking again for the same payout replays Stripe's answer instead of paying twice.
    assert_eq!(provider.create_payout(&request).await.unwrap(), payout);
}

#[tokio::test]
async fn refusals_get_a_stable_code_and_keep_stripe_s_words_private() {
    let (fake, provider) = setup(3).await;
    let request = PayoutRequest {
        payout_id: PayoutId::new(),
        account: "acct_creator1".into(),
        amount: ACCOUNT_BALANCE + 1,
        currency: "usd".into(),
    };

    let error = provider.create_payout(&request).await.unwrap_err();
    assert_eq!(error.code(), "payments.provider_rejected");
    assert_eq!(error.kind(), ErrorKind::Unprocessable);
    assert!(!error.message().contains(REFUSAL_DETAIL), "{error}");
    let problem = serde_json::to_string(&error.to_problem(None)).unwrap();
    assert!(!problem.contains(REFUSAL_DETAIL), "{problem}");
    let cause = format!("{:#}", error.cause().unwrap());
    assert!(cause.contains(REFUSAL_DETAIL), "{cause}");
    assert!(cause.contains("balance_insufficient"), "{cause}");
    assert_eq!(
        fake.requests_to(Method::POST, "/v1/payouts").len(),
        1,
        "a 4xx is not retried"
    );

    let error = provider
        .retrieve_subscription("sub_missing")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "payments.provider_not_found");
    assert_eq!(error.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn retries_stop_after_max_retries() {
    let (fake, provider) = setup(2).await;
    fake.fail_next(&[Fault::Status(500); 10]);

    let error = provider
        .processor_fee(&fee_of("txn_1", 2_000))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert_eq!(
        fake.requests_to(Method::GET, "/v1/balance_transactions/txn_1")
            .len(),
        3,
        "one attempt and two retries"
    );

    let (fake, provider) = setup(0).await;
    fake.fail_next(&[Fault::Status(429)]);
    let error = provider.cancel_at_period_end("sub_1").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn silent_servers_time_out_and_closed_ports_are_unavailable() {
    let fake = FakeStripe::default();
    let base = start(fake.clone()).await;
    let provider = StripeProvider::new(&StripeConfig {
        request_timeout_ms: 200,
        ..config(&base, 1)
    })
    .unwrap();
    fake.fail_next(&[Fault::Silence, Fault::Silence]);
    let error = provider
        .processor_fee(&fee_of("txn_1", 2_000))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert_eq!(
        fake.requests().len(),
        2,
        "the timed-out attempt was retried"
    );

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let provider = StripeProvider::new(&config(&closed, 1)).unwrap();
    let error = provider
        .processor_fee(&fee_of("txn_1", 2_000))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
}

#[tokio::test]
async fn subscriptions_are_read_and_cancelled_at_period_end() {
    let (fake, provider) = setup(3).await;

    let remote = provider.retrieve_subscription("sub_42").await.unwrap();
    assert_eq!(remote.id, "sub_42");
    assert_eq!(remote.status, "trialing");
    assert_eq!(remote.current_period_end.timestamp(), PERIOD_END);
    assert!(!remote.cancel_at_period_end);

    fake.fail_next(&[Fault::Status(500)]);
    provider.cancel_at_period_end("sub_42").await.unwrap();
    let attempts = fake.requests_to(Method::POST, "/v1/subscriptions/sub_42");
    let key = attempts[0].idempotency_key.clone().unwrap();
    let sent = one_logical_request(&attempts, 2, &key);
    assert_eq!(sent.field("cancel_at_period_end"), "true");
}

#[tokio::test]
async fn the_processor_fee_comes_from_the_balance_transaction() {
    let (fake, provider) = setup(3).await;
    assert_eq!(
        provider
            .processor_fee(&fee_of("txn_9", 2_000))
            .await
            .unwrap(),
        88
    );
    let seen = fake.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(seen[0].path, "/v1/balance_transactions/txn_9");
}

/// Each kind of event leads to the fee its own way: a charge through its expanded balance
/// transaction, a payment intent through its latest charge, and an invoice of API version
/// 2025-03-31 or later (which names neither) through the invoice payment that paid it.
#[tokio::test]
async fn the_fee_is_found_from_a_charge_a_payment_intent_or_only_an_invoice() {
    use df_payments::provider::FeeLookup;
    let (fake, provider) = setup(3).await;
    let lookup = |charge: Option<&str>, intent: Option<&str>, invoice: Option<&str>| FeeLookup {
        charge: charge.map(str::to_owned),
        payment_intent: intent.map(str::to_owned),
        invoice: invoice.map(str::to_owned),
        amount: 2_000,
        currency: "usd".into(),
        ..Default::default()
    };

    let fee = provider
        .processor_fee(&lookup(Some("ch_1"), None, None))
        .await;
    assert_eq!(fee.unwrap(), 88);
    let seen = fake.requests();
    assert_eq!(seen.len(), 1, "the balance transaction comes expanded");
    assert_eq!(seen[0].path, "/v1/charges/ch_1");
    assert!(
        expands(&seen[0].form, "balance_transaction"),
        "{:?}",
        seen[0].form
    );

    let fee = provider
        .processor_fee(&lookup(None, Some("pi_2"), Some("in_2")))
        .await;
    assert_eq!(fee.unwrap(), 88);
    let seen = fake.requests();
    assert_eq!(
        seen.len(),
        2,
        "an invoice naming its intent needs no listing"
    );
    assert_eq!(seen[1].path, "/v1/payment_intents/pi_2");
    assert!(expands(&seen[1].form, "latest_charge.balance_transaction"));

    let fee = provider
        .processor_fee(&lookup(None, None, Some("in_3")))
        .await;
    assert_eq!(fee.unwrap(), 88);
    let seen = fake.requests();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[2].method, Method::GET);
    assert_eq!(seen[2].path, "/v1/invoice_payments");
    assert_eq!(seen[2].get("invoice"), Some("in_3"));
    assert_eq!(seen[2].get("status"), Some("paid"));
    assert_eq!(seen[3].path, "/v1/payment_intents/pi_of_in_3");
    assert!(
        seen.iter().all(|s| s.idempotency_key.is_none()),
        "reads carry no key"
    );

    // An invoice with no paid payment yet has no fee to find: a clear, retryable refusal.
    let error = provider
        .processor_fee(&lookup(None, None, Some("in_unpaid")))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "payments.fee_unknown");
    assert_eq!(error.kind(), ErrorKind::Unavailable);
}

/// Whether a charge an event names belongs to a payment intent of ours is read from the
/// intent's metadata; an intent Stripe does not know is `None`, not an error.
#[tokio::test]
async fn a_payment_intent_s_metadata_is_read_and_a_missing_one_is_none() {
    let (fake, provider) = setup(3).await;
    let ours = provider.payment_intent_metadata("pi_ours_1").await.unwrap();
    let ours = ours.unwrap();
    assert_eq!(ours.get("fan_id").map(String::as_str), Some("f"));
    assert_eq!(ours.get("creator_id").map(String::as_str), Some("c"));
    let theirs = provider.payment_intent_metadata("pi_theirs").await.unwrap();
    assert_eq!(theirs.map(|m| m.is_empty()), Some(true));
    assert_eq!(
        provider.payment_intent_metadata("pi_gone").await.unwrap(),
        None
    );
    let seen = fake.requests();
    assert_eq!(seen.len(), 3, "a 404 is an answer, not retried");
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(seen[0].path, "/v1/payment_intents/pi_ours_1");
    assert!(seen.iter().all(|s| s.idempotency_key.is_none()));
}

#[tokio::test]
async fn dispute_evidence_is_submitted() {
    let (fake, provider) = setup(3).await;
    let evidence = DisputeEvidence {
        product_description: "Monthly subscription to Gold, 15.00 USD, 2026-01-03".into(),
        receipt: "Receipt 0007: Gold, 15.00 USD, paid 2026-01-03".into(),
        access_activity_log: "2026-01-04 12:00 UTC viewed post 9 from a known device".into(),
        customer_id: "fan-7".into(),
    };

    provider
        .submit_dispute_evidence("dp_1", &evidence)
        .await
        .unwrap();
    let sent = one_logical_request(
        &fake.requests_to(Method::POST, "/v1/disputes/dp_1"),
        1,
        "df-dispute-evidence-dp_1",
    );
    assert_eq!(sent.field("submit"), "true");
    assert_eq!(
        sent.field("evidence[product_description]"),
        evidence.product_description
    );
    assert_eq!(
        sent.field("evidence[access_activity_log]"),
        evidence.access_activity_log
    );
    let text = sent.field("evidence[uncategorized_text]");
    assert!(text.contains(&evidence.receipt), "{text}");
    assert!(text.contains("fan-7"), "{text}");
    assert_eq!(
        sent.get("evidence[receipt]"),
        None,
        "receipt takes a file id"
    );
}

#[tokio::test]
async fn a_wrong_key_is_an_internal_error_that_never_shows_the_key() {
    let fake = FakeStripe::default();
    let base = start(fake.clone()).await;
    let wrong = "sk_test_wrongwrongwrongwrong0000";
    let config = StripeConfig {
        secret_key: Secret::from(wrong),
        ..config(&base, 3)
    };
    let provider = StripeProvider::new(&config).unwrap();
    assert!(!format!("{provider:?} {config:?}").contains(wrong));

    let error = provider
        .processor_fee(&fee_of("txn_1", 100))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Internal);
    assert_eq!(fake.requests().len(), 1, "a 401 is not retried");
    // The server echoed the key it was given; the adapter scrubbed it.
    let printed = format!("{error:?} {error}");
    assert!(!printed.contains(wrong), "{printed}");
    assert!(printed.contains("Invalid API Key"), "{printed}");
}

/// A fee lookup naming the balance transaction, as `charge.*` events do.
fn fee_of(balance_transaction: &str, amount: i64) -> df_payments::provider::FeeLookup {
    df_payments::provider::FeeLookup {
        balance_transaction: Some(balance_transaction.to_owned()),
        amount,
        currency: "usd".into(),
        ..Default::default()
    }
}
