//! One error type for every service.
//!
//! An [`Error`] carries a stable dotted `code` (`identity.invalid_credentials`) that clients may
//! switch on, a public message that is safe to show anyone, and an optional private cause. The
//! cause is logged (and so reaches Sentry) when the error crosses a process boundary; it is never
//! put into a gRPC status or an HTTP body.

use std::{borrow::Cow, fmt, time::Duration};

use serde::Serialize;
use tonic::metadata::MetadataValue;

/// gRPC metadata key carrying the stable error code between services.
pub const CODE_METADATA: &str = "x-df-error-code";
/// gRPC metadata key carrying the error kind, which a gRPC code alone cannot express (422).
pub const KIND_METADATA: &str = "x-df-error-kind";
/// gRPC metadata key carrying a retry hint in milliseconds.
pub const RETRY_AFTER_METADATA: &str = "x-df-retry-after-ms";

/// The class of an error; decides the HTTP and gRPC status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed or a value is out of bounds (400).
    InvalidInput,
    /// No valid credentials were presented (401).
    Unauthenticated,
    /// The caller is known but not allowed (403).
    Forbidden,
    /// The thing does not exist, or the caller may not know it exists (404).
    NotFound,
    /// The resource exists but does not answer this method (405).
    MethodNotAllowed,
    /// The request conflicts with the current state (409).
    Conflict,
    /// The body is larger than allowed (413).
    PayloadTooLarge,
    /// The semantic checks failed (422).
    Unprocessable,
    /// Too many requests; try again later (429).
    RateLimited,
    /// A dependency is down or overloaded (503).
    Unavailable,
    /// A dependency did not answer in time (504).
    Timeout,
    /// A bug or an unexpected failure (500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status code.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::InvalidInput => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::Unprocessable => 422,
            Self::RateLimited => 429,
            Self::Unavailable => 503,
            Self::Timeout => 504,
            Self::Internal => 500,
        }
    }

    /// The gRPC status code.
    pub const fn grpc_code(self) -> tonic::Code {
        match self {
            Self::InvalidInput | Self::Unprocessable => tonic::Code::InvalidArgument,
            Self::Unauthenticated => tonic::Code::Unauthenticated,
            Self::Forbidden => tonic::Code::PermissionDenied,
            Self::NotFound => tonic::Code::NotFound,
            Self::MethodNotAllowed => tonic::Code::Unimplemented,
            Self::Conflict => tonic::Code::AlreadyExists,
            Self::PayloadTooLarge => tonic::Code::OutOfRange,
            Self::RateLimited => tonic::Code::ResourceExhausted,
            Self::Unavailable => tonic::Code::Unavailable,
            Self::Timeout => tonic::Code::DeadlineExceeded,
            Self::Internal => tonic::Code::Internal,
        }
    }

    fn from_grpc(code: tonic::Code) -> Self {
        match code {
            tonic::Code::InvalidArgument => Self::InvalidInput,
            tonic::Code::Unauthenticated => Self::Unauthenticated,
            tonic::Code::PermissionDenied => Self::Forbidden,
            tonic::Code::NotFound => Self::NotFound,
            tonic::Code::AlreadyExists | tonic::Code::Aborted => Self::Conflict,
            tonic::Code::OutOfRange => Self::PayloadTooLarge,
            tonic::Code::ResourceExhausted => Self::RateLimited,
            tonic::Code::Unavailable => Self::Unavailable,
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => Self::Timeout,
            _ => Self::Internal,
        }
    }

    /// The kind's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid_input",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Unprocessable => "unprocessable",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Internal => "internal",
        }
    }

    /// Parses [`ErrorKind::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::InvalidInput,
            Self::Unauthenticated,
            Self::Forbidden,
            Self::NotFound,
            Self::MethodNotAllowed,
            Self::Conflict,
            Self::PayloadTooLarge,
            Self::Unprocessable,
            Self::RateLimited,
            Self::Unavailable,
            Self::Timeout,
            Self::Internal,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == value)
    }

    const fn default_code(self) -> &'static str {
        match self {
            Self::InvalidInput => "common.invalid_input",
            Self::Unauthenticated => "common.unauthenticated",
            Self::Forbidden => "common.forbidden",
            Self::NotFound => "common.not_found",
            Self::MethodNotAllowed => "common.method_not_allowed",
            Self::Conflict => "common.conflict",
            Self::PayloadTooLarge => "common.payload_too_large",
            Self::Unprocessable => "common.unprocessable",
            Self::RateLimited => "common.rate_limited",
            Self::Unavailable => "common.unavailable",
            Self::Timeout => "common.timeout",
            Self::Internal => "common.internal",
        }
    }

    const fn default_message(self) -> &'static str {
        match self {
            Self::InvalidInput => "The request is not valid.",
            Self::Unauthenticated => "Authentication is required.",
            Self::Forbidden => "You are not allowed to do this.",
            Self::NotFound => "Not found.",
            Self::MethodNotAllowed => "This resource does not answer that method.",
            Self::Conflict => "The request conflicts with the current state.",
            Self::PayloadTooLarge => "The request body is too large.",
            Self::Unprocessable => "The request could not be processed.",
            Self::RateLimited => "Too many requests. Try again later.",
            Self::Unavailable => "The service is temporarily unavailable. Try again later.",
            Self::Timeout => "The service did not answer in time. Try again later.",
            Self::Internal => "Something went wrong on our side.",
        }
    }
}

