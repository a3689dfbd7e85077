//! The breached-password checker against a local server that speaks the Pwned Passwords range
//! API, recording what it was sent.

// A failed unwrap is a failed test, with the value in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, Uri},
    routing::get,
};
use df_common::ErrorKind;
use df_identity::password::{BreachedCheckConfig, BreachedPasswordChecker};
use sha1::{Digest, Sha1};

/// Passwords the fake corpus knows.
const BREACHED: &[&str] = &["hunter2hunter2", "correct horse battery staple"];
/// A password whose suffix the server lists only as padding (count 0).
const PADDED_ONLY: &str = "only appears as padding 7781";

#[derive(Clone, Debug)]
struct Seen {
    uri: String,
    add_padding: Option<String>,
}

#[derive(Clone, Default)]
struct Corpus {
    requests: Arc<Mutex<Vec<Seen>>>,
}

fn sha1_hex(password: &str) -> String {
    hex::encode_upper(Sha1::digest(password.as_bytes()))
}

fn record(corpus: &Corpus, uri: &Uri, headers: &HeaderMap) {
    corpus.requests.lock().unwrap().push(Seen {
        uri: uri.to_string(),
        add_padding: headers
            .get("add-padding")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
}

async fn range(
    State(corpus): State<Corpus>,
    Path(prefix): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> (StatusCode, String) {
    record(&corpus, &uri, &headers);
    if prefix.len() != 5 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (
            StatusCode::BAD_REQUEST,
            "The hash prefix was not valid".into(),
        );
    }
    let mut lines = vec![
        // Decoys around the real answers, as the service pads its responses.
        "0018A45C4D1DEF81644B54AB7F969B88D65:0".to_owned(),
        "00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2".to_owned(),
    ];
    for (password, count) in BREACHED.iter().map(|p| (*p, 42)).chain([(PADDED_ONLY, 0)]) {
        let digest = sha1_hex(password);
        if digest[..5].eq_ignore_ascii_case(&prefix) {
            lines.push(format!("{}:{count}", &digest[5..]));
        }
    }
    (StatusCode::OK, lines.join("\r\n"))
}

async fn broken(State(corpus): State<Corpus>, uri: Uri, headers: HeaderMap) -> StatusCode {
    record(&corpus, &uri, &headers);
    StatusCode::SERVICE_UNAVAILABLE
}

async fn huge() -> String {
    "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n".repeat(40_000)
}

async fn slow() -> String {
    // Longer than any deadline used below; the client must give up first.
    tokio::time::sleep(Duration::from_secs(30)).await;
    String::new()
}

/// Starts the fake API on an ephemeral loopback port and returns its base URL.
async fn start(corpus: Corpus) -> String {
    let app = Router::new()
        .route("/range/{prefix}", get(range))
        .route("/broken/range/{prefix}", get(broken))
        .route("/huge/range/{prefix}", get(huge))
        .route("/slow/range/{prefix}", get(slow))
        .with_state(corpus);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

fn checker(base_url: &str) -> BreachedPasswordChecker {
    BreachedPasswordChecker::new(base_url, Duration::from_secs(5)).unwrap()
}

#[tokio::test]
async fn only_the_five_character_prefix_is_sent() {
    let corpus = Corpus::default();
    let base = start(corpus.clone()).await;
    let password = "correct horse battery staple";
    assert!(checker(&base).is_breached(password).await.unwrap());

    let requests = corpus.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let digest = sha1_hex(password);
    assert_eq!(requests[0].uri, format!("/range/{}", &digest[..5]));
    assert_eq!(requests[0].add_padding.as_deref(), Some("true"));
    assert!(!requests[0].uri.contains(&digest[5..]));
    assert!(!requests[0].uri.contains("horse"));
}

#[tokio::test]
async fn breached_and_clean_passwords_are_told_apart() {
    let base = start(Corpus::default()).await;
    let checker = checker(&format!("{base}/"));
    for password in BREACHED {
        assert!(checker.is_breached(password).await.unwrap(), "{password}");
    }
    assert!(
        !checker
            .is_breached("violet-oyster-canal-1987")
            .await
            .unwrap()
    );
    assert!(
        !checker.is_breached(PADDED_ONLY).await.unwrap(),
        "a padding entry (count 0) is not a breach"
    );
}

#[tokio::test]
async fn server_errors_are_errors() {
    let corpus = Corpus::default();
    let base = start(corpus.clone()).await;
    let error = checker(&format!("{base}/broken"))
        .is_breached("anything at all")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert_eq!(corpus.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn oversized_answers_are_refused() {
    let base = start(Corpus::default()).await;
    let error = checker(&format!("{base}/huge"))
        .is_breached("anything at all")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(
        format!("{:?}", error.cause()).contains("exceeds"),
        "{error:?}"
    );
}

#[tokio::test]
async fn slow_answers_time_out() {
    let base = start(Corpus::default()).await;
    let checker =
        BreachedPasswordChecker::new(format!("{base}/slow"), Duration::from_millis(300)).unwrap();
    let started = std::time::Instant::now();
    let error = checker.is_breached("anything at all").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn screen_refuses_breached_passwords_and_honours_fail_open() {
    let base = start(Corpus::default()).await;
    let config = BreachedCheckConfig {
        enabled: true,
        base_url: base.clone(),
        ..Default::default()
    };
    let checker = BreachedPasswordChecker::from_config(&config)
        .unwrap()
        .unwrap();
    let error = checker.screen("hunter2hunter2").await.unwrap_err();
    assert_eq!(error.code(), "identity.password_breached");
    assert_eq!(error.kind(), ErrorKind::Unprocessable);
    checker.screen("violet-oyster-canal-1987").await.unwrap();

    let down = BreachedCheckConfig {
        base_url: format!("{base}/broken"),
        ..config.clone()
    };
    let open = BreachedPasswordChecker::from_config(&down)
        .unwrap()
        .unwrap();
    open.screen("hunter2hunter2").await.unwrap();
    let closed = BreachedPasswordChecker::from_config(&BreachedCheckConfig {
        fail_open: false,
        ..down
    })
    .unwrap()
    .unwrap();
    let error = closed.screen("hunter2hunter2").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
}

#[tokio::test]
async fn a_failed_lookup_says_nothing_derived_from_the_password() {
    // A port nothing listens on: the connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let password = "violet-oyster-canal-1987";
    let prefix = &sha1_hex(password)[..5];
    let error = checker(&format!("http://{closed}"))
        .is_breached(password)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    // What the fail-open path logs: the code and the cause.
    let logged = format!("{} {:?} {error:?}", error.code(), error.cause());
    assert!(
        !logged.to_uppercase().contains(prefix),
        "the hash prefix leaks: {logged}"
    );
    assert!(logged.contains("breach lookup failed"), "{logged}");
}
