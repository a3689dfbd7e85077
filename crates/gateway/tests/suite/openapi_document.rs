//! The OpenAPI document against the code it describes: the route table, the handlers' request
//! and response types, and the rules every operation follows (problem responses, CSRF on unsafe
//! methods, security on session routes). The document is generated from the handlers'
//! annotations, which are still written by hand: these checks keep them from drifting away from
//! the gateway, and the committed snapshot (`openapi/v1.json`) from drifting away from them.

// `allow-unwrap-in-tests` covers test functions only, not the helpers below.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use actix_web::{body, http::StatusCode};
use df_gateway::routes::{
    self, ROUTES,
    auth::{
        Accepted,
        login::{LoginBody, LoginView},
        password_reset::{ResetConfirmBody, ResetRequestBody},
        resend_verification::ResendBody,
        signup::SignupBody,
        unlock::UnlockBody,
        verify_email::VerifyEmailBody,
    },
    me::UserView,
    media::{PostPage, PostView, feeds::FollowView, posts::PostBody},
    openapi::DOCUMENT,
    payments::{
        CheckoutView, PayoutView,
        admin::DisputeView,
        admin::PayoutRunView,
        earnings::EarningsView,
        entitlement::EntitlementView,
        payout_account::{OnboardingBody, OnboardingLink, PayoutAccountView},
        ppv_items::PurchaseBody,
        subscriptions::{SubscribeBody, SubscriptionView},
        tax::{TaxProfileBody, TaxProfileView},
        tiers::{TierBody, TierView},
        tips::TipBody,
        webhooks::WebhookReceived,
    },
    wire::{Money, Page},
};
use df_proto::payments::v1 as pb;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
const PROBLEM_JSON: &str = "application/problem+json";
const COMPONENT_KINDS: &[&str] = &[
    "schemas",
    "responses",
    "parameters",
    "headers",
    "securitySchemes",
];

fn document() -> Value {
    serde_json::from_str(&DOCUMENT).expect("the document is not valid JSON")
}

/// Whether a property's schema admits `null`: a type list with `null`, or a `oneOf` with a
/// `null` member (how utoipa documents an optional reference).
fn nullable(doc: &Value, property: &Value) -> bool {
    let property = deref(doc, property);
    let null = json!("null");
    property["type"]
        .as_array()
        .is_some_and(|t| t.contains(&null))
        || property["oneOf"]
            .as_array()
            .is_some_and(|choices| choices.iter().any(|choice| choice["type"] == null))
}

/// Every operation as (METHOD, path, operation object).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("`paths` is an object") {
        for (key, operation) in item.as_object().expect("a path item is an object") {
            if METHODS.contains(&key.as_str()) {
                found.push((key.to_uppercase(), path.clone(), operation.clone()));
            }
        }
    }
    found
}

/// The target of a local `$ref`, or `None` when it does not resolve.
fn target<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// Follows `$ref`s until a concrete object.
fn deref<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..16 {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                value = target(doc, reference).unwrap_or_else(|| panic!("unresolved {reference}"));
            }
            None => return value,
        }
    }
    panic!("a $ref cycle");
}

/// Every `$ref` in `value` with the JSON pointer of where it is.
fn references(value: &Value, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "$ref"
                    && let Some(reference) = child.as_str()
                {
                    found.push((at.to_owned(), reference.to_owned()));
                } else {
                    references(child, &format!("{at}/{key}"), found);
                }
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                references(child, &format!("{at}/{index}"), found);
            }
        }
        _ => {}
    }
}

/// The parameters of an operation, its path item's included, resolved.
fn parameters<'a>(doc: &'a Value, path: &str, operation: &'a Value) -> Vec<&'a Value> {
    let shared = doc["paths"][path]["parameters"]
        .as_array()
        .into_iter()
        .flatten();
    let own = operation["parameters"].as_array().into_iter().flatten();
    shared.chain(own).map(|p| deref(doc, p)).collect()
}

