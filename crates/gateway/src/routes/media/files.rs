//! Files: `POST /v1/creator/media` (an upload, streamed to media as it arrives),
//! `GET /v1/media/{id}` (where it is on its way to being served), `GET /v1/media/{id}/url` (a
//! short-lived signed URL) and `GET /v1/media/{id}/content` (the bytes a signed URL names, by
//! range).

use actix_web::{
    HttpRequest, HttpResponse,
    http::header::{self, HeaderValue},
    web,
};
use bytes::Bytes;
use df_common::Error;
use df_proto::media::v1::{self as pb, content_part::Part};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::store::MediaStore;
use crate::routes::openapi::{
    ForbiddenOrCsrf, INVALID_PATH, INVALID_QUERY, InternalError, RateLimited, Timeout,
    Unauthenticated, Unavailable, problems,
};
use crate::routes::wire::required_instant;
use crate::security::client_ip::ClientIp;
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Media};

/// Longest file name kept (only its extension matters).
const MAX_FILE_NAME: usize = 255;
/// A year: what a public file may be cached for (its URL changes with every signature).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// An uploaded file as its creator sees it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MediaFile, examples(json!({
    "id": "0193a5f1-7c2d-7e4f-9a10-3b4c5d6e7f80",
    "kind": "jpeg",
    "state": "published",
    "bytes": 284113,
    "sha256": "9f2c4b1e8d7a6f5e4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a2918f7e6d5c",
    "width": 1080,
    "height": 1350,
    "duration_ms": null,
    "post_id": null,
    "created_at": "2026-11-20T18:30:00Z",
    "thumbnails": true
})))]
pub struct MediaFile {
    #[schema(format = Uuid)]
    pub id: String,
    /// `jpeg`, `png`, `gif`, `webp`, `mp4`, `mov` or `webm`: what the bytes are.
    pub kind: String,
    /// `scanning`, `scan_pending` (the scanner is away; retried), `moderation_pending`,
    /// `published`, `restricted`, `quarantined` (malware found: never served) or `removed`.
    pub state: String,
    /// Size as uploaded.
    pub bytes: u64,
    /// SHA-256 of the file as uploaded, hex.
    pub sha256: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Videos whose container declares it.
    pub duration_ms: Option<u64>,
    /// The post it is attached to.
    #[schema(required, format = Uuid)]
    pub post_id: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Whether `thumb_small` and `thumb_large` URLs can be asked for once published: always for
    /// images, for a video when a poster frame was made of it.
    pub thumbnails: bool,
}

impl From<pb::MediaItem> for MediaFile {
    fn from(item: pb::MediaItem) -> Self {
        let positive = |n: u32| (n > 0).then_some(n);
        Self {
            id: item.id,
            kind: item.kind,
            state: item.state,
            bytes: item.bytes,
            sha256: item.sha256,
            width: positive(item.width),
            height: positive(item.height),
            duration_ms: (item.duration_ms > 0).then_some(item.duration_ms),
            post_id: (!item.post_id.is_empty()).then_some(item.post_id),
            created_at: required_instant(item.created_at.as_ref()),
            thumbnails: item.thumbnails,
        }
    }
}

/// The upload's file name.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file's name: its extension must agree with the bytes and the `Content-Type`.
    #[param(max_length = 255)]
    file_name: String,
}

problems!(UploadProblems {
    400 [
        INVALID_QUERY, "gateway.length_required", "gateway.upload_interrupted", "media.empty",
        "media.incomplete",
    ]
        "`gateway.length_required`: no `Content-Length`; `gateway.upload_interrupted`: the body \
         broke off; `media.empty`: no bytes; `media.incomplete`: the body is not as long as \
         its `Content-Length` said.",
    413 ["media.too_large"] "Larger than allowed for its kind (25 MiB for images and \
         2047 MiB for videos by default, the most the malware scanner reads whole); refused as soon as the bytes pass the limit.",
    422 [
        "media.unsupported_type", "media.type_mismatch", "media.pixel_limit", "media.corrupt",
        "media.appended_data",
    ]
        "`media.unsupported_type`: not a JPEG, PNG, GIF or WebP image nor an MP4, MOV or WebM \
         video (archives, SVG, HTML and programs are refused whatever they are called); \
         `media.type_mismatch`: the `Content-Type` or the file name's extension names another \
         type than the bytes; `media.pixel_limit`: more pixels than allowed; `media.corrupt`: \
         damaged or truncated; `media.appended_data`: something follows the image's end.",
    429 ["gateway.rate_limited", "media.too_many_uploads"]
        "The rate limit is spent, or the creator has as many uploads in flight as allowed.",
});

