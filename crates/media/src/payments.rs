//! Payments as media calls it, as itself: who may see a creator's subscriber posts or a PPV
//! post, whose posts a fan's subscriptions bring into their home feed, and offering a PPV post
//! for its creator.

use std::sync::Arc;

use df_common::{
    Error,
    auth::{TokenSigner, service},
    grpc::{ClientConfig, upstream::Upstream},
};
use df_proto::payments::v1::{self as pb, payments_client::PaymentsClient};
use tonic::transport::Channel;

/// The payments client.
#[derive(Clone)]
pub struct Payments(pub Upstream<PaymentsClient<Channel>>);

impl Payments {
    /// A client for `config`, its calls signed by `signer` as media.
    pub fn new(config: &ClientConfig, signer: Arc<TokenSigner>) -> Result<Self, Error> {
        Upstream::new(service::PAYMENTS, config, signer, PaymentsClient::new).map(Self)
    }

    df_common::upstream_calls! {
        /// Whether a fan may see a creator's subscriber content or a PPV item.
        itself check_entitlement(pb::CheckEntitlementRequest) -> pb::CheckEntitlementResponse;
        /// The creators whose subscriber content a fan may see now.
        itself list_subscribed_creators(pb::ListSubscribedCreatorsRequest) -> pb::ListSubscribedCreatorsResponse;
        /// A creator's tiers on offer.
        itself list_tiers(pb::ListTiersRequest) -> pb::ListTiersResponse;
        /// Offers a post for a one-off price, for its creator.
        itself create_ppv_item(pb::PpvItemInput) -> pb::PpvItem;
    }
}
