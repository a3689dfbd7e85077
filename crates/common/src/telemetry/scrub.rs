//! Removes credentials and other secrets from what leaves the process for Sentry.
//!
//! Everything here is a pure function so that the rules can be tested without a Sentry client.
//! The same name rule ([`is_sensitive_name`]) redacts log fields too, and is the one to use when
//! deciding which headers may be logged, so that one list governs every place a secret could leak.

use ::sentry::protocol::{Breadcrumb, Context, Event, Map, Request, Url, Value};

/// What a scrubbed value is replaced with.
pub const FILTERED: &str = "[Filtered]";

/// Headers that always carry a credential or a session; never sent anywhere.
pub const SCRUBBED_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "proxy-authorization",
    "set-cookie",
    "stripe-signature",
    "x-csrf-token",
    "x-df-principal",
];

/// Substrings that mark a field, key or header name as sensitive.
const SENSITIVE_PARTS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "secret",
    "session",
    "cookie",
    "authorization",
    "signature",
    "principal",
    "credential",
    "api_key",
    "api-key",
    "apikey",
    "private_key",
    "private-key",
];

/// True when a field, key or header called `name` may hold a secret (a token, password, session,
/// cookie, signature, ...). The match is case-insensitive and by substring, so `X-Api-Token`,
/// `resetToken` and `session_id` all count.
pub fn is_sensitive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SCRUBBED_HEADERS.contains(&lower.as_str())
        || SENSITIVE_PARTS.iter().any(|part| lower.contains(part))
}

