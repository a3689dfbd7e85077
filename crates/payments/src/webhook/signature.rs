//! Stripe's webhook signature scheme: the `Stripe-Signature` header carries `t=<unix seconds>`
//! and one or more `v1=<hex HMAC-SHA256 of "<t>.<raw body>">`. The signature is checked before
//! the body is parsed, in constant time, and events signed outside the tolerance are refused so
//! a captured request cannot be replayed later.

use df_common::{Error, secret::Secret};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Largest webhook body accepted (Stripe's events are far smaller).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Largest `Stripe-Signature` header accepted.
const MAX_HEADER_BYTES: usize = 2_048;

type HmacSha256 = Hmac<Sha256>;

fn bad_signature() -> Error {
    Error::invalid_input(
        "payments.webhook_signature_invalid",
        "The webhook signature is missing or does not match.",
    )
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
        return Err(Error::invalid_input(
            "payments.webhook_too_large",
            "The webhook request is too large.",
        ));
    }
    let mut timestamp: Option<i64> = None;
    let mut candidates: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" => timestamp = value.parse().ok(),
            "v1" => {
                if let Ok(bytes) = hex::decode(value) {
                    candidates.push(bytes);
                }
            }
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return Err(bad_signature());
    };
    if candidates.is_empty() {
        return Err(bad_signature());
    }
    let matched = secrets.iter().any(|secret| {
        candidates.iter().any(|candidate| {
            let mac = mac_for(secret, timestamp, payload);
            mac.verify_slice(candidate).is_ok()
        })
    });
    if !matched {
        return Err(bad_signature());
    }
    let age = now.saturating_sub(timestamp).unsigned_abs();
    if age > tolerance_secs {
        return Err(Error::invalid_input(
            "payments.webhook_timestamp_outside_tolerance",
            "The webhook was signed too long ago (or in the future).",
        ));
    }
    Ok(())
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
        assert_eq!(stale.code(), "payments.webhook_timestamp_outside_tolerance");
        let other: Secret<String> = "whsec_other_secret_value".into();
        assert!(verify(body, &header, &[other.clone(), secret()], 300, 1_000).is_ok());
        assert_eq!(
            verify(body, &header, &[other], 300, 1_000)
                .unwrap_err()
                .code(),
            "payments.webhook_signature_invalid"
        );
        for broken in ["", "t=1000", "v1=00", "t=abc,v1=00", "garbage"] {
            assert!(verify(body, broken, &[secret()], 300, 1_000).is_err());
        }
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