fn object_keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn required_keys(schema: &Value) -> BTreeSet<String> {
    schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn is_an_openapi_3_1_document() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "DirectFanz API");
    assert_eq!(doc["info"]["version"], "1.0.0");
    assert_eq!(
        doc["servers"],
        json!([{"url": "/", "description": "The gateway serving this document."}])
    );
    for kind in COMPONENT_KINDS {
        assert!(
            doc["components"][kind].is_object(),
            "components.{kind} is missing"
        );
    }
}

#[test]
fn documents_exactly_the_routes_of_the_route_table() {
    let doc = document();
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(routed.len(), ROUTES.len(), "the route table has duplicates");
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let phantom: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi/v1.json: {undocumented:?}"
    );
    assert!(
        phantom.is_empty(),
        "documented operations with no route: {phantom:?}"
    );
}

#[test]
fn every_reference_resolves_to_a_component_and_every_component_is_used() {
    let doc = document();
    let mut found = Vec::new();
    references(&doc, "#", &mut found);
    assert!(!found.is_empty());
    let mut used = BTreeSet::new();
    for (at, reference) in &found {
        let segments: Vec<&str> = reference.split('/').collect();
        assert!(
            segments.len() == 4
                && segments[0] == "#"
                && segments[1] == "components"
                && COMPONENT_KINDS.contains(&segments[2]),
            "{at}: `{reference}` does not name a component"
        );
        assert!(
            target(&doc, reference).is_some(),
            "{at}: `{reference}` does not resolve"
        );
        used.insert(format!("{}/{}", segments[2], segments[3]));
    }
    let schemes = &doc["components"]["securitySchemes"];
    for (method, path, operation) in operations(&doc) {
        for requirement in operation["security"].as_array().into_iter().flatten() {
            for scheme in object_keys(requirement) {
                assert!(
                    schemes.get(&scheme).is_some(),
                    "{method} {path}: unknown security scheme {scheme}"
                );
                used.insert(format!("securitySchemes/{scheme}"));
            }
        }
    }
    for kind in COMPONENT_KINDS {
        for name in object_keys(&doc["components"][kind]) {
            assert!(
                used.contains(&format!("{kind}/{name}")),
                "components.{kind}.{name} is never used"
            );
        }
    }
}

#[test]
fn every_operation_has_a_unique_id_and_problem_responses_for_its_errors() {
    let doc = document();
    let mut ids = BTreeMap::new();
    for (method, path, operation) in operations(&doc) {
        let id = operation["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "{method} {path} has no operationId");
        if let Some(other) = ids.insert(id.to_owned(), format!("{method} {path}")) {
            panic!("operationId {id} is used by {other} and {method} {path}");
        }
        assert!(
            operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{method} {path} has no tag"
        );

        let responses = operation["responses"].as_object().unwrap();
        let mut errors = 0;
        for (status, response) in responses {
            let status_code: u16 = status
                .parse()
                .unwrap_or_else(|_| panic!("{method} {path}: status {status}"));
            let response = deref(&doc, response);
            assert!(
                response["headers"].get("X-Request-Id").is_some(),
                "{method} {path} {status}: no X-Request-Id header"
            );
            if status_code < 400 {
                assert!(
                    response["content"].get(PROBLEM_JSON).is_none(),
                    "{method} {path} {status}"
                );
                continue;
            }
            errors += 1;
            let content = object_keys(&response["content"]);
            assert_eq!(
                content,
                BTreeSet::from([PROBLEM_JSON.to_owned()]),
                "{method} {path} {status}: errors are {PROBLEM_JSON} only"
            );
            let media = &response["content"][PROBLEM_JSON];
            let allowed = problem_codes(&doc, &media["schema"]);
            assert!(
                !allowed.is_empty(),
                "{method} {path} {status}: no code listed"
            );
            let example = &media["example"];
            assert_eq!(
                example["status"],
                json!(status_code),
                "{method} {path} {status}: example status"
            );
            let code = example["code"].as_str().unwrap();
            assert!(
                allowed.contains(code),
                "{method} {path} {status}: example code {code} is not listed"
            );
            assert_eq!(
                example["type"],
                format!("https://docs.directfanz.io/problems/{code}")
            );
            if status_code == 429 {
                assert!(
                    response["headers"].get("Retry-After").is_some(),
                    "{method} {path}: 429 without Retry-After"
                );
            }
        }
        assert!(errors > 0, "{method} {path} documents no error response");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path} documents no success response"
        );
    }
}

