//! Where the payment provider may send a browser back to after a checkout or onboarding.
//!
//! The provider redirects to whatever URL it was given, from a page on its own trusted domain,
//! so an unchecked URL would turn our checkout into an open redirect: a phishing link that
//! passes through Stripe and lands anywhere. A return URL must be an `https://` URL (plain
//! `http://` only on this machine, for development) on one of the configured origins of the
//! platform's own client apps.

use crate::errors::PaymentsError;
use std::{collections::BTreeSet, sync::Arc};

use df_common::{
    Error,
    origin::{is_loopback, normalize_origin, origin_of_url},
};

/// Longest return URL accepted.
const MAX_URL_LEN: usize = 2_048;

/// The allowed origins, normalized.
#[derive(Clone, Debug, Default)]
pub struct ReturnOrigins(Arc<BTreeSet<String>>);

impl ReturnOrigins {
    /// The origins of `checkout.return_origins` (validated at start-up).
    pub fn new(origins: &[String]) -> Self {
        Self(Arc::new(
            origins
                .iter()
                .filter_map(|origin| normalize_origin(origin).ok())
                .collect(),
        ))
    }

    /// Refuses `url` unless it is a well-formed URL on an allowed origin; `field` names it in
    /// the answer.
    pub fn check(&self, url: &str, field: &str) -> Result<(), Error> {
        let well_formed =
            url.len() <= MAX_URL_LEN && !url.chars().any(|c| c.is_whitespace() || c.is_control());
        let origin = well_formed.then(|| origin_of_url(url)).flatten();
        match origin {
            None => Err(PaymentsError::InvalidUrl.with_message(format!(
                "{field} must be an http(s) URL of at most {MAX_URL_LEN} characters."
            ))),
            Some(origin) if self.0.contains(&origin) => Ok(()),
            Some(_) => Err(PaymentsError::ReturnUrlNotAllowed.with_message(format!(
                "{field} must point at one of the platform's own apps."
            ))),
        }
    }
}

/// Problems with the configured origins: each must be an origin, and `http://` only for
/// loopback.
pub fn validate_origins(setting: &str, origins: &[String], problems: &mut Vec<String>) {
    if origins.is_empty() {
        problems.push(format!(
            "{setting}: at least one origin is required (where the client apps live, e.g. https://app.example.com)"
        ));
    }
    for origin in origins {
        match normalize_origin(origin) {
            Err(problem) => problems.push(format!("{setting}: {problem}")),
            Ok(origin) if origin.starts_with("http://") && !is_loopback(&origin) => {
                problems.push(format!(
                    "{setting}: `{origin}` must use https (plain http is for this machine only)"
                ))
            }
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_urls_on_the_platform_s_origins_pass() {
        let origins = ReturnOrigins::new(&[
            "https://app.directfanz.test".into(),
            "http://localhost:5173".into(),
        ]);
        for good in [
            "https://app.directfanz.test/paid?session=1",
            "https://APP.directfanz.test:443/",
            "http://localhost:5173/cancelled",
            "https://app.directfanz.test",
        ] {
            assert!(origins.check(good, "success_url").is_ok(), "{good}");
        }
        for (bad, code) in [
            (
                "https://evil.example/phish",
                PaymentsError::ReturnUrlNotAllowed.code(),
            ),
            (
                "https://app.directfanz.test.evil.example/",
                PaymentsError::ReturnUrlNotAllowed.code(),
            ),
            (
                "http://app.directfanz.test/",
                PaymentsError::ReturnUrlNotAllowed.code(),
            ),
            (
                "https://app.directfanz.test@evil.example/",
                PaymentsError::InvalidUrl.code(),
            ),
            ("javascript:alert(1)", PaymentsError::InvalidUrl.code()),
            ("//evil.example/", PaymentsError::InvalidUrl.code()),
            (
                "https://app.directfanz.test/a b",
                PaymentsError::InvalidUrl.code(),
            ),
            (
                "https://app.directfanz.test\\@evil.example",
                PaymentsError::InvalidUrl.code(),
            ),
        ] {
            assert_eq!(
                origins.check(bad, "success_url").unwrap_err().code(),
                code,
                "{bad}"
            );
        }
    }

    #[test]
    fn plain_http_origins_are_for_this_machine_only() {
        let mut problems = Vec::new();
        validate_origins(
            "checkout.return_origins",
            &[
                "https://app.example.com".into(),
                "http://127.0.0.1:8080".into(),
                "http://app.example.com".into(),
                "https://app.example.com/path".into(),
            ],
            &mut problems,
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        let mut problems = Vec::new();
        validate_origins("checkout.return_origins", &[], &mut problems);
        assert_eq!(problems.len(), 1);
    }
}
