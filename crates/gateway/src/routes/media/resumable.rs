//! Resumable uploads with the tus 1.0 protocol (core, creation, termination and expiration), so
//! Uppy and tus-js-client upload large videos unchanged: `OPTIONS /v1/creator/uploads`
//! (what the server supports), `POST /v1/creator/uploads` (open one), `HEAD`, `PATCH` and
//! `DELETE` `/v1/creator/uploads/{id}` (where it stands, append, abandon). Media keeps the
//! bytes; the gateway streams each `PATCH` body to it with bounded memory, and when the client's
//! connection breaks off, ends the append cleanly so media keeps what arrived. Every answer,
//! refusals included, carries `Tus-Resumable`.

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    http::{
        StatusCode,
        header::{self, HeaderName, HeaderValue, HttpDate},
    },
    web,
};
use base64::Engine;
use df_common::{Error, ErrorKind};
use df_proto::media::v1 as pb;
use futures::StreamExt;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::routes::openapi::{
    Forbidden, ForbiddenOrCsrf, INVALID_PATH, InternalError, RateLimited, Timeout, Unauthenticated,
    Unavailable, problems,
};
use crate::security::{problem::problem_response_with_status, request_id};
use crate::{auth::Authenticated, security::problem::ApiError, upstream::Media};

/// The protocol version spoken.
const TUS_VERSION: &str = "1.0.0";
/// The extensions offered.
const TUS_EXTENSIONS: &str = "creation,termination,expiration";
/// The only body type of an append.
const OFFSET_STREAM: &str = "application/offset+octet-stream";
/// Longest `Upload-Metadata` read (file name and type; the rest is not needed).
const MAX_METADATA: usize = 2048;
/// Longest file name or type kept.
const MAX_LABEL: usize = 255;
/// Where an upload lives.
const UPLOADS: &str = "/v1/creator/uploads";

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
const TUS_VERSION_HEADER: HeaderName = HeaderName::from_static("tus-version");
const TUS_EXTENSION: HeaderName = HeaderName::from_static("tus-extension");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
const UPLOAD_DEFER_LENGTH: HeaderName = HeaderName::from_static("upload-defer-length");
const METHOD_OVERRIDE: HeaderName = HeaderName::from_static("x-http-method-override");

problems!(CreateProblems {
    400 ["gateway.upload_length_required", "gateway.invalid_upload_metadata", "media.empty"]
        "`gateway.upload_length_required`: no valid `Upload-Length` (deferred lengths are not \
         supported); `gateway.invalid_upload_metadata`: `Upload-Metadata` is not `key base64` \
         pairs or lacks `filename` and `filetype`; `media.empty`: a length of 0.",
    412 ["gateway.tus_version"] "`Tus-Resumable` is missing or not `1.0.0` (see `Tus-Version`).",
    413 ["media.too_large"] "Larger than allowed for the declared type.",
    422 ["media.unsupported_type"] "The declared type or file name is not one the platform takes.",
    429 ["gateway.rate_limited", "media.too_many_uploads"]
        "The rate limit is spent, or the creator has as many resumable uploads open as allowed.",
});

problems!(SessionProblems {
    400 [INVALID_PATH] "",
    404 ["media.upload_not_found"] "No such open upload: finished, cancelled, expired or \
         another creator's.",
    412 ["gateway.tus_version"] "`Tus-Resumable` is missing or not `1.0.0`.",
});

problems!(AppendProblems {
    400 [INVALID_PATH, "gateway.upload_offset_required", "media.upload_start_missing",
        "media.empty", "media.incomplete"]
        "`gateway.upload_offset_required`: no valid `Upload-Offset`.",
    404 ["media.upload_not_found"] "No such open upload.",
    409 ["media.upload_offset_mismatch"] "`Upload-Offset` is not where the upload stands: ask \
         with `HEAD`, then append from there.",
    412 ["gateway.tus_version"] "`Tus-Resumable` is missing or not `1.0.0`.",
    413 ["media.too_large"] "The append goes past the announced `Upload-Length`; nothing of it \
         is kept.",
    415 ["gateway.offset_stream_required"] "The body's type is not \
         `application/offset+octet-stream`.",
    422 ["media.unsupported_type", "media.type_mismatch", "media.pixel_limit", "media.corrupt",
        "media.appended_data"]
        "The file is not what was declared, or fails the checks of `POST /v1/creator/media` \
         (decided from the first bytes, or once the last byte arrived); the upload ends and \
         nothing of it is kept.",
});

