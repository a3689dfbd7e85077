//! The gRPC face of payments, one module per area. Each method checks who may call it
//! ([`access`]), converts the wire types ([`convert`]) and delegates to the flows; none holds
//! SQL. The caller's identity comes only from the verified principal token.

mod access;
mod catalogue;
mod checkout;
mod convert;
mod earnings;
mod oversight;
mod tax;

use df_common::grpc::principal;
use df_proto::payments::v1::{self as pb, payments_server::Payments};
use tonic::{Request, Response, Status};

use crate::{service::Service, webhook::Webhooks};

/// Implements `directfanz.payments.v1.Payments`.
#[derive(Clone)]
pub struct PaymentsService {
    service: Service,
    webhooks: Webhooks,
}

impl PaymentsService {
    /// The gRPC service over `service`.
    pub fn new(service: Service, webhooks: Webhooks) -> Self {
        Self { service, webhooks }
    }
}

/// What every method answers.
type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Payments for PaymentsService {
    async fn start_onboarding(
        &self,
        r: Request<pb::StartOnboardingRequest>,
    ) -> Reply<pb::StartOnboardingResponse> {
        catalogue::start_onboarding(self, r).await
    }

    async fn get_payout_account(
        &self,
        r: Request<pb::GetPayoutAccountRequest>,
    ) -> Reply<pb::PayoutAccount> {
        catalogue::get_payout_account(self, r).await
    }

    async fn create_tier(&self, r: Request<pb::TierInput>) -> Reply<pb::Tier> {
        catalogue::create_tier(self, r).await
    }

    async fn update_tier(&self, r: Request<pb::UpdateTierRequest>) -> Reply<pb::Tier> {
        catalogue::update_tier(self, r).await
    }

    async fn archive_tier(&self, r: Request<pb::ArchiveTierRequest>) -> Reply<pb::Tier> {
        catalogue::archive_tier(self, r).await
    }

    async fn list_tiers(&self, r: Request<pb::ListTiersRequest>) -> Reply<pb::ListTiersResponse> {
        catalogue::list_tiers(self, r).await
    }

    async fn create_ppv_item(&self, r: Request<pb::PpvItemInput>) -> Reply<pb::PpvItem> {
        catalogue::create_ppv_item(self, r).await
    }

    async fn subscribe(&self, r: Request<pb::SubscribeRequest>) -> Reply<pb::Checkout> {
        checkout::subscribe(self, r).await
    }

    async fn tip(&self, r: Request<pb::TipRequest>) -> Reply<pb::Checkout> {
        checkout::tip(self, r).await
    }

    async fn buy_ppv(&self, r: Request<pb::BuyPpvRequest>) -> Reply<pb::Checkout> {
        checkout::buy_ppv(self, r).await
    }

    async fn cancel_subscription(
        &self,
        r: Request<pb::CancelSubscriptionRequest>,
    ) -> Reply<pb::Subscription> {
        checkout::cancel_subscription(self, r).await
    }

    async fn list_my_subscriptions(
        &self,
        r: Request<pb::ListMySubscriptionsRequest>,
    ) -> Reply<pb::ListSubscriptionsResponse> {
        checkout::list_my_subscriptions(self, r).await
    }

    async fn check_entitlement(
        &self,
        r: Request<pb::CheckEntitlementRequest>,
    ) -> Reply<pb::CheckEntitlementResponse> {
        checkout::check_entitlement(self, r).await
    }

    async fn ingest_webhook(
        &self,
        request: Request<pb::IngestWebhookRequest>,
    ) -> Reply<pb::IngestWebhookResponse> {
        access::gateway(&principal(&request)?)?;
        let r = request.into_inner();
        let (event_id, outcome) = self.webhooks.ingest(&r.payload, &r.signature).await?;
        Ok(Response::new(pb::IngestWebhookResponse {
            event_id,
            outcome: outcome.as_str().into(),
        }))
    }

    async fn get_earnings(&self, r: Request<pb::GetEarningsRequest>) -> Reply<pb::Earnings> {
        earnings::get_earnings(self, r).await
    }

    async fn list_payouts(
        &self,
        r: Request<pb::ListPayoutsRequest>,
    ) -> Reply<pb::ListPayoutsResponse> {
        earnings::list_payouts(self, r).await
    }

    async fn run_payouts(
        &self,
        r: Request<pb::RunPayoutsRequest>,
    ) -> Reply<pb::RunPayoutsResponse> {
        oversight::run_payouts(self, r).await
    }

    async fn put_tax_profile(&self, r: Request<pb::TaxProfileInput>) -> Reply<pb::TaxProfile> {
        tax::put_tax_profile(self, r).await
    }

    async fn get_tax_profile(&self, r: Request<pb::GetTaxProfileRequest>) -> Reply<pb::TaxProfile> {
        tax::get_tax_profile(self, r).await
    }

    async fn get_tax_form(&self, r: Request<pb::GetTaxFormRequest>) -> Reply<pb::TaxForm> {
        tax::get_tax_form(self, r).await
    }

    async fn list_disputes(
        &self,
        r: Request<pb::ListDisputesRequest>,
    ) -> Reply<pb::ListDisputesResponse> {
        oversight::list_disputes(self, r).await
    }

    async fn list_failed_payouts(
        &self,
        r: Request<pb::ListFailedPayoutsRequest>,
    ) -> Reply<pb::ListPayoutsResponse> {
        oversight::list_failed_payouts(self, r).await
    }
}
