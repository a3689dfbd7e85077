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