/// Strips secrets from a Sentry event before it is sent: credential headers, cookies, and every
/// field whose name [`is_sensitive_name`] in the request (headers, body, query string, URL,
/// environment), `extra`, tags, generic contexts (where tracing fields land), breadcrumbs and the
/// user's free-form data. The user's email and IP address are dropped as well; only the user id
/// may identify a person in an error report. Always returns the event: nothing is worth losing a
/// report over once it is clean.
pub fn scrub_event(mut event: Event<'static>) -> Option<Event<'static>> {
    if let Some(request) = event.request.as_mut() {
        scrub_request(request);
    }
    scrub_object(&mut event.extra);
    scrub_string_map(&mut event.tags);
    for context in event.contexts.values_mut() {
        if let Context::Other(fields) = context {
            scrub_object(fields);
        }
    }
    for breadcrumb in event.breadcrumbs.values.iter_mut() {
        scrub_breadcrumb_in_place(breadcrumb);
    }
    if let Some(user) = event.user.as_mut() {
        user.email = None;
        user.ip_address = None;
        scrub_object(&mut user.other);
    }
    Some(event)
}

/// Strips secrets from a breadcrumb as it is recorded (the same rules as [`scrub_event`]), so a
/// secret does not even sit in memory in the breadcrumb buffer.
pub fn scrub_breadcrumb(mut breadcrumb: Breadcrumb) -> Option<Breadcrumb> {
    scrub_breadcrumb_in_place(&mut breadcrumb);
    Some(breadcrumb)
}

fn scrub_breadcrumb_in_place(breadcrumb: &mut Breadcrumb) {
    scrub_object(&mut breadcrumb.data);
}

fn scrub_request(request: &mut Request) {
    request.headers.retain(|name, _| !is_sensitive_name(name));
    // The cookie string is a header in disguise.
    request.cookies = None;
    scrub_string_map(&mut request.env);
    if let Some(query) = request.query_string.as_mut() {
        *query = scrub_pairs(query);
    }
    if let Some(url) = request.url.as_mut() {
        scrub_url(url);
    }
    if let Some(data) = request.data.as_mut() {
        *data = scrub_body(data);
    }
}

fn scrub_url(url: &mut Url) {
    // Both only fail for URLs that cannot carry credentials in the first place.
    let _ = url.set_password(None);
    let _ = url.set_username("");
    if url.query().is_some_and(|query| !query.is_empty()) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if is_sensitive_name(&key) {
                    FILTERED.to_owned()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
}

/// Scrubs a request body: JSON and form bodies field by field; anything else cannot be inspected
/// and is dropped whole, because a free-form body may be exactly the password someone typed.
fn scrub_body(data: &str) -> String {
    if let Ok(mut value) = serde_json::from_str::<Value>(data) {
        scrub_value(&mut value);
        return value.to_string();
    }
    let looks_like_form = !data.is_empty()
        && !data.contains(char::is_whitespace)
        && data.split('&').all(|pair| pair.contains('='));
    if looks_like_form {
        scrub_pairs(data)
    } else {
        FILTERED.to_owned()
    }
}

/// Scrubs `a=1&token=2` style text, keeping the encoding of the pairs that stay.
fn scrub_pairs(pairs: &str) -> String {
    pairs
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if is_sensitive_name(&percent_decode_lossy(key)) => {
                format!("{key}={FILTERED}")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Decodes `%XX` escapes and `+` so that `access%5Ftoken` is recognized as `access_token`.
fn percent_decode_lossy(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn scrub_string_map(map: &mut Map<String, String>) {
    for (key, value) in map.iter_mut() {
        if is_sensitive_name(key) {
            *value = FILTERED.to_owned();
        }
    }
}

fn scrub_object(map: &mut Map<String, Value>) {
    for (key, value) in map.iter_mut() {
        if is_sensitive_name(key) {
            *value = Value::String(FILTERED.to_owned());
        } else {
            scrub_value(value);
        }
    }
}

/// Scrubs nested JSON. Sentry's own maps are `BTreeMap`s while parsed JSON uses serde_json's map,
/// hence the two walkers.
fn scrub_value(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                if is_sensitive_name(key) {
                    *field = Value::String(FILTERED.to_owned());
                } else {
                    scrub_value(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_value),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::sentry::protocol::{User, Values};

    fn request_with_secrets() -> Request {
        let mut request = Request {
            url: Some(
                "https://api.directfanz.io/v1/reset?token=reset-abc&page=2"
                    .parse()
                    .unwrap(),
            ),
            method: Some("POST".into()),
            data: Some(
                r#"{"email":"a@b.c","password":"hunter2","nested":{"refresh_token":"rt-1"}}"#
                    .into(),
            ),
            query_string: Some("access%5Ftoken=qs-secret&page=2".into()),
            cookies: Some("df_session=cookie-secret".into()),
            ..Default::default()
        };
        for (name, value) in [
            ("Cookie", "df_session=cookie-secret"),
            ("Authorization", "Bearer bearer-secret"),
            ("Stripe-Signature", "t=1,v1=sig-secret"),
            ("X-Df-Principal", "principal-secret"),
            ("X-CSRF-Token", "csrf-secret"),
            ("Set-Cookie", "df_session=set-cookie-secret"),
            ("User-Agent", "curl/8"),
        ] {
            request.headers.insert(name.into(), value.into());
        }
        request
    }

    #[test]
    fn sensitive_names_are_recognized_case_insensitively() {
        for name in [
            "Authorization",
            "COOKIE",
            "Set-Cookie",
            "Stripe-Signature",
            "X-Df-Principal",
            "x-csrf-token",
            "resetToken",
            "session_id",
            "new_password",
            "client_secret",
            "X-Api-Key",
        ] {
            assert!(is_sensitive_name(name), "{name} should be sensitive");
        }
        for name in [
            "user_id",
            "request_id",
            "route",
            "User-Agent",
            "amount_minor",
        ] {
            assert!(!is_sensitive_name(name), "{name} should not be sensitive");
        }
    }

    #[test]
    fn request_secrets_are_removed() {
        let event = Event {
            request: Some(request_with_secrets()),
            ..Default::default()
        };
        let event = scrub_event(event).unwrap();
        let request = event.request.as_ref().unwrap();
        let names: Vec<&str> = request.headers.keys().map(String::as_str).collect();
        assert_eq!(names, ["User-Agent"]);
        assert_eq!(request.cookies, None);
        let body: Value = serde_json::from_str(request.data.as_deref().unwrap()).unwrap();
        assert_eq!(body["password"], FILTERED);
        assert_eq!(body["nested"]["refresh_token"], FILTERED);
        assert_eq!(body["email"], "a@b.c");
        assert_eq!(
            request.query_string.as_deref(),
            Some("access%5Ftoken=[Filtered]&page=2")
        );
        let url = request.url.as_ref().unwrap();
        assert!(!url.as_str().contains("reset-abc"), "{url}");
        assert!(url.as_str().contains("page=2"));

        let serialized = serde_json::to_string(&event).unwrap();
        for secret in [
            "cookie-secret",
            "bearer-secret",
            "sig-secret",
            "principal-secret",
            "csrf-secret",
            "hunter2",
            "rt-1",
            "qs-secret",
            "reset-abc",
        ] {
            assert!(
                !serialized.contains(secret),
                "{secret} leaked: {serialized}"
            );
        }
    }

    #[test]
    fn unparseable_bodies_are_dropped_and_forms_are_scrubbed() {
        assert_eq!(scrub_body("my password is hunter2"), FILTERED);
        assert_eq!(
            scrub_body("user=ann&password=hunter2"),
            "user=ann&password=[Filtered]"
        );
    }

    #[test]
    fn extra_tags_contexts_breadcrumbs_and_user_are_scrubbed() {
        let mut event = Event::default();
        event
            .extra
            .insert("api_token".into(), "extra-secret".into());
        event.extra.insert(
            "payload".into(),
            serde_json::json!({"items": [{"Session": "deep-secret", "id": 7}]}),
        );
        event
            .tags
            .insert("webhook_secret".into(), "tag-secret".into());
        event.tags.insert("route".into(), "/v1/posts".into());
        let mut fields = Map::new();
        fields.insert("authorization".into(), "ctx-secret".into());
        event
            .contexts
            .insert("Rust Tracing Fields".into(), Context::Other(fields));
        let mut breadcrumb = Breadcrumb::default();
        breadcrumb
            .data
            .insert("session_token".into(), "crumb-secret".into());
        breadcrumb.data.insert("status".into(), 200.into());
        event.breadcrumbs = Values {
            values: vec![breadcrumb],
        };
        event.user = Some(User {
            id: Some("usr_1".into()),
            email: Some("fan@example.com".into()),
            ..Default::default()
        });

        let event = scrub_event(event).unwrap();
        let serialized = serde_json::to_string(&event).unwrap();
        for secret in [
            "extra-secret",
            "deep-secret",
            "tag-secret",
            "ctx-secret",
            "crumb-secret",
            "fan@example.com",
        ] {
            assert!(
                !serialized.contains(secret),
                "{secret} leaked: {serialized}"
            );
        }
        assert_eq!(event.tags["route"], "/v1/posts");
        assert_eq!(event.breadcrumbs.values[0].data["status"], 200);
        assert_eq!(event.extra["payload"]["items"][0]["id"], 7);
        assert_eq!(event.user.unwrap().id.as_deref(), Some("usr_1"));
    }
}