problems!(OverrideProblems {
    405 ["common.method_not_allowed"] "No `X-HTTP-Method-Override` of `PATCH` or `DELETE`.",
});

/// What the server speaks.
#[utoipa::path(
    options, path = "/v1/creator/uploads", operation_id = "discoverUploads", tag = "media",
    summary = "tus: what the server supports",
    description = "tus 1.0 discovery: the version and extensions supported. Needs no \
                   session. `Tus-Max-Size` is not sent: the limits are media's per type, and a \
                   too large `Upload-Length` is refused when the upload is opened.",
    responses(
        (status = 204, description = "Supported.", headers(
            ("Tus-Resumable" = String, description = "`1.0.0`."),
            ("Tus-Version" = String, description = "`1.0.0`."),
            ("Tus-Extension" = String, description = "`creation,termination,expiration`."))),
        RateLimited,
    ),
)]
pub async fn discover() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((TUS_RESUMABLE, TUS_VERSION))
        .insert_header((TUS_VERSION_HEADER, TUS_VERSION))
        .insert_header((TUS_EXTENSION, TUS_EXTENSIONS))
        .finish()
}

/// Opens a resumable upload.
#[utoipa::path(
    post, path = "/v1/creator/uploads", operation_id = "createUpload", tag = "media",
    summary = "tus: open a resumable upload",
    description = "tus creation: `Upload-Length` is the file's size and `Upload-Metadata` \
                   carries `filename` and `filetype` (or `name` and `type`), base64-encoded, \
                   which must agree with the bytes as for `POST /v1/creator/media`. The upload \
                   is at `Location`; append with `PATCH`. Its id is the id the file will have \
                   (`GET /v1/media/{id}` once complete). An upload idle for a day is deleted. \
                   Creators only.",
    params(
        ("Tus-Resumable" = String, Header, description = "`1.0.0`."),
        ("Upload-Length" = u64, Header, description = "The file's size in bytes."),
        ("Upload-Metadata" = String, Header,
            description = "`filename <base64>,filetype <base64>`."),
    ),
    responses(
        (status = 201, description = "Opened.", headers(
            ("Location" = String, description = "The upload: `/v1/creator/uploads/{id}`."),
            ("Upload-Expires" = String, description = "When it is deleted unless appended to."),
            ("Tus-Resumable" = String, description = "`1.0.0`."))),
        CreateProblems, Unauthenticated, ForbiddenOrCsrf, InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn create(
    caller: Authenticated,
    media: web::Data<Media>,
    request: HttpRequest,
) -> HttpResponse {
    tus(async {
        require_version(&request)?;
        let length = header_number(&request, &UPLOAD_LENGTH).ok_or_else(|| {
            Error::invalid_input(
                "gateway.upload_length_required",
                "A resumable upload states its size in Upload-Length.",
            )
        })?;
        let (file_name, content_type) = metadata(&request)?;
        let session = media
            .create_upload(
                (&caller).into(),
                pb::CreateUploadRequest {
                    file_name,
                    content_type,
                    length,
                },
            )
            .await?;
        let mut response = HttpResponse::Created();
        response.insert_header((header::LOCATION, format!("{UPLOADS}/{}", session.id)));
        with_expiry(&mut response, &session);
        Ok(response.finish())
    })
    .await
}

/// Where an upload stands.
#[utoipa::path(
    head, path = "/v1/creator/uploads/{id}", operation_id = "getUploadOffset", tag = "media",
    summary = "tus: where an upload stands",
    description = "tus core: the offset to append at. An upload that completed, was \
                   cancelled or expired answers `404`.",
    params(("id" = Uuid, Path, description = "The upload."),
        ("Tus-Resumable" = String, Header, description = "`1.0.0`.")),
    responses(
        (status = 200, description = "Open.", headers(
            ("Upload-Offset" = u64, description = "Bytes received."),
            ("Upload-Length" = u64, description = "The announced size."),
            ("Upload-Expires" = String, description = "When it is deleted unless appended to."),
            ("Cache-Control" = String, description = "`no-store`."))),
        SessionProblems, Unauthenticated, Forbidden, RateLimited, InternalError, Unavailable,
        Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn status(
    caller: Authenticated,
    media: web::Data<Media>,
    request: HttpRequest,
    id: web::Path<Uuid>,
) -> HttpResponse {
    tus(async {
        require_version(&request)?;
        let session = media
            .get_upload((&caller).into(), upload_request(&id))
            .await?;
        let mut response = HttpResponse::Ok();
        response
            .insert_header((UPLOAD_OFFSET, session.offset))
            .insert_header((UPLOAD_LENGTH, session.length))
            .insert_header((header::CACHE_CONTROL, "no-store"));
        with_expiry(&mut response, &session);
        Ok(response.finish())
    })
    .await
}

/// Appends to an upload.
#[utoipa::path(
    patch, path = "/v1/creator/uploads/{id}", operation_id = "appendUpload", tag = "media",
    summary = "tus: append bytes",
    description = "tus core: the body continues the file at `Upload-Offset`, which must be \
                   where the upload stands. Bytes that arrive are kept even when the connection \
                   breaks off: ask with `HEAD` and go on. The append that completes the file \
                   has it checked whole (as `POST /v1/creator/media` does) and answers with \
                   `Content-Location` naming the file, now `scanning`.",
    params(("id" = Uuid, Path, description = "The upload."),
        ("Tus-Resumable" = String, Header, description = "`1.0.0`."),
        ("Upload-Offset" = u64, Header, description = "Where this body starts.")),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream",
        description = "The next bytes of the file."),
    responses(
        (status = 204, description = "Appended.", headers(
            ("Upload-Offset" = u64, description = "Bytes received now."),
            ("Upload-Expires" = String, description = "When it is deleted unless appended to."),
            ("Content-Location" = String,
                description = "Once complete: the file, `/v1/media/{id}`."))),
        AppendProblems, Unauthenticated, ForbiddenOrCsrf, RateLimited, InternalError, Unavailable,
        Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn append(
    caller: Authenticated,
    media: web::Data<Media>,
    request: HttpRequest,
    id: web::Path<Uuid>,
    body: web::Payload,
) -> HttpResponse {
    tus(async {
        require_version(&request)?;
        let type_ok = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.eq_ignore_ascii_case(OFFSET_STREAM));
        if !type_ok {
            return Err(Refusal::Status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "gateway.offset_stream_required",
                "An append's body is application/offset+octet-stream.",
            ));
        }
        let offset = header_number(&request, &UPLOAD_OFFSET).ok_or_else(|| {
            Error::invalid_input(
                "gateway.upload_offset_required",
                "An append states where it starts in Upload-Offset.",
            )
        })?;
        let session = stream_append(&media, &caller, *id, offset, body).await?;
        let mut response = HttpResponse::NoContent();
        response.insert_header((UPLOAD_OFFSET, session.offset));
        with_expiry(&mut response, &session);
        if let Some(file) = &session.media {
            response.insert_header((header::CONTENT_LOCATION, format!("/v1/media/{}", file.id)));
        }
        Ok(response.finish())
    })
    .await
}

