//! Authenticated cache values. Several services share one Redis, and some cached values grant
//! access (a validated session, an entitlement answer). A value is believed only if it carries
//! a MAC, under this service's own key, over the full key it was read from, its expiry and its
//! bytes: a value written by anyone without the key, or copied from another key, is a miss,
//! never a grant. The expiry bounds a replay of one of our own older values to the time that
//! value could have stayed cached anyway.
//!
//! Layout: `tag (32 bytes) | expires_at_ms (8 bytes, big-endian) | value`.

use std::sync::Arc;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

const TAG_BYTES: usize = 32;
const HEADER_BYTES: usize = TAG_BYTES + 8;
/// Separates this use of the key from any other.
const CONTEXT: &[u8] = b"df-cache-value-v1";

/// Smallest accepted `redis.value_key`, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// Seals and opens cache values with one key.
#[derive(Clone)]
pub struct ValueSeal {
    key: Arc<Secret<Vec<u8>>>,
}

impl std::fmt::Debug for ValueSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ValueSeal(..)")
    }
}

impl ValueSeal {
    /// A seal under `key`.
    pub fn new(key: Vec<u8>) -> Self {
        Self {
            key: Arc::new(Secret::new(key)),
        }
    }

    /// A seal under the base64 `redis.value_key`, or under a random key of this process when
    /// none is configured (values then stay valid for this process only).
    pub fn from_config(value_key: &Secret<String>) -> Result<Self, String> {
        if value_key.is_empty() {
            let mut key = vec![0u8; MIN_KEY_BYTES];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
            return Ok(Self::new(key));
        }
        decode_key(value_key).map(Self::new)
    }

    fn tag(&self, full_key: &str, expires_at_ms: u64, value: &[u8]) -> [u8; TAG_BYTES] {
        let mut mac = HmacSha256::new_from_slice(self.key.expose())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(CONTEXT);
        mac.update(
            &u64::try_from(full_key.len())
                .unwrap_or(u64::MAX)
                .to_be_bytes(),
        );
        mac.update(full_key.as_bytes());
        mac.update(&expires_at_ms.to_be_bytes());
        mac.update(value);
        mac.finalize().into_bytes().into()
    }

    /// `value`, to be stored under `full_key` until `expires_at_ms` (Unix milliseconds).
    pub fn seal(&self, full_key: &str, value: &[u8], expires_at_ms: u64) -> Vec<u8> {
        let mut sealed = Vec::with_capacity(HEADER_BYTES + value.len());
        sealed.extend_from_slice(&self.tag(full_key, expires_at_ms, value));
        sealed.extend_from_slice(&expires_at_ms.to_be_bytes());
        sealed.extend_from_slice(value);
        sealed
    }

    /// The value of `sealed` read from `full_key` at `now_ms`, if this seal made it for that
    /// key and it has not expired.
    pub fn open<'a>(&self, full_key: &str, sealed: &'a [u8], now_ms: u64) -> Option<&'a [u8]> {
        if sealed.len() < HEADER_BYTES {
            return None;
        }
        let (tag, rest) = sealed.split_at(TAG_BYTES);
        let (expiry, value) = rest.split_at(8);
        let expires_at_ms = u64::from_be_bytes(expiry.try_into().ok()?);
        let expected = self.tag(full_key, expires_at_ms, value);
        let authentic: bool = expected.ct_eq(tag).into();
        (authentic && now_ms < expires_at_ms).then_some(value)
    }
}

/// The decoded `redis.value_key`, or why it is unusable (never the key itself).
pub fn decode_key(value_key: &Secret<String>) -> Result<Vec<u8>, String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(value_key.expose().trim())
        .map_err(|_| "redis.value_key: is not valid base64 (value hidden)".to_owned())?;
    if key.len() < MIN_KEY_BYTES {
        return Err(format!(
            "redis.value_key: must decode to at least {MIN_KEY_BYTES} bytes (value hidden)"
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use quickcheck_macros::quickcheck;

    use super::*;

    fn seal() -> ValueSeal {
        ValueSeal::new(vec![7; 32])
    }

    #[quickcheck]
    fn a_sealed_value_opens_only_under_its_key_before_its_expiry(
        key: String,
        other_key: String,
        value: Vec<u8>,
        expires: u64,
    ) -> bool {
        let expires = expires.max(1);
        let sealed = seal().seal(&key, &value, expires);
        seal().open(&key, &sealed, expires - 1) == Some(&value[..])
            && seal().open(&key, &sealed, expires).is_none()
            && (other_key == key || seal().open(&other_key, &sealed, 0).is_none())
            && ValueSeal::new(vec![8; 32]).open(&key, &sealed, 0).is_none()
    }

    #[quickcheck]
    fn any_changed_byte_is_refused(value: Vec<u8>, index: usize, flip: u8) -> bool {
        let mut sealed = seal().seal("df:session:ab", &value, u64::MAX);
        let i = index % sealed.len();
        sealed[i] ^= flip.max(1);
        seal().open("df:session:ab", &sealed, 0).is_none()
    }

    #[test]
    fn values_written_without_the_key_are_refused() {
        for forged in [&b""[..], b"0|owner|-1", &[0u8; 40], &[0u8; 200]] {
            assert!(seal().open("df:ent:x", forged, 0).is_none());
        }
        let key: Secret<String> = "c2hvcnQ=".to_owned().into();
        assert!(ValueSeal::from_config(&key).is_err());
        let unset = Secret::<String>::default();
        let (a, b) = (
            ValueSeal::from_config(&unset).unwrap(),
            ValueSeal::from_config(&unset).unwrap(),
        );
        assert!(
            b.open("k", &a.seal("k", b"v", 10), 0).is_none(),
            "random keys differ"
        );
    }
}
