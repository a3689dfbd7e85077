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
use utoipa::{IntoParams, ToSchema};

use super::{
    openapi::{named_schema, one_of},
    wire::{Money, instant, money, non_empty, required_instant},
};

/// A hosted payment page opened at the payment provider. Send the fan to `checkout_url`;
/// nothing is granted until the provider reports the payment, which usually takes seconds (poll
/// the entitlement).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Checkout, examples(json!({
    "checkout_id": "0193a5d4-8e9f-7a01-b2c3-d4e5f6071829",
    "checkout_url": "https://checkout.stripe.com/c/pay/cs_live_a1B2c3D4e5F6g7H8",
    "expires_at": "2026-11-21T09:15:00Z"
})))]
pub struct CheckoutView {
    /// Our id of the checkout (UUIDv7).
    #[schema(format = Uuid)]
    pub checkout_id: String,
    /// The provider's payment page.
    #[schema(format = "uri")]
    pub checkout_url: String,
    /// When the page stops accepting payment (RFC 3339, UTC).
    #[schema(format = DateTime)]
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

/// A payout to a creator's bank account.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Payout, examples(json!({
    "id": "0193a5d5-9fa0-7b12-c3d4-e5f60718293a",
    "creator_id": "0193a5b8-2f4c-7d1e-8a6b-5c3d2e1f0a9b",
    "amount": {"amount_minor": 12480, "currency": "usd"},
    "status": "paid",
    "attempts": 1,
    "failure_code": null,
    "created_at": "2026-11-20T09:15:00Z",
    "next_attempt_at": null
})))]
pub struct PayoutView {
    /// Id.
    #[schema(format = Uuid)]
    pub id: String,
    /// The creator paid.
    #[schema(format = Uuid)]
    pub creator_id: String,
    pub amount: Money,
    /// `needs_attention`: the retries are spent and an admin must act.
    #[schema(value_type = PayoutStatus)]
    pub status: String,
    /// Attempts so far.
    pub attempts: u32,
    /// The provider's failure code of the last failed attempt.
    #[schema(required)]
    pub failure_code: Option<String>,
    /// When the payout was created (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When a failed payout is tried again.
    #[schema(required, format = DateTime)]
    pub next_attempt_at: Option<String>,
}

named_schema!(
    /// The states of a payout.
    PayoutStatus = one_of(
        &["pending", "in_transit", "paid", "failed", "needs_attention"],
        "Where a payout stands.",
    )
);

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
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaxFormQuery {
    /// `csv` or `pdf`.
    #[param(inline)]
    pub format: TaxFormFormat,
}

/// Formats of a tax form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
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