/// Uploads one file of the signed-in creator.
#[utoipa::path(
    post, path = "/v1/creator/media", operation_id = "uploadMedia", tag = "media",
    summary = "Upload a file",
    description = "The body is the file itself, with its type in `Content-Type` and its size \
                   in `Content-Length`. The type is decided from the bytes and must agree with \
                   both labels. The file is checked as it arrives; an image is re-encoded \
                   upright without its metadata (EXIF, GPS). It is then scanned for malware \
                   before anyone can see it: watch `state` with `GET /v1/media/{id}`. Nothing \
                   is kept of a refused upload. Attach it to a post with `media_ids`. Creators \
                   only.",
    params(UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
        description = "The file's bytes, in its own type (`image/jpeg`, `video/mp4`, ...)."),
    responses(
        (status = 201, body = MediaFile, description = "Stored; `state` is `scanning`."),
        UploadProblems, Unauthenticated, ForbiddenOrCsrf, InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn upload(
    caller: Authenticated,
    media: web::Data<Media>,
    request: HttpRequest,
    query: web::Query<UploadQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok())
        .ok_or_else(|| {
            Error::invalid_input(
                "gateway.length_required",
                "An upload states its size in Content-Length.",
            )
        })?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let start = pb::UploadPart {
        part: Some(pb::upload_part::Part::Start(pb::UploadStart {
            file_name: query.file_name.chars().take(MAX_FILE_NAME).collect(),
            content_type: content_type.chars().take(MAX_FILE_NAME).collect(),
            declared_bytes: length,
        })),
    };
    // The client's body is read on this thread (actix streams stay on their thread) and handed
    // to the gRPC call through a small channel, so a slow media slows the client down.
    let (pieces, received) = mpsc::channel::<pb::UploadPart>(super::PIECES_IN_FLIGHT);
    let parts = futures::stream::once(async { start })
        .chain(tokio_stream::wrappers::ReceiverStream::new(received));
    let call = media.upload((&caller).into(), parts);
    let pump = async move {
        let mut body = body;
        let mut gathered = super::Pieces::default();
        let send = async |piece: Bytes| {
            let part = pb::UploadPart {
                part: Some(pb::upload_part::Part::Chunk(piece)),
            };
            // An error means media stopped reading: it refused the upload, and says why.
            pieces.send(part).await.is_ok()
        };
        while let Some(chunk) = body.next().await {
            // The client is gone or broke the body: nothing it sent is kept.
            let chunk = chunk.map_err(|e| {
                Error::invalid_input("gateway.upload_interrupted", "The upload was interrupted.")
                    .with_cause(anyhow::anyhow!("{e}"))
            })?;
            for piece in gathered.push(chunk) {
                if !send(piece).await {
                    return Ok(());
                }
            }
        }
        if let Some(rest) = gathered.rest() {
            send(rest).await;
        }
        Ok::<(), Error>(())
    };
    let mut call = std::pin::pin!(call);
    let mut pump = std::pin::pin!(pump);
    // An interrupted body cancels the call, so media keeps nothing of it.
    let item = tokio::select! {
        item = &mut call => item?,
        pumped = &mut pump => {
            pumped?;
            call.await?
        }
    };
    Ok(HttpResponse::Created().json(MediaFile::from(item)))
}

problems!(MediaFileProblems {
    400 [INVALID_PATH] "",
    404 ["media.media_not_found"] "No such file (another creator's file is not shown).",
});

