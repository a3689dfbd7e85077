//! What admins watch and trigger: disputes, failed payouts, a payout run.

use df_common::{Error, grpc::principal};
use df_proto::payments::v1 as pb;
use tonic::{Request, Response};

use super::{PaymentsService, Reply, access, convert};
use crate::{disputes, errors::PaymentsError, payouts};

pub async fn run_payouts(
    face: &PaymentsService,
    request: Request<pb::RunPayoutsRequest>,
) -> Reply<pb::RunPayoutsResponse> {
    access::admin(&principal(&request)?)?;
    let report = payouts::run(&face.service).await?;
    Ok(Response::new(pb::RunPayoutsResponse {
        released: report.released,
        payouts_started: report.started,
        retried: report.retried,
    }))
}

pub async fn list_disputes(
    face: &PaymentsService,
    request: Request<pb::ListDisputesRequest>,
) -> Reply<pb::ListDisputesResponse> {
    access::admin(&principal(&request)?)?;
    let status = match request.get_ref().status.as_str() {
        "" => None,
        given => Some(
            given
                .parse()
                .map_err(|_| Error::from(PaymentsError::InvalidStatus))?,
        ),
    };
    let mut conn = face.service.db.conn().await?;
    let rows = disputes::list(&mut conn, status).await?;
    Ok(Response::new(pb::ListDisputesResponse {
        disputes: rows.into_iter().map(convert::dispute).collect(),
    }))
}

pub async fn list_failed_payouts(
    face: &PaymentsService,
    request: Request<pb::ListFailedPayoutsRequest>,
) -> Reply<pb::ListPayoutsResponse> {
    access::admin(&principal(&request)?)?;
    let mut conn = face.service.db.conn().await?;
    let rows = payouts::list(&mut conn, None, Some(payouts::FAILED)).await?;
    Ok(Response::new(pb::ListPayoutsResponse {
        payouts: rows.into_iter().map(convert::payout).collect(),
    }))
}
