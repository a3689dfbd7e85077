//! The embedded mail adapter: each message becomes one RFC 5322 file in a local directory.
//!
//! Files are named `<UTC timestamp>-<uuid>.eml`, so a directory listing sorts them in sending
//! order, and any mail client opens them. Each is written under a hidden temporary name in the
//! same directory, flushed, then renamed into place: a rename within one file system is atomic,
//! so a reader polling the directory never sees half a message.

use crate::errors::IdentityError;
use std::path::{Path, PathBuf};

use base64::Engine;
use chrono::Utc;
use df_common::Error;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::{Email, Mailer, address_of, check_email_headers, check_header_value};

/// Writes messages as `.eml` files into `dir`.
#[derive(Clone, Debug)]
pub struct FileOutbox {
    dir: PathBuf,
    from: String,
}

impl FileOutbox {
    /// An outbox writing into `dir` (created on first send) with sender mailbox `from`.
    pub fn new(dir: impl Into<PathBuf>, from: impl Into<String>) -> Result<Self, Error> {
        let from = from.into();
        check_header_value("sender", &from)?;
        if address_of(&from).is_none() {
            return Err(IdentityError::MailSenderInvalid.into());
        }
        Ok(Self {
            dir: dir.into(),
            from,
        })
    }

    /// The directory messages are written into.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn render(&self, email: &Email, id: Uuid, now: chrono::DateTime<Utc>) -> String {
        let domain = address_of(&self.from)
            .and_then(|address| address.rsplit_once('@'))
            .map_or("localhost", |(_, domain)| domain);
        let mut message = String::with_capacity(email.text_body.len() + 512);
        for (name, value) in [
            ("From", self.from.as_str()),
            ("To", email.to.trim()),
            ("Subject", encode_header_text(&email.subject).as_str()),
            ("Date", now.to_rfc2822().as_str()),
            ("Message-ID", format!("<{id}@{domain}>").as_str()),
            ("MIME-Version", "1.0"),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Transfer-Encoding", "8bit"),
        ] {
            message.push_str(name);
            message.push_str(": ");
            message.push_str(value);
            message.push_str("\r\n");
        }
        message.push_str("\r\n");
        // RFC 5322 lines end in CRLF, whatever the body was written with.
        for line in email.text_body.lines() {
            message.push_str(line);
            message.push_str("\r\n");
        }
        message
    }
}

/// Subject text as it may appear in a header: as is when printable ASCII, otherwise as RFC 2047
/// base64 encoded-words, each under the 75-character limit and folded onto its own line.
fn encode_header_text(text: &str) -> String {
    if text.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        return text.to_owned();
    }
    // 45 bytes of UTF-8 become 60 base64 characters; with `=?utf-8?B?` and `?=` that is 72.
    const CHUNK_BYTES: usize = 45;
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > CHUNK_BYTES {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    words.push(chunk);
    words
        .iter()
        .map(|word| {
            format!(
                "=?utf-8?B?{}?=",
                base64::engine::general_purpose::STANDARD.encode(word)
            )
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

#[async_trait::async_trait]
impl Mailer for FileOutbox {
    async fn send(&self, email: &Email) -> Result<(), Error> {
        check_email_headers(email)?;
        let id = Uuid::now_v7();
        let now = Utc::now();
        let message = self.render(email, id, now);
        let name = format!("{}-{id}.eml", now.format("%Y%m%dT%H%M%S%.6fZ"));
        let temp = self.dir.join(format!(".{name}.tmp"));
        let path = self.dir.join(&name);

        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| Error::internal(anyhow::anyhow!("cannot create the mail outbox: {e}")))?;
        if let Err(e) = write_then_rename(&temp, &path, message.as_bytes()).await {
            // Best effort: a stray temp file is hidden and harmless, the send error matters more.
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(Error::internal(anyhow::anyhow!(
                "cannot write to the mail outbox: {e}"
            )));
        }
        tracing::info!(file = %name, "email written to the outbox");
        Ok(())
    }
}

async fn write_then_rename(temp: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .await?;
    file.write_all(bytes).await?;
    file.sync_all().await?;
    drop(file);
    tokio::fs::rename(temp, path).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn ascii_subjects_stay_readable() {
        assert_eq!(encode_header_text("Verify your email"), "Verify your email");
    }

    #[test]
    fn non_ascii_subjects_become_short_encoded_words() {
        let subject = "Vérifiez votre adresse — bienvenue chez DirectFanz ✨ ".repeat(3);
        let encoded = encode_header_text(&subject);
        let mut decoded = String::new();
        for word in encoded.split("\r\n ") {
            assert!(word.len() <= 75, "{word}");
            let inner = word
                .strip_prefix("=?utf-8?B?")
                .and_then(|w| w.strip_suffix("?="))
                .unwrap();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(inner)
                .unwrap();
            decoded.push_str(std::str::from_utf8(&bytes).unwrap());
        }
        assert_eq!(decoded, subject);
    }

    #[test]
    fn bodies_get_crlf_line_endings() {
        let outbox = FileOutbox::new("/unused", "DirectFanz <no-reply@directfanz.local>").unwrap();
        let email = Email {
            to: "fan@example.com".into(),
            subject: "Hi".into(),
            text_body: "line one\nline two\r\nline three".into(),
        };
        let id = Uuid::now_v7();
        let text = outbox.render(&email, id, Utc::now());
        assert!(
            text.ends_with("\r\n\r\nline one\r\nline two\r\nline three\r\n"),
            "{text}"
        );
        assert!(text.contains(&format!("Message-ID: <{id}@directfanz.local>\r\n")));
        assert!(!text.replace("\r\n", "").contains('\n'));
    }

    #[test]
    fn a_bad_sender_is_refused() {
        assert!(FileOutbox::new("/x", "a\r\nBcc: b@c.d <e@f.g>").is_err());
        assert!(FileOutbox::new("/x", "nobody").is_err());
    }
}
