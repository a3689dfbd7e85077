//! Internal principal tokens.
//!
//! The gateway mints a short-lived token after identity validated a session (or, for anonymous
//! calls such as signup, for itself as a service), and every internal gRPC call carries it in the
//! `x-df-principal` metadata entry. A service trusts nothing else: a bare user id in metadata
//! means nothing.
//!
//! Format: `v1.<key id>.<base64url(JSON claims)>.<base64url(Ed25519 signature)>`, where the
//! signature covers everything before the last dot. Only the gateway holds a signing key; every
//! service verifies with public keys, so no other service can mint a principal. Several public
//! keys may verify at once (rotation).
//!
//! Every token names its audience, the one service it was minted for, and a service refuses
//! tokens minted for any other: a token that leaks from one service's traffic (or logs) opens
//! nothing elsewhere. Methods that only another service may call name the services they accept
//! ([`Principal::require_service`]); holding the `service` role alone is not enough.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::{config::InternalAuthConfig, error::Error, ids::UserId, secret::Secret};

/// Metadata key of the principal token.
pub const PRINCIPAL_METADATA: &str = "x-df-principal";
const VERSION: &str = "v1";
/// Accepted clock difference between services.
const CLOCK_SKEW_SECS: i64 = 5;

/// A role a principal holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A paying or free follower.
    Fan,
    /// Publishes content and earns.
    Creator,
    /// Reviews content and reports.
    Moderator,
    /// Runs the platform.
    Admin,
    /// Another service acting for itself (never a person).
    Service,
}

impl Role {
    /// Staff roles get shorter sessions and stricter checks.
    pub fn is_staff(self) -> bool {
        matches!(self, Self::Moderator | Self::Admin)
    }

    /// The role's name as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fan => "fan",
            Self::Creator => "creator",
            Self::Moderator => "moderator",
            Self::Admin => "admin",
            Self::Service => "service",
        }
    }

    /// Parses a stored role name.
    pub fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "fan" => Self::Fan,
            "creator" => Self::Creator,
            "moderator" => Self::Moderator,
            "admin" => Self::Admin,
            "service" => Self::Service,
            _ => return None,
        })
    }
}

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// A signed-in user.
    User {
        /// The user.
        user_id: UserId,
    },
    /// A service acting on its own behalf (e.g. the gateway for an anonymous signup).
    Service {
        /// The service name.
        name: String,
    },
}

/// The names services go by: in their own tokens' subjects and as audiences.
pub mod service {
    /// The public edge.
    pub const GATEWAY: &str = "gateway";
    /// Accounts and sessions.
    pub const IDENTITY: &str = "identity";
    /// Money.
    pub const PAYMENTS: &str = "payments";
    /// Posts and media.
    pub const MEDIA: &str = "media";
    /// Reports, reviews and penalties.
    pub const MODERATION: &str = "moderation";
    /// Consent and data-subject requests.
    pub const PRIVACY: &str = "privacy";
}

/// The verified claims of a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Who.
    pub sub: Subject,
    /// Roles held.
    pub roles: Vec<Role>,
    /// The service the token was minted for; every other service refuses it.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
}

impl Principal {
    /// The user id when the caller is a user.
    pub fn user_id(&self) -> Option<UserId> {
        match &self.sub {
            Subject::User { user_id } => Some(*user_id),
            Subject::Service { .. } => None,
        }
    }

    /// True when the principal holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The user id, or `unauthenticated` when a service calls something only users may.
    pub fn require_user(&self) -> Result<UserId, Error> {
        self.user_id().ok_or_else(Error::unauthenticated)
    }

    /// The calling service's name, when a service calls for itself.
    pub fn service_name(&self) -> Option<&str> {
        match &self.sub {
            Subject::Service { name } if self.has_role(Role::Service) => Some(name),
            _ => None,
        }
    }

    /// Refuses unless the caller is one of the services `allowed`, acting for itself.
    pub fn require_service(&self, allowed: &[&str]) -> Result<(), Error> {
        match self.service_name() {
            Some(name) if allowed.contains(&name) => Ok(()),
            _ => Err(Error::forbidden()),
        }
    }

    /// Refuses unless the principal holds one of `roles`.
    pub fn require_any_role(&self, roles: &[Role]) -> Result<(), Error> {
        if roles.iter().any(|r| self.has_role(*r)) {
            Ok(())
        } else {
            Err(Error::forbidden())
        }
    }
}

