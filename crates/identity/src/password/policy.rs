//! The rules a new password must meet.
//!
//! Following NIST SP 800-63B there are no composition rules (no "one digit, one symbol"): they
//! push people toward predictable patterns. What is refused instead is what attackers try first:
//! passwords that are too short, passwords from the bundled common-password list, and passwords
//! built from the account's own email address or username. An upper bound keeps hashing cost
//! bounded.

use crate::errors::IdentityError;
use std::{collections::HashSet, sync::LazyLock};

use df_common::{Error, config::Validate};
use serde::Deserialize;

/// The bundled list: one lowercase password per line.
const COMMON_PASSWORDS_TXT: &str = include_str!("../../data/common-passwords.txt");

/// The list as a set, built on first use.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    COMMON_PASSWORDS_TXT
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
});

/// Identity fragments shorter than this are too likely to appear by chance to be refused.
const MIN_IDENTITY_CHARS: usize = 3;

/// True when `password` is on the bundled common-password list, ignoring case.
pub fn is_common_password(password: &str) -> bool {
    COMMON_PASSWORDS.contains(password.to_lowercase().as_str())
}

/// Length bounds for new passwords. Lengths count Unicode scalar values (`char`s), so a password
/// of twelve accented letters or emoji is twelve characters long, not twenty-four bytes.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicy {
    /// Fewest characters accepted.
    pub min_chars: usize,
    /// Most characters accepted.
    pub max_chars: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_chars: 12,
            max_chars: 128,
        }
    }
}

impl Validate for PasswordPolicy {
    fn validate(&self, problems: &mut Vec<String>) {
        df_common::config::check_range(problems, "password.min_chars", self.min_chars, 8, 64);
        df_common::config::check_range(
            problems,
            "password.max_chars",
            self.max_chars,
            self.min_chars.max(64),
            1024,
        );
    }
}

/// Why a password was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyViolation {
    /// Fewer than `min` characters.
    TooShort {
        /// The minimum in force.
        min: usize,
    },
    /// More than `max` characters.
    TooLong {
        /// The maximum in force.
        max: usize,
    },
    /// On the common-password list.
    Common,
    /// Contains the account's email address, its local part, or the username.
    ContainsIdentity,
}

impl PolicyViolation {
    /// Its entry in identity's catalogue.
    pub const fn error(self) -> IdentityError {
        match self {
            Self::TooShort { .. } => IdentityError::PasswordTooShort,
            Self::TooLong { .. } => IdentityError::PasswordTooLong,
            Self::Common => IdentityError::PasswordCommon,
            Self::ContainsIdentity => IdentityError::PasswordContainsIdentity,
        }
    }

    /// The stable error code clients switch on.
    pub const fn code(self) -> &'static str {
        self.error().code()
    }

    /// The message shown to the person choosing the password.
    pub fn message(self) -> String {
        match self {
            Self::TooShort { min } => format!("Use a password of at least {min} characters."),
            Self::TooLong { max } => format!("Use a password of at most {max} characters."),
            Self::Common => {
                "This password is too common and easy to guess. Choose another one.".to_owned()
            }
            Self::ContainsIdentity => {
                "Your password must not contain your email address or username.".to_owned()
            }
        }
    }
}

impl std::fmt::Display for PolicyViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for PolicyViolation {}

impl From<PolicyViolation> for Error {
    fn from(violation: PolicyViolation) -> Self {
        violation.error().with_message(violation.message())
    }
}

impl PasswordPolicy {
    /// Checks a new password for the account with this `email` and `username`. The first rule
    /// broken is reported, in the order: length, common list, identity.
    pub fn check(
        &self,
        password: &str,
        email: &str,
        username: &str,
    ) -> Result<(), PolicyViolation> {
        let chars = password.chars().count();
        if chars < self.min_chars {
            return Err(PolicyViolation::TooShort {
                min: self.min_chars,
            });
        }
        if chars > self.max_chars {
            return Err(PolicyViolation::TooLong {
                max: self.max_chars,
            });
        }
        let lowered = password.to_lowercase();
        if COMMON_PASSWORDS.contains(lowered.as_str()) {
            return Err(PolicyViolation::Common);
        }
        if identity_fragments(email, username)
            .iter()
            .any(|fragment| lowered.contains(fragment.as_str()))
        {
            return Err(PolicyViolation::ContainsIdentity);
        }
        Ok(())
    }
}