/// Abandons an upload.
#[utoipa::path(
    delete, path = "/v1/creator/uploads/{id}", operation_id = "cancelUpload", tag = "media",
    summary = "tus: abandon an upload",
    description = "tus termination: deletes the upload and every byte it received.",
    params(("id" = Uuid, Path, description = "The upload."),
        ("Tus-Resumable" = String, Header, description = "`1.0.0`.")),
    responses(
        (status = 204, description = "Deleted."),
        SessionProblems, Unauthenticated, ForbiddenOrCsrf, RateLimited, InternalError, Unavailable,
        Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn cancel(
    caller: Authenticated,
    media: web::Data<Media>,
    request: HttpRequest,
    id: web::Path<Uuid>,
) -> HttpResponse {
    tus(async {
        require_version(&request)?;
        media
            .cancel_upload((&caller).into(), upload_request(&id))
            .await?;
        Ok(HttpResponse::NoContent().finish())
    })
    .await
}

/// `PATCH` or `DELETE` sent as `POST` with `X-HTTP-Method-Override`, for clients behind
/// proxies that allow only `GET` and `POST`.
#[utoipa::path(
    post, path = "/v1/creator/uploads/{id}", operation_id = "overrideUploadMethod",
    tag = "media",
    summary = "tus: PATCH or DELETE through POST",
    description = "tus core: `X-HTTP-Method-Override: PATCH` (or `DELETE`) makes this request \
                   the append (or the cancellation) it names; it answers as that method does.",
    params(("id" = Uuid, Path, description = "The upload."),
        ("X-HTTP-Method-Override" = String, Header, description = "`PATCH` or `DELETE`."),
        ("Tus-Resumable" = String, Header, description = "`1.0.0`.")),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream",
        description = "For `PATCH`: the next bytes of the file."),
    responses(
        (status = 204, description = "Done, as the named method."),
        AppendProblems, OverrideProblems, Unauthenticated, ForbiddenOrCsrf, RateLimited,
        InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
pub async fn override_method(
    caller: Authenticated,
    media: web::Data<Media>,
    request: HttpRequest,
    id: web::Path<Uuid>,
    body: web::Payload,
) -> HttpResponse {
    let named = request
        .headers()
        .get(METHOD_OVERRIDE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_ascii_uppercase);
    match named.as_deref() {
        Some("PATCH") => append(caller, media, request, id, body).await,
        Some("DELETE") => cancel(caller, media, request, id).await,
        _ => {
            tus(async {
                Err::<HttpResponse, _>(Refusal::from(Error::new(
                    ErrorKind::MethodNotAllowed,
                    "common.method_not_allowed",
                    "POST on an upload needs X-HTTP-Method-Override: PATCH or DELETE.",
                )))
            })
            .await
        }
    }
}

/// Streams `body` to media as one append, with bounded memory. The call runs in its own task
/// and the body's end (or its breaking off) ends the call's stream cleanly, so media keeps
/// what arrived even when the client is gone before the answer.
async fn stream_append(
    media: &Media,
    caller: &Authenticated,
    id: Uuid,
    offset: u64,
    body: web::Payload,
) -> Result<pb::UploadSession, Error> {
    let start = pb::AppendPart {
        part: Some(pb::append_part::Part::Start(pb::AppendStart {
            upload_id: id.to_string(),
            offset,
        })),
    };
    let (pieces, received) = mpsc::channel::<pb::AppendPart>(super::PIECES_IN_FLIGHT);
    let parts = futures::stream::once(async { start })
        .chain(tokio_stream::wrappers::ReceiverStream::new(received));
    let media = media.clone();
    let caller: df_common::grpc::upstream::Caller = caller.into();
    let call = tokio::spawn(async move { media.append_upload(caller, parts).await });
    let mut body = body;
    'reading: while let Some(chunk) = body.next().await {
        // The client broke the body off: what came before it is the append.
        let Ok(chunk) = chunk else { break };
        for piece in super::pieces(chunk) {
            let part = pb::AppendPart {
                part: Some(pb::append_part::Part::Chunk(piece)),
            };
            if pieces.send(part).await.is_err() {
                // Media stopped reading: it refused the append, and says why.
                break 'reading;
            }
        }
    }
    drop(pieces);
    call.await.map_err(Error::internal)?
}

