//! The payments routes: payout accounts, tiers, PPV items, checkouts (subscriptions, tips, PPV
//! purchases), entitlements, earnings and payouts, tax, the admin views and the provider webhook.
//!
//! Handlers translate between the public JSON shapes and payments' gRPC messages and nothing
//! more: who may do what (creators only, admins only, a fan's own subscriptions) and every money
//! rule is payments' decision, which comes back as a problem with payments' stable code.

pub mod admin;
pub mod earnings;
pub mod entitlement;
pub mod payout_account;
pub mod ppv_items;
pub mod subscriptions;
pub mod tax;
pub mod tiers;
pub mod tips;
pub mod webhooks;

use actix_web::{HttpResponse, web};
use df_proto::payments::v1 as pb;
use serde::{Deserialize, Serialize};

/// An amount of money: integer minor units (cents) and a lower-case ISO 4217 currency.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Minor units.
    pub amount_minor: i64,
    /// For example `usd`.
    pub currency: String,
}

impl From<pb::Money> for Money {
    fn from(money: pb::Money) -> Self {
        Self {
            amount_minor: money.amount,
            currency: money.currency,
        }
    }
}

impl From<Money> for pb::Money {
    fn from(money: Money) -> Self {
        Self {
            amount: money.amount_minor,
            currency: money.currency,
        }
    }
}

/// A wire amount as clients see it (zero when payments left it out).
pub(crate) fn money(value: Option<pb::Money>) -> Money {
    value.map(Money::from).unwrap_or_default()
}

/// An amount in `currency` as clients see it.
pub(crate) fn amount(amount_minor: i64, currency: &str) -> Money {
    Money {
        amount_minor,
        currency: currency.to_owned(),
    }
}

/// A wire instant as RFC 3339 UTC with whole seconds, or `None` when it is not set.
pub(crate) fn instant(value: Option<&prost_types::Timestamp>) -> Option<String> {
    df_common::wire::rfc3339(value)
}

/// An instant payments always sets; the epoch if it somehow did not, as for identity's.
pub(crate) fn required_instant(value: Option<&prost_types::Timestamp>) -> String {
    df_common::wire::rfc3339_or_epoch(value)
}

pub(crate) use df_common::wire::timestamp;

/// `Some` for a non-empty string, `None` for the empty one (proto3's "not set").
pub(crate) fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

/// A hosted payment page opened for the fan: send them to `checkout_url`. Nothing is granted
/// until the provider reports the payment.
#[derive(Debug, Serialize)]
pub struct CheckoutView {
    /// Our id of the checkout (UUIDv7).
    pub checkout_id: String,
    /// The provider's payment page.
    pub checkout_url: String,
    /// When the page stops accepting payment (RFC 3339).
    pub expires_at: String,
}

impl From<pb::Checkout> for CheckoutView {
    fn from(checkout: pb::Checkout) -> Self {
        Self {
            expires_at: required_instant(checkout.expires_at.as_ref()),
            checkout_id: checkout.id,
            checkout_url: checkout.url,
        }
    }
}

/// `201 Created` with the checkout.
pub(crate) fn checkout_created(checkout: pb::Checkout) -> HttpResponse {
    HttpResponse::Created().json(CheckoutView::from(checkout))
}

/// The client's optional `Idempotency-Key` header on requests that open a checkout; payments
/// answers a repeated request with the checkout the first one opened.
pub struct IdempotencyKey(pub String);

impl actix_web::FromRequest for IdempotencyKey {
    type Error = crate::security::ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(
        request: &actix_web::HttpRequest,
        _: &mut actix_web::dev::Payload,
    ) -> Self::Future {
        let key = match request.headers().get("idempotency-key") {
            None => Ok(Self(String::new())),
            Some(value) => match value.to_str() {
                Ok(key)
                    if !key.is_empty()
                        && key.len() <= 255
                        && key.chars().all(|c| c.is_ascii_graphic()) =>
                {
                    Ok(Self(key.to_owned()))
                }
                _ => Err(crate::security::ApiError(df_common::Error::invalid_input(
                    "gateway.invalid_idempotency_key",
                    "Idempotency-Key must be 1 to 255 visible ASCII characters.",
                ))),
            },
        };
        std::future::ready(key)
    }
}

