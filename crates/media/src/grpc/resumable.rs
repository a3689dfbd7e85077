//! Resumable uploads: opening one, asking where it stands, appending, cancelling.

use df_common::{Error, auth::Role, grpc::principal, ids::CreatorId, wire};
use df_proto::media::v1::{self as pb, append_part::Part};
use futures::StreamExt;
use tonic::{Request, Response, Streaming};

use super::{MediaService, Reply, files::media_item};
use crate::{errors::MediaError, resumable::Session, uploads::Declared};

fn creator_of<T>(request: &Request<T>) -> Result<CreatorId, tonic::Status> {
    let caller = principal(request)?;
    caller.require_any_role(&[Role::Creator])?;
    Ok(caller.require_user()?.into())
}

pub async fn create_upload(
    face: &MediaService,
    request: Request<pb::CreateUploadRequest>,
) -> Reply<pb::UploadSession> {
    let creator = creator_of(&request)?;
    let r = request.into_inner();
    let declared = Declared::new(&r.file_name, &r.content_type, r.length);
    let session = face.media.create_upload(creator, &declared).await?;
    Ok(Response::new(upload_session(&session, None)))
}

pub async fn get_upload(
    face: &MediaService,
    request: Request<pb::GetUploadRequest>,
) -> Reply<pb::UploadSession> {
    let creator = creator_of(&request)?;
    let id = upload_id(&request.get_ref().upload_id)?;
    let session = face.media.upload_status(creator, id).await?;
    Ok(Response::new(upload_session(&session, None)))
}

pub async fn cancel_upload(
    face: &MediaService,
    request: Request<pb::GetUploadRequest>,
) -> Reply<pb::CancelUploadResponse> {
    let creator = creator_of(&request)?;
    let id = upload_id(&request.get_ref().upload_id)?;
    face.media.cancel_upload(creator, id).await?;
    Ok(Response::new(pb::CancelUploadResponse {}))
}

pub async fn append_upload(
    face: &MediaService,
    request: Request<Streaming<pb::AppendPart>>,
) -> Reply<pb::UploadSession> {
    let creator = creator_of(&request)?;
    let mut parts = request.into_inner();
    let start = match parts.message().await? {
        Some(pb::AppendPart {
            part: Some(Part::Start(start)),
        }) => start,
        _ => return Err(Error::from(MediaError::UploadStartMissing).into()),
    };
    let id = upload_id(&start.upload_id)?;
    // A stream that breaks off ends the append there: what arrived is kept (the client asks
    // where the upload stands and goes on).
    let chunks = parts
        .take_while(|part| std::future::ready(part.is_ok()))
        .filter_map(|part| std::future::ready(part.ok()))
        .map(|part| match part.part {
            Some(Part::Chunk(bytes)) => Ok(bytes),
            _ => Err(MediaError::UploadStartMissing
                .with_message("Only the first part says where the append starts.")),
        });
    let (session, item) = face
        .media
        .append_upload(creator, id, start.offset, chunks)
        .await?;
    Ok(Response::new(upload_session(
        &session,
        item.map(media_item),
    )))
}

fn upload_id(raw: &str) -> Result<crate::ids::MediaId, Error> {
    wire::id("upload_id", raw).map_err(|_| MediaError::UploadNotFound.into())
}

fn upload_session(session: &Session, media: Option<pb::MediaItem>) -> pb::UploadSession {
    pb::UploadSession {
        id: session.id.to_string(),
        offset: session.offset(),
        length: session.length(),
        expires_at: Some(wire::timestamp(session.expires_at)),
        media,
    }
}