/// A tus answer: a refusal becomes its problem document; both carry `Tus-Resumable`.
async fn tus(answer: impl Future<Output = Result<HttpResponse, Refusal>>) -> HttpResponse {
    let mut response = match answer.await {
        Ok(response) => response,
        Err(Refusal::Error(error)) => ApiError(error).error_response(),
        Err(Refusal::Status(status, code, message)) => {
            let mut response = refusal(status, code, message);
            if status == StatusCode::PRECONDITION_FAILED {
                response
                    .headers_mut()
                    .insert(TUS_VERSION_HEADER, HeaderValue::from_static(TUS_VERSION));
            }
            response
        }
    };
    response
        .headers_mut()
        .insert(TUS_RESUMABLE, HeaderValue::from_static(TUS_VERSION));
    response
}

/// Why a tus request is refused: an error of the platform's, or a status of tus's own that no
/// error kind maps to (`412`, `415`).
enum Refusal {
    Error(Error),
    Status(StatusCode, &'static str, &'static str),
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Self {
        Self::Error(error)
    }
}

/// A problem document with a status of tus's own.
fn refusal(status: StatusCode, code: &'static str, message: &'static str) -> HttpResponse {
    let error = Error::invalid_input(code, message);
    problem_response_with_status(&error, status, request_id::current().as_deref())
}

fn require_version(request: &HttpRequest) -> Result<(), Refusal> {
    match request.headers().get(TUS_RESUMABLE) {
        Some(version) if version == TUS_VERSION => Ok(()),
        _ => Err(Refusal::Status(
            StatusCode::PRECONDITION_FAILED,
            "gateway.tus_version",
            "This server speaks tus 1.0.0: send Tus-Resumable: 1.0.0.",
        )),
    }
}

