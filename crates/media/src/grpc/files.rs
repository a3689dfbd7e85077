//! Uploading files, reading where they are, signed URLs, and the bytes behind them.

use df_common::{Error, auth::service, grpc::principal, wire};
use df_proto::media::v1::{self as pb, upload_part::Part};
use futures::{StreamExt, TryStreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::{MediaService, Reply};
use crate::{
    errors::MediaError,
    files::{Content, UrlRequest},
    items::Item,
    sight::Viewer,
    signing::Signature,
    storage::Variant,
    uploads::Declared,
};

pub async fn upload(
    face: &MediaService,
    request: Request<Streaming<pb::UploadPart>>,
) -> Reply<pb::MediaItem> {
    let caller = principal(&request)?;
    caller.require_any_role(&[df_common::auth::Role::Creator])?;
    let creator = caller.require_user()?.into();
    let mut parts = request.into_inner();
    let start = match parts.message().await? {
        Some(pb::UploadPart {
            part: Some(Part::Start(start)),
        }) => start,
        _ => return Err(Error::from(MediaError::UploadStartMissing).into()),
    };
    let declared = Declared::new(&start.file_name, &start.content_type, start.declared_bytes);
    let chunks = parts
        .map_err(|status| Error::from_status(&status))
        .map(|part| match part?.part {
            Some(Part::Chunk(bytes)) => Ok(bytes),
            _ => Err(MediaError::UploadStartMissing
                .with_message("Only the first part says what is uploaded.")),
        });
    let item = face.media.upload(creator, &declared, chunks).await?;
    Ok(Response::new(media_item(item)))
}

pub async fn get_media(
    face: &MediaService,
    request: Request<pb::GetMediaRequest>,
) -> Reply<pb::MediaItem> {
    let viewer = Viewer::of(&principal(&request)?)?;
    let id = wire::id("media_id", &request.get_ref().media_id)?;
    let item = face.media.get_media(viewer, id).await?;
    Ok(Response::new(media_item(item)))
}

pub async fn media_url(
    face: &MediaService,
    request: Request<pb::MediaUrlRequest>,
) -> Reply<pb::MediaUrlResponse> {
    let viewer = Viewer::of(&principal(&request)?)?;
    let r = request.into_inner();
    let asked = UrlRequest {
        media: wire::id("media_id", &r.media_id)?,
        variant: Variant::servable(&r.variant).ok_or(Error::from(MediaError::InvalidVariant))?,
        client_ip: r.client_ip.chars().take(64).collect(),
        user_agent: r.user_agent.chars().take(512).collect(),
    };
    let signed = face.media.media_url(viewer, &asked).await?;
    Ok(Response::new(pb::MediaUrlResponse {
        url: signed.url,
        expires_at: Some(wire::timestamp(signed.expires_at)),
    }))
}

pub async fn read_content(
    face: &MediaService,
    request: Request<pb::ReadContentRequest>,
) -> Reply<tonic::codegen::BoxStream<pb::ContentPart>> {
    principal(&request)?.require_service(&[service::GATEWAY])?;
    let r = request.into_inner();
    let id =
        wire::id("media_id", &r.media_id).map_err(|_| Error::from(MediaError::InvalidSignature))?;
    let variant = Variant::servable(&r.variant).ok_or(Error::from(MediaError::InvalidSignature))?;
    let signature = Signature {
        expires: r.expires,
        key_id: r.key_id,
        mac: r.signature,
    };
    let range = r
        .has_range
        .then(|| r.range_start..r.range_end.saturating_add(1));
    let (head, content) = face
        .media
        .read_content(id, variant, &signature, range, r.reads_store)
        .await?;
    let (store_key, chunks) = match content {
        Content::AtKey(key) => (key, futures::stream::empty().boxed()),
        Content::Pieces(pieces) => (String::new(), pieces),
    };
    let head = pb::ContentPart {
        part: Some(pb::content_part::Part::Head(pb::ContentHead {
            content_type: head.content_type.into(),
            total_bytes: head.total_bytes,
            start: head.range.start,
            end_inclusive: head.range.end.saturating_sub(1),
            etag: head.etag,
            public: head.public,
            file_name: head.file_name,
            store_key,
        })),
    };
    let chunks = chunks.map(|chunk| {
        chunk
            .map(|bytes| pb::ContentPart {
                part: Some(pb::content_part::Part::Chunk(bytes)),
            })
            .map_err(Status::from)
    });
    let stream = futures::stream::once(async { Ok(head) }).chain(chunks);
    Ok(Response::new(Box::pin(stream)))
}

/// A file as its creator sees it.
pub fn media_item(item: Item) -> pb::MediaItem {
    let (width, height) = item.size_on_wire();
    pb::MediaItem {
        id: item.id.to_string(),
        creator_id: item.creator_id.to_string(),
        kind: item.kind.as_str().into(),
        state: item.state.as_str().into(),
        bytes: u64::try_from(item.original_bytes).unwrap_or_default(),
        sha256: hex::encode(&item.original_sha256),
        width,
        height,
        duration_ms: item.duration_on_wire(),
        post_id: item.post_id.map(|p| p.to_string()).unwrap_or_default(),
        created_at: Some(wire::timestamp(item.created_at)),
        thumbnails: item.has_thumbnails(),
    }
}
