//! `POST /v1/creator/payout-account/onboarding` and `GET /v1/creator/payout-account`: the
//! creator's account at the payment provider, which must be onboarded before fans can pay them.

use actix_web::{HttpResponse, web};
use df_proto::payments::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::routes::openapi::{
    Forbidden, ForbiddenOrCsrf, InternalError, JSON_BODY, PayloadTooLarge, ProviderUnavailable,
    RateLimited, Timeout, Unauthenticated, Unavailable, named_schema, one_of, problems,
};
use crate::security::Json;
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Payments};

/// Where the provider sends the creator back from onboarding.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OnboardingRequest)]
pub struct OnboardingBody {
    /// Where the provider sends the creator when onboarding is done (http or https).
    #[schema(format = "uri", max_length = 2048)]
    return_url: String,
    /// Where the provider sends the creator when the link expired or was used; ask for a new
    /// link from there.
    #[schema(format = "uri", max_length = 2048)]
    refresh_url: String,
    /// Two-letter country of the payout account; `null` or absent means `US`. Only used when
    /// the account is created.
    #[serde(default)]
    #[schema(pattern = "^[A-Z]{2}$")]
    country: Option<String>,
}

/// The provider's onboarding page.
#[derive(Debug, Serialize, ToSchema)]
#[schema(examples(json!({
    "url": "https://connect.stripe.com/setup/e/acct_1Q2w3E4r5T6y7U8i/a1B2c3D4"
})))]
pub struct OnboardingLink {
    /// The provider's onboarding page. It works once and expires within minutes: redirect the
    /// creator at once.
    #[schema(format = "uri")]
    pub url: String,
}

/// The creator's account at the payment provider.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PayoutAccount, examples(json!({
    "creator_id": "0193a5b8-2f4c-7d1e-8a6b-5c3d2e1f0a9b",
    "status": "enabled",
    "charges_enabled": true,
    "payouts_enabled": true,
    "default_currency": "usd"
})))]
pub struct PayoutAccountView {
    /// The creator.
    #[schema(format = Uuid)]
    pub creator_id: String,
    /// `pending` until onboarding is complete, `restricted` when the provider needs more
    /// information, `enabled` when fans can pay and earnings can be paid out.
    #[schema(value_type = PayoutAccountStatus)]
    pub status: String,
    /// Fans can pay this creator.
    pub charges_enabled: bool,
    /// Earnings can be paid out to the creator's bank.
    pub payouts_enabled: bool,
    /// The account's currency (lower-case ISO 4217); empty until the provider reports it.
    pub default_currency: String,
}

named_schema!(
    /// The states of a payout account.
    PayoutAccountStatus =
        one_of(&["pending", "restricted", "enabled"], "Where a payout account stands.")
);

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

problems!(StartPayoutOnboardingProblems {
    400 [
        JSON_BODY, "payments.invalid_url", "payments.invalid_country",
        "payments.return_url_not_allowed",
    ]
        "`payments.invalid_url`: a URL is not an http(s) URL of at most 2048 characters; \
         `payments.invalid_country`: not a two-letter country code; \
         `payments.return_url_not_allowed`: a return URL points outside the platform's own \
         apps.",
    422 ["payments.provider_rejected"]
        "The payment provider refused the request.",
});

/// Starts (or resumes) onboarding and answers the link to the provider's page.
#[utoipa::path(
    post, path = "/v1/creator/payout-account/onboarding", operation_id = "startPayoutOnboarding",
    tag = "creator",
    summary = "Start payout-account onboarding",
    description = "Creates the creator's account at the payment provider if needed and answers \
                   a one-time link to the provider's onboarding page. When the creator finishes \
                   there, the provider reports it and `charges_enabled` turns true (usually \
                   within seconds). Ask again for a new link whenever one expired. Creators \
                   only.",
    request_body(content = OnboardingBody, example = json!({
        "return_url": "https://app.directfanz.io/creator/payouts",
        "refresh_url": "https://app.directfanz.io/creator/payouts/retry",
        "country": "US"
    })),
    responses(
        (status = 200, body = OnboardingLink, description = "The link."),
        StartPayoutOnboardingProblems, Unauthenticated, ForbiddenOrCsrf, PayloadTooLarge,
        RateLimited, InternalError, ProviderUnavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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

problems!(GetPayoutAccountProblems {
    404 ["payments.no_payout_account"]
        "No payout account yet: start onboarding first.",
});

/// The signed-in creator's payout account.
#[utoipa::path(
    get, path = "/v1/creator/payout-account", operation_id = "getPayoutAccount", tag = "creator",
    summary = "The payout account",
    description = "The signed-in creator's payout account. Poll it after onboarding until \
                   `charges_enabled` is true.",
    responses(
        (status = 200, body = PayoutAccountView, description = "The account."),
        GetPayoutAccountProblems, Unauthenticated, Forbidden, RateLimited, InternalError,
        Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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
