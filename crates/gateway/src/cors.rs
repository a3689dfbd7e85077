//! CORS for the allowlisted client origins.
//!
//! Written as a plain middleware that always answers with a response (never an `Err`), so the
//! outer layers still add the security headers and the request id to refusals.

use std::{collections::HashSet, sync::Arc};

use actix_web::{
    Error, HttpResponse,
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{Method, header},
    middleware::Next,
    web,
};
use df_common::{Error as AppError, ErrorKind};

use df_common::origin::normalize_origin;

use crate::security::{problem::problem_response, request_id};

const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE";
// The tus headers let browser clients (Uppy, tus-js-client) upload resumably.
const ALLOWED_HEADERS: &str = "content-type, authorization, x-csrf-token, x-request-id, \
    idempotency-key, tus-resumable, upload-length, upload-offset, upload-metadata, \
    x-http-method-override";
const EXPOSED_HEADERS: &str = "retry-after, x-request-id, ratelimit-limit, \
    ratelimit-remaining, ratelimit-reset, ratelimit-policy, location, content-location, \
    tus-resumable, tus-version, tus-extension, upload-offset, upload-length, \
    upload-expires";

/// The allowlist, shared by workers as app data.
#[derive(Debug, Default)]
pub struct CorsPolicy {
    origins: HashSet<String>,
}

impl CorsPolicy {
    /// A policy allowing exactly `origins` (already validated by the configuration).
    pub fn new(origins: &[String]) -> Self {
        Self {
            origins: origins
                .iter()
                .filter_map(|o| normalize_origin(o).ok())
                .collect(),
        }
    }

    fn allows(&self, origin: &str) -> bool {
        normalize_origin(origin).is_ok_and(|o| self.origins.contains(&o))
    }
}

/// The middleware (wrap with `from_fn(cors::handle)`; needs `web::Data<CorsPolicy>`).
pub async fn handle(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, Error> {
    let policy = request
        .app_data::<web::Data<Arc<CorsPolicy>>>()
        .map(|p| Arc::clone(p));
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let allowed = match (&policy, &origin) {
        (Some(policy), Some(origin)) => policy.allows(origin),
        _ => false,
    };
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let response = if allowed {
            HttpResponse::NoContent()
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, ALLOWED_METHODS))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
                .finish()
        } else {
            let error = AppError::new(
                ErrorKind::Forbidden,
                "gateway.cors_refused",
                "This origin may not call the API.",
            );
            problem_response(&error, request_id::current().as_deref())
        };
        let mut response = request.into_response(response).map_into_right_body();
        if allowed {
            add_origin_headers(response.headers_mut(), origin.as_deref());
        }
        return Ok(response);
    }
    let mut response = next.call(request).await?.map_into_left_body();
    if allowed {
        add_origin_headers(response.headers_mut(), origin.as_deref());
    }
    Ok(response)
}

fn add_origin_headers(headers: &mut header::HeaderMap, origin: Option<&str>) {
    let Some(origin) = origin.and_then(|o| header::HeaderValue::from_str(o).ok()) else {
        return;
    };
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        header::HeaderValue::from_static("true"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        header::HeaderValue::from_static(EXPOSED_HEADERS),
    );
    headers.append(header::VARY, header::HeaderValue::from_static("Origin"));
}
