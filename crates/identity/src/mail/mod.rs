//! Outgoing email (verification links, password resets) behind one small trait.
//!
//! [`Mailer`] has two adapters: [`FileOutbox`], the embedded default that writes each message as
//! an `.eml` file into a local directory (development, tests, demos: no account anywhere), and
//! [`SendGridMailer`] for production. [`build_mailer`] picks one from [`MailConfig`].
//!
//! Recipient addresses are personal data: adapters never log them.

pub mod file_outbox;
pub mod sendgrid;

use crate::errors::IdentityError;
use std::{path::PathBuf, sync::Arc, time::Duration};

use df_common::{Error, Secret, config::Validate, keyring::EncryptionConfig};
use serde::Deserialize;

pub use file_outbox::FileOutbox;
pub use sendgrid::SendGridMailer;

/// One plain-text message. The sender is a setting of the adapter, not of the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    /// Recipient address (`someone@example.com` or `Name <someone@example.com>`).
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text_body: String,
}

/// Something that delivers [`Email`]s.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync {
    /// Delivers (or hands off for delivery) one message.
    async fn send(&self, email: &Email) -> Result<(), Error>;
}

/// Refuses a header value that could end the header early or smuggle in another one: CR, LF and
/// every other control character except tab. `name` is the header's name, for the message.
pub fn check_header_value(name: &'static str, value: &str) -> Result<(), Error> {
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(IdentityError::MailHeaderInvalid.with_message(format!(
            "The email {name} must not contain line breaks or control characters."
        )));
    }
    Ok(())
}

/// Checks the parts of `email` that end up in headers.
pub(crate) fn check_email_headers(email: &Email) -> Result<(), Error> {
    check_header_value("recipient", &email.to)?;
    check_header_value("subject", &email.subject)?;
    if address_of(&email.to).is_none() {
        return Err(IdentityError::MailRecipientInvalid.into());
    }
    Ok(())
}

/// The bare address in `Name <addr>` or `addr`, if it looks like one (`local@domain`).
pub(crate) fn address_of(mailbox: &str) -> Option<&str> {
    let mailbox = mailbox.trim();
    let address = match (mailbox.rfind('<'), mailbox.ends_with('>')) {
        (Some(open), true) => &mailbox[open + 1..mailbox.len() - 1],
        (None, false) => mailbox,
        _ => return None,
    };
    let address = address.trim();
    let (local, domain) = address.rsplit_once('@')?;
    let valid = !local.is_empty()
        && !domain.is_empty()
        && !address
            .chars()
            .any(|c| c.is_whitespace() || "<>,;".contains(c));
    valid.then_some(address)
}

/// The display name in `Name <addr>`, without surrounding quotes, if there is one.
pub(crate) fn display_name_of(mailbox: &str) -> Option<&str> {
    let mailbox = mailbox.trim();
    let open = mailbox.rfind('<')?;
    let name = mailbox[..open].trim().trim_matches('"').trim();
    (!name.is_empty()).then_some(name)
}

/// Which adapter delivers mail.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MailAdapter {
    /// Files in a local outbox directory.
    #[default]
    File,
    /// SendGrid's v3 mail send API.
    Sendgrid,
}

/// Mail settings (section `mail`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// `file` (default) or `sendgrid`.
    pub adapter: MailAdapter,
    /// Directory the file adapter writes `.eml` files into.
    pub outbox_dir: PathBuf,
    /// Sender mailbox, `Name <address>` or a bare address.
    pub from: String,
    /// SendGrid API base URL.
    pub sendgrid_base_url: String,
    /// SendGrid API key; required with the `sendgrid` adapter.
    pub sendgrid_api_key: Option<Secret<String>>,
    /// Deadline for handing one message to the provider.
    pub timeout_ms: u64,
    /// Keys that encrypt queued messages (they may carry one-time links). Required; local
    /// development and tests use [`EncryptionConfig::ephemeral`].
    pub encryption: EncryptionConfig,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            adapter: MailAdapter::File,
            outbox_dir: PathBuf::from("./.dev/mail"),
            from: "DirectFanz <no-reply@directfanz.local>".into(),
            sendgrid_base_url: "https://api.sendgrid.com".into(),
            sendgrid_api_key: None,
            timeout_ms: 10_000,
            encryption: EncryptionConfig::default(),
        }
    }
}