/// An error with a stable code, a safe public message and a private cause.
pub struct Error {
    kind: ErrorKind,
    code: Cow<'static, str>,
    message: Cow<'static, str>,
    retry_after: Option<Duration>,
    cause: Option<anyhow::Error>,
}

/// Result with the common [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with a stable `code` and a public `message`.
    pub fn new(
        kind: ErrorKind,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            kind,
            code: code.into(),
            message: message.into(),
            retry_after: None,
            cause: None,
        }
    }

    /// Shorthand for [`ErrorKind::InvalidInput`].
    pub fn invalid_input(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(ErrorKind::InvalidInput, code, message)
    }

    /// Shorthand for [`ErrorKind::Unauthenticated`] with the generic code.
    pub fn unauthenticated() -> Self {
        Self::of_kind(ErrorKind::Unauthenticated)
    }

    /// Shorthand for [`ErrorKind::Forbidden`] with the generic code.
    pub fn forbidden() -> Self {
        Self::of_kind(ErrorKind::Forbidden)
    }

    /// Shorthand for [`ErrorKind::NotFound`] with the generic code.
    pub fn not_found() -> Self {
        Self::of_kind(ErrorKind::NotFound)
    }

    /// An error of `kind` with its generic code and message.
    pub fn of_kind(kind: ErrorKind) -> Self {
        Self::new(kind, kind.default_code(), kind.default_message())
    }

    /// An unexpected failure: the client sees only the generic message, the cause is logged.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::of_kind(ErrorKind::Internal).with_cause(cause)
    }

    /// A dependency is unavailable: the client sees only the generic message.
    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        Self::of_kind(ErrorKind::Unavailable).with_cause(cause)
    }

    /// Attaches a private cause, logged and never returned.
    #[must_use]
    pub fn with_cause(mut self, cause: impl Into<anyhow::Error>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// Attaches a retry hint (HTTP `Retry-After`).
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// The class of the error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stable dotted code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The public message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What the client may see of this error (kind, code, message, retry hint), without the
    /// private cause: for answering several waiters of one failed operation, whose cause is
    /// logged once where it happened.
    #[must_use]
    pub fn public_copy(&self) -> Self {
        Self {
            kind: self.kind,
            code: self.code.clone(),
            message: self.message.clone(),
            retry_after: self.retry_after,
            cause: None,
        }
    }

    /// The retry hint, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The private cause, if any.
    pub fn cause(&self) -> Option<&anyhow::Error> {
        self.cause.as_ref()
    }

    /// Logs the error: server-side failures at `error` with their cause, client mistakes at
    /// `debug`. Called where the error leaves the process.
    pub fn log(&self) {
        let cause = self.cause.as_ref().map(|c| format!("{c:#}"));
        match self.kind {
            ErrorKind::Internal | ErrorKind::Unavailable | ErrorKind::Timeout => {
                tracing::error!(code = %self.code, cause = cause.as_deref().unwrap_or(""), "request failed");
            }
            _ => {
                tracing::debug!(code = %self.code, cause = cause.as_deref().unwrap_or(""), "request refused")
            }
        }
    }

    /// The RFC 9457 problem document for this error.
    pub fn to_problem(&self, request_id: Option<&str>) -> Problem {
        Problem {
            r#type: format!("https://docs.directfanz.io/problems/{}", self.code),
            title: self.kind.default_message().to_owned(),
            status: self.kind.http_status(),
            code: self.code.to_string(),
            detail: self.message.to_string(),
            request_id: request_id.map(str::to_owned),
        }
    }

    /// Rebuilds an error received from another service. The code and message are kept only when
    /// the peer set our code metadata (so it is one of ours); anything else becomes generic.
    pub fn from_status(status: &tonic::Status) -> Self {
        let grpc_kind = ErrorKind::from_grpc(status.code());
        // The finer kind is believed only when it agrees with the gRPC code's class.
        let kind = status
            .metadata()
            .get(KIND_METADATA)
            .and_then(|v| v.to_str().ok())
            .and_then(ErrorKind::parse)
            .filter(|kind| kind.grpc_code() == status.code())
            .unwrap_or(grpc_kind);
        let code = status
            .metadata()
            .get(CODE_METADATA)
            .and_then(|v| v.to_str().ok());
        let mut error = match code {
            Some(code) if kind != ErrorKind::Internal => {
                Self::new(kind, code.to_owned(), status.message().to_owned())
            }
            _ => Self::of_kind(kind),
        };
        if let Some(ms) = status
            .metadata()
            .get(RETRY_AFTER_METADATA)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
        {
            error.retry_after = Some(Duration::from_millis(ms));
        }
        error.with_cause(anyhow::anyhow!(
            "upstream status {:?}: {}",
            status.code(),
            status.message()
        ))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("code", &self.code)
            .field("message", &self.message)
            .field("cause", &self.cause)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        error.log();
        let mut status = tonic::Status::new(error.kind.grpc_code(), error.message.as_ref());
        if let Ok(code) = MetadataValue::try_from(error.code.as_ref()) {
            status.metadata_mut().insert(CODE_METADATA, code);
        }
        status.metadata_mut().insert(
            KIND_METADATA,
            MetadataValue::from_static(error.kind.as_str()),
        );
        if let Some(retry) = error.retry_after
            && let Ok(value) = MetadataValue::try_from(retry.as_millis().to_string())
        {
            status.metadata_mut().insert(RETRY_AFTER_METADATA, value);
        }
        status
    }
}

