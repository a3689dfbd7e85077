//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of the public API, generated from the
//! handlers' `#[utoipa::path]` annotations and their body types' `ToSchema` derives.
//!
//! `openapi/v1.json` is a generated snapshot of the document, committed so that every change to
//! the API shows in review. Never edit it: a test fails when it differs from what the code
//! generates, and `UPDATE_OPENAPI_SNAPSHOT=1 cargo nextest run -p df-gateway openapi` rewrites it.
//!
//! A route documents itself in its `#[utoipa::path]`: method, path, id, tag, texts, parameters,
//! body, its success response, its own problem responses (declared with [`problems!`]) and the
//! shared ones it can answer (the types below, by name). Then its handler joins `paths` of
//! [`ApiDoc`]. What holds for every route is added here instead of in each annotation: the
//! request id parameter and header, the CSRF token of unsafe methods, the rate-limit headers.

use std::{collections::BTreeMap, sync::LazyLock};

use actix_web::{HttpResponse, http::header};
use df_common::{Error, ErrorKind};
use serde_json::{Value, json};
use utoipa::{
    IntoParams, Modify, OpenApi, ToSchema,
    openapi::{
        AllOfBuilder, ContentBuilder, ObjectBuilder, Ref, RefOr, Response, ResponseBuilder, Type,
        extensions::Extensions,
        schema::SchemaType,
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use super::{
    SESSIONLESS_PREFIXES, auth, me, media,
    payments::{self, TaxFormQuery},
    wire::IdempotencyKey,
};

/// The document, pretty-printed with sorted keys: served as it is and committed as
/// `openapi/v1.json`.
#[allow(
    clippy::expect_used,
    reason = "the document is plain data; the tests build it too"
)]
pub static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    let mut document = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    apply_conventions(&mut document);
    serde_json::to_string_pretty(&document).expect("a JSON value prints") + "\n"
});

/// Handler.
#[utoipa::path(get, path = "/v1/openapi.json", operation_id = "getOpenApiDocument", tag = "meta",
    summary = "This document",
    description = "The OpenAPI 3.1 document of the public API. Cacheable for five minutes.",
    responses(
        (status = 200, description = "The document.", body = OpenApiDocument,
            headers(("Cache-Control" = String, description = "`public, max-age=300`."))),
        RateLimited,
    ))]
pub async fn handle() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(DOCUMENT.as_str())
}

/// The document's routes and components.
#[derive(OpenApi)]
#[openapi(
    info(title = "DirectFanz API", version = "1.0.0",
        description = include_str!("../../openapi/description.md").trim_end()),
    servers((url = "/", description = "The gateway serving this document.")),
    tags(
        (name = "auth", description = "Sign-up, email verification, login, logout, password \
            reset and login unlock."),
        (name = "account", description = "The signed-in user."),
        (name = "creator", description = "The signed-in creator's payout account, tiers, PPV \
            items, earnings and payouts."),
        (name = "subscriptions",
            description = "Tiers, subscriptions and entitlements as fans see them."),
        (name = "checkout", description = "Payments by fans: subscriptions, tips and PPV \
            purchases on the payment provider's hosted pages."),
        (name = "posts", description = "Creators' posts, feeds and follows."),
        (name = "media", description = "Creators' uploads, scanned before anyone sees them, \
            and the signed URLs fans view them by."),
        (name = "tax", description = "Tax profile and 1099-NEC forms of the signed-in creator."),
        (name = "admin",
            description = "Disputes, failed payouts, payout runs and tax forms, for admins."),
        (name = "webhooks", description = "Events from the payment provider."),
        (name = "meta", description = "About the API itself."),
    ),
    paths(
        auth::signup::handle, auth::verify_email::handle, auth::resend_verification::handle,
        auth::login::handle, auth::logout::handle, auth::logout_all::handle,
        auth::password_reset::request, auth::password_reset::confirm, auth::unlock::handle,
        me::handle, handle,
        payments::payout_account::start_onboarding, payments::payout_account::get,
        payments::tiers::create, payments::tiers::update, payments::tiers::archive,
        payments::tiers::list, payments::ppv_items::purchase,
        payments::subscriptions::subscribe, payments::subscriptions::cancel,
        payments::subscriptions::list_mine, payments::tips::tip, payments::entitlement::check,
        payments::earnings::earnings, payments::earnings::payouts, payments::tax::put_profile,
        payments::tax::get_profile, payments::tax::form, payments::admin::disputes,
        payments::admin::failed_payouts, payments::admin::run_payouts, payments::tax::admin_form,
        payments::webhooks::stripe,
        media::posts::create, media::posts::update, media::posts::get, media::posts::delete,
        media::feeds::creator, media::feeds::home, media::feeds::follow, media::feeds::unfollow,
        media::files::upload, media::files::get, media::files::url, media::files::content,
        media::resumable::discover, media::resumable::create, media::resumable::status,
        media::resumable::append, media::resumable::cancel, media::resumable::override_method,
    ),
    components(
        schemas(ProblemSchema),
        responses(Unauthenticated, CsrfFailed, Forbidden, ForbiddenOrCsrf, PayloadTooLarge,
            RateLimited, InternalError, Unavailable, ProviderUnavailable, Timeout),
    ),
    modifiers(&Security),
)]
pub struct ApiDoc;

