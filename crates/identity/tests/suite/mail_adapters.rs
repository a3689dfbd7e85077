//! The mail adapters: the file outbox on a real directory, SendGrid against a local server that
//! checks what a real SendGrid would.

// A failed unwrap is a failed test, with the value in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use base64::Engine;
use df_common::{ErrorKind, Secret};
use df_identity::mail::{
    Email, FileOutbox, MailAdapter, MailConfig, Mailer, SendGridMailer, build_mailer,
};

const FROM: &str = "DirectFanz <no-reply@directfanz.local>";
const API_KEY: &str = "SG.test-key.Zx81-never-print-me";

fn email() -> Email {
    Email {
        to: "fan@example.com".into(),
        subject: "Verify your email".into(),
        text_body: "Hello!\n\nOpen https://directfanz.local/verify?t=abc to verify.\n".into(),
    }
}

/// A message read back from an `.eml` file.
#[derive(Debug)]
struct ParsedEmail {
    headers: BTreeMap<String, String>,
    body: String,
}

/// A small RFC 5322 reader: CRLF lines, folded headers, RFC 2047 base64 words in values.
fn parse_eml(raw: &str) -> ParsedEmail {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .expect("a blank line ends the headers");
    assert!(
        !head.replace("\r\n", "").contains('\n'),
        "bare LF in headers"
    );
    let mut headers = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in head.split("\r\n") {
        if line.starts_with(' ') || line.starts_with('\t') {
            let (_, value) = current.as_mut().expect("continuation after a header");
            value.push_str(line);
            continue;
        }
        if let Some((name, value)) = current.take() {
            headers.insert(name, value);
        }
        let (name, value) = line.split_once(": ").expect("`Name: value`");
        current = Some((name.to_owned(), value.to_owned()));
    }
    if let Some((name, value)) = current {
        headers.insert(name, value);
    }
    for value in headers.values_mut() {
        *value = decode_words(value);
    }
    ParsedEmail {
        headers,
        body: body.to_owned(),
    }
}

fn decode_words(value: &str) -> String {
    if !value.starts_with("=?utf-8?B?") {
        return value.to_owned();
    }
    value
        .split_whitespace()
        .map(|word| {
            let inner = word
                .strip_prefix("=?utf-8?B?")
                .and_then(|w| w.strip_suffix("?="))
                .unwrap();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(inner)
                .unwrap();
            String::from_utf8(bytes).unwrap()
        })
        .collect()
}

fn dir_entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn the_file_outbox_writes_a_parseable_message() {
    let dir = tempfile::tempdir().unwrap();
    let outbox_dir = dir.path().join("mail");
    let outbox = FileOutbox::new(&outbox_dir, FROM).unwrap();
    outbox.send(&email()).await.unwrap();

    let names = dir_entries(&outbox_dir);
    assert_eq!(names.len(), 1, "{names:?}");
    let name = &names[0];
    assert!(name.ends_with(".eml") && !name.starts_with('.'), "{name}");
    let (stamp, id) = name.trim_end_matches(".eml").split_once('-').unwrap();
    assert!(stamp.starts_with("20") && stamp.ends_with('Z'), "{stamp}");
    let id = uuid::Uuid::parse_str(id).unwrap();

    let raw = std::fs::read_to_string(outbox_dir.join(name)).unwrap();
    let parsed = parse_eml(&raw);
    let h = &parsed.headers;
    assert_eq!(h["From"], FROM);
    assert_eq!(h["To"], "fan@example.com");
    assert_eq!(h["Subject"], "Verify your email");
    assert_eq!(h["MIME-Version"], "1.0");
    assert_eq!(h["Content-Type"], "text/plain; charset=utf-8");
    assert_eq!(h["Content-Transfer-Encoding"], "8bit");
    assert_eq!(h["Message-ID"], format!("<{id}@directfanz.local>"));
    let date = chrono::DateTime::parse_from_rfc2822(&h["Date"]).unwrap();
    assert!((chrono::Utc::now() - date.to_utc()).num_seconds().abs() < 300);
    assert_eq!(h.len(), 8, "{h:?}");
    assert_eq!(
        parsed.body,
        "Hello!\r\n\r\nOpen https://directfanz.local/verify?t=abc to verify.\r\n"
    );
}

#[tokio::test]
async fn unicode_subjects_and_bodies_survive() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = FileOutbox::new(dir.path(), FROM).unwrap();
    let message = Email {
        to: "Zoë <zoe@example.com>".into(),
        subject: "Réinitialisez votre mot de passe — DirectFanz 🔑, c'est rapide et sûr".into(),
        text_body: "Grüße 👋".into(),
    };
    outbox.send(&message).await.unwrap();
    let names = dir_entries(dir.path());
    let raw = std::fs::read_to_string(dir.path().join(&names[0])).unwrap();
    assert!(raw.split("\r\n").all(|line| line.len() <= 998));
    let parsed = parse_eml(&raw);
    assert_eq!(parsed.headers["Subject"], message.subject);
    assert_eq!(parsed.headers["To"], message.to);
    assert_eq!(parsed.body, "Grüße 👋\r\n");
}

#[tokio::test]
async fn messages_sort_in_sending_order_and_leave_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = FileOutbox::new(dir.path(), FROM).unwrap();
    for n in 0..5 {
        let mut message = email();
        message.subject = format!("message {n}");
        outbox.send(&message).await.unwrap();
    }
    let names = dir_entries(dir.path());
    assert_eq!(names.len(), 5, "{names:?}");
    for (n, name) in names.iter().enumerate() {
        assert!(name.ends_with(".eml"), "{name}");
        let raw = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(parse_eml(&raw).headers["Subject"], format!("message {n}"));
    }
}

