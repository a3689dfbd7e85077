//! Payments (`directfanz.payments.v1.Payments`). Calls made for a client carry the signed-in
//! user's principal, so payments decides who may do what; provider webhooks, which arrive
//! without a user, go with the gateway's own.

use std::sync::Arc;

use df_common::{Error, auth::TokenSigner, auth::service, grpc::ClientConfig};
use df_proto::payments::v1::{self as pb, payments_client::PaymentsClient};
use tonic::transport::Channel;

use super::{OnBehalfOf, Upstream};

/// Largest answer accepted from payments: tax forms (PDF) are the largest.
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

/// The payments client.
#[derive(Clone)]
pub struct Payments(pub Upstream<PaymentsClient<Channel>>);

impl Payments {
    /// A client for `config`.
    pub fn new(config: &ClientConfig, signer: Arc<TokenSigner>) -> Result<Self, Error> {
        Upstream::new(service::PAYMENTS, config, signer, |channel| {
            PaymentsClient::new(channel).max_decoding_message_size(MAX_ANSWER_BYTES)
        })
        .map(Self)
    }

    df_common::upstream_calls! {
        /// Starts (or resumes) payout-account onboarding; answers the provider's link.
        user start_onboarding(pb::StartOnboardingRequest) -> pb::StartOnboardingResponse;
        /// The payout account's state.
        user get_payout_account(pb::GetPayoutAccountRequest) -> pb::PayoutAccount;
        /// Creates a subscription tier.
        user create_tier(pb::TierInput) -> pb::Tier;
        /// Replaces a tier's settings.
        user update_tier(pb::UpdateTierRequest) -> pb::Tier;
        /// Archives a tier.
        user archive_tier(pb::ArchiveTierRequest) -> pb::Tier;
        /// A creator's active tiers.
        user list_tiers(pb::ListTiersRequest) -> pb::ListTiersResponse;
        /// Opens a subscription checkout.
        user subscribe(pb::SubscribeRequest) -> pb::Checkout;
        /// Opens a tip checkout.
        user tip(pb::TipRequest) -> pb::Checkout;
        /// Opens a PPV purchase checkout.
        user buy_ppv(pb::BuyPpvRequest) -> pb::Checkout;
        /// Cancels a subscription at the end of its paid period.
        user cancel_subscription(pb::CancelSubscriptionRequest) -> pb::Subscription;
        /// The caller's subscriptions.
        user list_my_subscriptions(pb::ListMySubscriptionsRequest) -> pb::ListSubscriptionsResponse;
        /// Whether a fan may see a creator's subscriber content or a PPV item.
        user check_entitlement(pb::CheckEntitlementRequest) -> pb::CheckEntitlementResponse;
        /// Balances and statement lines.
        user get_earnings(pb::GetEarningsRequest) -> pb::Earnings;
        /// Payouts, newest first.
        user list_payouts(pb::ListPayoutsRequest) -> pb::ListPayoutsResponse;
        /// Releases held earnings and pays out eligible balances now.
        user run_payouts(pb::RunPayoutsRequest) -> pb::RunPayoutsResponse;
        /// Stores the tax profile.
        user put_tax_profile(pb::TaxProfileInput) -> pb::TaxProfile;
        /// The tax profile, masked.
        user get_tax_profile(pb::GetTaxProfileRequest) -> pb::TaxProfile;
        /// A 1099-NEC summary as CSV or PDF.
        user get_tax_form(pb::GetTaxFormRequest) -> pb::TaxForm;
        /// Disputes.
        user list_disputes(pb::ListDisputesRequest) -> pb::ListDisputesResponse;
        /// Payouts that failed or need attention.
        user list_failed_payouts(pb::ListFailedPayoutsRequest) -> pb::ListPayoutsResponse;
    }

    /// Hands a provider webhook to payments exactly as received, as the gateway itself: the
    /// provider is no user, and payments checks the signature over these very bytes.
    pub async fn ingest_webhook(
        &self,
        payload: Vec<u8>,
        signature: String,
    ) -> Result<pb::IngestWebhookResponse, Error> {
        let message = pb::IngestWebhookRequest { payload, signature };
        self.0
            .call(OnBehalfOf::Itself, message, |mut client, r| async move {
                client.ingest_webhook(r).await
            })
            .await
    }
}