/// The security schemes, and the parts of `info` utoipa's attributes do not reach.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        // utoipa fills the license from Cargo.toml; the API is not published under it.
        openapi.info.license = None;
        // OpenAPI 3.1's `info.summary` has no field in utoipa 5.
        openapi.info.extensions = Some(Extensions::from_iter([(
            "summary",
            "Public HTTP API of the DirectFanz creator-monetization platform.",
        )]));
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "For apps: the `session_token` from `POST /v1/auth/login` as \
                         `Authorization: Bearer <token>`. Bearer requests need no CSRF token. \
                         When both a bearer token and the session cookie are sent, only the \
                         bearer token counts.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookieAuth",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "__Host-df_session",
                "For browsers: the `__Host-df_session` cookie (Secure, HttpOnly, SameSite=Lax, \
                 Path=/) set by `POST /v1/auth/login`. Every cookie-authenticated POST must come \
                 from an allowed origin (`Origin`, or `Referer` when a browser omits it) and \
                 carry the session's CSRF token in `X-CSRF-Token`.",
            ))),
        );
    }
}

/// Adds to the serialized document what every route shares and utoipa 5 cannot refer to
/// (parameter and header components): the `X-Request-Id` parameter of every path and header of
/// every response, the CSRF token of every unsafe method outside the webhooks, the rate-limit
/// headers of successes and 429s, and references to the shared parameters routes list.
fn apply_conventions(document: &mut Value) {
    let shared = shared_parameters();
    document["components"]["parameters"] = Value::Object(shared.clone());
    document["components"]["headers"] = shared_headers();
    let mut referenced = BTreeMap::new();
    for (path, item) in document["paths"].as_object_mut().into_iter().flatten() {
        let sessionless = SESSIONLESS_PREFIXES.iter().any(|p| path.starts_with(p));
        for (method, operation) in item.as_object_mut().into_iter().flatten() {
            let mut parameters = match operation["parameters"].take() {
                Value::Array(parameters) => parameters,
                _ => Vec::new(),
            };
            for parameter in &mut parameters {
                if let Some((name, _)) = shared.iter().find(|(_, shared)| **shared == *parameter) {
                    *parameter = reference("parameters", name);
                }
            }
            if !sessionless && !matches!(method.as_str(), "get" | "head" | "options" | "trace") {
                parameters.insert(0, reference("parameters", "CsrfToken"));
            }
            if parameters.is_empty() {
                if let Some(operation) = operation.as_object_mut() {
                    operation.remove("parameters");
                }
            } else {
                operation["parameters"] = Value::Array(parameters);
            }
            for (status, response) in operation["responses"].as_object_mut().into_iter().flatten() {
                match response["$ref"].as_str() {
                    Some(target) => {
                        referenced.insert(target.to_owned(), status.clone());
                    }
                    None => add_headers(response, status),
                }
            }
        }
        item["parameters"] = json!([reference("parameters", "RequestId")]);
    }
    for (target, status) in referenced {
        if let Some(response) = document.pointer_mut(target.trim_start_matches('#')) {
            add_headers(response, &status);
        }
    }
}

