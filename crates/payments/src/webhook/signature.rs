//! Stripe's webhook signature scheme: the `Stripe-Signature` header carries `t=<unix seconds>`
//! and one or more `v1=<hex HMAC-SHA256 of "<t>.<raw body>">`. The signature is checked before
//! the body is parsed, in constant time, and events signed outside the tolerance are refused so
//! a captured request cannot be replayed later.
//!
//! Anyone can send this request, so its cost is bounded before any hashing: the header is parsed
//! strictly (one timestamp, at most [`MAX_CANDIDATES`] signatures of exactly 32 bytes, nothing
//! malformed), the timestamp is checked first, and the MAC over the body is computed once per
//! configured secret, however many signatures the header offers.

use crate::errors::PaymentsError;
use df_common::{Error, secret::Secret};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Largest webhook body accepted (Stripe's events are far smaller).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Largest `Stripe-Signature` header accepted.
const MAX_HEADER_BYTES: usize = 2_048;

/// Most `v1` signatures looked at. Stripe sends one per active endpoint secret: two while a
/// secret is being rolled.
pub const MAX_CANDIDATES: usize = 4;

/// An HMAC-SHA256 tag.
const TAG_BYTES: usize = 32;

type HmacSha256 = Hmac<Sha256>;

fn bad_signature() -> Error {
    Error::from(PaymentsError::WebhookSignatureInvalid)
}

/// A well-formed header: its timestamp and its candidate signatures.
#[derive(Debug, PartialEq, Eq)]
struct Header {
    timestamp: i64,
    candidates: Vec<[u8; TAG_BYTES]>,
}

/// Parses `header` strictly; anything Stripe would not send is refused without further work.
/// Schemes other than `v1` (Stripe's test-mode `v0`) are skipped, since they are never checked.
fn parse(header: &str) -> Result<Header, Error> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or_else(bad_signature)?;
        match key {
            "t" if timestamp.is_none() => {
                timestamp = Some(value.parse::<i64>().map_err(|_| bad_signature())?);
            }
            "v1" => {
                if candidates.len() == MAX_CANDIDATES || value.len() != 2 * TAG_BYTES {
                    return Err(bad_signature());
                }
                let mut tag = [0u8; TAG_BYTES];
                hex::decode_to_slice(value, &mut tag).map_err(|_| bad_signature())?;
                candidates.push(tag);
            }
            "t" => return Err(bad_signature()),
            _ => {}
        }
    }
    match (timestamp, candidates.is_empty()) {
        (Some(timestamp), false) => Ok(Header {
            timestamp,
            candidates,
        }),
        _ => Err(bad_signature()),
    }
}

/// Checks `header` against `payload` with any of `secrets`, at time `now` (unix seconds).
pub fn verify(
    payload: &[u8],
    header: &str,
    secrets: &[Secret<String>],
    tolerance_secs: u64,
    now: i64,
) -> Result<(), Error> {
    if payload.len() > MAX_PAYLOAD_BYTES || header.len() > MAX_HEADER_BYTES {
        return Err(Error::from(PaymentsError::WebhookTooLarge));
    }
    let header = parse(header)?;
    if now.saturating_sub(header.timestamp).unsigned_abs() > tolerance_secs {
        return Err(Error::from(PaymentsError::WebhookTimestampOutsideTolerance));
    }
    let matched = secrets.iter().any(|secret| {
        let tag = mac_for(secret, header.timestamp, payload)
            .finalize()
            .into_bytes();
        // Every candidate is compared, so the time taken does not tell which one matched.
        header
            .candidates
            .iter()
            .fold(subtle::Choice::from(0), |found, candidate| {
                found | candidate.ct_eq(tag.as_slice())
            })
            .into()
    });
    if matched {
        Ok(())
    } else {
        Err(bad_signature())
    }
}

/// Bodies up to this size are verified on the calling task; hashing them takes a few
/// microseconds. Larger ones (up to [`MAX_PAYLOAD_BYTES`], about a millisecond of hashing per
/// secret) are verified on the blocking pool, so they never hold up an async worker thread.
const INLINE_PAYLOAD_BYTES: usize = 16 * 1024;

/// [`verify`] for async callers: large bodies are hashed off the async worker threads.
pub async fn verify_off_async_threads(
    payload: &[u8],
    header: &str,
    secrets: Vec<Secret<String>>,
    tolerance_secs: u64,
    now: i64,
) -> Result<(), Error> {
    if payload.len() <= INLINE_PAYLOAD_BYTES {
        return verify(payload, header, &secrets, tolerance_secs, now);
    }
    let (payload, header) = (payload.to_vec(), header.to_owned());
    tokio::task::spawn_blocking(move || verify(&payload, &header, &secrets, tolerance_secs, now))
        .await
        .map_err(Error::internal)?
}

