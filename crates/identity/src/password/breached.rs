//! Optional check of a new password against a breach corpus, using the k-anonymity "range" API
//! of Have I Been Pwned's Pwned Passwords.
//!
//! The password never leaves the process: we send the first five hex digits of its SHA-1 and get
//! back every known suffix with that prefix (several hundred), then compare locally. With
//! `Add-Padding: true` the service also returns decoy suffixes with a count of zero, so the
//! response size does not hint at the prefix either; those are ignored.
//!
//! The lookup is bounded in time and response size. Whether an outage of the service blocks sign
//! up or lets the password through is [`BreachedCheckConfig::fail_open`].

use crate::errors::IdentityError;
use std::time::Duration;

use df_common::{Error, config::Validate};
use serde::Deserialize;
use sha1::{Digest, Sha1};

/// Characters of the SHA-1 hex digest sent to the service.
const PREFIX_LEN: usize = 5;
/// Characters of the suffix in each response line.
const SUFFIX_LEN: usize = 40 - PREFIX_LEN;
/// Largest response read. Real answers are around 30 KiB (padded); more means something is wrong.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Settings of the breached-password check.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct BreachedCheckConfig {
    /// Whether new passwords are checked at all.
    pub enabled: bool,
    /// Base URL of the range API; requests go to `{base_url}/range/{prefix}`.
    pub base_url: String,
    /// Deadline for one lookup, connection included.
    pub timeout_ms: u64,
    /// When the service cannot be reached: `true` accepts the password (sign up keeps working),
    /// `false` refuses the request as unavailable.
    pub fail_open: bool,
}

impl Default for BreachedCheckConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            base_url: "https://api.pwnedpasswords.com".into(),
            timeout_ms: 2_000,
            fail_open: true,
        }
    }
}

impl Validate for BreachedCheckConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        if !(self.base_url.starts_with("https://") || self.base_url.starts_with("http://")) {
            problems.push("breached_passwords.base_url: must be an http(s) URL".into());
        }
        df_common::config::check_range(
            problems,
            "breached_passwords.timeout_ms",
            self.timeout_ms,
            100,
            30_000,
        );
    }
}

/// Client of a Pwned Passwords style range API.
#[derive(Clone, Debug)]
pub struct BreachedPasswordChecker {
    base_url: String,
    client: reqwest::Client,
    timeout: Duration,
    fail_open: bool,
}

