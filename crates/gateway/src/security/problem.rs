//! Errors as RFC 9457 `application/problem+json` responses.
//!
//! [`ApiError`] wraps the common [`df_common::Error`] so handlers and middleware can return it
//! with `?`. Its response carries the stable code and the public message only; the private cause
//! is logged when the response is built and never reaches the client.
//!
//! The body's `request_id` comes from the task-local set by the
//! [`request_id::assign`](super::request_id::assign) middleware around the inner service call:
//! `ResponseError::error_response` has no access to the request, and every error produced inside
//! that call (handler results, extractor failures, middleware refusals) is turned into a response
//! while the task-local is in scope.
//!
//! The extractor configs here make actix's own parse failures use the same shape, with messages
//! and logged causes that never echo what serde found in the input (JSON bodies go through
//! [`super::json::Json`]).

use std::fmt;

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    error::{PathError, QueryPayloadError},
    http::{
        StatusCode,
        header::{self, HeaderValue},
    },
    web,
};
use df_common::Error;

/// Media type of problem documents.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// A [`df_common::Error`] that actix turns into a problem response.
pub struct ApiError(pub Error);

impl ApiError {
    /// The wrapped error.
    pub fn inner(&self) -> &Error {
        &self.0
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.kind().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        self.0.log();
        let request_id = super::request_id::current();
        problem_response(&self.0, request_id.as_deref())
    }
}

/// Builds the problem response for `error` with an explicit request id.
pub fn problem_response(error: &Error, request_id: Option<&str>) -> HttpResponse {
    let status = StatusCode::from_u16(error.kind().http_status())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    problem_response_with_status(error, status, request_id)
}

/// Like [`problem_response`], with a status no error kind has (a protocol's own, such as tus's
/// `412` and `415`), which the document and its title then name.
pub fn problem_response_with_status(
    error: &Error,
    status: StatusCode,
    request_id: Option<&str>,
) -> HttpResponse {
    let mut problem = error.to_problem(request_id);
    if problem.status != status.as_u16() {
        problem.status = status.as_u16();
        problem.title = status.canonical_reason().unwrap_or_default().to_owned();
    }
    // A problem document of plain strings always serializes; the fallback keeps the status and
    // content type even if it somehow did not.
    let body = serde_json::to_vec(&problem).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = HttpResponse::build(status);
    response.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    ));
    if let Some(retry) = error.retry_after() {
        response.insert_header((header::RETRY_AFTER, ceil_secs(retry.as_millis())));
    }
    response.body(body)
}

/// Whole seconds, rounded up, and at least one when there is anything to wait for: a client told
/// `Retry-After: 0` would retry at once and be refused again.
pub(crate) fn ceil_secs(millis: u128) -> u64 {
    let secs = millis.div_ceil(1_000);
    u64::try_from(secs).unwrap_or(u64::MAX)
}

/// Default service for unknown routes: a 404 problem `common.not_found`.
pub async fn not_found() -> ApiError {
    ApiError(Error::not_found())
}

// Lets `not_found()` return the error as the response itself.
impl actix_web::Responder for ApiError {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse<Self::Body> {
        self.error_response()
    }
}

/// `web::PayloadConfig` (raw `Bytes`/`String` bodies) with the same limit.
pub fn payload_config(max_body_bytes: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(max_body_bytes)
}

/// `web::QueryConfig` with problem-shaped errors.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _req| ApiError(query_error(&error)).into())
}

/// `web::PathConfig` with problem-shaped errors.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, _req| ApiError(path_error(&error)).into())
}

// serde's messages quote the offending value; only the kind of failure is kept.
fn query_error(error: &QueryPayloadError) -> Error {
    let what = match error {
        QueryPayloadError::Deserialize(_) => "a parameter does not parse",
        _ => "unreadable",
    };
    Error::invalid_input("common.invalid_query", "The query string is not valid.")
        .with_cause(anyhow::anyhow!("query: {what}"))
}

fn path_error(error: &PathError) -> Error {
    let what = match error {
        PathError::Deserialize(_) => "a segment does not parse",
        _ => "unreadable",
    };
    Error::invalid_input("common.invalid_path", "A path parameter is not valid.")
        .with_cause(anyhow::anyhow!("path: {what}"))
}