impl Validate for MailConfig {
    fn validate(&self, problems: &mut Vec<String>) {
        self.encryption
            .validate_at(crate::mail_queue::ENCRYPTION_SECTION, problems);
        if check_header_value("sender", &self.from).is_err() {
            problems.push("mail.from: must not contain line breaks or control characters".into());
        } else if address_of(&self.from).is_none() {
            problems.push(format!(
                "mail.from: `{}` is not `Name <address>` or an address",
                self.from
            ));
        }
        df_common::config::check_range(problems, "mail.timeout_ms", self.timeout_ms, 100, 120_000);
        match self.adapter {
            MailAdapter::File => {
                if self.outbox_dir.as_os_str().is_empty() {
                    problems.push("mail.outbox_dir: must not be empty".into());
                }
            }
            MailAdapter::Sendgrid => {
                if self
                    .sendgrid_api_key
                    .as_ref()
                    .is_none_or(|key| key.expose().trim().is_empty())
                {
                    problems.push(
                        "mail.sendgrid_api_key: required when mail.adapter is sendgrid (set DF_MAIL__SENDGRID_API_KEY or the secret file mail__sendgrid_api_key)".into(),
                    );
                }
                if !(self.sendgrid_base_url.starts_with("https://")
                    || self.sendgrid_base_url.starts_with("http://"))
                {
                    problems.push("mail.sendgrid_base_url: must be an http(s) URL".into());
                }
            }
        }
    }
}

/// The mailer `config` selects.
pub fn build_mailer(config: &MailConfig) -> Result<Arc<dyn Mailer>, Error> {
    match config.adapter {
        MailAdapter::File => Ok(Arc::new(FileOutbox::new(
            config.outbox_dir.clone(),
            config.from.clone(),
        )?)),
        MailAdapter::Sendgrid => {
            let key = config.sendgrid_api_key.clone().ok_or_else(|| {
                Error::internal(anyhow::anyhow!(
                    "mail.sendgrid_api_key is required with the sendgrid adapter"
                ))
            })?;
            Ok(Arc::new(SendGridMailer::new(
                config.sendgrid_base_url.clone(),
                key,
                config.from.clone(),
                Duration::from_millis(config.timeout_ms),
            )?))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_extracted_from_mailboxes() {
        assert_eq!(address_of("a@b.c"), Some("a@b.c"));
        assert_eq!(
            address_of(" Fan <fan@example.com> "),
            Some("fan@example.com")
        );
        assert_eq!(
            address_of("\"Fan, Jr\" <fan@example.com>"),
            Some("fan@example.com")
        );
        assert_eq!(address_of("no-at-sign"), None);
        assert_eq!(address_of("Fan <fan@example.com"), None);
        assert_eq!(address_of("a@b.c, d@e.f"), None);
        assert_eq!(address_of("@b.c"), None);
        assert_eq!(
            display_name_of("\"DirectFanz\" <x@y.z>"),
            Some("DirectFanz")
        );
        assert_eq!(display_name_of("x@y.z"), None);
    }

    #[test]
    fn header_values_refuse_line_breaks() {
        assert!(check_header_value("subject", "Hello\tthere").is_ok());
        for bad in ["a\r\nBcc: x@y.z", "a\nb", "a\rb", "a\0b"] {
            let error = check_header_value("subject", bad).unwrap_err();
            assert!(IdentityError::MailHeaderInvalid.is(&error));
            assert_eq!(error.kind(), df_common::ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn default_config_is_the_file_outbox_and_needs_only_its_queue_keys() {
        let mut config = MailConfig::default();
        assert_eq!(config.adapter, MailAdapter::File);
        assert_eq!(config.outbox_dir, PathBuf::from("./.dev/mail"));
        let mut problems = Vec::new();
        config.validate(&mut problems);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().all(|p| p.starts_with("mail.encryption.")));
        config.encryption = EncryptionConfig::ephemeral();
        let mut problems = Vec::new();
        config.validate(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn sendgrid_without_a_key_is_reported() {
        let mut config: MailConfig = serde_json::from_str(r#"{"adapter":"sendgrid"}"#).unwrap();
        config.encryption = EncryptionConfig::ephemeral();
        let mut problems = Vec::new();
        config.validate(&mut problems);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("mail.sendgrid_api_key"));
        assert!(build_mailer(&config).is_err());

        let mut config: MailConfig = serde_json::from_str(
            r#"{"adapter":"sendgrid","sendgrid_api_key":"SG.abc","from":"x\r\ny","timeout_ms":1}"#,
        )
        .unwrap();
        config.encryption = EncryptionConfig::ephemeral();
        let mut problems = Vec::new();
        config.validate(&mut problems);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().all(|p| !p.contains("SG.abc")));
        assert!(!format!("{config:?}").contains("SG.abc"));
    }

    #[test]
    fn unknown_settings_and_adapters_are_refused() {
        assert!(serde_json::from_str::<MailConfig>(r#"{"adaptor":"file"}"#).is_err());
        assert!(serde_json::from_str::<MailConfig>(r#"{"adapter":"smtp"}"#).is_err());
    }

    #[test]
    fn build_mailer_follows_the_adapter() {
        let dir = tempfile::tempdir().unwrap();
        let config = MailConfig {
            outbox_dir: dir.path().to_owned(),
            ..Default::default()
        };
        assert!(build_mailer(&config).is_ok());
        let config = MailConfig {
            adapter: MailAdapter::Sendgrid,
            sendgrid_api_key: Some(Secret::from("SG.key")),
            ..Default::default()
        };
        assert!(build_mailer(&config).is_ok());
    }
}
