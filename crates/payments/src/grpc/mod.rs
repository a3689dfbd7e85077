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
mod webhooks;

use df_proto::payments::v1::{self as pb, payments_server::Payments};
use tonic::{Response, Status};

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

df_common::grpc_face! {
    impl Payments for PaymentsService with pb {
        start_onboarding(StartOnboardingRequest) -> StartOnboardingResponse => catalogue;
        get_payout_account(GetPayoutAccountRequest) -> PayoutAccount => catalogue;
        create_tier(TierInput) -> Tier => catalogue;
        update_tier(UpdateTierRequest) -> Tier => catalogue;
        archive_tier(ArchiveTierRequest) -> Tier => catalogue;
        list_tiers(ListTiersRequest) -> ListTiersResponse => catalogue;
        create_ppv_item(PpvItemInput) -> PpvItem => catalogue;
        subscribe(SubscribeRequest) -> Checkout => checkout;
        tip(TipRequest) -> Checkout => checkout;
        buy_ppv(BuyPpvRequest) -> Checkout => checkout;
        cancel_subscription(CancelSubscriptionRequest) -> Subscription => checkout;
        list_my_subscriptions(ListMySubscriptionsRequest) -> ListSubscriptionsResponse => checkout;
        check_entitlement(CheckEntitlementRequest) -> CheckEntitlementResponse => checkout;
        list_subscribed_creators(ListSubscribedCreatorsRequest) -> ListSubscribedCreatorsResponse => checkout;
        ingest_webhook(IngestWebhookRequest) -> IngestWebhookResponse => webhooks;
        get_earnings(GetEarningsRequest) -> Earnings => earnings;
        list_payouts(ListPayoutsRequest) -> ListPayoutsResponse => earnings;
        run_payouts(RunPayoutsRequest) -> RunPayoutsResponse => oversight;
        put_tax_profile(TaxProfileInput) -> TaxProfile => tax;
        get_tax_profile(GetTaxProfileRequest) -> TaxProfile => tax;
        get_tax_form(GetTaxFormRequest) -> TaxForm => tax;
        list_disputes(ListDisputesRequest) -> ListDisputesResponse => oversight;
        list_failed_payouts(ListFailedPayoutsRequest) -> ListPayoutsResponse => oversight;
    }
}