#[tokio::test]
async fn header_injection_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = FileOutbox::new(dir.path(), FROM).unwrap();
    let attempts = [
        Email {
            to: "fan@example.com\r\nBcc: everyone@example.com".into(),
            ..email()
        },
        Email {
            subject: "Hi\nBcc: everyone@example.com".into(),
            ..email()
        },
        Email {
            subject: "Hi\rX-Evil: 1".into(),
            ..email()
        },
        Email {
            to: "not an address".into(),
            ..email()
        },
    ];
    for attempt in &attempts {
        let error = outbox.send(attempt).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{attempt:?}");
    }
    assert!(dir_entries(dir.path()).is_empty());
    assert!(FileOutbox::new(dir.path(), "x <a@b.c>\r\nBcc: d@e.f").is_err());
}

#[tokio::test]
async fn build_mailer_defaults_to_the_file_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let config = MailConfig {
        outbox_dir: dir.path().join("out"),
        ..Default::default()
    };
    assert_eq!(config.adapter, MailAdapter::File);
    let mailer = build_mailer(&config).unwrap();
    mailer.send(&email()).await.unwrap();
    assert_eq!(dir_entries(&dir.path().join("out")).len(), 1);
}

/// What the fake SendGrid received.
#[derive(Clone, Debug)]
struct Received {
    authorization: Option<String>,
    content_type: Option<String>,
    body: serde_json::Value,
}

#[derive(Clone)]
struct FakeSendGrid {
    received: Arc<Mutex<Vec<Received>>>,
    /// Status to answer with; 202 is SendGrid's success.
    status: StatusCode,
}

async fn mail_send(
    State(fake): State<FakeSendGrid>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let authorization = header("authorization");
    fake.received.lock().unwrap().push(Received {
        authorization: authorization.clone(),
        content_type: header("content-type"),
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    });
    if fake.status == StatusCode::ACCEPTED {
        (StatusCode::ACCEPTED, String::new())
    } else {
        // A careless upstream that echoes the credentials back must not leak them through us.
        (
            fake.status,
            format!(
                r#"{{"errors":[{{"message":"bad request","authorization":"{}"}}]}}"#,
                authorization.unwrap_or_default()
            ),
        )
    }
}

async fn start_sendgrid(status: StatusCode) -> (String, Arc<Mutex<Vec<Received>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/v3/mail/send", post(mail_send))
        .with_state(FakeSendGrid {
            received: received.clone(),
            status,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), received)
}

fn sendgrid(base_url: &str) -> SendGridMailer {
    SendGridMailer::new(
        base_url,
        Secret::from(API_KEY),
        FROM,
        Duration::from_secs(5),
    )
    .unwrap()
}

fn assert_key_hidden(error: &df_common::Error) {
    let printed = format!("{error} {error:?} {:?}", error.cause());
    assert!(!printed.contains(API_KEY), "{printed}");
    assert!(!printed.contains("Zx81"), "{printed}");
}

#[tokio::test]
async fn sendgrid_gets_a_well_formed_request() {
    let (base, received) = start_sendgrid(StatusCode::ACCEPTED).await;
    sendgrid(&base).send(&email()).await.unwrap();

    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    assert!(
        request
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("application/json")),
        "{:?}",
        request.content_type
    );
    assert_eq!(
        request.body,
        serde_json::json!({
            "personalizations": [{ "to": [{ "email": "fan@example.com" }] }],
            "from": { "email": "no-reply@directfanz.local", "name": "DirectFanz" },
            "subject": "Verify your email",
            "content": [{ "type": "text/plain", "value": email().text_body }],
        })
    );
}

#[tokio::test]
async fn sendgrid_client_errors_are_rejections_without_the_key() {
    for status in [StatusCode::BAD_REQUEST, StatusCode::UNAUTHORIZED] {
        let (base, received) = start_sendgrid(status).await;
        let error = sendgrid(&base).send(&email()).await.unwrap_err();
        assert_eq!(error.code(), "identity.mail_rejected", "{status}");
        assert_eq!(error.kind(), ErrorKind::Unprocessable);
        assert_key_hidden(&error);
        assert!(format!("{:?}", error.cause()).contains(&status.as_u16().to_string()));
        assert_eq!(received.lock().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn sendgrid_server_errors_are_unavailable_without_the_key() {
    let (base, _) = start_sendgrid(StatusCode::BAD_GATEWAY).await;
    let error = sendgrid(&base).send(&email()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert_key_hidden(&error);
}

#[tokio::test]
async fn sendgrid_unreachable_or_slow_is_unavailable() {
    // A port that was just free: nothing listens there any more.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let error = sendgrid(&format!("http://{address}"))
        .send(&email())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert_key_hidden(&error);

    let app = Router::new().route(
        "/v3/mail/send",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::ACCEPTED
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mailer = SendGridMailer::new(
        format!("http://{address}"),
        Secret::from(API_KEY),
        FROM,
        Duration::from_millis(300),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let error = mailer.send(&email()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_key_hidden(&error);
}

#[tokio::test]
async fn sendgrid_refuses_header_injection_before_any_request() {
    let (base, received) = start_sendgrid(StatusCode::ACCEPTED).await;
    let error = sendgrid(&base)
        .send(&Email {
            subject: "Hi\r\nBcc: everyone@example.com".into(),
            ..email()
        })
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(received.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_mailer_never_prints_its_key() {
    let mailer = sendgrid("http://127.0.0.1:9");
    assert!(!format!("{mailer:?}").contains(API_KEY));
    let config = MailConfig {
        adapter: MailAdapter::Sendgrid,
        sendgrid_api_key: Some(Secret::from(API_KEY)),
        ..Default::default()
    };
    assert!(!format!("{config:?}").contains(API_KEY));
    assert!(build_mailer(&config).is_ok());
}