/// A header holding a non-negative decimal number (tus allows nothing else).
fn header_number(request: &HttpRequest, name: &HeaderName) -> Option<u64> {
    let value = request.headers().get(name)?.to_str().ok()?;
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// The file name and type from `Upload-Metadata` (`key base64,key base64`): `filename` or
/// `name`, and `filetype` or `type`, as Uppy and tus-js-client send them.
fn metadata(request: &HttpRequest) -> Result<(String, String), Error> {
    let invalid = || {
        Error::invalid_input(
            "gateway.invalid_upload_metadata",
            "Upload-Metadata carries the file's name and type as `filename <base64>,filetype \
             <base64>`.",
        )
    };
    if request.headers().contains_key(UPLOAD_DEFER_LENGTH) {
        return Err(Error::invalid_input(
            "gateway.upload_length_required",
            "Deferred lengths are not supported: state Upload-Length.",
        ));
    }
    let raw = request
        .headers()
        .get(UPLOAD_METADATA)
        .and_then(|value| value.to_str().ok())
        .filter(|raw| raw.len() <= MAX_METADATA)
        .ok_or_else(invalid)?;
    let (mut file_name, mut file_type) = (None, None);
    for pair in raw.split(',') {
        let mut words = pair.trim().splitn(2, ' ');
        let key = words.next().unwrap_or_default();
        let decoded = match words.next() {
            Some(value) => base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(invalid)?,
            None => String::new(),
        };
        let label: String = decoded.chars().take(MAX_LABEL).collect();
        match key {
            "filename" => file_name = Some(label),
            "name" if file_name.is_none() => file_name = Some(label),
            "filetype" => file_type = Some(label),
            "type" if file_type.is_none() => file_type = Some(label),
            _ => {}
        }
    }
    match (file_name, file_type) {
        (Some(name), Some(kind)) if !name.is_empty() && !kind.is_empty() => Ok((name, kind)),
        _ => Err(invalid()),
    }
}

fn upload_request(id: &Uuid) -> pb::GetUploadRequest {
    pb::GetUploadRequest {
        upload_id: id.to_string(),
    }
}

fn with_expiry(response: &mut actix_web::HttpResponseBuilder, session: &pb::UploadSession) {
    let expires = session
        .expires_at
        .as_ref()
        .and_then(|at| chrono::DateTime::from_timestamp(at.seconds, 0));
    if let Some(expires) = expires {
        let at: std::time::SystemTime = expires.into();
        response.insert_header((UPLOAD_EXPIRES, HttpDate::from(at).to_string()));
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn with_metadata(value: &str) -> HttpRequest {
        TestRequest::default()
            .insert_header((UPLOAD_METADATA, value))
            .to_http_request()
    }

    #[test]
    fn metadata_takes_the_names_uppy_and_tus_js_client_send() {
        // "clip.mp4" and "video/mp4".
        let tus_js = with_metadata("filename Y2xpcC5tcDQ=,filetype dmlkZW8vbXA0");
        assert_eq!(
            metadata(&tus_js).ok(),
            Some(("clip.mp4".to_owned(), "video/mp4".to_owned()))
        );
        let uppy = with_metadata("relativePath,name Y2xpcC5tcDQ=,type dmlkZW8vbXA0");
        assert_eq!(
            metadata(&uppy).ok(),
            Some(("clip.mp4".to_owned(), "video/mp4".to_owned()))
        );
    }

    #[test]
    fn metadata_without_a_name_or_type_or_with_bad_base64_is_refused() {
        for bad in [
            "filename Y2xpcC5tcDQ=",
            "filetype dmlkZW8vbXA0",
            "filename !!!,filetype x",
            "",
        ] {
            let refused = metadata(&with_metadata(bad))
                .err()
                .map(|e| e.code().to_owned());
            assert_eq!(
                refused.as_deref(),
                Some("gateway.invalid_upload_metadata"),
                "{bad}"
            );
        }
    }

    #[test]
    fn numbers_in_headers_are_plain_decimals() {
        let request = |value: &str| {
            TestRequest::default()
                .insert_header((UPLOAD_OFFSET, value))
                .to_http_request()
        };
        assert_eq!(header_number(&request("1024"), &UPLOAD_OFFSET), Some(1024));
        for bad in ["-1", "+5", "1e3", " 7", "0x10", ""] {
            assert_eq!(
                header_number(&request(bad), &UPLOAD_OFFSET),
                None,
                "{bad:?}"
            );
        }
    }
}