/// The codes a problem response schema allows: `allOf` of `Problem` and a `code` const or enum.
fn problem_codes(doc: &Value, schema: &Value) -> BTreeSet<String> {
    let parts = schema["allOf"]
        .as_array()
        .expect("a problem schema is an allOf");
    assert!(
        parts
            .iter()
            .any(|p| p["$ref"] == "#/components/schemas/Problem"),
        "a problem schema extends Problem"
    );
    let mut codes = BTreeSet::new();
    for part in parts {
        let code = &deref(doc, part)["properties"]["code"];
        if let Some(one) = code["const"].as_str() {
            codes.insert(one.to_owned());
        }
        for one in code["enum"].as_array().into_iter().flatten() {
            codes.insert(one.as_str().unwrap().to_owned());
        }
    }
    codes
}

#[test]
fn the_problem_schema_matches_the_error_type() {
    let doc = document();
    let schema = &doc["components"]["schemas"]["Problem"];
    let error = df_common::Error::new(
        df_common::ErrorKind::RateLimited,
        "gateway.rate_limited",
        "Slow down.",
    );
    let with_id = serde_json::to_value(error.to_problem(Some("req-1"))).unwrap();
    assert_eq!(object_keys(&with_id), object_keys(&schema["properties"]));
    let without_id = serde_json::to_value(error.to_problem(None)).unwrap();
    assert_eq!(
        object_keys(&without_id),
        required_keys(schema),
        "request_id is the only optional member"
    );
}

/// Paths whose operations all need a session.
const SESSION_PATHS: &[&str] = &[
    "/v1/me",
    "/v1/creator/media",
    "/v1/creator/uploads",
    "/v1/creator/uploads/{id}",
    "/v1/media/{id}",
    "/v1/media/{id}/url",
    "/v1/auth/logout",
    "/v1/auth/logout-all",
    "/v1/creator/payout-account/onboarding",
    "/v1/creator/payout-account",
    "/v1/creator/tiers",
    "/v1/creator/tiers/{id}",
    "/v1/creators/{creator_id}/tiers",
    "/v1/ppv-items/{id}/purchase",
    "/v1/subscriptions",
    "/v1/subscriptions/{id}/cancel",
    "/v1/me/subscriptions",
    "/v1/tips",
    "/v1/creators/{creator_id}/entitlement",
    "/v1/creator/earnings",
    "/v1/creator/payouts",
    "/v1/creator/tax-profile",
    "/v1/creator/tax-forms/{year}",
    "/v1/admin/disputes",
    "/v1/admin/payouts/failed",
    "/v1/admin/payouts/run",
    "/v1/admin/creators/{creator_id}/tax-forms/{year}",
    "/v1/creator/posts",
    "/v1/creator/posts/{id}",
    "/v1/posts/{id}",
    "/v1/creators/{creator_id}/posts",
    "/v1/me/feed",
    "/v1/creators/{creator_id}/follow",
];

