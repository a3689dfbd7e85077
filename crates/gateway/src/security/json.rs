//! JSON request bodies. Handlers take [`Json<T>`] rather than actix's own extractor, so that a
//! body that does not parse is answered, and logged, without anything of its content: serde's
//! messages quote the offending value (`invalid type: string "hunter2…"`), and a password, a
//! token or a tax number sent in the wrong field would otherwise land in the logs. What is kept
//! is where the problem is: the field's path (from our own types) and the line and column.

use std::ops::Deref;

use actix_web::{FromRequest, HttpRequest, dev::Payload, error::PayloadError, http::header, web};
use df_common::{Error, ErrorKind};
use futures::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::problem::ApiError;

/// A JSON body of type `T` (the size limit is the app's `PayloadConfig`).
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The parsed body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|mime| mime.trim().to_ascii_lowercase())
        .is_some_and(|mime| mime == "application/json" || mime.ends_with("+json"))
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = is_json(req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !json {
                return Err(ApiError(Error::invalid_input(
                    "common.invalid_content_type",
                    "The request body must be sent as application/json.",
                ))
                .into());
            }
            let bytes = body.await.map_err(|error| {
                let too_large = matches!(
                    error.as_error::<PayloadError>(),
                    Some(PayloadError::Overflow)
                ) || error.as_response_error().status_code() == 413;
                ApiError(if too_large {
                    Error::new(
                        ErrorKind::PayloadTooLarge,
                        "common.payload_too_large",
                        "The request body is too large.",
                    )
                } else {
                    Error::invalid_input(
                        "common.invalid_body",
                        "The request body could not be read.",
                    )
                })
            })?;
            parse(&bytes)
                .map(Json)
                .map_err(|error| ApiError(error).into())
        })
    }
}

/// Parses `bytes` as a `T`; a failure names the field and the position, never a value.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| refusal(&known_path(&error), error.inner()))?;
    // Anything after the value (a second document, stray bytes) is refused too.
    deserializer.end().map_err(|error| refusal(".", &error))?;
    if let Some((line, column)) = nul_escape(bytes) {
        return Err(Error::invalid_input(
            "common.invalid_json",
            format!(
                "Text may not contain the NUL character, \\u0000 (line {line}, column {column})."
            ),
        ));
    }
    Ok(value)
}

/// Where a string of a well-formed body spells the NUL character (`\u0000`), as line and
/// column. No field has a use for it, and Postgres cannot store it in text: let through, it
/// would fail the service's write as an internal error.
fn nul_escape(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut index = 0;
    while let Some(found) = bytes
        .get(index..)
        .and_then(|rest| rest.iter().position(|&byte| byte == b'\\'))
    {
        let escape = index + found;
        if bytes[escape + 1..].starts_with(b"u0000") {
            let before = &bytes[..escape];
            let line = before.iter().filter(|&&byte| byte == b'\n').count() + 1;
            let line_start = before
                .iter()
                .rposition(|&byte| byte == b'\n')
                .map_or(0, |n| n + 1);
            return Some((line, escape - line_start + 1));
        }
        // Skip the escaped character, so that `\\u0000` (a backslash, then text) is not taken
        // for an escape.
        index = escape + 2;
    }
    None
}

/// The path of the failing field, as far as it is ours: the name of a field we do not know is
/// the client's text (it could be anything), so the path then stops at its parent.
fn known_path(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    use serde_path_to_error::Segment;
    let unknown_field = error.inner().to_string().starts_with("unknown field");
    let segments: Vec<&Segment> = error.path().iter().collect();
    let keep = segments.len() - usize::from(unknown_field && !segments.is_empty());
    let mut path = String::new();
    for segment in &segments[..keep] {
        match segment {
            Segment::Seq { index } => path.push_str(&format!("[{index}]")),
            other => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&other.to_string());
            }
        }
    }
    if path.is_empty() {
        ".".to_owned()
    } else {
        path
    }
}