/// The lowercased pieces of the account's identity a password must not contain: the whole
/// email, its local part and the username, each only when long enough to be meaningful.
fn identity_fragments(email: &str, username: &str) -> Vec<String> {
    let email = email.trim();
    let local = email.rsplit_once('@').map(|(local, _)| local.trim());
    [Some(email), local, Some(username.trim())]
        .into_iter()
        .flatten()
        .filter(|fragment| fragment.chars().count() >= MIN_IDENTITY_CHARS)
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use quickcheck::TestResult;
    use quickcheck_macros::quickcheck;

    const EMAIL: &str = "fan.person@example.com";
    const USERNAME: &str = "creator_77";

    /// A password of exactly `len` chars drawn from `seed` (cycled), or from a fixed alphabet
    /// when the seed is empty.
    fn password_of(seed: &str, len: usize) -> String {
        let source: Vec<char> = if seed.is_empty() {
            "Zq9#kW".chars().collect()
        } else {
            seed.chars().collect()
        };
        source.iter().cycle().take(len).collect()
    }

    fn contains_identity(password: &str, email: &str, username: &str) -> bool {
        identity_fragments(email, username)
            .iter()
            .any(|f| password.to_lowercase().contains(f.as_str()))
    }

    #[test]
    fn the_bundled_list_is_large_and_normalised() {
        assert!(
            COMMON_PASSWORDS.len() >= 10_000,
            "{}",
            COMMON_PASSWORDS.len()
        );
        for line in COMMON_PASSWORDS_TXT.lines() {
            assert_eq!(line, line.trim(), "stray whitespace in {line:?}");
            assert_eq!(line, line.to_lowercase(), "not lowercase: {line:?}");
        }
        assert_eq!(
            COMMON_PASSWORDS.len(),
            COMMON_PASSWORDS_TXT.lines().count(),
            "duplicates"
        );
    }

    #[test]
    fn defaults_are_twelve_to_one_hundred_twenty_eight() {
        let policy = PasswordPolicy::default();
        assert_eq!((policy.min_chars, policy.max_chars), (12, 128));
        let mut problems = Vec::new();
        policy.validate(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn bad_bounds_are_reported() {
        let mut problems = Vec::new();
        PasswordPolicy {
            min_chars: 4,
            max_chars: 10,
        }
        .validate(&mut problems);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("password.min_chars"));
        assert!(problems[1].starts_with("password.max_chars"));
    }

    #[test]
    fn well_known_passwords_are_refused_whatever_their_case() {
        let policy = PasswordPolicy::default();
        for password in [
            "qwerty123456",
            "QWERTY123456",
            "LeaveMeAlone",
            "1qaz2wsx3edc",
        ] {
            assert_eq!(
                policy.check(password, EMAIL, USERNAME),
                Err(PolicyViolation::Common),
                "{password}"
            );
        }
        assert!(is_common_password("PassWord"));
        assert!(!is_common_password("correct horse battery staple"));
    }

    #[test]
    fn a_long_unusual_passphrase_is_accepted() {
        let policy = PasswordPolicy::default();
        assert_eq!(
            policy.check("correct horse battery staple", EMAIL, USERNAME),
            Ok(())
        );
        // No composition rules: all lowercase letters is fine.
        assert_eq!(policy.check("purplemonsoonkettle", EMAIL, USERNAME), Ok(()));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        let policy = PasswordPolicy::default();
        let accented = "é".repeat(12);
        assert_eq!(accented.len(), 24);
        assert_eq!(policy.check(&accented, EMAIL, USERNAME), Ok(()));
        let emoji = "🔐".repeat(11);
        assert_eq!(
            policy.check(&emoji, EMAIL, USERNAME),
            Err(PolicyViolation::TooShort { min: 12 })
        );
        let long = "ß".repeat(128);
        assert_eq!(policy.check(&long, EMAIL, USERNAME), Ok(()));
        let longer = "ß".repeat(129);
        assert_eq!(
            policy.check(&longer, EMAIL, USERNAME),
            Err(PolicyViolation::TooLong { max: 128 })
        );
    }

    #[test]
    fn identity_is_refused_in_any_case() {
        let policy = PasswordPolicy::default();
        assert_eq!(
            policy.check("xx-Fan.Person@Example.com-xx", EMAIL, USERNAME),
            Err(PolicyViolation::ContainsIdentity)
        );
        assert_eq!(
            policy.check("my FAN.PERSON secret", EMAIL, USERNAME),
            Err(PolicyViolation::ContainsIdentity)
        );
        assert_eq!(
            policy.check("tiny-Creator_77-tiger", EMAIL, USERNAME),
            Err(PolicyViolation::ContainsIdentity)
        );
    }

    #[test]
    fn short_identity_fragments_are_ignored() {
        let policy = PasswordPolicy::default();
        // Local part "jo" and username "al" are too short to refuse on; the email itself is not
        // in the password.
        assert_eq!(
            policy.check("jo-al-orbit-lantern", "jo@example.com", "al"),
            Ok(())
        );
        assert_eq!(policy.check("jo-al-orbit-lantern", "", ""), Ok(()));
        assert_eq!(
            policy.check("xjo@example.comx", "jo@example.com", "al"),
            Err(PolicyViolation::ContainsIdentity)
        );
    }

    #[test]
    fn violations_become_unprocessable_errors_with_stable_codes() {
        let cases = [
            (
                PolicyViolation::TooShort { min: 12 },
                "identity.password_too_short",
            ),
            (
                PolicyViolation::TooLong { max: 128 },
                "identity.password_too_long",
            ),
            (PolicyViolation::Common, "identity.password_common"),
            (
                PolicyViolation::ContainsIdentity,
                "identity.password_contains_identity",
            ),
        ];
        for (violation, code) in cases {
            let error: Error = violation.into();
            assert_eq!(error.kind(), df_common::ErrorKind::Unprocessable);
            assert_eq!(error.code(), code);
            assert_eq!(error.message(), violation.message());
        }
        let error: Error = PolicyViolation::TooShort { min: 12 }.into();
        assert!(error.message().contains("12"));
    }

    #[quickcheck]
    fn any_acceptable_length_passes_unless_common_or_identity(
        seed: String,
        extra: u8,
    ) -> TestResult {
        let password = password_of(&seed, 12 + usize::from(extra) % 117);
        if is_common_password(&password) || contains_identity(&password, EMAIL, USERNAME) {
            return TestResult::discard();
        }
        TestResult::from_bool(
            PasswordPolicy::default()
                .check(&password, EMAIL, USERNAME)
                .is_ok(),
        )
    }

    #[quickcheck]
    fn too_short_always_fails_as_too_short(seed: String, len: u8) -> bool {
        let password = password_of(&seed, usize::from(len) % 12);
        PasswordPolicy::default().check(&password, EMAIL, USERNAME)
            == Err(PolicyViolation::TooShort { min: 12 })
    }

    #[quickcheck]
    fn too_long_always_fails_as_too_long(seed: String, extra: u16) -> bool {
        let password = password_of(&seed, 129 + usize::from(extra) % 2_000);
        PasswordPolicy::default().check(&password, EMAIL, USERNAME)
            == Err(PolicyViolation::TooLong { max: 128 })
    }

    #[quickcheck]
    fn containing_the_username_always_fails(
        username: String,
        prefix: String,
        suffix: String,
        shout: bool,
    ) -> TestResult {
        let username: String = username
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(40)
            .collect();
        if username.len() < 3 {
            return TestResult::discard();
        }
        let shown = if shout {
            username.to_ascii_uppercase()
        } else {
            username.clone()
        };
        let pad = |s: &str| s.chars().take(30).collect::<String>();
        let password = format!("{}{shown}{}", pad(&prefix), pad(&suffix));
        let policy = PasswordPolicy::default();
        let result = policy.check(&password, "someone@example.com", &username);
        let length_ok = (12..=128).contains(&password.chars().count());
        TestResult::from_bool(match result {
            Err(PolicyViolation::ContainsIdentity) => true,
            Err(PolicyViolation::Common) => is_common_password(&password),
            Err(PolicyViolation::TooShort { .. } | PolicyViolation::TooLong { .. }) => !length_ok,
            Ok(()) => false,
        })
    }

    #[quickcheck]
    fn list_membership_ignores_case(index: usize, mask: u64) -> bool {
        let count = COMMON_PASSWORDS_TXT.lines().count();
        let Some(word) = COMMON_PASSWORDS_TXT.lines().nth(index % count) else {
            return false;
        };
        let mixed: String = word
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if (mask >> (i % 64)) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        let lenient = PasswordPolicy {
            min_chars: 1,
            max_chars: 128,
        };
        is_common_password(&mixed) && lenient.check(&mixed, "", "") == Err(PolicyViolation::Common)
    }
}