/// True for routes that act for no user and skip the CSRF checks (provider webhooks).
fn sessionless(path: &str) -> bool {
    routes::SESSIONLESS_PREFIXES
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

#[test]
fn session_routes_declare_security_and_their_401() {
    let doc = document();
    let expected: BTreeSet<&str> = SESSION_PATHS.iter().copied().collect();
    for (method, path, operation) in operations(&doc) {
        match operation.get("security") {
            Some(security) => {
                assert!(
                    expected.contains(path.as_str()),
                    "{method} {path} should not need a session"
                );
                let schemes: BTreeSet<BTreeSet<String>> = security
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(object_keys)
                    .collect();
                let either = BTreeSet::from([
                    BTreeSet::from(["bearerAuth".to_owned()]),
                    BTreeSet::from(["cookieAuth".to_owned()]),
                ]);
                assert_eq!(schemes, either, "{method} {path}: bearer or cookie");
                assert!(
                    codes_of(&doc, &operation, "401").contains("gateway.unauthenticated"),
                    "{method} {path}"
                );
            }
            // tus discovery tells anyone what the server speaks.
            None => assert!(
                !expected.contains(path.as_str()) || method == "OPTIONS",
                "{method} {path} needs a session"
            ),
        }
    }
    assert!(
        doc.get("security").is_none(),
        "no document-wide requirement: most routes are public"
    );
}

/// The codes an operation documents for `status`.
fn codes_of(doc: &Value, operation: &Value, status: &str) -> BTreeSet<String> {
    match operation["responses"].get(status) {
        Some(response) => problem_codes(
            doc,
            &deref(doc, response)["content"][PROBLEM_JSON]["schema"],
        ),
        None => BTreeSet::new(),
    }
}

/// What the gateway's own extractors and layers refuse, documented wherever a route has what
/// they check: every route is rate-limited, and a route with a path parameter, a query, an
/// `Idempotency-Key` or a JSON body can be sent one that does not parse.
#[test]
fn the_gateways_own_refusals_are_documented_where_a_route_can_answer_them() {
    let doc = document();
    for (method, path, operation) in operations(&doc) {
        assert!(
            codes_of(&doc, &operation, "429").contains("gateway.rate_limited"),
            "{method} {path}: every route is rate-limited"
        );
        let invalid = codes_of(&doc, &operation, "400");
        let parameters = parameters(&doc, &path, &operation);
        let has = |place: &str, name: Option<&str>| {
            parameters.iter().any(|parameter| {
                parameter["in"] == place && name.is_none_or(|name| parameter["name"] == name)
            })
        };
        let json_body = !sessionless(&path)
            && operation["requestBody"]["content"]
                .get("application/json")
                .is_some();
        for (applies, code) in [
            (has("path", None), "common.invalid_path"),
            (has("query", None), "common.invalid_query"),
            (
                has("header", Some("Idempotency-Key")),
                "gateway.invalid_idempotency_key",
            ),
            (json_body, "common.invalid_json"),
        ] {
            assert!(
                !applies || invalid.contains(code),
                "{method} {path}: 400 does not list {code}"
            );
        }
    }
}

/// Creator and admin routes refuse other roles with 403 `common.forbidden`.
#[test]
fn role_routes_document_the_role_refusal() {
    let doc = document();
    for (method, path, operation) in operations(&doc) {
        let for_a_role = ["/v1/creator/", "/v1/admin/"]
            .iter()
            .any(|prefix| path.starts_with(prefix));
        if for_a_role && operation.get("security").is_some() {
            assert!(
                codes_of(&doc, &operation, "403").contains("common.forbidden"),
                "{method} {path}: 403 does not list common.forbidden"
            );
        }
    }
}

#[test]
fn unsafe_methods_take_the_csrf_token_and_can_fail_the_check() {
    let doc = document();
    for (method, path, operation) in operations(&doc) {
        let names: BTreeSet<String> = parameters(&doc, &path, &operation)
            .iter()
            .map(|p| {
                format!(
                    "{} {}",
                    p["in"].as_str().unwrap(),
                    p["name"].as_str().unwrap()
                )
            })
            .collect();
        assert!(names.contains("header X-Request-Id"), "{method} {path}");
        if sessionless(&path) {
            // Exempt from the checks, so the token is neither taken nor can the check fail.
            assert!(!names.contains("header X-CSRF-Token"), "{method} {path}");
            let forbidden = codes_of(&doc, &operation, "403");
            assert!(
                !forbidden.contains("gateway.csrf_failed"),
                "{method} {path}"
            );
            continue;
        }
        let safe = matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS" | "TRACE");
        assert_eq!(
            names.contains("header X-CSRF-Token"),
            !safe,
            "{method} {path}"
        );
        if !safe {
            let forbidden = codes_of(&doc, &operation, "403");
            assert!(forbidden.contains("gateway.csrf_failed"), "{method} {path}");
        }
    }
}

fn parses<T: DeserializeOwned>(body: &Value) -> Result<(), String> {
    serde_json::from_value::<T>(body.clone())
        .map(drop)
        .map_err(|e| e.to_string())
}

type Parser = fn(&Value) -> Result<(), String>;

/// The request body type of each route that takes one.
fn body_parser(method: &str, path: &str) -> Option<Parser> {
    Some(match (method, path) {
        ("POST", "/v1/auth/signup") => parses::<SignupBody>,
        ("POST", "/v1/auth/verify-email") => parses::<VerifyEmailBody>,
        ("POST", "/v1/auth/resend-verification") => parses::<ResendBody>,
        ("POST", "/v1/auth/login") => parses::<LoginBody>,
        ("POST", "/v1/auth/password-reset/request") => parses::<ResetRequestBody>,
        ("POST", "/v1/auth/password-reset/confirm") => parses::<ResetConfirmBody>,
        ("POST", "/v1/auth/unlock") => parses::<UnlockBody>,
        ("POST", "/v1/creator/payout-account/onboarding") => parses::<OnboardingBody>,
        ("POST", "/v1/creator/tiers") | ("PATCH", "/v1/creator/tiers/{id}") => parses::<TierBody>,
        ("POST", "/v1/ppv-items/{id}/purchase") => parses::<PurchaseBody>,
        ("POST", "/v1/subscriptions") => parses::<SubscribeBody>,
        ("POST", "/v1/tips") => parses::<TipBody>,
        ("PUT", "/v1/creator/tax-profile") => parses::<TaxProfileBody>,
        ("POST", "/v1/creator/posts") | ("PUT", "/v1/creator/posts/{id}") => parses::<PostBody>,
        _ => return None,
    })
}

#[test]
fn request_bodies_match_the_handlers_types() {
    let doc = document();
    for (method, path, operation) in operations(&doc) {
        let parser = body_parser(&method, &path);
        let Some(request_body) = operation.get("requestBody") else {
            assert!(
                parser.is_none(),
                "{method} {path} takes a body the document does not describe"
            );
            continue;
        };
        assert_eq!(request_body["required"], true, "{method} {path}");
        if (method.as_str(), path.as_str()) == ("POST", "/v1/creator/media") {
            // An upload: the file's own bytes, whatever their type.
            assert_eq!(
                object_keys(&request_body["content"]),
                BTreeSet::from(["application/octet-stream".to_owned()])
            );
            continue;
        }
        if path == "/v1/creator/uploads/{id}" {
            // A tus append: the next bytes of the file.
            assert_eq!(
                object_keys(&request_body["content"]),
                BTreeSet::from(["application/offset+octet-stream".to_owned()])
            );
            continue;
        }
        assert_eq!(
            object_keys(&request_body["content"]),
            BTreeSet::from(["application/json".to_owned()])
        );
        let media = &request_body["content"]["application/json"];
        if sessionless(&path) {
            // A provider's event, passed on as raw bytes: the gateway has no type for it.
            assert!(parser.is_none(), "{method} {path}");
            assert_eq!(deref(&doc, &media["schema"])["type"], "object");
            assert!(media["example"].is_object(), "{method} {path}: no example");
            continue;
        }
        let parse =
            parser.unwrap_or_else(|| panic!("{method} {path}: documented body, no known type"));
        let schema = deref(&doc, &media["schema"]);
        assert_eq!(schema["type"], "object", "{method} {path}");
        assert_eq!(
            schema["additionalProperties"], false,
            "{method} {path}: bodies refuse unknown fields"
        );

        let example = media["example"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}: no example"));
        let properties = object_keys(&schema["properties"]);
        assert_eq!(
            object_keys(&media["example"]),
            properties,
            "{method} {path}: the example shows every field"
        );
        parse(&media["example"])
            .unwrap_or_else(|e| panic!("{method} {path}: the handler refuses the example: {e}"));

        let mut extra = example.clone();
        extra.insert("unexpected".into(), json!(1));
        assert!(
            parse(&Value::Object(extra)).is_err(),
            "{method} {path}: the handler accepts unknown fields"
        );

        let required = required_keys(schema);
        for field in &properties {
            let mut without = example.clone();
            without.remove(field);
            let outcome = parse(&Value::Object(without));
            assert_eq!(
                outcome.is_err(),
                required.contains(field),
                "{method} {path}: `{field}` required in the document: {}, by the handler: {}",
                required.contains(field),
                outcome.is_err()
            );
            let nullable = nullable(&doc, &schema["properties"][field]);
            let mut null = example.clone();
            null.insert(field.clone(), Value::Null);
            assert_eq!(
                parse(&Value::Object(null)).is_ok(),
                nullable,
                "{method} {path}: `{field}` nullable"
            );
        }
    }
}

#[test]
fn response_bodies_match_the_handlers_types() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let user = UserView {
        id: "0193a5b8-2f4c-7d1e-8a6b-5c3d2e1f0a9b".into(),
        email: "fan@example.com".into(),
        username: "night_owl".into(),
        role: "fan",
        email_verified: true,
        created_at: "2026-11-20T09:15:00Z".into(),
    };
    let user_json = serde_json::to_value(&user).unwrap();
    let login = LoginView {
        session_token: Some("t".into()),
        csrf_token: "c".into(),
        expires_at: "2026-12-20T09:15:00Z".into(),
        user,
    };
    let accepted = Accepted { status: "accepted" };
    for (name, value) in [
        ("User", user_json),
        ("LoginResponse", serde_json::to_value(&login).unwrap()),
        ("Accepted", serde_json::to_value(&accepted).unwrap()),
    ] {
        let schema = &schemas[name];
        assert_eq!(
            object_keys(&value),
            object_keys(&schema["properties"]),
            "{name}: fields"
        );
        // Every field is always sent, except the session token that browsers do not get.
        let mut always = object_keys(&value);
        always.remove("session_token");
        assert_eq!(always, required_keys(schema), "{name}: fields always sent");
    }
    let roles: BTreeSet<&str> = schemas["Role"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let known: BTreeSet<&str> = [
        df_common::auth::Role::Fan,
        df_common::auth::Role::Creator,
        df_common::auth::Role::Moderator,
        df_common::auth::Role::Admin,
    ]
    .iter()
    .map(|r| r.as_str())
    .collect();
    assert_eq!(roles, known);
}

/// `value` has exactly the schema's properties, all of them always sent, and the ones sent as
/// `null` are documented as nullable.
fn matches_schema(doc: &Value, name: &str, value: &Value) {
    let schema = &doc["components"]["schemas"][name];
    assert!(schema.is_object(), "no schema {name}");
    assert_eq!(
        object_keys(value),
        object_keys(&schema["properties"]),
        "{name}: fields"
    );
    assert_eq!(
        object_keys(value),
        required_keys(schema),
        "{name}: every field is always sent"
    );
    for (field, sent) in value.as_object().unwrap() {
        if sent.is_null() {
            assert!(
                nullable(doc, &schema["properties"][field]),
                "{name}.{field} is sent as null but not nullable"
            );
        }
    }
}

fn to_json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

#[test]
fn payments_response_bodies_match_the_handlers_types() {
    let doc = document();
    let money = |amount| pb::Money {
        amount,
        currency: "usd".into(),
    };
    let at = Some(prost_types::Timestamp {
        seconds: 1_795_000_000,
        nanos: 0,
    });
    let tier = pb::Tier {
        price: Some(money(999)),
        promo_percent_off: 20,
        promo_ends_at: at,
        subscriber_cap: 10,
        ..pb::Tier::default()
    };
    let subscription = pb::Subscription {
        current_period_end: at,
        ..pb::Subscription::default()
    };
    let payout = pb::Payout {
        amount: Some(money(2_000)),
        created_at: at,
        ..pb::Payout::default()
    };
    let earnings = pb::Earnings {
        currency: "usd".into(),
        lines: vec![pb::StatementLine {
            at,
            ..pb::StatementLine::default()
        }],
        ..pb::Earnings::default()
    };
    let profile = pb::TaxProfile {
        address: Some(pb::Address::default()),
        updated_at: at,
        ..pb::TaxProfile::default()
    };
    let dispute = pb::Dispute {
        amount: Some(money(999)),
        ..pb::Dispute::default()
    };
    let earnings = to_json(EarningsView::from(earnings));
    let profile = to_json(TaxProfileView::from(profile));
    for (name, value) in [
        ("Money", to_json(Money::from(money(1)))),
        (
            "Checkout",
            to_json(CheckoutView::from(pb::Checkout::default())),
        ),
        (
            "OnboardingLink",
            to_json(OnboardingLink { url: "u".into() }),
        ),
        (
            "PayoutAccount",
            to_json(PayoutAccountView::from(pb::PayoutAccount::default())),
        ),
        ("Tier", to_json(TierView::from(tier.clone()))),
        ("Tier", to_json(TierView::from(pb::Tier::default()))),
        (
            "Promotion",
            to_json(TierView::from(tier.clone()))["promotion"].clone(),
        ),
        ("TierList", to_json(Page::whole([TierView::from(tier)]))),
        (
            "Subscription",
            to_json(SubscriptionView::from(subscription.clone())),
        ),
        (
            "SubscriptionList",
            to_json(Page::whole([SubscriptionView::from(subscription)])),
        ),
        (
            "Entitlement",
            to_json(EntitlementView {
                allowed: false,
                reason: "none".into(),
                until: None,
            }),
        ),
        ("Earnings", earnings.clone()),
        ("StatementLine", earnings["lines"][0].clone()),
        ("Payout", to_json(PayoutView::from(payout.clone()))),
        (
            "PayoutList",
            to_json(Page::whole([PayoutView::from(payout)])),
        ),
        (
            "PayoutRun",
            to_json(PayoutRunView {
                released: 0,
                payouts_started: 0,
                retried: 0,
            }),
        ),
        ("TaxProfile", profile.clone()),
        ("Dispute", to_json(DisputeView::from(dispute.clone()))),
        (
            "DisputeList",
            to_json(Page::whole([DisputeView::from(dispute)])),
        ),
        (
            "WebhookReceived",
            to_json(WebhookReceived {
                received: true,
                outcome: "applied".into(),
            }),
        ),
    ] {
        matches_schema(&doc, name, &value);
    }
    // The address is also a request type: every field but `line2` is always sent back.
    let address = &doc["components"]["schemas"]["Address"];
    assert_eq!(
        object_keys(&profile["address"]),
        object_keys(&address["properties"])
    );
    let mut sent = object_keys(&profile["address"]);
    sent.remove("line2");
    assert_eq!(sent, required_keys(address));
}

#[test]
fn media_response_bodies_match_the_handlers_types() {
    use df_proto::media::v1 as media_pb;
    let doc = document();
    let at = Some(prost_types::Timestamp {
        seconds: 1_795_000_000,
        nanos: 0,
    });
    let paid = media_pb::Post {
        visibility: "ppv".into(),
        price: Some(media_pb::Price {
            amount: 900,
            currency: "usd".into(),
        }),
        publish_at: at,
        created_at: at,
        edited_at: at,
        ppv_item_id: "0193a5e0-1b2c-7d3e-8f40-5a6b7c8d9e0f".into(),
        ..media_pb::Post::default()
    };
    let page = media_pb::FeedPage {
        posts: vec![paid.clone(), media_pb::Post::default()],
        next_cursor: "djE".into(),
    };
    for (name, value) in [
        ("Post", to_json(PostView::from(paid))),
        ("Post", to_json(PostView::from(media_pb::Post::default()))),
        ("PostPage", to_json(PostPage::from(page))),
        (
            "PostPage",
            to_json(PostPage::from(media_pb::FeedPage::default())),
        ),
        ("Follow", to_json(FollowView { following: true })),
    ] {
        matches_schema(&doc, name, &value);
    }
}

#[actix_web::test]
async fn the_document_is_served_as_json() {
    let response = routes::openapi::handle().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/json"
    );
    let bytes = body::to_bytes(response.into_body()).await.unwrap();
    assert_eq!(bytes, DOCUMENT.as_bytes());
}