/// The shared headers of a response of `status`.
fn add_headers(response: &mut Value, status: &str) {
    let mut names = vec!["X-Request-Id"];
    if status.starts_with('2') || status == "429" {
        names.extend([
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
            "RateLimit-Policy",
        ]);
    }
    if status == "429" {
        names.push("Retry-After");
    }
    for name in names {
        response["headers"][name] = reference("headers", name);
    }
}

fn reference(kind: &str, name: &str) -> Value {
    json!({ "$ref": format!("#/components/{kind}/{name}") })
}

/// Parameters declared once: operations refer to them instead of repeating them. Routes list
/// the last two through their extractors' `IntoParams`, so the copies are equal to these.
fn shared_parameters() -> serde_json::Map<String, Value> {
    let header = |name: &str, description: &str, pattern: &str| {
        json!({"name": name, "in": "header", "required": false, "description": description,
            "schema": {"type": "string", "pattern": pattern}})
    };
    let declared = |parameters: Vec<utoipa::openapi::path::Parameter>| json!(parameters[0]);
    serde_json::Map::from_iter([
        (
            "RequestId".to_owned(),
            header(
                "X-Request-Id",
                "A caller-chosen id for this request, kept when it matches \
                 `^[A-Za-z0-9._-]{1,64}$` (otherwise the gateway makes up a UUIDv7). It is \
                 echoed in the response header and in problem bodies.",
                "^[A-Za-z0-9._-]{1,64}$",
            ),
        ),
        (
            "CsrfToken".to_owned(),
            header(
                "X-CSRF-Token",
                "Required when the request carries the session cookie and no `Authorization: \
                 Bearer` header: the `csrf_token` from login (also in the `__Host-df_csrf` \
                 cookie). Missing or wrong, the request is refused with 403 \
                 `gateway.csrf_failed`. Ignored for bearer-authenticated requests.",
                "^[A-Za-z0-9_-]{43}$",
            ),
        ),
        (
            "IdempotencyKey".to_owned(),
            declared(IdempotencyKey::into_params(|| None)),
        ),
        (
            "TaxFormFormat".to_owned(),
            declared(TaxFormQuery::into_params(|| None)),
        ),
    ])
}

/// The response headers every route shares.
fn shared_headers() -> Value {
    let integer = |description: &str, minimum: u8| {
        let schema = json!({"type": "integer", "minimum": minimum});
        json!({"description": description, "schema": schema})
    };
    json!({
        "X-Request-Id": {
            "description": "The id of this request (the caller's `X-Request-Id` when \
                acceptable, else a UUIDv7). Quote it when asking for support.",
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
        },
        "Retry-After": integer("Whole seconds to wait before trying again (at least 1).", 1),
        "RateLimit-Limit": integer("Requests admitted per window for this route class.", 1),
        "RateLimit-Remaining": integer(
            "Requests still admitted in the current window (the tighter of the client IP's and \
             the user's budgets).",
            0,
        ),
        "RateLimit-Reset": integer(
            "Seconds until the oldest counted request leaves the window and the budget starts \
             refilling.",
            0,
        ),
        "RateLimit-Policy": {
            "description": "The rule in force: `<limit>;w=<window seconds>`.",
            "schema": {"type": "string", "pattern": "^[0-9]+;w=[0-9]+$", "examples": ["20;w=60"]},
        },
    })
}

