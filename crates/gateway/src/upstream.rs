//! The gateway's clients of the internal services. Every call carries a principal token minted
//! here: the gateway's own service principal for anonymous calls, the user's once a session is
//! validated.

pub mod payments;

use std::sync::Arc;

use df_common::Secret;
use df_common::{
    Error,
    auth::{Role, Subject, TokenSigner, service},
    grpc::{ClientConfig, channel, request_with_principal},
    ids::UserId,
};
use df_proto::identity::v1::{self as pb, identity_client::IdentityClient};
use tonic::transport::Channel;

/// Name the gateway signs its service principal with.
pub const GATEWAY_SERVICE: &str = service::GATEWAY;

pub use payments::{Caller, Payments};

/// A request to the service named `audience` carrying the gateway's own service principal.
pub(crate) fn as_gateway<T>(
    signer: &TokenSigner,
    audience: &str,
    message: T,
) -> Result<tonic::Request<T>, Error> {
    let token = signer.mint(
        Subject::Service {
            name: GATEWAY_SERVICE.into(),
        },
        vec![Role::Service],
        audience,
    )?;
    request_with_principal(message, &token)
}

/// A request to the service named `audience` carrying the principal of a user whose session
/// identity validated.
pub(crate) fn as_user<T>(
    signer: &TokenSigner,
    audience: &str,
    user_id: UserId,
    role: Role,
    message: T,
) -> Result<tonic::Request<T>, Error> {
    let token = signer.mint(Subject::User { user_id }, vec![role], audience)?;
    request_with_principal(message, &token)
}

/// A cheap-to-clone identity client.
#[derive(Clone)]
pub struct Identity {
    client: IdentityClient<Channel>,
    health: tonic_health::pb::health_client::HealthClient<Channel>,
    signer: Arc<TokenSigner>,
}

/// A session identity vouched for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedSession {
    /// The user.
    pub user_id: UserId,
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

impl Identity {
    /// A client for `config.url`; connects lazily.
    pub fn new(config: &ClientConfig, signer: Arc<TokenSigner>) -> Result<Self, Error> {
        let channel = channel(config)?;
        let health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        let client = IdentityClient::new(channel).max_decoding_message_size(1024 * 1024);
        Ok(Self {
            client,
            health,
            signer,
        })
    }

    /// True when identity's gRPC health service reports it serving (readiness).
    pub async fn is_serving(&self) -> bool {
        let request = tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        };
        matches!(
            self.health.clone().check(request).await.map(|r| r.into_inner().status),
            Ok(status) if status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        )
    }

    fn as_gateway<T>(&self, message: T) -> Result<tonic::Request<T>, Error> {
        as_gateway(&self.signer, service::IDENTITY, message)
    }

    fn as_user<T>(
        &self,
        user_id: UserId,
        role: Role,
        message: T,
    ) -> Result<tonic::Request<T>, Error> {
        as_user(&self.signer, service::IDENTITY, user_id, role, message)
    }

    /// Signup.
    pub async fn signup(&self, request: pb::SignupRequest) -> Result<pb::SignupResponse, Error> {
        let request = self.as_gateway(request)?;
        self.client
            .clone()
            .signup(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| Error::from_status(&s))
    }

    /// Email verification.
    pub async fn verify_email(&self, token: Secret<String>) -> Result<(), Error> {
        let request = self.as_gateway(pb::VerifyEmailRequest {
            token: token.into_exposed(),
        })?;
        self.client
            .clone()
            .verify_email(request)
            .await
            .map(|_| ())
            .map_err(|s| Error::from_status(&s))
    }

    /// New verification link.
    pub async fn resend_verification(&self, email: String) -> Result<(), Error> {
        let request = self.as_gateway(pb::ResendVerificationRequest { email })?;
        self.client
            .clone()
            .resend_verification(request)
            .await
            .map(|_| ())
            .map_err(|s| Error::from_status(&s))
    }

    /// Login.
    pub async fn login(&self, request: pb::LoginRequest) -> Result<pb::LoginResponse, Error> {
        let request = self.as_gateway(request)?;
        self.client
            .clone()
            .login(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| Error::from_status(&s))
    }

    /// Session validation.
    pub async fn validate_session(&self, session_token: String) -> Result<ValidatedSession, Error> {
        let request = self.as_gateway(pb::ValidateSessionRequest { session_token })?;
        let response = self
            .client
            .clone()
            .validate_session(request)
            .await
            .map_err(|s| Error::from_status(&s))?
            .into_inner();
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
        let request = self.as_gateway(pb::LogoutRequest { session_token })?;
        self.client
            .clone()
            .logout(request)
            .await
            .map(|_| ())
            .map_err(|s| Error::from_status(&s))
    }

    /// Logout everywhere.
    pub async fn logout_all(&self, session_token: String) -> Result<(), Error> {
        let request = self.as_gateway(pb::LogoutAllRequest { session_token })?;
        self.client
            .clone()
            .logout_all(request)
            .await
            .map(|_| ())
            .map_err(|s| Error::from_status(&s))
    }

    /// Password reset email.
    pub async fn request_password_reset(&self, email: String) -> Result<(), Error> {
        let request = self.as_gateway(pb::RequestPasswordResetRequest { email })?;
        self.client
            .clone()
            .request_password_reset(request)
            .await
            .map(|_| ())
            .map_err(|s| Error::from_status(&s))
    }

    /// New password with a reset token.
    pub async fn confirm_password_reset(
        &self,
        token: Secret<String>,
        new_password: Secret<String>,
    ) -> Result<(), Error> {
        let request = self.as_gateway(pb::ConfirmPasswordResetRequest {
            token: token.into_exposed(),
            new_password: new_password.into_exposed(),
        })?;
        self.client
            .clone()
            .confirm_password_reset(request)
            .await
            .map(|_| ())
            .map_err(|s| Error::from_status(&s))
    }

    /// Login unlock.
    pub async fn unlock_login(&self, token: Secret<String>) -> Result<(), Error> {
        let request = self.as_gateway(pb::UnlockLoginRequest {
            token: token.into_exposed(),
        })?;
        self.client
            .clone()
            .unlock_login(request)
            .await
            .map(|_| ())
            .map_err(|s| Error::from_status(&s))
    }

    /// The signed-in user's profile, asked for as that user.
    pub async fn me(&self, session: &ValidatedSession) -> Result<pb::User, Error> {
        let request = self.as_user(
            session.user_id,
            session.role,
            pb::GetUserRequest {
                user_id: session.user_id.to_string(),
            },
        )?;
        self.client
            .clone()
            .get_user(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| Error::from_status(&s))
    }
}