/// The committed `openapi/v1.json` is the generated document, so every change to the API shows
/// in review; `UPDATE_OPENAPI_SNAPSHOT=1` rewrites it instead of failing.
#[test]
fn the_committed_snapshot_is_the_generated_document() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/v1.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == *DOCUMENT {
        return;
    }
    if std::env::var("UPDATE_OPENAPI_SNAPSHOT").as_deref() == Ok("1") {
        std::fs::write(&path, DOCUMENT.as_bytes()).unwrap();
        return;
    }
    let line = committed
        .lines()
        .zip(DOCUMENT.lines())
        .position(|(old, new)| old != new)
        .unwrap_or_else(|| committed.lines().count().min(DOCUMENT.lines().count()));
    panic!(
        "{} differs from the generated document from line {}. Refresh it with \
         `UPDATE_OPENAPI_SNAPSHOT=1 cargo nextest run -p df-gateway openapi` and commit it.",
        path.display(),
        line + 1
    );
}

/// Every problem code some route documents.
fn documented_codes() -> BTreeSet<String> {
    let doc = document();
    let mut documented = BTreeSet::new();
    for (_, _, operation) in operations(&doc) {
        for response in operation["responses"].as_object().unwrap().values() {
            let response = deref(&doc, response);
            if let Some(media) = response["content"].get(PROBLEM_JSON) {
                documented.extend(problem_codes(&doc, &media["schema"]));
            }
        }
    }
    documented
}