/// Declares a schema with no Rust type of its own (a string with rules, a closed set of words
/// the services send as text), built by `$schema`; fields name it with `value_type`.
macro_rules! named_schema {
    ($(#[$meta:meta])* $name:ident = $schema:expr) => {
        $(#[$meta])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $schema.into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}
pub(crate) use named_schema;

/// A string schema.
pub fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// A string that is one of `values`.
pub fn one_of(values: &[&str], description: &str) -> ObjectBuilder {
    string()
        .description(Some(description))
        .enum_values(Some(values.iter().copied()))
}

/// A schema of exactly `value` (JSON Schema's `const`, which utoipa 5 has no field for).
pub fn constant(value: impl Into<Value>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .extensions(Some(Extensions::from_iter([("const", value.into())])))
}

named_schema!(
    /// What `GET /v1/openapi.json` answers.
    OpenApiDocument = ObjectBuilder::new()
        .description(Some("An OpenAPI 3.1 document (this one)."))
        .property("openapi", constant("3.1.0").schema_type(Type::String))
        .required("openapi")
        .required("info")
        .required("paths")
);

/// An RFC 9457 problem document. `code` is stable and machine-readable; `detail` is a safe,
/// human-readable explanation that may change wording; internal causes are never included.
/// Clients should treat a code they do not know as the generic error of its `status`.
// The document's view of `df_common::Problem`, which the tests hold it to.
#[derive(ToSchema)]
#[schema(as = Problem)]
pub struct ProblemSchema {
    /// A URI naming the problem type: `https://docs.directfanz.io/problems/<code>`.
    #[schema(
        format = "uri",
        examples("https://docs.directfanz.io/problems/identity.invalid_credentials")
    )]
    pub r#type: String,
    /// A short, generic summary of the class of problem (the same for every problem of a
    /// status).
    pub title: String,
    /// The HTTP status code, repeated.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// The stable, dotted error code clients switch on (`<service>.<reason>`).
    #[schema(
        pattern = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$",
        examples("identity.invalid_credentials")
    )]
    pub code: String,
    /// The explanation for this occurrence, safe to show to the user.
    pub detail: String,
    /// The request id (also in the `X-Request-Id` response header), for support requests.
    #[schema(nullable = false, pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub request_id: Option<String>,
}

const PROBLEM_JSON: &str = "application/problem+json";

/// Codes that gateway-wide checks answer on many routes, with the words that explain them in a
/// response's description.
#[derive(Clone, Copy)]
pub struct Refusals {
    codes: &'static [&'static str],
    explanation: &'static str,
}

impl Refusals {
    /// `codes`, explained in a description by `explanation` (or not at all when it is empty).
    pub const fn new(codes: &'static [&'static str], explanation: &'static str) -> Self {
        Self { codes, explanation }
    }
}

/// The body is not the JSON the route takes (the `Json` extractor).
pub const JSON_BODY: Refusals = Refusals {
    codes: &[
        "common.invalid_json",
        "common.invalid_content_type",
        "common.invalid_body",
    ],
    explanation: "The body is not a JSON object of the documented shape (`common.invalid_json`: \
        malformed JSON, a missing or unknown field, a wrong type, text spelling the NUL \
        character; `common.invalid_content_type`: \
        not sent as `application/json`; `common.invalid_body`: the body could not be read)",
};

/// A path parameter does not parse.
pub const INVALID_PATH: Refusals = Refusals {
    codes: &["common.invalid_path"],
    explanation: "`common.invalid_path`: a path parameter is not valid",
};

/// The query string does not parse.
pub const INVALID_QUERY: Refusals = Refusals {
    codes: &["common.invalid_query"],
    explanation: "`common.invalid_query`: the query string is not valid",
};

/// The `Idempotency-Key` header is not acceptable (the `IdempotencyKey` extractor).
pub const IDEMPOTENCY_KEY: Refusals = Refusals {
    codes: &["gateway.invalid_idempotency_key"],
    explanation: "`gateway.invalid_idempotency_key`: `Idempotency-Key` is not 1 to 255 visible \
        ASCII characters",
};

