//! A value that must never reach a log, an error message or a serialized payload by accident.
//!
//! `Secret<T>` prints as `[REDACTED]` in `Debug` and `Display`, implements `Deserialize` (so it
//! can be loaded from configuration) but not `Serialize`, and is read only through
//! [`Secret::expose`], which makes every use site greppable.

use std::fmt;

use serde::{Deserialize, Deserializer};
use subtle::ConstantTimeEq;

/// What a secret prints as.
pub const REDACTED: &str = "[REDACTED]";

/// A redacting wrapper around a sensitive value.
#[derive(Clone, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// Reads the value. Call this only where the value is really needed (a connection, a
    /// signature), never to format it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Consumes the wrapper and returns the value.
    pub fn into_exposed(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl Secret<String> {
    /// True when no value was configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Secrets compare in constant time so that comparing one never leaks how much matched.
impl<T: AsRef<[u8]>> PartialEq for Secret<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_ref().ct_eq(other.0.as_ref()).into()
    }
}

impl<T: AsRef<[u8]>> Eq for Secret<T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck_macros::quickcheck;

    #[derive(Debug, Deserialize)]
    struct WithSecret {
        #[allow(dead_code)]
        name: String,
        password: Secret<String>,
    }

    #[quickcheck]
    fn debug_and_display_never_contain_the_value(value: String) -> bool {
        let secret = Secret::new(format!("s3cr3t-{value}"));
        let debug = format!("{secret:?}");
        let display = format!("{secret}");
        debug == REDACTED && display == REDACTED
    }

    #[quickcheck]
    fn a_struct_holding_a_secret_never_prints_it(value: String) -> bool {
        let raw = format!("pw-{value}-end");
        let json = serde_json::json!({ "name": "db", "password": raw });
        let Ok(parsed) = serde_json::from_value::<WithSecret>(json) else {
            return false;
        };
        let printed = format!("{parsed:?} {parsed:#?}");
        !printed.contains(&raw) && parsed.password.expose() == &raw
    }

    #[test]
    fn secrets_compare_by_value() {
        assert_eq!(Secret::<String>::from("abc"), Secret::<String>::from("abc"));
        assert_ne!(Secret::<String>::from("abc"), Secret::<String>::from("abd"));
    }
}
