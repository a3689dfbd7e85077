//! The production mail adapter: SendGrid's v3 "mail send" API.
//!
//! SendGrid answers `202 Accepted` once it has queued the message. A 4xx answer means it refused
//! this message or our credentials (`identity.mail_rejected`: retrying the same request will not
//! help); a 5xx answer, a timeout or a connection failure is reported as unavailable so callers
//! may retry later. The API key is sent only in the `Authorization` header and is scrubbed from
//! anything the provider echoes back before it reaches an error.

use crate::errors::IdentityError;
use std::time::Duration;

use df_common::{Error, Secret};
use serde_json::json;

use super::{Email, Mailer, address_of, check_email_headers, check_header_value, display_name_of};

/// How much of an error answer is kept as the private cause.
const MAX_ERROR_BODY_BYTES: usize = 2_048;

/// Sends mail through SendGrid.
#[derive(Clone, Debug)]
pub struct SendGridMailer {
    base_url: String,
    api_key: Secret<String>,
    from: String,
    client: reqwest::Client,
}

impl SendGridMailer {
    /// A mailer for the API at `base_url` (`https://api.sendgrid.com`), authenticating with
    /// `api_key`, sending as `from` (`Name <address>` or an address), giving up after `timeout`.
    pub fn new(
        base_url: impl Into<String>,
        api_key: Secret<String>,
        from: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let from = from.into();
        check_header_value("sender", &from)?;
        if address_of(&from).is_none() {
            return Err(IdentityError::MailSenderInvalid.into());
        }
        if api_key.expose().trim().is_empty()
            || api_key.expose().chars().any(|c| c.is_control() || c == ' ')
        {
            return Err(Error::internal(anyhow::anyhow!(
                "the SendGrid API key is empty or not a single token"
            )));
        }
        let client = crate::outbound::client(timeout)?;
        Ok(Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            api_key,
            from,
            client,
        })
    }

    fn body(&self, email: &Email) -> serde_json::Value {
        let mut from = json!({ "email": address_of(&self.from).unwrap_or(&self.from) });
        if let Some(name) = display_name_of(&self.from) {
            from["name"] = json!(name);
        }
        let mut to = json!({ "email": address_of(&email.to).unwrap_or(&email.to) });
        if let Some(name) = display_name_of(&email.to) {
            to["name"] = json!(name);
        }
        json!({
            "personalizations": [{ "to": [to] }],
            "from": from,
            "subject": email.subject,
            "content": [{ "type": "text/plain", "value": email.text_body }],
        })
    }

    /// Removes every occurrence of the API key from text received from the provider.
    fn scrub(&self, text: &str) -> String {
        text.replace(self.api_key.expose().as_str(), df_common::secret::REDACTED)
    }
}

#[async_trait::async_trait]
impl Mailer for SendGridMailer {
    async fn send(&self, email: &Email) -> Result<(), Error> {
        check_email_headers(email)?;
        let url = format!("{}/v3/mail/send", self.base_url);
        let mut response = self
            .client
            .post(&url)
            .bearer_auth(self.api_key.expose())
            .json(&self.body(email))
            .send()
            .await
            .map_err(|e| {
                // reqwest's message names the URL and the failure, never request headers.
                Error::unavailable(anyhow::anyhow!(
                    "SendGrid request failed: {}",
                    self.scrub(&e.to_string())
                ))
            })?;
        let status = response.status();
        if status.is_success() {
            tracing::info!(status = status.as_u16(), "email handed to SendGrid");
            return Ok(());
        }
        let mut body = Vec::new();
        while body.len() < MAX_ERROR_BODY_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        body.truncate(MAX_ERROR_BODY_BYTES);
        let detail = self.scrub(&String::from_utf8_lossy(&body));
        let cause = anyhow::anyhow!("SendGrid answered {status}: {detail}");
        if status.is_client_error() {
            tracing::warn!(status = status.as_u16(), "SendGrid refused an email");
            Err(Error::from(IdentityError::MailRejected).with_cause(cause))
        } else {
            Err(Error::unavailable(cause))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_sendgrids_shape() {
        let mailer = SendGridMailer::new(
            "https://api.sendgrid.com/",
            Secret::from("SG.k"),
            "DirectFanz <no-reply@directfanz.local>",
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(mailer.base_url, "https://api.sendgrid.com");
        let body = mailer.body(&Email {
            to: "Fan <fan@example.com>".into(),
            subject: "Welcome".into(),
            text_body: "Hello".into(),
        });
        assert_eq!(
            body,
            json!({
                "personalizations": [{ "to": [{ "email": "fan@example.com", "name": "Fan" }] }],
                "from": { "email": "no-reply@directfanz.local", "name": "DirectFanz" },
                "subject": "Welcome",
                "content": [{ "type": "text/plain", "value": "Hello" }],
            })
        );
    }

    #[test]
    fn bad_keys_and_senders_are_refused_without_echoing_the_key() {
        for key in ["", "  ", "SG.a b", "SG.a\r\nX: y"] {
            let error = SendGridMailer::new(
                "http://x",
                Secret::from(key),
                "a@b.c",
                Duration::from_secs(1),
            )
            .unwrap_err();
            if !key.trim().is_empty() {
                assert!(!format!("{error} {error:?}").contains(key));
            }
        }
        assert!(
            SendGridMailer::new(
                "http://x",
                Secret::from("SG.k"),
                "nobody",
                Duration::from_secs(1)
            )
            .is_err()
        );
    }
}