/// An entry of a problem response's code list: one code, or a group with its explanation.
pub enum Codes {
    /// A code the route's own description explains.
    One(&'static str),
    /// Codes that explain themselves.
    Group(Refusals),
}

impl From<&'static str> for Codes {
    fn from(code: &'static str) -> Self {
        Self::One(code)
    }
}

impl From<Refusals> for Codes {
    fn from(group: Refusals) -> Self {
        Self::Group(group)
    }
}

/// A problem response: its status, the codes it carries and what they mean.
pub struct Problem {
    /// The HTTP status.
    pub status: u16,
    codes: Vec<&'static str>,
    example_code: &'static str,
    description: String,
    example: Option<(&'static str, &'static str)>,
}

/// A problem response of `status` carrying one of `codes`: the groups' explanations, then
/// `description`, describe it; its example shows the first code of the route's own.
pub fn problem<C: Into<Codes>>(
    status: u16,
    codes: impl IntoIterator<Item = C>,
    description: &str,
) -> Problem {
    let mut all = Vec::new();
    let mut own = Vec::new();
    let mut explanations = Vec::new();
    for entry in codes {
        match entry.into() {
            Codes::One(code) => {
                all.push(code);
                own.push(code);
            }
            Codes::Group(group) => {
                all.extend(group.codes);
                if !group.explanation.is_empty() {
                    explanations.push(group.explanation);
                }
            }
        }
    }
    let description = match (explanations.join("; "), description) {
        (groups, "") => format!("{groups}."),
        (groups, _) if groups.is_empty() => description.to_owned(),
        (groups, own) => format!("{groups}; {own}"),
    };
    Problem {
        status,
        example_code: own.first().or(all.first()).copied().unwrap_or_default(),
        codes: all,
        description,
        example: None,
    }
}

impl Problem {
    /// An example of `code` with this `detail`, instead of the first code with the generic
    /// message of the status.
    pub fn example(mut self, code: &'static str, detail: &'static str) -> Self {
        self.example = Some((code, detail));
        self
    }
}

impl From<Problem> for RefOr<Response> {
    fn from(problem: Problem) -> Self {
        let code = match problem.codes.as_slice() {
            [one] => constant(*one),
            many => ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .enum_values(Some(many.iter().copied())),
        };
        let narrowed = ObjectBuilder::new()
            .schema_type(SchemaType::AnyValue)
            .property("status", constant(problem.status))
            .property("code", code);
        let schema = AllOfBuilder::new()
            .item(Ref::from_schema_name("Problem"))
            .item(narrowed);
        let matched = ERROR_KINDS
            .into_iter()
            .find(|kind| kind.http_status() == problem.status);
        let generic = Error::of_kind(matched.unwrap_or(ErrorKind::InvalidInput));
        let (code, detail) = problem
            .example
            .unwrap_or((problem.example_code, generic.message()));
        let mut example = Error::new(generic.kind(), code, detail.to_owned())
            .to_problem(Some("0193a5c2-7b1e-7c3a-9f4d-2b8e6a1c0d55"));
        if matched.is_none() {
            // A status of a protocol's own (tus's 412 and 415): no error kind has it.
            example.status = problem.status;
            example.title = actix_web::http::StatusCode::from_u16(problem.status)
                .ok()
                .and_then(|status| status.canonical_reason())
                .unwrap_or_default()
                .to_owned();
        }
        let content = ContentBuilder::new()
            .schema(Some(schema))
            .example(Some(json!(example)));
        ResponseBuilder::new()
            .description(problem.description)
            .content(PROBLEM_JSON, content.build())
            .build()
            .into()
    }
}

const ERROR_KINDS: [ErrorKind; 12] = [
    ErrorKind::InvalidInput,
    ErrorKind::Unauthenticated,
    ErrorKind::Forbidden,
    ErrorKind::NotFound,
    ErrorKind::MethodNotAllowed,
    ErrorKind::Conflict,
    ErrorKind::PayloadTooLarge,
    ErrorKind::Unprocessable,
    ErrorKind::RateLimited,
    ErrorKind::Unavailable,
    ErrorKind::Timeout,
    ErrorKind::Internal,
];