/// One of the signed-in creator's files.
#[utoipa::path(
    get, path = "/v1/media/{id}", operation_id = "getMedia", tag = "media",
    summary = "A file's state",
    description = "Where one of the caller's files is on its way to being served (staff see \
                   every file).",
    params(("id" = Uuid, Path, description = "The file.")),
    responses(
        (status = 200, body = MediaFile, description = "The file."),
        MediaFileProblems, Unauthenticated, RateLimited, InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn get(
    caller: Authenticated,
    media: web::Data<Media>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let item = media
        .get_media(
            (&caller).into(),
            pb::GetMediaRequest {
                media_id: id.into_inner().to_string(),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(MediaFile::from(item)))
}

/// Which variant of a file.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VariantQuery {
    /// `display` (the default), `thumb_small` (320 px) or `thumb_large` (960 px); images only
    /// have thumbnails.
    #[param(max_length = 16)]
    variant: Option<String>,
}

/// A signed URL.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MediaUrl, examples(json!({
    "url": "/v1/media/0193a5f1-7c2d-7e4f-9a10-3b4c5d6e7f80/content?variant=display&expires=1795000000&key_id=u1&signature=5d0c...",
    "expires_at": "2026-11-20T18:35:00Z"
})))]
pub struct MediaUrl {
    /// A path on this API, or an absolute URL of the object store. It works for anyone who
    /// holds it until `expires_at`: do not share it.
    pub url: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
}

problems!(MediaUrlProblems {
    400 [INVALID_PATH, INVALID_QUERY, "media.invalid_variant"]
        "`media.invalid_variant`: not display, thumb_small or thumb_large, or a thumbnail of a \
         video.",
    403 ["media.not_entitled", "media.adult_only"]
        "`media.not_entitled`: subscribe to the creator or buy the post first; \
         `media.adult_only`: adult content is shown to its creator only.",
    404 ["media.media_not_found"] "No such file, or not on a post the caller can see.",
    409 ["media.not_ready"] "The file is not published (scanning, awaiting moderation, or \
         quarantined).",
});

