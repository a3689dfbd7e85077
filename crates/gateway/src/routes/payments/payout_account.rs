//! `POST /v1/creator/payout-account/onboarding` and `GET /v1/creator/payout-account`: the
//! creator's account at the payment provider, which must be onboarded before fans can pay them.

use actix_web::{HttpResponse, web};
use df_proto::payments::v1 as pb;
use serde::{Deserialize, Serialize};

use crate::security::Json;
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Payments};

/// Request body of `start_onboarding`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnboardingBody {
    return_url: String,
    refresh_url: String,
    /// Two-letter country of the payout account; payments' default when left out.
    #[serde(default)]
    country: Option<String>,
}

/// The provider's onboarding page.
#[derive(Debug, Serialize)]
pub struct OnboardingLink {
    /// Send the creator here; it works once and expires soon.
    pub url: String,
}

/// The payout account.
#[derive(Debug, Serialize)]
pub struct PayoutAccountView {
    /// The creator.
    pub creator_id: String,
    /// `pending`, `restricted` or `enabled`.
    pub status: String,
    /// Fans can pay this creator.
    pub charges_enabled: bool,
    /// Earnings can be paid out.
    pub payouts_enabled: bool,
    /// The account's currency.
    pub default_currency: String,
}

impl From<pb::PayoutAccount> for PayoutAccountView {
    fn from(account: pb::PayoutAccount) -> Self {
        Self {
            creator_id: account.creator_id,
            status: account.status,
            charges_enabled: account.charges_enabled,
            payouts_enabled: account.payouts_enabled,
            default_currency: account.default_currency,
        }
    }
}

/// Starts (or resumes) onboarding and answers the link to the provider's page.
pub async fn start_onboarding(
    caller: Authenticated,
    payments: web::Data<Payments>,
    body: Json<OnboardingBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let answer = payments
        .start_onboarding(
            (&caller).into(),
            pb::StartOnboardingRequest {
                return_url: body.return_url,
                refresh_url: body.refresh_url,
                country: body.country.unwrap_or_default(),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(OnboardingLink { url: answer.url }))
}

/// The signed-in creator's payout account.
pub async fn get(
    caller: Authenticated,
    payments: web::Data<Payments>,
) -> Result<HttpResponse, ApiError> {
    // An empty creator id means the caller's own account.
    let account = payments
        .get_payout_account(
            (&caller).into(),
            pb::GetPayoutAccountRequest {
                creator_id: String::new(),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(PayoutAccountView::from(account)))
}
