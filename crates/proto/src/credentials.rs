//! `Debug` of the messages that carry a password or a token: the type and its harmless fields,
//! never the credential (nor the email address it belongs to). The build script leaves these
//! messages without the derived `Debug`.

use std::fmt;

use crate::identity::v1::{
    ConfirmPasswordResetRequest, LoginRequest, LoginResponse, LogoutAllRequest, LogoutRequest,
    SignupRequest, UnlockLoginRequest, ValidateSessionRequest, VerifyEmailRequest,
};

/// `Type { shown: .., .. }`: the listed fields, and `..` for the rest.
macro_rules! redacted_debug {
    ($($message:ident { $($shown:ident),* }),* $(,)?) => {
        $(impl fmt::Debug for $message {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($message))
                    $(.field(stringify!($shown), &self.$shown))*
                    .finish_non_exhaustive()
            }
        })*
    };
}

redacted_debug! {
    SignupRequest { role },
    VerifyEmailRequest {},
    LoginRequest {},
    LoginResponse { user, idle_expires_at, absolute_expires_at },
    ValidateSessionRequest {},
    LogoutRequest {},
    LogoutAllRequest {},
    ConfirmPasswordResetRequest {},
    UnlockLoginRequest {},
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDENTIAL: &str = "correct-horse-battery-staple";
    const EMAIL: &str = "fan@example.com";

    #[test]
    fn no_credential_message_prints_its_credential_or_address() {
        let printed = [
            format!(
                "{:?}",
                SignupRequest {
                    email: EMAIL.into(),
                    username: "fan".into(),
                    password: CREDENTIAL.into(),
                    role: 1,
                }
            ),
            format!(
                "{:?}",
                VerifyEmailRequest {
                    token: CREDENTIAL.into()
                }
            ),
            format!(
                "{:?}",
                LoginRequest {
                    email: EMAIL.into(),
                    password: CREDENTIAL.into(),
                    client_ip: "192.0.2.1".into(),
                    user_agent: "test".into(),
                }
            ),
            format!(
                "{:?}",
                LoginResponse {
                    session_token: CREDENTIAL.into(),
                    ..LoginResponse::default()
                }
            ),
            format!(
                "{:?}",
                ValidateSessionRequest {
                    session_token: CREDENTIAL.into()
                }
            ),
            format!(
                "{:?}",
                LogoutRequest {
                    session_token: CREDENTIAL.into()
                }
            ),
            format!(
                "{:?}",
                LogoutAllRequest {
                    session_token: CREDENTIAL.into()
                }
            ),
            format!(
                "{:?}",
                ConfirmPasswordResetRequest {
                    token: CREDENTIAL.into(),
                    new_password: CREDENTIAL.into(),
                }
            ),
            format!(
                "{:?}",
                UnlockLoginRequest {
                    token: CREDENTIAL.into()
                }
            ),
        ];
        for text in printed {
            assert!(!text.contains(CREDENTIAL), "{text}");
            assert!(!text.contains(EMAIL), "{text}");
            assert!(text.ends_with("..}") || text.ends_with(".. }"), "{text}");
        }
    }
}