/// Renders what a client would receive for `req`, including an `Err` that actix turns into a
/// response only past every middleware.
#[cfg(test)]
pub(crate) async fn render<S, B, R>(
    app: &S,
    req: R,
) -> (StatusCode, header::HeaderMap, actix_web::web::Bytes)
where
    S: actix_web::dev::Service<
            R,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody + 'static,
{
    let response = match app.call(req).await {
        Ok(response) => response.into_parts().1.map_into_boxed_body(),
        Err(error) => error.error_response(),
    };
    let status = response.status();
    let headers = response.headers().clone();
    let body = actix_web::body::to_bytes(response.into_body())
        .await
        .unwrap_or_else(|_| panic!("body of a {status} response"));
    (status, headers, body)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use actix_web::{App, middleware::from_fn, test as actix_test, web};
    use df_common::error::Problem;
    use serde::Deserialize;

    use super::*;
    use df_common::ErrorKind;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[allow(dead_code)]
        name: String,
        #[allow(dead_code)]
        age: u32,
    }

    async fn echo(_body: crate::security::Json<Body>) -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    async fn limited() -> Result<HttpResponse, ApiError> {
        Err(
            Error::new(ErrorKind::RateLimited, "gateway.rate_limited", "Slow down.")
                .with_retry_after(Duration::from_millis(1_200))
                .into(),
        )
    }

    async fn broken() -> Result<HttpResponse, ApiError> {
        Err(Error::internal(anyhow::anyhow!("db password=hunter2")).into())
    }

    async fn search(_q: web::Query<std::collections::HashMap<String, u32>>) -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    macro_rules! app {
        () => {
            actix_test::init_service(
                App::new()
                    .app_data(payload_config(64))
                    .app_data(query_config())
                    .app_data(path_config())
                    .route("/echo", web::post().to(echo))
                    .route("/limited", web::get().to(limited))
                    .route("/broken", web::get().to(broken))
                    .route("/search", web::get().to(search))
                    .route(
                        "/items/{id}",
                        web::get().to(|id: web::Path<u32>| async move {
                            HttpResponse::Ok().body(id.to_string())
                        }),
                    )
                    .default_service(web::to(not_found))
                    .wrap(from_fn(crate::security::request_id::assign)),
            )
            .await
        };
    }

    async fn problem_of<B: actix_web::body::MessageBody>(
        response: actix_web::dev::ServiceResponse<B>,
    ) -> (StatusCode, actix_web::http::header::HeaderMap, Problem) {
        let status = response.status();
        let headers = response.headers().clone();
        assert_eq!(
            headers.get(header::CONTENT_TYPE).unwrap(),
            PROBLEM_CONTENT_TYPE
        );
        let body = actix_test::read_body(response).await;
        (status, headers, serde_json::from_slice(&body).unwrap())
    }

    #[actix_web::test]
    async fn problem_body_has_the_documented_shape_and_request_id() {
        let app = app!();
        let req = actix_test::TestRequest::get()
            .uri("/limited")
            .insert_header(("x-request-id", "abc-123"))
            .to_request();
        let (status, headers, problem) =
            problem_of(actix_test::call_service(&app, req).await).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            headers.get(header::RETRY_AFTER).unwrap(),
            "2",
            "ceil of 1.2 s"
        );
        assert_eq!(problem.status, 429);
        assert_eq!(problem.code, "gateway.rate_limited");
        assert_eq!(problem.detail, "Slow down.");
        assert_eq!(
            problem.r#type,
            "https://docs.directfanz.io/problems/gateway.rate_limited"
        );
        assert_eq!(problem.request_id.as_deref(), Some("abc-123"));
    }

    #[actix_web::test]
    async fn internal_causes_stay_private() {
        let app = app!();
        let req = actix_test::TestRequest::get().uri("/broken").to_request();
        let response = actix_test::call_service(&app, req).await;
        let id = response
            .headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let body = actix_test::read_body(response).await;
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        let problem: Problem = serde_json::from_str(&text).unwrap();
        assert_eq!(problem.status, 500);
        assert_eq!(problem.code, "common.internal");
        assert_eq!(problem.request_id.as_deref(), Some(id.as_str()));
    }

    #[actix_web::test]
    async fn unknown_routes_are_404_problems() {
        let app = app!();
        let req = actix_test::TestRequest::get().uri("/nowhere").to_request();
        let (status, _, problem) = problem_of(actix_test::call_service(&app, req).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(problem.code, "common.not_found");
        assert!(problem.request_id.is_some());
    }

    #[actix_web::test]
    async fn bad_json_is_a_400_without_serde_internals() {
        let app = app!();
        let req = actix_test::TestRequest::post()
            .uri("/echo")
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload("{\"name\": \"x\", ")
            .to_request();
        let (status, _, problem) = problem_of(actix_test::call_service(&app, req).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(problem.code, "common.invalid_json");
        assert!(problem.detail.contains("line 1"), "{}", problem.detail);

        // A type mismatch must not echo the offending value or serde's wording.
        let req = actix_test::TestRequest::post()
            .uri("/echo")
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload("{\"name\":\"x\",\"age\":\"SECRETVAL\"}")
            .to_request();
        let (status, _, problem) = problem_of(actix_test::call_service(&app, req).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(problem.code, "common.invalid_json");
        assert!(!problem.detail.contains("SECRETVAL"), "{}", problem.detail);
        assert!(
            !problem.detail.contains("invalid type"),
            "{}",
            problem.detail
        );
    }

    #[actix_web::test]
    async fn oversized_json_is_a_413() {
        let app = app!();
        let req = actix_test::TestRequest::post()
            .uri("/echo")
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload(format!("{{\"name\":\"{}\",\"age\":1}}", "x".repeat(200)))
            .to_request();
        let (status, _, problem) = problem_of(actix_test::call_service(&app, req).await).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(problem.code, "common.payload_too_large");
    }

    #[actix_web::test]
    async fn bad_query_and_path_are_400_problems() {
        let app = app!();
        let req = actix_test::TestRequest::get()
            .uri("/search?n=notanumber")
            .to_request();
        let (status, _, problem) = problem_of(actix_test::call_service(&app, req).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(problem.code, "common.invalid_query");
        assert!(!problem.detail.contains("notanumber"));

        let req = actix_test::TestRequest::get()
            .uri("/items/abc")
            .to_request();
        let (status, _, problem) = problem_of(actix_test::call_service(&app, req).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(problem.code, "common.invalid_path");
    }

    #[actix_web::test]
    async fn without_the_middleware_there_is_no_request_id_but_the_shape_holds() {
        let app = actix_test::init_service(App::new().default_service(web::to(not_found))).await;
        let req = actix_test::TestRequest::get().uri("/x").to_request();
        let (status, _, problem) = problem_of(actix_test::call_service(&app, req).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(problem.request_id, None);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(ceil_secs(0), 0);
        assert_eq!(ceil_secs(1), 1);
        assert_eq!(ceil_secs(1_000), 1);
        assert_eq!(ceil_secs(1_001), 2);
    }
}