#[cfg(feature = "diesel")]
impl From<diesel::result::Error> for Error {
    fn from(error: diesel::result::Error) -> Self {
        match error {
            diesel::result::Error::NotFound => Self::not_found().with_cause(error),
            // The database went away mid-query (the driver reports a lost connection as a
            // command it could not send): the request may succeed if tried again, on a new
            // connection.
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ClosedConnection
                | diesel::result::DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => Self::new(
                ErrorKind::Unavailable,
                "common.database_unavailable",
                "The service is temporarily unavailable. Try again later.",
            )
            .with_cause(error),
            other => Self::internal(other),
        }
    }
}

/// An RFC 9457 `application/problem+json` body.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Problem {
    /// A URI naming the problem type.
    pub r#type: String,
    /// The short, generic summary of the problem class.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// The stable machine-readable code.
    pub code: String,
    /// The public, human-readable explanation.
    pub detail: String,
    /// The request id, for support.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_never_show_their_cause() {
        let error = Error::internal(anyhow::anyhow!("password=hunter2 at db.internal:5432"));
        let problem = error.to_problem(Some("req-1"));
        let body = serde_json::to_string(&problem).unwrap();
        assert!(!body.contains("hunter2"));
        assert!(!body.contains("db.internal"));
        assert_eq!(problem.status, 500);
        assert_eq!(problem.code, "common.internal");

        let status: tonic::Status = Error::internal(anyhow::anyhow!("secret detail")).into();
        assert!(!status.message().contains("secret"));
        assert_eq!(status.code(), tonic::Code::Internal);
    }

    #[test]
    fn a_public_copy_keeps_what_clients_see_and_drops_the_cause() {
        let error = Error::new(ErrorKind::RateLimited, "x.limited", "Slow down.")
            .with_retry_after(Duration::from_secs(3))
            .with_cause(anyhow::anyhow!("db password=hunter2"));
        let copy = error.public_copy();
        assert_eq!(copy.kind(), ErrorKind::RateLimited);
        assert_eq!(copy.code(), "x.limited");
        assert_eq!(copy.message(), "Slow down.");
        assert_eq!(copy.retry_after(), Some(Duration::from_secs(3)));
        assert!(!format!("{copy:?}").contains("hunter2"));
    }

    #[test]
    fn codes_survive_a_grpc_round_trip() {
        let error = Error::new(
            ErrorKind::RateLimited,
            "identity.too_many_attempts",
            "Slow down.",
        )
        .with_retry_after(Duration::from_secs(3));
        let status: tonic::Status = error.into();
        let back = Error::from_status(&status);
        assert_eq!(back.kind(), ErrorKind::RateLimited);
        assert_eq!(back.code(), "identity.too_many_attempts");
        assert_eq!(back.message(), "Slow down.");
        assert_eq!(back.retry_after(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn kinds_without_their_own_grpc_code_survive() {
        let error = Error::new(
            ErrorKind::Unprocessable,
            "identity.password_common",
            "Too common.",
        );
        let back = Error::from_status(&error.into());
        assert_eq!(back.kind(), ErrorKind::Unprocessable);
        assert_eq!(back.kind().http_status(), 422);
    }

    #[test]
    fn foreign_statuses_become_generic() {
        let status = tonic::Status::internal("panic at src/lib.rs:10 with stack");
        let back = Error::from_status(&status);
        assert_eq!(back.code(), "common.internal");
        assert!(!back.message().contains("src/lib.rs"));
        let status = tonic::Status::unavailable("connection refused 10.0.0.1");
        let back = Error::from_status(&status);
        assert_eq!(back.code(), "common.unavailable");
        assert!(!back.message().contains("10.0.0.1"));
    }

    #[cfg(feature = "diesel")]
    #[test]
    fn diesel_not_found_maps_to_404() {
        let error: Error = diesel::result::Error::NotFound.into();
        assert_eq!(error.kind().http_status(), 404);
        let error: Error = diesel::result::Error::RollbackTransaction.into();
        assert_eq!(error.kind().http_status(), 500);
    }
}
