//! Payout accounts, tiers and PPV items.

use df_common::{Error, grpc::principal, wire};
use df_proto::payments::v1 as pb;
use tonic::{Request, Response};

use super::{PaymentsService, Reply, access, convert};
use crate::{catalogue, errors::PaymentsError, ids::TierId};

pub async fn start_onboarding(
    face: &PaymentsService,
    request: Request<pb::StartOnboardingRequest>,
) -> Reply<pb::StartOnboardingResponse> {
    let creator_id = access::creator(&principal(&request)?)?;
    let r = request.into_inner();
    let country = if r.country.is_empty() {
        "US"
    } else {
        &r.country
    };
    let url = catalogue::start_onboarding(
        &face.service,
        creator_id,
        country,
        &r.return_url,
        &r.refresh_url,
    )
    .await?;
    Ok(Response::new(pb::StartOnboardingResponse { url }))
}

pub async fn get_payout_account(
    face: &PaymentsService,
    request: Request<pb::GetPayoutAccountRequest>,
) -> Reply<pb::PayoutAccount> {
    let creator_id = access::own_or_admin(&principal(&request)?, &request.get_ref().creator_id)?;
    let mut conn = face.service.db.conn().await?;
    let account = catalogue::payout_account(&mut conn, creator_id)
        .await?
        .ok_or(Error::from(PaymentsError::NoPayoutAccount))?;
    Ok(Response::new(convert::payout_account(account)))
}

pub async fn create_tier(
    face: &PaymentsService,
    request: Request<pb::TierInput>,
) -> Reply<pb::Tier> {
    let creator_id = access::creator(&principal(&request)?)?;
    let input = convert::tier_input(Some(request.into_inner()), face.service.clock.now())?;
    let mut conn = face.service.db.conn().await?;
    let tier = catalogue::create_tier(&mut conn, creator_id, &input).await?;
    Ok(Response::new(convert::tier(tier, 0)))
}

pub async fn update_tier(
    face: &PaymentsService,
    request: Request<pb::UpdateTierRequest>,
) -> Reply<pb::Tier> {
    let creator_id = access::creator(&principal(&request)?)?;
    let r = request.into_inner();
    let id: TierId = wire::id("tier_id", &r.tier_id)?;
    let input = convert::tier_input(r.tier, face.service.clock.now())?;
    let mut conn = face.service.db.conn().await?;
    let (tier, count, subscribers) =
        catalogue::change_tier(&mut conn, creator_id, id, &input).await?;
    drop(conn);
    face.service.after_commit(&subscribers).await;
    Ok(Response::new(convert::tier(tier, count)))
}

pub async fn archive_tier(
    face: &PaymentsService,
    request: Request<pb::ArchiveTierRequest>,
) -> Reply<pb::Tier> {
    let creator_id = access::creator(&principal(&request)?)?;
    let id: TierId = wire::id("tier_id", &request.get_ref().tier_id)?;
    let mut conn = face.service.db.conn().await?;
    let now = face.service.clock.now();
    let tier = catalogue::archive_tier(&mut conn, creator_id, id, now).await?;
    let count = catalogue::subscriber_count(&mut conn, id).await?;
    Ok(Response::new(convert::tier(tier, count)))
}

pub async fn list_tiers(
    face: &PaymentsService,
    request: Request<pb::ListTiersRequest>,
) -> Reply<pb::ListTiersResponse> {
    principal(&request)?;
    let creator_id = wire::id("creator_id", &request.get_ref().creator_id)?;
    let mut conn = face.service.db.conn().await?;
    let tiers = catalogue::tiers_of(&mut conn, creator_id).await?;
    Ok(Response::new(pb::ListTiersResponse {
        tiers: tiers
            .into_iter()
            .map(|(t, c)| convert::tier(t, c))
            .collect(),
    }))
}

pub async fn create_ppv_item(
    face: &PaymentsService,
    request: Request<pb::PpvItemInput>,
) -> Reply<pb::PpvItem> {
    let creator_id = access::ppv_offerer(&principal(&request)?, &request.get_ref().creator_id)?;
    let r = request.into_inner();
    let post_id = wire::id("post_id", &r.post_id)?;
    let price = r.price.unwrap_or_default();
    let mut conn = face.service.db.conn().await?;
    let item = catalogue::create_ppv_item(
        &mut conn,
        creator_id,
        post_id,
        &r.title,
        price.amount,
        &price.currency,
    )
    .await?;
    Ok(Response::new(convert::ppv_item(item)))
}
