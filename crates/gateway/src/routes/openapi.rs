//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of the public API, written by hand next to
//! the routes (`openapi/v1.json`) and checked against the route table by the tests.

use actix_web::{HttpResponse, http::header};

/// The document.
pub const DOCUMENT: &str = include_str!("../../openapi/v1.json");

/// Handler.
pub async fn handle() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(DOCUMENT)
}
