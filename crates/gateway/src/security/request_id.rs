//! A request id on every request and response.
//!
//! An incoming `X-Request-Id` is kept only when it is short and made of safe characters (it ends
//! up in logs and response headers, so anything else could forge log lines or smuggle text);
//! otherwise a fresh UUIDv7 is used. The id is stored in the request extensions as
//! [`RequestId`], recorded on the `http` tracing span that wraps the rest of the pipeline, set as
//! the task-local read by [`current`] (so problem bodies can carry it), and echoed on the
//! response.

use std::future::{Ready, ready};

use actix_web::{
    Error, FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError,
    body::MessageBody,
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::{
        StatusCode,
        header::{HeaderName, HeaderValue},
    },
    middleware::Next,
};
use tracing::Instrument;

/// The header carrying the id both ways.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being served by this task, when called inside the middleware.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// An `Err` leaving this middleware. actix renders it only past the outermost middleware, after
/// the request's scope has ended, and a middleware cannot build the response itself (that needs
/// the request, which routing must hold alone while inner services run). So the error carries
/// its request id and is rendered inside the scope again, then gets the header.
struct WithRequestId {
    inner: Error,
    id: String,
}

impl std::fmt::Debug for WithRequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.inner, f)
    }
}

impl std::fmt::Display for WithRequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.inner, f)
    }
}

impl ResponseError for WithRequestId {
    fn status_code(&self) -> StatusCode {
        self.inner.as_response_error().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = CURRENT.sync_scope(self.id.clone(), || self.inner.error_response());
        if let Ok(value) = HeaderValue::from_str(&self.id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        response
    }
}

/// The request's id, from the request extensions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(pub String);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromRequest for RequestId {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    /// Never fails: outside the middleware (a misconfigured app) a fresh id is made up so a
    /// handler can still log something useful.
    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let id = req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(uuid::Uuid::now_v7().to_string()));
        ready(Ok(id))
    }
}

/// True for ids matching `^[A-Za-z0-9._-]{1,64}$`.
pub fn is_acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn choose_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| is_acceptable(value))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

/// The middleware (`wrap(from_fn(request_id::assign))`); see the module docs.
pub async fn assign<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let id = choose_id(&req);
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "http",
        request_id = %id,
        method = %req.method(),
        route = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    let header = HeaderValue::from_str(&id).ok();
    let scope_id = id.clone();
    // The inner call runs inside the task-local scope, synchronous part included, so every error
    // response built below this point sees the id.
    let inner = async move {
        let current = tracing::Span::current();
        let mut response = match next.call(req).await {
            Ok(response) => response,
            Err(error) => {
                current.record("status", error.as_response_error().status_code().as_u16());
                return Err(WithRequestId { inner: error, id }.into());
            }
        };
        if let Some(route) = response.request().match_pattern() {
            current.record("route", route.as_str());
        }
        current.record("status", response.status().as_u16());
        if let Some(header) = header {
            response.headers_mut().insert(REQUEST_ID_HEADER, header);
        }
        Ok(response)
    };
    CURRENT.scope(scope_id, inner.instrument(span)).await
}

#[cfg(test)]
mod tests {
    use actix_web::{App, HttpResponse, middleware::from_fn, test as actix_test, web};

    use super::*;
    use crate::security::problem::ApiError;

    async fn show(id: RequestId) -> HttpResponse {
        let task = current().unwrap_or_default();
        HttpResponse::Ok().body(format!("{}|{task}", id.as_str()))
    }

    async fn fails() -> Result<HttpResponse, Error> {
        Err(ApiError(df_common::Error::forbidden()).into())
    }

    macro_rules! app {
        () => {
            actix_test::init_service(
                App::new()
                    .route("/", web::get().to(show))
                    .route("/fails", web::get().to(fails))
                    .wrap(from_fn(assign)),
            )
            .await
        };
    }

    #[actix_web::test]
    async fn a_valid_incoming_id_is_echoed() {
        let app = app!();
        let req = actix_test::TestRequest::get()
            .uri("/")
            .insert_header(("X-Request-Id", "edge.lb-01_abc"))
            .to_request();
        let response = actix_test::call_service(&app, req).await;
        assert_eq!(
            response.headers().get("x-request-id").unwrap(),
            "edge.lb-01_abc"
        );
        let body = actix_test::read_body(response).await;
        assert_eq!(body, "edge.lb-01_abc|edge.lb-01_abc");
    }

    #[actix_web::test]
    async fn unsafe_or_long_ids_are_replaced_by_a_uuid_v7() {
        let app = app!();
        for bad in [
            "a b",
            "x\"y",
            "<script>",
            "",
            &"a".repeat(65),
            "line\tbreak",
            "é",
        ] {
            let mut req = actix_test::TestRequest::get().uri("/");
            if let Ok(value) = HeaderValue::from_str(bad) {
                req = req.insert_header((REQUEST_ID_HEADER, value));
            }
            let response = actix_test::call_service(&app, req.to_request()).await;
            let echoed = response
                .headers()
                .get("x-request-id")
                .unwrap()
                .to_str()
                .unwrap();
            assert_ne!(echoed, bad);
            let uuid = uuid::Uuid::parse_str(echoed).unwrap();
            assert_eq!(uuid.get_version_num(), 7, "{echoed}");
        }
        let req = actix_test::TestRequest::get()
            .uri("/")
            .insert_header((REQUEST_ID_HEADER, "a".repeat(64)))
            .to_request();
        let response = actix_test::call_service(&app, req).await;
        assert_eq!(
            response.headers().get("x-request-id").unwrap(),
            &"a".repeat(64)
        );
    }

    #[actix_web::test]
    async fn error_responses_carry_the_id_in_header_and_body() {
        let app = app!();
        let req = actix_test::TestRequest::get()
            .uri("/fails")
            .insert_header((REQUEST_ID_HEADER, "req-42"))
            .to_request();
        let response = actix_test::call_service(&app, req).await;
        assert_eq!(response.status(), 403);
        assert_eq!(response.headers().get("x-request-id").unwrap(), "req-42");
        let problem: df_common::error::Problem =
            serde_json::from_slice(&actix_test::read_body(response).await).unwrap();
        assert_eq!(problem.request_id.as_deref(), Some("req-42"));
    }

    #[actix_web::test]
    async fn each_request_gets_its_own_id() {
        let app = app!();
        let a =
            actix_test::call_service(&app, actix_test::TestRequest::get().uri("/").to_request())
                .await;
        let b =
            actix_test::call_service(&app, actix_test::TestRequest::get().uri("/").to_request())
                .await;
        assert_ne!(
            a.headers().get("x-request-id"),
            b.headers().get("x-request-id")
        );
        assert_eq!(current(), None, "the id does not leak out of the request");
    }

    #[test]
    fn acceptable_ids() {
        assert!(is_acceptable("A-z_0.9"));
        assert!(!is_acceptable(""));
        assert!(!is_acceptable("a/b"));
        assert!(!is_acceptable(&"x".repeat(65)));
    }
}