/// The codes of `all` that no route documents, leaving out those no client can receive.
fn undocumented<E: PartialEq + Copy>(
    all: &[E],
    internal: &[E],
    code: fn(E) -> &'static str,
) -> Vec<&'static str> {
    let documented = documented_codes();
    all.iter()
        .filter(|error| !internal.contains(error))
        .map(|error| code(*error))
        .filter(|code| !documented.contains(*code))
        .collect()
}

/// Every error of identity's catalogue that a client can receive through a route is listed as a
/// problem code of some route (the catalogue is the list of what identity can answer).
#[test]
fn every_identity_error_a_client_can_get_is_documented() {
    use df_identity::errors::IdentityError;
    // Errors no route passes on: they happen in background work, are answered as something
    // else, or come from methods no route calls.
    let internal = [
        IdentityError::SignupRace,        // answered as a successful signup
        IdentityError::InvalidStatus,     // admin RPC with a typed status
        IdentityError::MailHeaderInvalid, // mail is sent after the answer
        IdentityError::MailSenderInvalid,
        IdentityError::MailRecipientInvalid,
        IdentityError::MailRejected,
    ];
    let missing = undocumented(IdentityError::ALL, &internal, IdentityError::code);
    assert_eq!(missing, Vec::<&str>::new(), "undocumented identity errors");
}