fn mac_for(secret: &Secret<String>, timestamp: i64, payload: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// The `Stripe-Signature` header for `payload` signed at `timestamp` (used by the simulated
/// provider, which signs exactly as Stripe does).
pub fn sign(payload: &[u8], secret: &Secret<String>, timestamp: i64) -> String {
    let signature = mac_for(secret, timestamp, payload).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(signature))
}

#[cfg(test)]
mod tests {
    use quickcheck_macros::quickcheck;

    use super::*;

    fn secret() -> Secret<String> {
        "whsec_test_0123456789abcdef".into()
    }

    #[test]
    fn a_fresh_signature_verifies_and_a_stale_one_does_not() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(body, &secret(), 1_000);
        assert!(verify(body, &header, &[secret()], 300, 1_200).is_ok());
        let stale = verify(body, &header, &[secret()], 300, 1_301).unwrap_err();
        assert_eq!(
            stale.code(),
            PaymentsError::WebhookTimestampOutsideTolerance.code()
        );
        let other: Secret<String> = "whsec_other_secret_value".into();
        assert!(verify(body, &header, &[other.clone(), secret()], 300, 1_000).is_ok());
        assert_eq!(
            verify(body, &header, &[other], 300, 1_000)
                .unwrap_err()
                .code(),
            PaymentsError::WebhookSignatureInvalid.code()
        );
        for broken in ["", "t=1000", "v1=00", "t=abc,v1=00", "garbage"] {
            assert!(verify(body, broken, &[secret()], 300, 1_000).is_err());
        }
    }

    #[test]
    fn malformed_and_stale_headers_are_refused_before_any_hashing() {
        let body = br#"{"id":"evt_1"}"#;
        let good = sign(body, &secret(), 1_000);
        let tag = good.split_once("v1=").map(|(_, t)| t).unwrap_or_default();
        // A stale header is refused for its age, whatever its signatures.
        let stale = verify(body, &format!("t=1,v1={tag}"), &[secret()], 300, 1_000).unwrap_err();
        assert_eq!(
            stale.code(),
            PaymentsError::WebhookTimestampOutsideTolerance.code()
        );
        let empty_entries = format!("t=1{}", ",v1=".repeat(400));
        assert_eq!(
            verify(body, &empty_entries, &[secret()], 300, 1_000)
                .unwrap_err()
                .code(),
            PaymentsError::WebhookSignatureInvalid.code(),
            "empty v1 entries make the header malformed"
        );
        for malformed in [
            "t=1000,v1=".to_owned(),
            format!("t=1000,v1={}", &tag[..62]),
            format!("t=1000,v1={tag}00"),
            format!("t=1000,v1={}", "zz".repeat(32)),
            format!("t=1000,t=1000,v1={tag}"),
            format!("t=1000,v1={tag},junk"),
            format!("t=1000{}", format!(",v1={tag}").repeat(MAX_CANDIDATES + 1)),
        ] {
            assert_eq!(
                parse(&malformed).unwrap_err().code(),
                PaymentsError::WebhookSignatureInvalid.code(),
                "{malformed}"
            );
        }
        // Up to the limit, the right signature is found among wrong ones; v0 is skipped.
        let wrong = "ab".repeat(32);
        let many = format!(
            "t=1000,v0={wrong}{},v1={tag}",
            format!(",v1={wrong}").repeat(MAX_CANDIDATES - 1)
        );
        assert!(verify(body, &many, &[secret()], 300, 1_000).is_ok());
        assert_eq!(parse(&many).unwrap().candidates.len(), MAX_CANDIDATES);
    }

    #[quickcheck]
    fn any_tampered_byte_is_refused(body: Vec<u8>, index: usize, flip: u8) -> bool {
        let body = if body.is_empty() { vec![b'{'] } else { body };
        let header = sign(&body, &secret(), 50_000);
        let mut tampered = body.clone();
        let i = index % tampered.len();
        tampered[i] ^= flip.max(1);
        verify(&body, &header, &[secret()], 300, 50_000).is_ok()
            && verify(&tampered, &header, &[secret()], 300, 50_000).is_err()
    }

    #[quickcheck]
    fn any_tampered_signature_digit_is_refused(index: usize) -> bool {
        let body = b"payload";
        let header = sign(body, &secret(), 7);
        let mut chars: Vec<char> = header.chars().collect();
        let start = header.find("v1=").unwrap_or(0) + 3;
        let i = start + index % (chars.len() - start);
        chars[i] = if chars[i] == '0' { '1' } else { '0' };
        let tampered: String = chars.into_iter().collect();
        verify(body, &tampered, &[secret()], 300, 7).is_err()
    }
}