/// A short-lived signed URL of a file the caller may see.
#[utoipa::path(
    get, path = "/v1/media/{id}/url", operation_id = "getMediaUrl", tag = "media",
    summary = "A signed URL of a file",
    description = "For the file's creator, and for whoever may see the post it is attached \
                   to. Each URL handed to a fan is recorded (when and from where) as evidence \
                   of delivery.",
    params(("id" = Uuid, Path, description = "The file."), VariantQuery),
    responses(
        (status = 200, body = MediaUrl, description = "The URL."),
        MediaUrlProblems, Unauthenticated, RateLimited, InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn url(
    caller: Authenticated,
    media: web::Data<Media>,
    request: HttpRequest,
    client_ip: ClientIp,
    id: web::Path<Uuid>,
    query: web::Query<VariantQuery>,
) -> Result<HttpResponse, ApiError> {
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let signed = media
        .media_url(
            (&caller).into(),
            pb::MediaUrlRequest {
                media_id: id.into_inner().to_string(),
                variant: query.into_inner().variant.unwrap_or_default(),
                client_ip: client_ip.0.to_string(),
                user_agent: user_agent.chars().take(512).collect(),
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(MediaUrl {
        url: signed.url,
        expires_at: required_instant(signed.expires_at.as_ref()),
    }))
}

/// What a signed URL carries.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignedQuery {
    #[param(max_length = 16)]
    variant: String,
    /// Unix seconds.
    expires: i64,
    #[param(max_length = 64)]
    key_id: String,
    #[param(max_length = 128)]
    signature: String,
}

problems!(ContentProblems {
    400 [INVALID_PATH, INVALID_QUERY, "media.range_not_satisfiable"]
        "`media.range_not_satisfiable`: the range starts past the end.",
    403 ["media.invalid_signature"] "The URL was changed, or it expired: ask for a new one.",
    404 ["media.media_not_found"] "The file is gone (deleted, removed or quarantined).",
});

/// The bytes a signed URL names.
#[utoipa::path(
    get, path = "/v1/media/{id}/content", operation_id = "getMediaContent", tag = "media",
    summary = "A file's bytes",
    description = "Needs no session: the signature is the authority. Honours one `Range` \
                   (`bytes=a-b` or `bytes=a-`; `206` with `Content-Range`) and `If-None-Match` \
                   (`304`). Files of public posts may be cached by shared caches for a year; \
                   every other file is `private, no-store`.",
    params(("id" = Uuid, Path, description = "The file."), SignedQuery,
        ("Range" = Option<String>, Header, description = "`bytes=a-b` or `bytes=a-`."),
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` of an earlier answer.")),
    responses(
        (status = 200, content_type = "application/octet-stream", body = Vec<u8>,
            description = "The whole file, in its own type."),
        (status = 206, content_type = "application/octet-stream", body = Vec<u8>,
            description = "The range asked for."),
        (status = 304, description = "Unchanged since the `ETag` sent."),
        ContentProblems, RateLimited, InternalError, Unavailable, Timeout,
    ),
)]
pub async fn content(
    media: web::Data<Media>,
    store: web::Data<MediaStore>,
    request: HttpRequest,
    id: web::Path<Uuid>,
    query: web::Query<SignedQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let range = request
        .headers()
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
        .and_then(parse_range);
    let mut parts = media
        .read_content(pb::ReadContentRequest {
            media_id: id.into_inner().to_string(),
            variant: query.variant,
            expires: query.expires,
            key_id: query.key_id,
            signature: query.signature,
            has_range: range.is_some(),
            range_start: range.map(|(start, _)| start).unwrap_or_default(),
            range_end: range.and_then(|(_, end)| end).unwrap_or(u64::MAX),
            reads_store: store.reads(),
        })
        .await?;
    let head = match parts.message().await.map_err(|s| Error::from_status(&s))? {
        Some(pb::ContentPart {
            part: Some(Part::Head(head)),
        }) => head,
        _ => return Err(Error::internal(anyhow::anyhow!("content without a head")).into()),
    };
    let etag = format!("\"{}\"", head.etag);
    let cache = if head.public {
        IMMUTABLE
    } else {
        "private, no-store"
    };
    let unchanged = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut answer = if unchanged {
        HttpResponse::NotModified()
    } else if range.is_some() {
        let mut partial = HttpResponse::PartialContent();
        partial.insert_header((
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{}",
                head.start, head.end_inclusive, head.total_bytes
            ),
        ));
        partial
    } else {
        HttpResponse::Ok()
    };
    answer
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{}\"", safe_file_name(&head.file_name)),
        ));
    if let Ok(value) = HeaderValue::from_str(&head.content_type) {
        answer.insert_header((header::CONTENT_TYPE, value));
    }
    if unchanged {
        return Ok(answer.finish());
    }
    let length = head.end_inclusive + 1 - head.start;
    let answer = answer.no_chunking(length);
    if !head.store_key.is_empty() {
        let file = store.open(&head.store_key, head.total_bytes).await?;
        let body = df_common::files::range_pieces(file, head.start..head.end_inclusive + 1);
        return Ok(answer.streaming(body));
    }
    let body = parts
        .map_err(|status| Error::from_status(&status))
        .try_filter_map(|part| async move {
            Ok(match part.part {
                Some(Part::Chunk(bytes)) => Some(bytes),
                _ => None,
            })
        })
        .map_err(|e| std::io::Error::other(e.to_string()));
    Ok(answer.streaming(body))
}

/// `bytes=a-b` or `bytes=a-` as (a, b); anything else (suffixes, several ranges) is ignored,
/// as HTTP allows, and the whole file is sent.
fn parse_range(value: &str) -> Option<(u64, Option<u64>)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end = match end.trim() {
        "" => None,
        end => Some(end.parse::<u64>().ok().filter(|end| *end >= start)?),
    };
    Some((start, end))
}

/// Only the characters a file name made by media has (`<uuid>.<ext>`).
fn safe_file_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_plain_range_is_read_and_anything_else_means_the_whole_file() {
        assert_eq!(parse_range("bytes=0-99"), Some((0, Some(99))));
        assert_eq!(parse_range("bytes=100-"), Some((100, None)));
        for ignored in [
            "bytes=-100",
            "bytes=5-1",
            "bytes=0-1,5-9",
            "items=0-1",
            "bytes=a-b",
            "",
        ] {
            assert_eq!(parse_range(ignored), None, "{ignored}");
        }
    }

    #[test]
    fn a_file_name_offered_for_saving_cannot_break_out_of_its_header() {
        assert_eq!(
            safe_file_name("a\"; filename=x.html\r\n.jpg"),
            "afilenamex.html.jpg"
        );
    }
}
