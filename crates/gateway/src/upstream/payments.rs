//! The gateway's client of payments (`directfanz.payments.v1.Payments`). Calls made for a client
//! carry the signed-in user's principal (user id and role), so payments decides who may do what;
//! provider webhooks, which arrive without a user, go with the gateway's own service principal.
//! gRPC failures come back as [`df_common::Error`]s with payments' stable codes.

use std::sync::Arc;

use df_common::{
    Error,
    auth::{Role, TokenSigner, service},
    grpc::{ClientConfig, channel},
    ids::UserId,
};
use df_proto::payments::v1::{self as pb, payments_client::PaymentsClient};
use tonic::transport::Channel;

use crate::auth::Authenticated;

/// Largest answer accepted from payments: tax forms (PDF) are the largest.
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// The user a call is made for, as identity vouched for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub user_id: UserId,
    /// The user's role.
    pub role: Role,
}

impl From<&Authenticated> for Caller {
    fn from(authenticated: &Authenticated) -> Self {
        Self {
            user_id: authenticated.user_id,
            role: authenticated.role,
        }
    }
}

/// A cheap-to-clone payments client; connects lazily, so the gateway starts (and stays ready)
/// while payments is down.
#[derive(Clone)]
pub struct Payments {
    client: PaymentsClient<Channel>,
    signer: Arc<TokenSigner>,
}

/// One method per user-facing RPC: the message goes out with the caller's principal and the
/// answer (or the error, with its code) comes back.
macro_rules! user_calls {
    ($($(#[$doc:meta])* $name:ident($request:ty) -> $response:ty;)*) => {
        $(
            $(#[$doc])*
            pub async fn $name(
                &self,
                caller: Caller,
                message: $request,
            ) -> Result<$response, Error> {
                let request =
                    super::as_user(
                        &self.signer,
                        service::PAYMENTS,
                        caller.user_id,
                        caller.role,
                        message,
                    )?;
                self.client
                    .clone()
                    .$name(request)
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(|s| Error::from_status(&s))
            }
        )*
    };
}

impl Payments {
    /// A client for `config.url`.
    pub fn new(config: &ClientConfig, signer: Arc<TokenSigner>) -> Result<Self, Error> {
        let client =
            PaymentsClient::new(channel(config)?).max_decoding_message_size(MAX_ANSWER_BYTES);
        Ok(Self { client, signer })
    }

    user_calls! {
        /// Starts (or resumes) payout-account onboarding; answers the provider's link.
        start_onboarding(pb::StartOnboardingRequest) -> pb::StartOnboardingResponse;
        /// The payout account's state.
        get_payout_account(pb::GetPayoutAccountRequest) -> pb::PayoutAccount;
        /// Creates a subscription tier.
        create_tier(pb::TierInput) -> pb::Tier;
        /// Replaces a tier's settings.
        update_tier(pb::UpdateTierRequest) -> pb::Tier;
        /// Archives a tier.
        archive_tier(pb::ArchiveTierRequest) -> pb::Tier;
        /// A creator's active tiers.
        list_tiers(pb::ListTiersRequest) -> pb::ListTiersResponse;
        /// Offers a post for a one-off price.
        create_ppv_item(pb::PpvItemInput) -> pb::PpvItem;
        /// Opens a subscription checkout.
        subscribe(pb::SubscribeRequest) -> pb::Checkout;
        /// Opens a tip checkout.
        tip(pb::TipRequest) -> pb::Checkout;
        /// Opens a PPV purchase checkout.
        buy_ppv(pb::BuyPpvRequest) -> pb::Checkout;
        /// Cancels a subscription at the end of its paid period.
        cancel_subscription(pb::CancelSubscriptionRequest) -> pb::Subscription;
        /// The caller's subscriptions.
        list_my_subscriptions(pb::ListMySubscriptionsRequest) -> pb::ListSubscriptionsResponse;
        /// Whether a fan may see a creator's subscriber content or a PPV item.
        check_entitlement(pb::CheckEntitlementRequest) -> pb::CheckEntitlementResponse;
        /// Balances and statement lines.
        get_earnings(pb::GetEarningsRequest) -> pb::Earnings;
        /// Payouts, newest first.
        list_payouts(pb::ListPayoutsRequest) -> pb::ListPayoutsResponse;
        /// Releases held earnings and pays out eligible balances now.
        run_payouts(pb::RunPayoutsRequest) -> pb::RunPayoutsResponse;
        /// Stores the tax profile.
        put_tax_profile(pb::TaxProfileInput) -> pb::TaxProfile;
        /// The tax profile, masked.
        get_tax_profile(pb::GetTaxProfileRequest) -> pb::TaxProfile;
        /// A 1099-NEC summary as CSV or PDF.
        get_tax_form(pb::GetTaxFormRequest) -> pb::TaxForm;
        /// Disputes.
        list_disputes(pb::ListDisputesRequest) -> pb::ListDisputesResponse;
        /// Payouts that failed or need attention.
        list_failed_payouts(pb::ListFailedPayoutsRequest) -> pb::ListPayoutsResponse;
    }

    /// Hands a provider webhook to payments exactly as received, as the gateway itself: the
    /// provider is no user, and payments checks the signature over these very bytes.
    pub async fn ingest_webhook(
        &self,
        payload: Vec<u8>,
        signature: String,
    ) -> Result<pb::IngestWebhookResponse, Error> {
        let request = super::as_gateway(
            &self.signer,
            service::PAYMENTS,
            pb::IngestWebhookRequest { payload, signature },
        )?;
        self.client
            .clone()
            .ingest_webhook(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| Error::from_status(&s))
    }
}
