//! Provider webhooks, which arrive at the public edge only.

use df_common::grpc::principal;
use df_proto::payments::v1 as pb;
use tonic::{Request, Response};

use super::{PaymentsService, Reply, access};

pub async fn ingest_webhook(
    face: &PaymentsService,
    request: Request<pb::IngestWebhookRequest>,
) -> Reply<pb::IngestWebhookResponse> {
    access::gateway(&principal(&request)?)?;
    let r = request.into_inner();
    let (event_id, outcome) = face.webhooks.ingest(&r.payload, &r.signature).await?;
    Ok(Response::new(pb::IngestWebhookResponse {
        event_id,
        outcome: outcome.as_str().into(),
    }))
}