impl BreachedPasswordChecker {
    /// A checker for the API at `base_url` (no trailing `/range`). Lookup failures are reported
    /// by [`Self::screen`] as errors; see [`Self::with_fail_open`].
    pub fn new(base_url: impl Into<String>, timeout: Duration) -> Result<Self, Error> {
        let client = crate::outbound::client(timeout)?;
        Ok(Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            client,
            timeout,
            fail_open: false,
        })
    }

    /// The checker the configuration asks for, or `None` when the check is disabled.
    pub fn from_config(config: &BreachedCheckConfig) -> Result<Option<Self>, Error> {
        if !config.enabled {
            return Ok(None);
        }
        Self::new(
            config.base_url.clone(),
            Duration::from_millis(config.timeout_ms),
        )
        .map(|checker| Some(checker.with_fail_open(config.fail_open)))
    }

    /// Sets whether [`Self::screen`] accepts passwords when the lookup fails.
    #[must_use]
    pub fn with_fail_open(mut self, fail_open: bool) -> Self {
        self.fail_open = fail_open;
        self
    }

    /// True when `password` appears in the breach corpus. Errors (unreachable service, timeout,
    /// error status, oversized or malformed answer) are [`df_common::ErrorKind::Unavailable`].
    pub async fn is_breached(&self, password: &str) -> Result<bool, Error> {
        let digest = hex::encode_upper(Sha1::digest(password.as_bytes()));
        let (prefix, suffix) = digest.split_at(PREFIX_LEN);
        let body = tokio::time::timeout(self.timeout, self.fetch_range(prefix))
            .await
            .map_err(|_| Error::unavailable(anyhow::anyhow!("breach lookup timed out")))??;
        range_contains(&body, suffix)
    }

    /// Refuses a breached password with `identity.password_breached`. When the lookup fails the
    /// password is accepted if the checker fails open (the failure is logged), otherwise the
    /// lookup's error is returned.
    pub async fn screen(&self, password: &str) -> Result<(), Error> {
        match self.is_breached(password).await {
            Ok(false) => Ok(()),
            Ok(true) => Err(IdentityError::PasswordBreached.into()),
            Err(error) if self.fail_open => {
                tracing::warn!(code = error.code(), cause = ?error.cause(), "breached-password lookup failed; accepting the password");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// Fetches the range of `prefix`. Errors never carry the URL: it holds the prefix, which is
    /// derived from the password and must not reach a log.
    async fn fetch_range(&self, prefix: &str) -> Result<String, Error> {
        let url = format!("{}/range/{prefix}", self.base_url);
        let mut response = self
            .client
            .get(&url)
            .header("Add-Padding", "true")
            .send()
            .await
            .map_err(|e| {
                Error::unavailable(anyhow::anyhow!("breach lookup failed: {}", e.without_url()))
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::unavailable(anyhow::anyhow!(
                "breach lookup answered {status}"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            Error::unavailable(anyhow::anyhow!(
                "breach lookup body failed: {}",
                e.without_url()
            ))
        })? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(Error::unavailable(anyhow::anyhow!(
                    "breach lookup answer exceeds {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body)
            .map_err(|_| Error::unavailable(anyhow::anyhow!("breach lookup answer is not UTF-8")))
    }
}

/// Looks for `suffix` among the `SUFFIX:COUNT` lines of a range answer, skipping padding lines
/// (count 0). A malformed line means we are not talking to a range API, which is an error.
fn range_contains(body: &str, suffix: &str) -> Result<bool, Error> {
    let mut found = false;
    for line in body.lines().map(str::trim).filter(|line| !line.is_empty()) {
        let malformed =
            || Error::unavailable(anyhow::anyhow!("breach lookup answer has a malformed line"));
        let (candidate, count) = line.split_once(':').ok_or_else(malformed)?;
        let count: u64 = count.trim().parse().map_err(|_| malformed())?;
        if candidate.len() != SUFFIX_LEN || !candidate.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed());
        }
        if count > 0 && candidate.eq_ignore_ascii_case(suffix) {
            found = true;
        }
    }
    Ok(found)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    // SHA-1("password") = 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8
    const PASSWORD_SUFFIX: &str = "1E4C9B93F3F0682250B6CF8331B7EE68FD8";

    #[test]
    fn finds_a_listed_suffix_in_any_case() {
        let body =
            format!("0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n{PASSWORD_SUFFIX}:9545824\r\n");
        assert!(range_contains(&body, PASSWORD_SUFFIX).unwrap());
        let lower = body.to_lowercase();
        assert!(range_contains(&lower, PASSWORD_SUFFIX).unwrap());
    }

    #[test]
    fn padding_entries_do_not_count() {
        let body = format!("{PASSWORD_SUFFIX}:0\n00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2\n");
        assert!(!range_contains(&body, PASSWORD_SUFFIX).unwrap());
        assert!(!range_contains("", PASSWORD_SUFFIX).unwrap());
    }

    #[test]
    fn malformed_answers_are_errors() {
        for body in [
            "<html>hello</html>",
            "ABC:1",
            "1E4C9B93F3F0682250B6CF8331B7EE68FD8:lots",
            "ZZZZ9B93F3F0682250B6CF8331B7EE68FD8:3",
        ] {
            let error = range_contains(body, PASSWORD_SUFFIX).unwrap_err();
            assert_eq!(error.kind(), df_common::ErrorKind::Unavailable, "{body}");
        }
    }

    #[test]
    fn config_defaults_and_validation() {
        let config = BreachedCheckConfig::default();
        assert!(!config.enabled);
        assert!(config.fail_open);
        assert_eq!(config.timeout_ms, 2_000);
        assert_eq!(config.base_url, "https://api.pwnedpasswords.com");
        let mut problems = Vec::new();
        config.validate(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");

        let bad: BreachedCheckConfig =
            serde_json::from_str(r#"{"base_url":"ftp://x","timeout_ms":5}"#).unwrap();
        let mut problems = Vec::new();
        bad.validate(&mut problems);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(serde_json::from_str::<BreachedCheckConfig>(r#"{"enabeld":true}"#).is_err());
    }

    #[test]
    fn disabled_config_builds_no_checker() {
        assert!(
            BreachedPasswordChecker::from_config(&BreachedCheckConfig::default())
                .unwrap()
                .is_none()
        );
        let enabled = BreachedCheckConfig {
            enabled: true,
            ..Default::default()
        };
        let checker = BreachedPasswordChecker::from_config(&enabled)
            .unwrap()
            .unwrap();
        assert!(checker.fail_open);
        assert_eq!(checker.timeout, Duration::from_millis(2_000));
    }
}
