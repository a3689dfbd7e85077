//! Passwords: what we accept, how we store them, and the optional breach lookup.
//!
//! - [`policy`] decides whether a new password is acceptable: a length window counted in Unicode
//!   scalar values, no composition rules (NIST SP 800-63B), refusal of common passwords and of
//!   passwords that contain the account's email or username.
//! - [`hashing`] stores passwords as argon2id PHC strings with OWASP's parameters and keeps the
//!   login path's timing the same for unknown and known accounts.
//! - [`breached`] asks a Have I Been Pwned style "range" API whether a password appeared in a
//!   breach, sending only the first five hex digits of its SHA-1.
//!
//! The common-password list (`data/common-passwords.txt`, 30,000 entries, one per line,
//! lowercased and deduplicated, most frequent first) is the `passwords` frequency list shipped in
//! the `zxcvbn` 4.5.0 package on PyPI (MIT licence), which was itself compiled from public
//! password leak corpora.

pub mod breached;
pub mod hashing;
pub mod policy;

pub use breached::{BreachedCheckConfig, BreachedPasswordChecker};
pub use hashing::{
    dummy_verify, dummy_verify_async, hash_password, hash_password_async, needs_rehash,
    verify_password, verify_password_async,
};
pub use policy::{PasswordPolicy, PolicyViolation, is_common_password};