/// A list. These lists are short and come whole, so `next_cursor` is always `null` for now;
/// clients that follow it keep working once they are paged.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The cursor of the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Every item on one page.
    pub fn whole(items: impl IntoIterator<Item = T>) -> Self {
        Self {
            items: items.into_iter().collect(),
            next_cursor: None,
        }
    }
}

/// A payout to a creator's bank account.
#[derive(Debug, Serialize)]
pub struct PayoutView {
    /// Id.
    pub id: String,
    /// The creator paid.
    pub creator_id: String,
    /// Amount.
    pub amount: Money,
    /// `pending`, `in_transit`, `paid`, `failed` or `needs_attention`.
    pub status: String,
    /// Attempts so far.
    pub attempts: u32,
    /// The provider's failure code of the last attempt.
    pub failure_code: Option<String>,
    /// When the payout was created (RFC 3339).
    pub created_at: String,
    /// When a failed payout is tried again.
    pub next_attempt_at: Option<String>,
}

impl From<pb::Payout> for PayoutView {
    fn from(payout: pb::Payout) -> Self {
        Self {
            amount: money(payout.amount),
            created_at: required_instant(payout.created_at.as_ref()),
            next_attempt_at: instant(payout.next_attempt_at.as_ref()),
            failure_code: non_empty(payout.failure_code),
            id: payout.id,
            creator_id: payout.creator_id,
            status: payout.status,
            attempts: payout.attempts,
        }
    }
}

/// The query of the tax form routes.
#[derive(Debug, Deserialize)]
pub struct TaxFormQuery {
    /// `csv` or `pdf`.
    pub format: TaxFormFormat,
}

/// Formats of a tax form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaxFormFormat {
    /// Comma-separated values.
    Csv,
    /// PDF.
    Pdf,
}

impl TaxFormFormat {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Pdf => "pdf",
        }
    }
}

/// Prefix of the provider webhook routes, which act for no user: they are exempt from the CSRF
/// checks and the session layer ignores credentials there.
pub const WEBHOOK_PREFIX: &str = "/v1/webhooks/";

/// The routes under `/v1` of the `api` rate-limit class.
pub fn api_routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/creator/payout-account/onboarding",
        web::post().to(payout_account::start_onboarding),
    )
    .route(
        "/creator/payout-account",
        web::get().to(payout_account::get),
    )
    .route("/creator/tiers", web::post().to(tiers::create))
    .route("/creator/tiers/{id}", web::patch().to(tiers::update))
    .route("/creator/tiers/{id}", web::delete().to(tiers::archive))
    .route("/creators/{creator_id}/tiers", web::get().to(tiers::list))
    .route("/creator/ppv-items", web::post().to(ppv_items::create))
    .route(
        "/ppv-items/{id}/purchase",
        web::post().to(ppv_items::purchase),
    )
    .route("/subscriptions", web::post().to(subscriptions::subscribe))
    .route(
        "/subscriptions/{id}/cancel",
        web::post().to(subscriptions::cancel),
    )
    .route("/me/subscriptions", web::get().to(subscriptions::list_mine))
    .route("/tips", web::post().to(tips::tip))
    .route(
        "/creators/{creator_id}/entitlement",
        web::get().to(entitlement::check),
    )
    .route("/creator/earnings", web::get().to(earnings::earnings))
    .route("/creator/payouts", web::get().to(earnings::payouts))
    .route("/creator/tax-profile", web::put().to(tax::put_profile))
    .route("/creator/tax-profile", web::get().to(tax::get_profile))
    .route("/creator/tax-forms/{year}", web::get().to(tax::form))
    .route("/admin/disputes", web::get().to(admin::disputes))
    .route(
        "/admin/payouts/failed",
        web::get().to(admin::failed_payouts),
    )
    .route("/admin/payouts/run", web::post().to(admin::run_payouts))
    .route(
        "/admin/creators/{creator_id}/tax-forms/{year}",
        web::get().to(tax::admin_form),
    );
}

/// The routes under `/v1/webhooks` of the `webhook` rate-limit class.
pub fn webhook_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/stripe", web::post().to(webhooks::stripe));
}
