//! Encryption at rest with AES-256-GCM, for values a database leak must not give away: tax
//! fields (TINs, bank account numbers), queued email carrying one-time links.
//!
//! A value is sealed under the active key of a [`Keyring`] and stored next to that key's id, so
//! keys rotate without downtime: new values use the new key, older ones still open with the key
//! they name until they are re-sealed ([`Keyring::reseal`]). A key may be removed from the
//! configuration only once no row names it any more.
//!
//! The associated data binds a ciphertext to its owner and field ([`field_aad`]): a value copied
//! into another row or another column does not decrypt, so a database-level mix-up or tampering
//! cannot make one creator's TIN appear as another's.
//!
//! Each value gets a fresh random 96-bit nonce. NIST SP 800-38D bounds random nonces at 2^32
//! messages per key, which is far beyond the number of values one key will ever seal.

use std::{collections::BTreeMap, fmt};

use crate::{
    config::ConfigError,
    error::{Error, ErrorKind},
    secret::Secret,
};
use aes_gcm::{
    AeadInPlace, Aes256Gcm, KeyInit, Nonce, Tag,
    aead::{
        consts::U12,
        rand_core::{OsRng, RngCore},
    },
};
use base64::Engine;
use serde::Deserialize;
use zeroize::{Zeroize, Zeroizing};

/// Bytes of the random nonce that starts every ciphertext.
pub const NONCE_LEN: usize = 12;
/// Bytes of the authentication tag that ends every ciphertext.
pub const TAG_LEN: usize = 16;
/// Bytes of an AES-256 key.
pub const KEY_LEN: usize = 32;
/// Longest key id; ids are stored in every encrypted row.
pub const MAX_KEY_ID_LEN: usize = 32;

/// Keys that encrypt values at rest (a section of each service that needs one, such as
/// `tax.encryption` or `mail.encryption`).
///
/// Key ids are lower case (`a-z`, `0-9`, `_`, `-`) because environment variables name them
/// (`DF_TAX__ENCRYPTION__KEYS__K2025=<base64>`) and the configuration loader lower-cases those
/// names; allowing upper case would let `active_key_id = "K2025"` miss the key it means.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncryptionConfig {
    /// The key that seals new values.
    pub active_key_id: String,
    /// Key id → base64 of 32 random bytes (`openssl rand -base64 32`). Every key that still
    /// sealed a stored value must stay here.
    pub keys: BTreeMap<String, Secret<String>>,
}

impl EncryptionConfig {
    /// Appends one line per problem, naming settings under `section` (`tax.encryption`).
    pub fn validate_at(&self, section: &str, problems: &mut Vec<String>) {
        if self.keys.is_empty() {
            problems.push(format!(
                "{section}.keys: at least one key is required (base64 of 32 random bytes, from a secret file)"
            ));
        }
        let mut bad_ids = false;
        for (id, key) in &self.keys {
            if !valid_key_id(id) {
                // The id is not echoed: a value pasted into the wrong place may be key material.
                bad_ids = true;
                continue;
            }
            if let Err(problem) = decode_key(key.expose()) {
                problems.push(format!("{section}.keys.{id}: {problem} (value hidden)"));
            }
        }
        if bad_ids {
            problems.push(format!(
                "{section}.keys: every key id must be 1 to {MAX_KEY_ID_LEN} characters of a-z, 0-9, '_' or '-' (offending id hidden)"
            ));
        }
        if self.active_key_id.is_empty() {
            problems.push(format!(
                "{section}.active_key_id: required (the id of the key that encrypts new values)"
            ));
        } else if !self.keys.contains_key(&self.active_key_id) {
            let known: Vec<&str> = self
                .keys
                .keys()
                .map(String::as_str)
                .filter(|id| valid_key_id(id))
                .collect();
            let active = if valid_key_id(&self.active_key_id) {
                format!("`{}`", self.active_key_id)
            } else {
                "the configured id".to_owned()
            };
            problems.push(format!(
                "{section}.active_key_id: {active} is not one of {section}.keys (configured: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ));
        }
    }
}

impl EncryptionConfig {
    /// One fresh random key under id `local`, for local development and tests: values sealed
    /// with it cannot be opened after a restart.
    pub fn ephemeral() -> Self {
        let mut key = Zeroizing::new([0_u8; KEY_LEN]);
        OsRng.fill_bytes(key.as_mut());
        Self {
            active_key_id: "local".into(),
            keys: [(
                "local".to_owned(),
                base64::engine::general_purpose::STANDARD
                    .encode(key.as_ref())
                    .into(),
            )]
            .into_iter()
            .collect(),
        }
    }
}

fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Decodes a configured key; the bytes are wiped when dropped.
fn decode_key(value: &str) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| "is not valid base64")?,
    );
    if bytes.len() != KEY_LEN {
        return Err("must decode to exactly 32 bytes");
    }
    Ok(bytes)
}

