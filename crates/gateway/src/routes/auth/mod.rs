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

/// `{"status": "..."}`: the body of accepted requests that must not reveal more.
#[derive(Serialize)]
pub struct Accepted {
    /// What happened, in one word.
    pub status: &'static str,
}

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
