//! Input checks for identifiers. Every input is bounded before it reaches a query or a hash.

use crate::errors::IdentityError;
use df_common::Error;

/// Longest email accepted (RFC 5321 path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// Trims and lower-cases an email so that lookups and uniqueness ignore case.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A plausible email: one `@`, a dotted domain, no spaces or control characters. Real proof of
/// ownership is the verification link.
pub fn check_email(email: &str) -> Result<(), Error> {
    let invalid = || Error::from(IdentityError::InvalidEmail);
    if email.is_empty() || email.len() > MAX_EMAIL_LEN {
        return Err(invalid());
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return Err(invalid());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels
            .iter()
            .any(|l| l.is_empty() || l.len() > 63 || l.starts_with('-') || l.ends_with('-'))
    {
        return Err(invalid());
    }
    Ok(())
}

/// Usernames are public handles: 3–32 of `a-z A-Z 0-9 _ . -`, starting with a letter or digit.
pub fn check_username(username: &str) -> Result<(), Error> {
    let invalid = || Error::from(IdentityError::InvalidUsername);
    let len = username.chars().count();
    if !(3..=32).contains(&len) {
        return Err(invalid());
    }
    let mut chars = username.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphanumeric()) {
        return Err(invalid());
    }
    if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err(invalid());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(check_email("fan@example.com").is_ok());
        assert!(check_email("a.b+tag@sub.example.co").is_ok());
        for bad in [
            "",
            "no-at",
            "two@@example.com",
            "sp ace@example.com",
            "x@localhost",
            "x@-a.com",
            "x@a..com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        assert!(check_email(&format!("{}@example.com", "a".repeat(250))).is_err());
        assert_eq!(normalize_email("  Fan@Example.COM "), "fan@example.com");
    }

    #[test]
    fn usernames() {
        assert!(check_username("creator_1").is_ok());
        for bad in ["ab", "_lead", "has space", "émile", &"a".repeat(33)] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
    }
}