/// Every error of payments' catalogue that a client can receive through a route is documented.
#[test]
fn every_payments_error_a_client_can_get_is_documented() {
    use df_payments::errors::PaymentsError;
    // Errors no route passes on: the gateway refuses the input first, the answer is something
    // else, or they come from the bus.
    let internal = [
        PaymentsError::InvalidFormat, // the gateway parses the form format
        PaymentsError::InvalidIdempotencyKey, // the gateway checks the key first
        PaymentsError::PromoInvalid,  // tier input checks the promotion first
        PaymentsError::MalformedEvent, // a bus event, not a request
        PaymentsError::WebhookForeignObject, // answered as an ignored event
        // Only media offers PPV items: once per post it holds, without a title.
        PaymentsError::InvalidTitle,
        PaymentsError::PpvExists,
    ];
    let missing = undocumented(PaymentsError::ALL, &internal, PaymentsError::code);
    assert_eq!(missing, Vec::<&str>::new(), "undocumented payments errors");
}

/// Every error of media's catalogue that a client can receive through a route is documented.
#[test]
fn every_media_error_a_client_can_get_is_documented() {
    use df_media::errors::MediaError;
    // The gateway always starts an upload with its start message; malformed events are
    // refused to the bus, not to clients.
    let internal = [MediaError::UploadStartMissing, MediaError::MalformedEvent];
    let missing = undocumented(MediaError::ALL, &internal, MediaError::code);
    assert_eq!(missing, Vec::<&str>::new(), "undocumented media errors");
}