/// A sealed value as stored: the id of the key that sealed it and
/// `nonce (12 bytes) || ciphertext || tag (16 bytes)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// The key that sealed the value.
    pub key_id: String,
    /// Nonce, ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

/// A decrypted value: redacted when printed, wiped from memory when dropped.
pub type Plaintext = Secret<Zeroizing<String>>;

/// The associated data that binds a value to where it is stored, e.g.
/// `field_aad("tax_profile", creator_id, "tin")` → `b"tax_profile:<creator_id>:tin"`.
///
/// `record` and `field` are fixed identifiers without `:`; the owner's id comes last but one, so
/// distinct places always give distinct bytes.
pub fn field_aad(record: &'static str, owner: impl fmt::Display, field: &'static str) -> Vec<u8> {
    format!("{record}:{owner}:{field}").into_bytes()
}

/// The loaded keys: encrypts with the active one, decrypts with any.
pub struct Keyring {
    active: String,
    ciphers: BTreeMap<String, Aes256Gcm>,
}

/// Only key ids are printed, never key material.
impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .field("key_ids", &self.ciphers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// Loads every configured key, reporting the same problems as
    /// [`EncryptionConfig::validate_at`] under `section`.
    pub fn from_config(config: &EncryptionConfig, section: &str) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        config.validate_at(section, &mut problems);
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        let mut ciphers = BTreeMap::new();
        for (id, key) in &config.keys {
            let cipher = decode_key(key.expose())
                .ok()
                .and_then(|bytes| Aes256Gcm::new_from_slice(&bytes).ok());
            match cipher {
                Some(cipher) => {
                    ciphers.insert(id.clone(), cipher);
                }
                None => problems.push(format!("{section}.keys.{id}: unusable key (value hidden)")),
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        Ok(Self {
            active: config.active_key_id.clone(),
            ciphers,
        })
    }

    /// The id of the key that seals new values.
    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    /// Seals `plaintext` under the active key, bound to `aad`.
    pub fn encrypt(&self, plaintext: &str, aad: &[u8]) -> Result<Sealed, Error> {
        let cipher = self.cipher(&self.active)?;
        let mut nonce = [0_u8; NONCE_LEN];
        OsRng
            .try_fill_bytes(&mut nonce)
            .map_err(|e| Error::internal(anyhow::anyhow!("no randomness for a nonce: {e}")))?;
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext.as_bytes());
        let sealed = cipher.encrypt_in_place_detached(
            Nonce::<U12>::from_slice(&nonce),
            aad,
            &mut out[NONCE_LEN..],
        );
        match sealed {
            Ok(tag) => {
                out.extend_from_slice(&tag);
                Ok(Sealed {
                    key_id: self.active.clone(),
                    ciphertext: out,
                })
            }
            Err(_) => {
                // Only a message beyond GCM's length limit fails; the buffer still holds it.
                out.zeroize();
                Err(Error::internal(anyhow::anyhow!(
                    "encryption failed (plaintext too long)"
                )))
            }
        }
    }

    /// Opens a value sealed under `key_id` for the place described by `aad`.
    ///
    /// Any change to the ciphertext, the wrong key or a different `aad` fails with an opaque
    /// internal error: the caller has nothing to correct, and the cause is only logged.
    pub fn decrypt(&self, key_id: &str, ciphertext: &[u8], aad: &[u8]) -> Result<Plaintext, Error> {
        let cipher = self.cipher(key_id)?;
        let failed = || {
            Error::internal(anyhow::anyhow!(
                "decryption failed under key `{key_id}` (tampered, moved or truncated)"
            ))
        };
        if ciphertext.len() < NONCE_LEN + TAG_LEN {
            return Err(failed());
        }
        let (nonce, rest) = ciphertext.split_at(NONCE_LEN);
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut buffer = Zeroizing::new(body.to_vec());
        cipher
            .decrypt_in_place_detached(
                Nonce::<U12>::from_slice(nonce),
                aad,
                &mut buffer,
                Tag::from_slice(tag),
            )
            .map_err(|_| failed())?;
        match String::from_utf8(std::mem::take(&mut *buffer)) {
            Ok(text) => Ok(Secret::new(Zeroizing::new(text))),
            Err(error) => {
                error.into_bytes().zeroize();
                Err(failed())
            }
        }
    }

    /// Opens a value and seals it again under the active key (the rotation job). Returns `None`
    /// when it already uses the active key.
    pub fn reseal(&self, sealed: &Sealed, aad: &[u8]) -> Result<Option<Sealed>, Error> {
        if sealed.key_id == self.active {
            return Ok(None);
        }
        let plaintext = self.decrypt(&sealed.key_id, &sealed.ciphertext, aad)?;
        self.encrypt(plaintext.expose(), aad).map(Some)
    }

    fn cipher(&self, key_id: &str) -> Result<&Aes256Gcm, Error> {
        self.ciphers.get(key_id).ok_or_else(|| {
            // The public message stays the generic one; the code lets operators find it.
            let generic = Error::of_kind(ErrorKind::Internal);
            Error::new(
                ErrorKind::Internal,
                "common.encryption_key_unknown",
                generic.message().to_owned(),
            )
            .with_cause(anyhow::anyhow!(
                "no encryption key `{key_id}` is configured; a key was removed while values sealed under it remain"
            ))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const SECTION: &str = "tax.encryption";
    use quickcheck::TestResult;
    use quickcheck_macros::quickcheck;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn random_key() -> String {
        let mut key = [0_u8; KEY_LEN];
        OsRng.fill_bytes(&mut key);
        b64(&key)
    }

    fn config(keys: &[(&str, &str)], active: &str) -> EncryptionConfig {
        EncryptionConfig {
            active_key_id: active.to_owned(),
            keys: keys
                .iter()
                .map(|(id, key)| ((*id).to_owned(), Secret::from(*key)))
                .collect(),
        }
    }

    fn keyring() -> Keyring {
        Keyring::from_config(&config(&[("k1", &random_key())], "k1"), SECTION).unwrap()
    }

    const AAD: &[u8] = b"tax_profile:0190f0c2-7a4e-7000-8000-000000000001:tin";

    #[quickcheck]
    fn sealed_values_open_again(plaintext: String, aad: Vec<u8>) -> bool {
        let keyring = keyring();
        let sealed = keyring.encrypt(&plaintext, &aad).unwrap();
        let opened = keyring
            .decrypt(&sealed.key_id, &sealed.ciphertext, &aad)
            .unwrap();
        sealed.key_id == "k1"
            && sealed.ciphertext.len() == NONCE_LEN + plaintext.len() + TAG_LEN
            && opened.expose().as_str() == plaintext
    }

    #[quickcheck]
    fn flipping_any_byte_fails(plaintext: String, position: usize, flip: u8) -> bool {
        let keyring = keyring();
        let sealed = keyring.encrypt(&plaintext, AAD).unwrap();
        let mut tampered = sealed.ciphertext.clone();
        let index = position % tampered.len();
        tampered[index] ^= flip.max(1);
        match keyring.decrypt(&sealed.key_id, &tampered, AAD) {
            Ok(_) => false,
            Err(error) => error.kind() == ErrorKind::Internal && error.code() == "common.internal",
        }
    }

    #[quickcheck]
    fn another_aad_fails(plaintext: String, aad: Vec<u8>, other: Vec<u8>) -> TestResult {
        if aad == other {
            return TestResult::discard();
        }
        let keyring = keyring();
        let sealed = keyring.encrypt(&plaintext, &aad).unwrap();
        TestResult::from_bool(
            keyring
                .decrypt(&sealed.key_id, &sealed.ciphertext, &other)
                .is_err(),
        )
    }

    #[quickcheck]
    fn old_keys_still_open_after_rotation(plaintext: String) -> bool {
        let old = random_key();
        let before = Keyring::from_config(&config(&[("k1", &old)], "k1"), SECTION).unwrap();
        let sealed = before.encrypt(&plaintext, AAD).unwrap();

        let after = Keyring::from_config(
            &config(&[("k1", &old), ("k2", &random_key())], "k2"),
            SECTION,
        )
        .unwrap();
        let opened = after
            .decrypt(&sealed.key_id, &sealed.ciphertext, AAD)
            .unwrap();
        let fresh = after.encrypt(&plaintext, AAD).unwrap();
        let resealed = after.reseal(&sealed, AAD).unwrap().unwrap();
        opened.expose().as_str() == plaintext
            && fresh.key_id == "k2"
            && resealed.key_id == "k2"
            && after
                .decrypt("k2", &resealed.ciphertext, AAD)
                .unwrap()
                .expose()
                .as_str()
                == plaintext
            && after.reseal(&resealed, AAD).unwrap().is_none()
    }

    #[test]
    fn a_value_under_one_key_does_not_open_under_another() {
        let keyring = Keyring::from_config(
            &config(&[("k1", &random_key()), ("k2", &random_key())], "k1"),
            SECTION,
        )
        .unwrap();
        let sealed = keyring.encrypt("123456789", AAD).unwrap();
        assert!(keyring.decrypt("k2", &sealed.ciphertext, AAD).is_err());
    }

    #[test]
    fn the_same_value_seals_differently_each_time() {
        let keyring = keyring();
        let a = keyring.encrypt("123456789", AAD).unwrap();
        let b = keyring.encrypt("123456789", AAD).unwrap();
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_ne!(a.ciphertext[..NONCE_LEN], b.ciphertext[..NONCE_LEN]);
    }

    #[test]
    fn a_moved_value_does_not_open() {
        let keyring = keyring();
        let owner = uuid::Uuid::now_v7();
        let sealed = keyring
            .encrypt("123456789", &field_aad("tax_profile", owner, "tin"))
            .unwrap();
        let elsewhere = [
            field_aad("tax_profile", uuid::Uuid::now_v7(), "tin"),
            field_aad("tax_profile", owner, "account_number"),
            field_aad("payout_account", owner, "tin"),
        ];
        for aad in elsewhere {
            assert!(keyring.decrypt("k1", &sealed.ciphertext, &aad).is_err());
        }
        assert_eq!(
            field_aad("tax_profile", owner, "tin"),
            format!("tax_profile:{owner}:tin").into_bytes()
        );
    }

    #[test]
    fn truncated_ciphertexts_fail_without_panicking() {
        let keyring = keyring();
        let sealed = keyring.encrypt("", AAD).unwrap();
        assert_eq!(sealed.ciphertext.len(), NONCE_LEN + TAG_LEN);
        for len in 0..sealed.ciphertext.len() {
            assert!(
                keyring
                    .decrypt("k1", &sealed.ciphertext[..len], AAD)
                    .is_err()
            );
        }
        assert!(keyring.decrypt("k1", &sealed.ciphertext, AAD).is_ok());
    }

    #[test]
    fn failures_say_nothing_in_public() {
        let keyring = keyring();
        let sealed = keyring.encrypt("123456789", AAD).unwrap();
        let error = keyring
            .decrypt("k1", &sealed.ciphertext, b"other")
            .unwrap_err();
        let generic = Error::of_kind(ErrorKind::Internal);
        assert_eq!(error.message(), generic.message());
        assert_eq!(error.to_problem(None).detail, generic.message());

        let error = keyring
            .decrypt("retired", &sealed.ciphertext, AAD)
            .unwrap_err();
        assert_eq!(error.code(), "common.encryption_key_unknown");
        assert_eq!(error.kind(), ErrorKind::Internal);
        assert_eq!(error.message(), generic.message());
        assert!(format!("{:#}", error.cause().unwrap()).contains("retired"));
    }

    #[test]
    fn key_material_is_never_printed() {
        let raw = [0x5a_u8; KEY_LEN];
        let key = b64(&raw);
        let config = config(&[("k1", &key)], "k1");
        let keyring = Keyring::from_config(&config, SECTION).unwrap();
        let printed = format!("{config:?} {config:#?} {keyring:?} {keyring:#?}");
        assert!(!printed.contains(&key), "{printed}");
        assert!(!printed.contains("5a5a"), "{printed}");
        assert!(!printed.contains("90, 90"), "{printed}");
        assert!(printed.contains("k1"));
    }

    #[test]
    fn validation_names_each_bad_setting_without_its_value() {
        let short = b64(&[7_u8; 16]);
        let not_base64 = "this is not base64 !!";
        let config = config(
            &[
                ("k1", &short),
                ("k2", not_base64),
                ("K3", &random_key()),
                ("k4", &random_key()),
            ],
            "k9",
        );
        let mut problems = Vec::new();
        config.validate_at(SECTION, &mut problems);
        let all = problems.join("\n");
        assert_eq!(problems.len(), 4, "{all}");
        assert!(all.contains("tax.encryption.keys.k1: must decode to exactly 32 bytes"));
        assert!(all.contains("tax.encryption.keys.k2: is not valid base64"));
        assert!(all.contains("every key id must be"));
        assert!(all.contains("tax.encryption.active_key_id: `k9` is not one of"));
        assert!(!all.contains(&short) && !all.contains(not_base64), "{all}");
        assert!(!all.contains("K3"), "{all}");

        let error = Keyring::from_config(&config, SECTION).unwrap_err();
        assert_eq!(error.problems, problems);
    }

    #[test]
    fn an_empty_configuration_is_refused() {
        let mut problems = Vec::new();
        EncryptionConfig::default().validate_at(SECTION, &mut problems);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("tax.encryption.keys: at least one key"));
        assert!(problems[1].starts_with("tax.encryption.active_key_id: required"));

        let mut problems = Vec::new();
        EncryptionConfig::default().validate_at("payments.tax", &mut problems);
        assert!(problems.iter().all(|p| p.starts_with("payments.tax.")));
    }

    #[test]
    fn keys_load_through_the_configuration_loader() {
        let key = random_key();
        let old = random_key();
        #[derive(Default, Deserialize)]
        #[serde(default)]
        struct Tax {
            encryption: EncryptionConfig,
        }
        impl crate::config::Validate for Tax {
            fn validate(&self, problems: &mut Vec<String>) {
                self.encryption.validate_at("encryption", problems);
            }
        }
        let sources = crate::config::Sources {
            env: vec![
                ("DF_ENCRYPTION__ACTIVE_KEY_ID".into(), "k2025".into()),
                ("DF_ENCRYPTION__KEYS__K2025".into(), key.clone()),
                ("DF_ENCRYPTION__KEYS__K2024".into(), old.clone()),
            ],
            ..Default::default()
        };
        let config = crate::config::load_from::<Tax>(&sources)
            .unwrap()
            .encryption;
        assert_eq!(config.keys.len(), 2);
        assert_eq!(config.keys["k2025"].expose(), &key);
        let keyring = Keyring::from_config(&config, SECTION).unwrap();
        assert_eq!(keyring.active_key_id(), "k2025");
    }
}
