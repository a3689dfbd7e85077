//! What a creator earned and was paid.

use df_common::grpc::principal;
use df_proto::payments::v1 as pb;
use tonic::{Request, Response};

use super::{PaymentsService, Reply, access, convert};
use crate::{earnings, money, payouts};

/// Lines of a statement.
const STATEMENT_LINES: i64 = 200;

pub async fn get_earnings(
    face: &PaymentsService,
    request: Request<pb::GetEarningsRequest>,
) -> Reply<pb::Earnings> {
    let creator_id = access::own_or_admin(&principal(&request)?, &request.get_ref().creator_id)?;
    let currency = match request.get_ref().currency.as_str() {
        "" => "usd".to_owned(),
        given => money::currency(given)?,
    };
    let mut conn = face.service.db.conn().await?;
    let (balances, lines) =
        earnings::statement(&mut conn, creator_id, &currency, STATEMENT_LINES).await?;
    Ok(Response::new(pb::Earnings {
        creator_id: creator_id.to_string(),
        currency,
        pending: balances.pending,
        available: balances.available,
        in_transit: balances.in_transit,
        paid_out: balances.paid_out,
        dispute_reserve: balances.dispute_reserve,
        receivable: -balances.receivable,
        lines: lines
            .into_iter()
            .map(|l| pb::StatementLine {
                transaction_id: l.transaction_id.to_string(),
                kind: l.kind,
                at: convert::ts(l.at),
                amount: l.amount,
                gross: l.gross,
                platform_fee: l.platform_fee,
                reference: l.reference,
            })
            .collect(),
    }))
}

pub async fn list_payouts(
    face: &PaymentsService,
    request: Request<pb::ListPayoutsRequest>,
) -> Reply<pb::ListPayoutsResponse> {
    let creator_id = access::own_or_admin(&principal(&request)?, &request.get_ref().creator_id)?;
    let mut conn = face.service.db.conn().await?;
    let rows = payouts::list(&mut conn, Some(creator_id), None).await?;
    Ok(Response::new(pb::ListPayoutsResponse {
        payouts: rows.into_iter().map(convert::payout).collect(),
    }))
}