/// Declares `$name`, a route's own problem responses, one per line: status, codes (each a code
/// or a [`Refusals`] group) and description. The route lists `$name` in `responses(...)`.
macro_rules! problems {
    ($name:ident { $($status:literal [$($code:expr),+ $(,)?] $description:expr),+ $(,)? }) => {
        #[doc = concat!("The problem responses of `", module_path!(), "`.")]
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::Response>,
            > {
                [$($crate::routes::openapi::problem(
                    $status,
                    [$($crate::routes::openapi::Codes::from($code)),+],
                    $description,
                )),+]
                    .into_iter()
                    .map(|problem| (problem.status.to_string(), problem.into()))
                    .collect()
            }
        }
    };
}
pub(crate) use problems;

/// Declares problem responses shared by many routes: each is a component of the document, which
/// a route lists by name in `responses(...)`.
macro_rules! shared_responses {
    ($($(#[$meta:meta])* $name:ident = $problem:expr;)+) => { $(
        $(#[$meta])*
        pub struct $name;

        impl<'a> utoipa::ToResponse<'a> for $name {
            fn response() -> (&'a str, RefOr<Response>) {
                (stringify!($name), $problem.into())
            }
        }

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                let reference = Ref::from_response_name(stringify!($name));
                BTreeMap::from([($problem.status.to_string(), reference.into())])
            }
        }
    )+ };
}

shared_responses! {
    /// No session.
    Unauthenticated = problem(401, ["gateway.unauthenticated"],
        "No valid session: no `Authorization: Bearer` token and no session cookie, or the session \
         is unknown, expired or revoked.")
        .example("gateway.unauthenticated", "Log in to do this.");
    /// The CSRF checks failed.
    CsrfFailed = problem(403, ["gateway.csrf_failed"],
        "Cross-site request forgery checks failed: the request has an `Origin` (or, without one, \
         a `Referer`) that is not allowed, or it is authenticated by the session cookie without \
         the right `X-CSRF-Token`.")
        .example("gateway.csrf_failed", "The request did not pass cross-site request forgery \
                  checks. Reload the page and try again.");
    /// The caller's role may not.
    Forbidden = problem(403, ["common.forbidden"],
        "The caller's role may not do this: creator routes need the creator role, admin routes \
         the admin role.");
    /// The CSRF checks failed, or the caller's role may not.
    ForbiddenOrCsrf = problem(403, ["gateway.csrf_failed", "common.forbidden"],
        "`gateway.csrf_failed`: cross-site request forgery checks failed (see `CsrfFailed`); \
         `common.forbidden`: the caller's role may not do this (creator routes need the creator \
         role, admin routes the admin role).")
        .example("common.forbidden", "You are not allowed to do this.");
    /// The body is too large.
    PayloadTooLarge = problem(413, ["common.payload_too_large"],
        "The request body is larger than the gateway accepts (64 KiB by default).")
        .example("common.payload_too_large", "The request body is larger than 65536 bytes.");
    /// The rate limit is spent.
    RateLimited = problem(429, ["gateway.rate_limited"],
        "The rate limit of this route class is spent, for the client IP or for the user. Wait \
         `Retry-After` seconds.");
    /// A bug or an unexpected failure.
    InternalError = problem(500, ["common.internal"],
        "An unexpected failure. The cause is logged on our side and never returned.");
    /// A service is down.
    Unavailable = problem(503, ["common.unavailable", "identity.busy"],
        "A service or store the request needs is down or overloaded (`identity.busy`: password \
         hashing is at capacity). Try again later.");
    /// Payments or its provider is down.
    ProviderUnavailable = problem(503,
        ["common.unavailable", "payments.provider_unavailable"],
        "Payments, or the payment provider it needs for this request, is down or overloaded. Try \
         again later.")
        .example("payments.provider_unavailable", "The payment provider is not available; try \
                  again later.");
    /// A service did not answer in time.
    Timeout = problem(504, ["common.timeout"],
        "A service the request needs did not answer in time. Try again later.");
}