/// Mints (when it holds the signing key) and verifies principal tokens.
///
/// Both ends remember their work for a while, since a signature costs tens of microseconds on
/// every internal call: a minted token is handed out again for the same subject and roles
/// during the first half of its life, and a verified token is accepted again until it expires.
/// Clones share what they remember.
#[derive(Clone)]
pub struct TokenSigner {
    /// The service whose tokens this verifies (its own name).
    audience: String,
    signing: Option<(String, SigningKey)>,
    verifying: BTreeMap<String, VerifyingKey>,
    /// Key id → the service that key may speak for (only itself, acting as a service).
    issuers: BTreeMap<String, String>,
    ttl: Duration,
    minted: Arc<Mutex<MintedTokens>>,
    verified: Arc<Mutex<HashMap<String, Principal>>>,
}

/// Tokens minted, by subject, roles and audience, with their expiry.
type MintedTokens = HashMap<(Subject, Vec<Role>, String), (String, i64)>;

/// Tokens remembered at most on each side; the memory is cleared when full.
const REMEMBERED_TOKENS: usize = 10_000;

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("audience", &self.audience)
            .field("signing_key_id", &self.signing.as_ref().map(|(id, _)| id))
            .field(
                "verifying_key_ids",
                &self.verifying.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn decode_32(value: &str, what: &str) -> Result<[u8; 32], Error> {
    STANDARD
        .decode(value.trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
        .ok_or_else(|| Error::internal(anyhow::anyhow!("{what} is not 32 bytes of base64")))
}

/// A fresh random signing seed and its public key, both base64 (for operators and dev setups).
pub fn generate_key_pair() -> (Secret<String>, String) {
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    let key = SigningKey::from_bytes(&seed);
    (
        Secret::new(STANDARD.encode(seed)),
        STANDARD.encode(key.verifying_key().as_bytes()),
    )
}

/// The base64 public key of a base64 signing seed.
pub fn public_key_of(seed: &Secret<String>) -> Result<String, Error> {
    let key = SigningKey::from_bytes(&decode_32(seed.expose(), "internal_auth.signing_key")?);
    Ok(STANDARD.encode(key.verifying_key().as_bytes()))
}

impl TokenSigner {
    /// Builds a signer from validated configuration, for the service named `audience`: it
    /// accepts only tokens minted for that name.
    pub fn from_config(config: &InternalAuthConfig, audience: &str) -> Result<Self, Error> {
        let mut verifying = BTreeMap::new();
        for (id, key) in &config.verifying_keys {
            let bytes = decode_32(key, &format!("internal_auth.verifying_keys.{id}"))?;
            let key = VerifyingKey::from_bytes(&bytes).map_err(|_| {
                Error::internal(anyhow::anyhow!(
                    "internal_auth.verifying_keys.{id} is not a valid key"
                ))
            })?;
            verifying.insert(id.clone(), key);
        }
        let signing = match &config.signing_key {
            Some(seed) => {
                let key =
                    SigningKey::from_bytes(&decode_32(seed.expose(), "internal_auth.signing_key")?);
                verifying.insert(config.signing_key_id.clone(), key.verifying_key());
                Some((config.signing_key_id.clone(), key))
            }
            None => None,
        };
        if verifying.is_empty() {
            return Err(Error::internal(anyhow::anyhow!(
                "no internal auth key configured"
            )));
        }
        Ok(Self {
            audience: audience.to_owned(),
            signing,
            verifying,
            issuers: config.key_issuers.clone(),
            ttl: Duration::from_secs(config.token_ttl_secs),
            minted: Arc::default(),
            verified: Arc::default(),
        })
    }

    /// A signer with one key pair from `seed`, verifying for `audience`, for tests and local
    /// development.
    pub fn with_key(key_id: &str, seed: &[u8; 32], ttl: Duration, audience: &str) -> Self {
        let key = SigningKey::from_bytes(seed);
        let mut verifying = BTreeMap::new();
        verifying.insert(key_id.to_owned(), key.verifying_key());
        Self {
            audience: audience.to_owned(),
            signing: Some((key_id.to_owned(), key)),
            verifying,
            issuers: BTreeMap::new(),
            ttl,
            minted: Arc::default(),
            verified: Arc::default(),
        }
    }

    /// Mints a token for `sub` with `roles`, for the service named `audience`, valid for the
    /// configured lifetime. Only a service configured with the signing key can; others get an
    /// internal error.
    pub fn mint(&self, sub: Subject, roles: Vec<Role>, audience: &str) -> Result<String, Error> {
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(60);
        let key = (sub, roles, audience.to_owned());
        if let Ok(minted) = self.minted.lock()
            && let Some((token, exp)) = minted.get(&key)
            && exp - now > ttl / 2
        {
            return Ok(token.clone());
        }
        let (sub, roles, aud) = key;
        let exp = now + ttl;
        let token = self.sign(&Principal {
            sub: sub.clone(),
            roles: roles.clone(),
            aud: aud.clone(),
            exp,
        })?;
        if let Ok(mut minted) = self.minted.lock() {
            if minted.len() >= REMEMBERED_TOKENS {
                minted.clear();
            }
            minted.insert((sub, roles, aud), (token.clone(), exp));
        }
        Ok(token)
    }

    /// The service this signer belongs to: the audience it verifies for, and the name its own
    /// service tokens carry.
    pub fn service(&self) -> &str {
        &self.audience
    }

    /// The key ids of a service's own key accepted only for `service` acting for itself (tests
    /// and local setups; deployments set `internal_auth.key_issuers`).
    pub fn with_issuer(mut self, key_id: &str, service: &str) -> Self {
        self.issuers.insert(key_id.to_owned(), service.to_owned());
        self
    }

    /// Signs explicit claims (tests use this for expired tokens).
    pub fn sign(&self, principal: &Principal) -> Result<String, Error> {
        let (key_id, key) = self
            .signing
            .as_ref()
            .ok_or_else(|| Error::internal(anyhow::anyhow!("this service holds no signing key")))?;
        if !self.issuer_may_sign(key_id, principal) {
            return Err(Error::internal(anyhow::anyhow!(
                "key {key_id} signs only for its own service"
            )));
        }
        let claims = serde_json::to_vec(principal).map_err(Error::internal)?;
        let head = format!("{VERSION}.{key_id}.{}", URL_SAFE_NO_PAD.encode(claims));
        let signature = key.sign(head.as_bytes());
        Ok(format!(
            "{head}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        ))
    }

    /// Verifies a token and returns its claims. Any change to any byte, an unknown key, a
    /// malformed token, an expired one or one minted for another service is refused with the
    /// same error.
    pub fn verify(&self, token: &str) -> Result<Principal, Error> {
        let now = chrono::Utc::now().timestamp();
        if let Ok(verified) = self.verified.lock()
            && let Some(principal) = verified.get(token)
            && principal.exp + CLOCK_SKEW_SECS >= now
        {
            return Ok(principal.clone());
        }
        let principal = self.verify_signature(token)?;
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= REMEMBERED_TOKENS {
                verified.clear();
            }
            verified.insert(token.to_owned(), principal.clone());
        }
        Ok(principal)
    }

    fn verify_signature(&self, token: &str) -> Result<Principal, Error> {
        let refuse = || {
            Error::new(
                crate::error::ErrorKind::Unauthenticated,
                "common.invalid_principal",
                "The internal credentials are missing or invalid.",
            )
        };
        if token.len() > 4096 {
            return Err(refuse());
        }
        let (head, signature) = token.rsplit_once('.').ok_or_else(refuse)?;
        let mut parts = head.splitn(3, '.');
        let (Some(version), Some(key_id), Some(claims)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(refuse());
        };
        if version != VERSION {
            return Err(refuse());
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| refuse())?;
        let signature = Signature::from_slice(&signature).map_err(|_| refuse())?;
        let key = self.verifying.get(key_id).ok_or_else(refuse)?;
        key.verify_strict(head.as_bytes(), &signature)
            .map_err(|_| refuse())?;
        // Only now, with the signature checked, is the payload parsed.
        let claims = URL_SAFE_NO_PAD.decode(claims).map_err(|_| refuse())?;
        let principal: Principal = serde_json::from_slice(&claims).map_err(|_| refuse())?;
        if principal.exp + CLOCK_SKEW_SECS < chrono::Utc::now().timestamp()
            || principal.aud != self.audience
            || !self.issuer_may_sign(key_id, &principal)
        {
            return Err(refuse());
        }
        Ok(principal)
    }

    /// A service's own key speaks only for that service, acting for itself; the gateway's keys
    /// (no issuer listed) speak for anyone.
    fn issuer_may_sign(&self, key_id: &str, principal: &Principal) -> bool {
        match self.issuers.get(key_id) {
            None => true,
            Some(issuer) => {
                principal.roles == [Role::Service]
                    && matches!(&principal.sub, Subject::Service { name } if name == issuer)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck_macros::quickcheck;

    fn signer() -> TokenSigner {
        TokenSigner::with_key("k1", &[7u8; 32], Duration::from_secs(60), service::IDENTITY)
    }

    #[test]
    fn minted_tokens_are_reused_and_remembered_verifications_still_expire() {
        let signer = signer();
        let gateway = || Subject::Service {
            name: "gateway".into(),
        };
        let first = signer
            .mint(gateway(), vec![Role::Service], service::IDENTITY)
            .unwrap();
        assert_eq!(
            signer
                .mint(gateway(), vec![Role::Service], service::IDENTITY)
                .unwrap(),
            first,
            "reused during the first half of its life"
        );
        let media = Subject::Service {
            name: "media".into(),
        };
        assert_ne!(
            signer
                .mint(media, vec![Role::Service], service::IDENTITY)
                .unwrap(),
            first
        );
        assert_ne!(
            signer
                .mint(gateway(), vec![Role::Admin], service::IDENTITY)
                .unwrap(),
            first
        );
        assert_eq!(
            signer.verify(&first).unwrap(),
            signer.verify(&first).unwrap()
        );

        // A token remembered as verified is refused once it has expired.
        let expired = Principal {
            sub: gateway(),
            roles: vec![Role::Service],
            aud: service::IDENTITY.into(),
            exp: chrono::Utc::now().timestamp() - CLOCK_SKEW_SECS - 5,
        };
        let token = signer.sign(&expired).unwrap();
        signer
            .verified
            .lock()
            .unwrap()
            .insert(token.clone(), expired);
        assert!(signer.verify(&token).is_err());
        // A tampered copy of a remembered token is not what was remembered.
        let mut tampered = first.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(
            signer
                .verify(std::str::from_utf8(&tampered).unwrap())
                .is_err()
        );
    }

    fn user_token() -> (String, UserId) {
        let user = UserId::new();
        (
            signer()
                .mint(
                    Subject::User { user_id: user },
                    vec![Role::Fan],
                    service::IDENTITY,
                )
                .unwrap(),
            user,
        )
    }

    #[test]
    fn a_minted_token_verifies() {
        let (token, user) = user_token();
        let principal = signer().verify(&token).unwrap();
        assert_eq!(principal.user_id(), Some(user));
        assert!(principal.has_role(Role::Fan));
    }

    #[quickcheck]
    fn any_tampered_byte_is_refused(position: usize, flip: u8) -> bool {
        let (token, _) = user_token();
        let mut bytes = token.into_bytes();
        let index = position % bytes.len();
        let flip = if flip == 0 { 1 } else { flip };
        bytes[index] ^= flip;
        let tampered = String::from_utf8_lossy(&bytes).into_owned();
        signer().verify(&tampered).is_err()
    }

    #[quickcheck]
    fn truncated_or_extended_tokens_are_refused(cut: usize, extra: String) -> bool {
        let (token, _) = user_token();
        let cut = cut % token.len();
        let extended = format!("{token}{extra}");
        signer().verify(&token[..cut]).is_err()
            && (extra.is_empty() || signer().verify(&extended).is_err())
    }

    #[test]
    fn expired_wrong_key_and_bare_ids_are_refused() {
        let expired = signer().sign(&Principal {
            sub: Subject::User {
                user_id: UserId::new(),
            },
            roles: vec![Role::Admin],
            aud: service::IDENTITY.into(),
            exp: chrono::Utc::now().timestamp() - 60,
        });
        assert!(signer().verify(&expired.unwrap()).is_err());
        let other =
            TokenSigner::with_key("k1", &[8u8; 32], Duration::from_secs(60), service::IDENTITY);
        let (token, user) = user_token();
        assert!(other.verify(&token).is_err());
        assert!(signer().verify(&user.to_string()).is_err());
        assert!(signer().verify("").is_err());
    }

    #[test]
    fn rotation_accepts_old_keys_and_verifiers_cannot_mint() {
        let old = TokenSigner::with_key(
            "old",
            &[1u8; 32],
            Duration::from_secs(60),
            service::IDENTITY,
        );
        let token = old
            .mint(
                Subject::Service {
                    name: "gateway".into(),
                },
                vec![Role::Service],
                service::IDENTITY,
            )
            .unwrap();
        let old_public = STANDARD.encode(
            SigningKey::from_bytes(&[1u8; 32])
                .verifying_key()
                .as_bytes(),
        );
        let (new_seed, _) = generate_key_pair();
        let config = InternalAuthConfig {
            signing_key: Some(new_seed),
            signing_key_id: "new".into(),
            verifying_keys: [("old".to_owned(), old_public.clone())]
                .into_iter()
                .collect(),
            key_issuers: Default::default(),
            token_ttl_secs: 60,
        };
        let both = TokenSigner::from_config(&config, service::IDENTITY).unwrap();
        assert!(both.verify(&token).is_ok());
        let fresh = both
            .mint(
                Subject::Service {
                    name: "gateway".into(),
                },
                vec![Role::Service],
                service::IDENTITY,
            )
            .unwrap();
        assert!(both.verify(&fresh).is_ok());

        let verifier_only = TokenSigner::from_config(
            &InternalAuthConfig {
                signing_key: None,
                verifying_keys: [("old".to_owned(), old_public)].into_iter().collect(),
                ..InternalAuthConfig::default()
            },
            service::IDENTITY,
        )
        .unwrap();
        assert!(verifier_only.verify(&token).is_ok());
        assert!(
            verifier_only
                .mint(
                    Subject::Service { name: "x".into() },
                    vec![Role::Admin],
                    service::IDENTITY
                )
                .is_err()
        );
    }

    #[test]
    fn a_token_minted_for_one_service_is_refused_by_every_other() {
        let for_identity = signer();
        let for_payments =
            TokenSigner::with_key("k1", &[7u8; 32], Duration::from_secs(60), service::PAYMENTS);
        let subject = Subject::User {
            user_id: UserId::new(),
        };
        let token = for_payments
            .mint(subject.clone(), vec![Role::Fan], service::PAYMENTS)
            .unwrap();
        assert!(for_payments.verify(&token).is_ok());
        assert!(
            for_identity.verify(&token).is_err(),
            "same key, other audience"
        );
        let token = for_payments
            .mint(subject, vec![Role::Fan], service::IDENTITY)
            .unwrap();
        assert!(for_identity.verify(&token).is_ok());
        assert!(for_payments.verify(&token).is_err());
    }

    #[test]
    fn a_services_own_key_speaks_only_for_that_service_acting_for_itself() {
        // Media's key, as payments knows it: verifying key `media-k1`, issuer `media`.
        let media_signs = TokenSigner::with_key(
            "media-k1",
            &[9u8; 32],
            Duration::from_secs(60),
            service::MEDIA,
        );
        let payments_verifies = TokenSigner::with_key(
            "media-k1",
            &[9u8; 32],
            Duration::from_secs(60),
            service::PAYMENTS,
        )
        .with_issuer("media-k1", service::MEDIA);
        let as_media = Subject::Service {
            name: service::MEDIA.into(),
        };
        let token = media_signs
            .mint(as_media.clone(), vec![Role::Service], service::PAYMENTS)
            .unwrap();
        assert_eq!(
            payments_verifies.verify(&token).unwrap().service_name(),
            Some(service::MEDIA)
        );
        let forged = [
            (
                Subject::User {
                    user_id: UserId::new(),
                },
                vec![Role::Fan],
            ),
            (
                Subject::Service {
                    name: service::GATEWAY.into(),
                },
                vec![Role::Service],
            ),
            (as_media, vec![Role::Service, Role::Admin]),
        ];
        for (sub, roles) in forged {
            let token = media_signs
                .mint(sub.clone(), roles.clone(), service::PAYMENTS)
                .unwrap();
            assert!(
                payments_verifies.verify(&token).is_err(),
                "{sub:?} {roles:?} from media's key"
            );
        }
        // The signing side refuses too, once it knows its key's issuer.
        let restricted = media_signs.with_issuer("media-k1", service::MEDIA);
        assert!(
            restricted
                .mint(
                    Subject::User {
                        user_id: UserId::new()
                    },
                    vec![Role::Fan],
                    service::PAYMENTS
                )
                .is_err()
        );
    }

    #[test]
    fn only_named_services_pass_a_service_check() {
        let principal = |sub: Subject, roles: Vec<Role>| Principal {
            sub,
            roles,
            aud: service::IDENTITY.into(),
            exp: 0,
        };
        let moderation = principal(
            Subject::Service {
                name: service::MODERATION.into(),
            },
            vec![Role::Service],
        );
        assert!(moderation.require_service(&[service::MODERATION]).is_ok());
        assert!(moderation.require_service(&[service::GATEWAY]).is_err());
        let without_role = principal(
            Subject::Service {
                name: service::MODERATION.into(),
            },
            vec![Role::Admin],
        );
        assert!(
            without_role
                .require_service(&[service::MODERATION])
                .is_err()
        );
        let user = principal(
            Subject::User {
                user_id: UserId::new(),
            },
            vec![Role::Service, Role::Admin],
        );
        assert!(user.require_service(&[service::MODERATION]).is_err());
    }
}