/// The answer to a body that does not parse as expected: the field (`.` for the whole body)
/// and the position, in the message and in the logged cause alike.
fn refusal(path: &str, error: &serde_json::Error) -> Error {
    let (line, column) = (error.line(), error.column());
    let (message, what) = match error.classify() {
        serde_json::error::Category::Data if path != "." => (
            format!(
                "The field `{path}` is missing or has the wrong type (line {line}, column {column})."
            ),
            "unexpected data",
        ),
        serde_json::error::Category::Data => (
            format!(
                "The request body does not have the expected fields or types (line {line}, column {column})."
            ),
            "unexpected data",
        ),
        serde_json::error::Category::Eof => (
            format!("The request body is not valid JSON (line {line}, column {column})."),
            "truncated JSON",
        ),
        serde_json::error::Category::Syntax | serde_json::error::Category::Io => (
            format!("The request body is not valid JSON (line {line}, column {column})."),
            "malformed JSON",
        ),
    };
    Error::invalid_input("common.invalid_json", message).with_cause(anyhow::anyhow!(
        "json body: {what} at `{path}`, line {line}, column {column}"
    ))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Price {
        #[allow(dead_code)]
        amount_minor: i64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[allow(dead_code)]
        password: String,
        #[allow(dead_code)]
        price: Price,
    }

    #[test]
    fn failures_name_the_field_and_position_but_no_value() {
        for (body, field) in [
            (
                r#"{"password": 12345678901, "price": {"amount_minor": 1}}"#,
                "password",
            ),
            (
                r#"{"password": "x", "price": {"amount_minor": "SECRETVAL"}}"#,
                "price.amount_minor",
            ),
            (
                r#"{"password": "x", "price": {"amount_minor": 1}, "SECRETVAL": 1}"#,
                "",
            ),
            (
                r#"{"password": "x", "price": {"amount_minor": 1}} SECRETVAL"#,
                "",
            ),
            (r#"{"password": "SECRETVAL"#, ""),
            (
                r#"{"password": "SECRETVAL", "price": {"currency": "SECRETVAL"}}"#,
                "",
            ),
        ] {
            let error = parse::<Body>(body.as_bytes()).unwrap_err();
            assert_eq!(error.code(), "common.invalid_json");
            let logged = format!("{:?} {error:?} {}", error.cause(), error.message());
            for leaked in ["SECRETVAL", "12345678901", "invalid type", "unknown field"] {
                assert!(!logged.contains(leaked), "{leaked} in {logged}");
            }
            assert!(logged.contains(&format!("`{field}")), "{logged}");
            assert!(logged.contains("line 1"), "{logged}");
        }
        assert!(parse::<Body>(br#"{"password":"x","price":{"amount_minor":5}}"#).is_ok());
    }

    #[test]
    fn the_nul_character_is_refused_wherever_a_string_spells_it() {
        let error =
            parse::<Body>(b"{\"password\": \"a\\u0000b\",\n \"price\": {\"amount_minor\": 1}}")
                .unwrap_err();
        assert_eq!(error.code(), "common.invalid_json");
        assert!(
            error.message().contains("NUL") && error.message().contains("line 1, column 16"),
            "{}",
            error.message()
        );
        let in_a_key = br#"{"password": "x", "price": {"amount_minor": 1}, "\u0000": 1}"#;
        assert!(parse::<serde_json::Value>(in_a_key).is_err());
        let on_line_two =
            b"{\"password\": \"x\",\n  \"price\": {\"amount_minor\": 1, \"n\": \"\\u0000\"}}";
        let error = parse::<serde_json::Value>(on_line_two).unwrap_err();
        assert!(
            error.message().contains("line 2, column 38"),
            "{}",
            error.message()
        );
        // An escaped backslash followed by `u0000` is text, and other escapes pass.
        for allowed in [
            br#"{"password": "\\u0000", "price": {"amount_minor": 1}}"#.as_slice(),
            br#"{"password": "\u0001\n\"\\", "price": {"amount_minor": 1}}"#,
        ] {
            assert!(parse::<Body>(allowed).is_ok());
        }
    }
}
