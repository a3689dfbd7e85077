//! Signed gateway URLs for the filesystem store: HMAC-SHA-256 over the media id, the variant and
//! the expiry, under a key named in the URL so keys can be rotated (new URLs use the current
//! key; URLs of a retired key work while it stays configured).

use std::collections::BTreeMap;

use base64::Engine;
use df_common::Error;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{config::DeliverySettings, errors::MediaError, ids::MediaId, storage::Variant};

/// What a signed URL carries besides the media id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub expires: i64,
    pub key_id: String,
    /// Lower-case hex.
    pub mac: String,
}

/// Signs and checks URLs.
#[derive(Clone)]
pub struct UrlSigner {
    keys: BTreeMap<String, Vec<u8>>,
    current: String,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlSigner")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("current", &self.current)
            .finish()
    }
}

impl UrlSigner {
    /// The signer of `settings` (validated: the current key exists, every key decodes).
    pub fn new(settings: &DeliverySettings) -> Result<Self, Error> {
        let mut keys = BTreeMap::new();
        for (id, key) in &settings.signing_keys {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(key.expose().trim())
                .map_err(|_| {
                    Error::internal(anyhow::anyhow!("delivery.signing_keys.{id} is not base64"))
                })?;
            keys.insert(id.clone(), bytes);
        }
        if !keys.contains_key(&settings.signing_key_id) {
            return Err(Error::internal(anyhow::anyhow!(
                "delivery.signing_key_id names no key"
            )));
        }
        Ok(Self {
            keys,
            current: settings.signing_key_id.clone(),
        })
    }

    /// The signature of `variant` of `id` until `expires` (Unix seconds).
    pub fn sign(&self, id: MediaId, variant: Variant, expires: i64) -> Signature {
        let key = &self.keys[&self.current];
        Signature {
            expires,
            key_id: self.current.clone(),
            mac: hex::encode(mac(key, id, variant, expires).finalize().into_bytes()),
        }
    }

    /// Checks a signature at `now` (Unix seconds): any configured key, not expired, untampered.
    pub fn verify(
        &self,
        id: MediaId,
        variant: Variant,
        signature: &Signature,
        now: i64,
    ) -> Result<(), Error> {
        let key = self
            .keys
            .get(&signature.key_id)
            .ok_or(MediaError::InvalidSignature)?;
        let given = hex::decode(&signature.mac).map_err(|_| MediaError::InvalidSignature)?;
        mac(key, id, variant, signature.expires)
            .verify_slice(&given)
            .map_err(|_| MediaError::InvalidSignature)?;
        if signature.expires < now {
            return Err(MediaError::InvalidSignature.into());
        }
        Ok(())
    }
}

fn mac(key: &[u8], id: MediaId, variant: Variant, expires: i64) -> Hmac<Sha256> {
    #[allow(clippy::expect_used)] // HMAC takes keys of any length
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(format!("df-media-url-v1\n{id}\n{}\n{expires}", variant.name()).as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use df_common::secret::Secret;

    use super::*;

    fn signer(current: &str) -> UrlSigner {
        let mut settings = DeliverySettings::default();
        for (id, byte) in [("a", 1u8), ("b", 2u8)] {
            let key = base64::engine::general_purpose::STANDARD.encode([byte; 32]);
            settings.signing_keys.insert(id.into(), Secret::from(key));
        }
        settings.signing_key_id = current.into();
        UrlSigner::new(&settings).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_signature_holds_for_its_file_variant_and_time_only() {
        let signer = signer("a");
        let id = MediaId::new();
        let signed = signer.sign(id, Variant::Display, 1_000);
        assert!(signer.verify(id, Variant::Display, &signed, 999).is_ok());
        assert!(signer.verify(id, Variant::Display, &signed, 1_000).is_ok());
        let refused = |result: Result<(), Error>| {
            result
                .err()
                .map(|e| e.code().to_owned())
                .unwrap_or_default()
        };
        let code = "media.invalid_signature";
        assert_eq!(
            refused(signer.verify(id, Variant::Display, &signed, 1_001)),
            code
        );
        assert_eq!(
            refused(signer.verify(MediaId::new(), Variant::Display, &signed, 0)),
            code
        );
        assert_eq!(
            refused(signer.verify(id, Variant::ThumbSmall, &signed, 0)),
            code
        );
        let later = Signature {
            expires: 2_000,
            ..signed.clone()
        };
        assert_eq!(
            refused(signer.verify(id, Variant::Display, &later, 0)),
            code
        );
        let mut flipped = signed.clone();
        flipped.mac.replace_range(
            0..1,
            if flipped.mac.starts_with('0') {
                "1"
            } else {
                "0"
            },
        );
        assert_eq!(
            refused(signer.verify(id, Variant::Display, &flipped, 0)),
            code
        );
        let unknown = Signature {
            key_id: "z".into(),
            ..signed.clone()
        };
        assert_eq!(
            refused(signer.verify(id, Variant::Display, &unknown, 0)),
            code
        );
        let garbage = Signature {
            mac: "zz".into(),
            ..signed
        };
        assert_eq!(
            refused(signer.verify(id, Variant::Display, &garbage, 0)),
            code
        );
    }

    #[test]
    fn urls_of_a_retired_key_work_while_it_is_configured() {
        let id = MediaId::new();
        let old = signer("a").sign(id, Variant::Display, 50);
        let rotated = signer("b");
        assert!(rotated.verify(id, Variant::Display, &old, 10).is_ok());
        assert_eq!(rotated.sign(id, Variant::Display, 50).key_id, "b");
    }
}
