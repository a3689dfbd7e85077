//! `/v1/auth/*`: signup, email verification, login, logout, password reset, unlock.

pub mod cookies;
pub mod login;
pub mod logout;
pub mod logout_all;
pub mod password_reset;
pub mod resend_verification;
pub mod signup;
pub mod unlock;
pub mod verify_email;

use serde::Serialize;
use utoipa::{
    ToSchema,
    openapi::{KnownFormat, SchemaFormat},
};

use super::openapi::{Refusals, named_schema, one_of, string};

/// The body of requests whose answer must not reveal more than that they were taken.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    /// What happened, in one word.
    #[schema(value_type = AcceptedStatus)]
    pub status: &'static str,
}

/// The refusals of a new password (422).
pub const PASSWORD_RULES: Refusals = Refusals::new(
    &[
        "identity.password_too_short",
        "identity.password_too_long",
        "identity.password_common",
        "identity.password_contains_identity",
        "identity.password_breached",
    ],
    "",
);

named_schema!(
    /// What an accepted request did.
    AcceptedStatus = one_of(&["accepted", "verification_sent", "verified"], "What happened.")
);

named_schema!(
    /// An email address as sent by clients.
    Email = string()
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .max_length(Some(254))
        .description(Some(
            "An email address. Surrounding spaces are trimmed and case is ignored.",
        ))
        .examples(["fan@example.com"])
);

named_schema!(
    /// A public handle.
    Username = string()
        .min_length(Some(3))
        .max_length(Some(32))
        .pattern(Some("^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$"))
        .description(Some(
            "A public handle: 3 to 32 letters, digits, `_`, `.` or `-`, starting with a letter \
             or digit.",
        ))
        .examples(["night_owl"])
);

named_schema!(
    /// A password being set.
    NewPassword = string()
        .min_length(Some(12))
        .max_length(Some(128))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
        .description(Some(
            "A new password: 12 to 128 characters (Unicode scalar values, so accents and emoji \
             count as one), not on the common-password list, not containing the email address, \
             its local part or the username, and not found in known data breaches. There are no \
             composition rules. Refusals are 422 problems `identity.password_too_short`, \
             `identity.password_too_long`, `identity.password_common`, \
             `identity.password_contains_identity` and `identity.password_breached`.",
        ))
);

named_schema!(
    /// The token of an emailed link.
    OneTimeToken = string()
        .min_length(Some(1))
        .max_length(Some(128))
        .pattern(Some("^[A-Za-z0-9_-]+$"))
        .description(Some(
            "The single-use token from an emailed link (its `token` query parameter). Unknown, \
             used, expired, mistyped and malformed tokens are all refused alike with \
             `identity.invalid_token`.",
        ))
        .examples(["q3Jx2c8n0WfM5kq1V7d4pZ0b9yH6sE2uT1rA8cL5oGw"])
);

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;

    const CREDENTIAL: &str = "correct-horse-battery-staple";

    fn printed<T: DeserializeOwned + std::fmt::Debug>(body: serde_json::Value) -> String {
        format!("{:?}", serde_json::from_value::<T>(body).unwrap())
    }

    /// Credentials are secrets from the moment they are parsed: no request body prints one.
    #[test]
    fn no_request_body_prints_a_password_or_a_token() {
        let bodies = [
            printed::<super::login::LoginBody>(
                serde_json::json!({"email": "fan@example.com", "password": CREDENTIAL}),
            ),
            printed::<super::signup::SignupBody>(
                serde_json::json!({"email": "fan@example.com", "username": "fan", "password": CREDENTIAL}),
            ),
            printed::<super::password_reset::ResetConfirmBody>(
                serde_json::json!({"token": CREDENTIAL, "new_password": CREDENTIAL}),
            ),
            printed::<super::unlock::UnlockBody>(serde_json::json!({"token": CREDENTIAL})),
            printed::<super::verify_email::VerifyEmailBody>(
                serde_json::json!({"token": CREDENTIAL}),
            ),
        ];
        for text in bodies {
            assert!(!text.contains(CREDENTIAL), "{text}");
            assert!(text.contains(df_common::secret::REDACTED), "{text}");
        }
    }
}
