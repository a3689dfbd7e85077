//! Identity (`directfanz.identity.v1.Identity`): sign-up, login, sessions and account emails as
//! the gateway itself; the profile as the signed-in user. Credentials stay secret until the
//! message is built.

use std::sync::Arc;

use df_common::{
    Error, Secret,
    auth::{Role, TokenSigner, service},
    grpc::ClientConfig,
};
use df_proto::identity::v1::{self as pb, identity_client::IdentityClient};
use tonic::transport::Channel;

use super::{Caller, OnBehalfOf, Upstream};

/// The identity client.
#[derive(Clone)]
pub struct Identity(pub Upstream<IdentityClient<Channel>>);

/// A session identity vouched for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedSession {
    /// The user.
    pub user_id: df_common::ids::UserId,
    /// The user's role.
    pub role: Role,
    /// How long the gateway may reuse this answer.
    pub cache_ttl_ms: u32,
    /// The user's profile as of the validation.
    pub user: Option<pb::User>,
}

/// Maps identity's wire role to ours; a role identity should never send is its fault, not
/// the client's, and grants nothing.
pub fn role_from_pb(role: i32) -> Result<Role, Error> {
    df_common::wire::role_from_pb(role)
        .map_err(|_| Error::internal(anyhow::anyhow!("identity returned an unknown role {role}")))
}

/// An anonymous call whose answer carries nothing the gateway needs.
macro_rules! gateway_call {
    ($self:ident, $name:ident, $message:expr) => {
        $self
            .0
            .call(OnBehalfOf::Itself, $message, |mut client, r| async move {
                client.$name(r).await
            })
            .await
            .map(drop)
    };
}

impl Identity {
    /// A client for `config`; connects lazily.
    pub fn new(config: &ClientConfig, signer: Arc<TokenSigner>) -> Result<Self, Error> {
        Upstream::new(service::IDENTITY, config, signer, |channel| {
            IdentityClient::new(channel).max_decoding_message_size(1024 * 1024)
        })
        .map(Self)
    }

    /// True when identity's gRPC health service reports it serving.
    pub async fn is_serving(&self) -> bool {
        self.0.is_serving().await
    }

    df_common::upstream_calls! {
        /// Signup.
        itself signup(pb::SignupRequest) -> pb::SignupResponse;
        /// Login.
        itself login(pb::LoginRequest) -> pb::LoginResponse;
    }

    /// Email verification.
    pub async fn verify_email(&self, token: Secret<String>) -> Result<(), Error> {
        let token = token.into_exposed();
        gateway_call!(self, verify_email, pb::VerifyEmailRequest { token })
    }

    /// New verification link.
    pub async fn resend_verification(&self, email: String) -> Result<(), Error> {
        gateway_call!(
            self,
            resend_verification,
            pb::ResendVerificationRequest { email }
        )
    }

    /// Session validation.
    pub async fn validate_session(&self, session_token: String) -> Result<ValidatedSession, Error> {
        let message = pb::ValidateSessionRequest { session_token };
        let response = self
            .0
            .call(OnBehalfOf::Itself, message, |mut client, r| async move {
                client.validate_session(r).await
            })
            .await?;
        let user_id = response.user_id.parse().map_err(|_| {
            Error::internal(anyhow::anyhow!("identity returned a malformed user id"))
        })?;
        Ok(ValidatedSession {
            user_id,
            role: role_from_pb(response.role)?,
            cache_ttl_ms: response.cache_ttl_ms,
            user: response.user,
        })
    }

    /// Logout.
    pub async fn logout(&self, session_token: String) -> Result<(), Error> {
        gateway_call!(self, logout, pb::LogoutRequest { session_token })
    }

    /// Logout everywhere.
    pub async fn logout_all(&self, session_token: String) -> Result<(), Error> {
        gateway_call!(self, logout_all, pb::LogoutAllRequest { session_token })
    }

    /// Password reset email.
    pub async fn request_password_reset(&self, email: String) -> Result<(), Error> {
        gateway_call!(
            self,
            request_password_reset,
            pb::RequestPasswordResetRequest { email }
        )
    }

    /// New password with a reset token.
    pub async fn confirm_password_reset(
        &self,
        token: Secret<String>,
        new_password: Secret<String>,
    ) -> Result<(), Error> {
        let message = pb::ConfirmPasswordResetRequest {
            token: token.into_exposed(),
            new_password: new_password.into_exposed(),
        };
        gateway_call!(self, confirm_password_reset, message)
    }

    /// Login unlock.
    pub async fn unlock_login(&self, token: Secret<String>) -> Result<(), Error> {
        let token = token.into_exposed();
        gateway_call!(self, unlock_login, pb::UnlockLoginRequest { token })
    }

    /// The signed-in user's profile, asked for as that user.
    pub async fn me(&self, session: &ValidatedSession) -> Result<pb::User, Error> {
        let caller = Caller {
            user_id: session.user_id,
            role: session.role,
        };
        let message = pb::GetUserRequest {
            user_id: session.user_id.to_string(),
        };
        self.0
            .call(
                OnBehalfOf::User(caller),
                message,
                |mut client, r| async move { client.get_user(r).await },
            )
            .await
    }
}
