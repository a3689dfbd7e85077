//! The gRPC face of identity: checks who may call what, converts wire types, delegates to the
//! flows in [`crate::accounts`] and [`crate::login`].

use crate::errors::IdentityError;
use df_common::Secret;
use df_common::{
    Error,
    auth::{Role, service},
    grpc::principal,
    ids::UserId,
    wire,
};
use df_proto::identity::v1::{self as pb, identity_server::Identity};
use tonic::{Request, Response, Status};

use crate::{
    accounts::{Accounts, SignupInput},
    login::LoginInput,
    models::{AccountStatus, User},
};

/// Implements `directfanz.identity.v1.Identity`.
#[derive(Clone)]
pub struct IdentityService {
    accounts: Accounts,
}

impl IdentityService {
    /// The service over `accounts`.
    pub fn new(accounts: Accounts) -> Self {
        Self { accounts }
    }
}

/// The services that may read any user's account (to act on reports, to export a user's data).
const READERS_OF_ANY_USER: &[&str] = &[service::MODERATION, service::PRIVACY];

/// The services that may change an account's status (penalties).
const STATUS_CHANGERS: &[&str] = &[service::MODERATION];

/// Only the gateway, acting for itself, may call the pre-authentication methods: it is the one
/// place a client's credentials and address arrive, and the one caller whose client address
/// identity believes for login throttling.
fn require_gateway<T>(request: &Request<T>) -> Result<(), Status> {
    principal(request)?
        .require_service(&[service::GATEWAY])
        .map_err(Status::from)
}

/// The role asked for at signup; the flow itself refuses any but fan and creator.
fn signup_role(role: i32) -> Result<Role, Error> {
    wire::role_from_pb(role).map_err(|_| IdentityError::InvalidRole.into())
}

fn status_to_pb(status: AccountStatus) -> pb::AccountStatus {
    match status {
        AccountStatus::Active => pb::AccountStatus::Active,
        AccountStatus::Suspended => pb::AccountStatus::Suspended,
        AccountStatus::Banned => pb::AccountStatus::Banned,
    }
}

impl From<User> for pb::User {
    fn from(user: User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email,
            username: user.username,
            role: wire::role_to_pb(user.role).into(),
            status: status_to_pb(user.status).into(),
            email_verified: user.email_verified,
            created_at: Some(wire::timestamp(user.created_at)),
        }
    }
}

fn parse_user_id(value: &str) -> Result<UserId, Status> {
    wire::id("user_id", value).map_err(Status::from)
}

/// Bounds every text field before it reaches the flows.
fn bounded(value: String, max: usize) -> Result<String, Status> {
    if value.len() > max {
        return Err(Status::from(Error::invalid_input(
            "common.field_too_long",
            "A field is too long.",
        )));
    }
    Ok(value)
}

#[tonic::async_trait]
impl Identity for IdentityService {
    async fn signup(
        &self,
        request: Request<pb::SignupRequest>,
    ) -> Result<Response<pb::SignupResponse>, Status> {
        require_gateway(&request)?;
        let body = request.into_inner();
        let input = SignupInput {
            email: bounded(body.email, 320)?,
            username: bounded(body.username, 64)?,
            password: Secret::new(bounded(body.password, 1024)?),
            role: signup_role(body.role)?,
        };
        let user_id = self.accounts.signup(input).await?;
        Ok(Response::new(pb::SignupResponse {
            user_id: user_id.map(|id| id.to_string()).unwrap_or_default(),
        }))
    }

    async fn verify_email(
        &self,
        request: Request<pb::VerifyEmailRequest>,
    ) -> Result<Response<pb::VerifyEmailResponse>, Status> {
        require_gateway(&request)?;
        let user_id = self
            .accounts
            .verify_email(&request.into_inner().token)
            .await?;
        Ok(Response::new(pb::VerifyEmailResponse {
            user_id: user_id.to_string(),
        }))
    }

    async fn resend_verification(
        &self,
        request: Request<pb::ResendVerificationRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        require_gateway(&request)?;
        self.accounts
            .resend_verification(&bounded(request.into_inner().email, 320)?)
            .await?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        require_gateway(&request)?;
        let body = request.into_inner();
        let outcome = self
            .accounts
            .login(LoginInput {
                email: bounded(body.email, 320)?,
                password: Secret::new(bounded(body.password, 1024)?),
                client_ip: bounded(body.client_ip, 64)?,
                user_agent: (!body.user_agent.is_empty()).then_some(body.user_agent),
            })
            .await?;
        Ok(Response::new(pb::LoginResponse {
            session_token: outcome.session.token,
            idle_expires_at: Some(wire::timestamp(outcome.session.session.idle_expires_at)),
            absolute_expires_at: Some(wire::timestamp(outcome.session.session.absolute_expires_at)),
            user: Some(outcome.user.into()),
        }))
    }

    async fn validate_session(
        &self,
        request: Request<pb::ValidateSessionRequest>,
    ) -> Result<Response<pb::ValidateSessionResponse>, Status> {
        require_gateway(&request)?;
        let session = self
            .accounts
            .sessions()
            .validate(&request.into_inner().session_token)
            .await?;
        let user = self.accounts.get_user(session.user_id).await?;
        Ok(Response::new(pb::ValidateSessionResponse {
            user: Some(user.into()),
            user_id: session.user_id.to_string(),
            session_id: session.session_id.to_string(),
            role: wire::role_to_pb(session.role).into(),
            cache_ttl_ms: self.accounts.sessions().policy().edge_cache_ttl_ms,
        }))
    }

    async fn logout(
        &self,
        request: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        require_gateway(&request)?;
        self.accounts
            .sessions()
            .revoke(&request.into_inner().session_token)
            .await?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn logout_all(
        &self,
        request: Request<pb::LogoutAllRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        require_gateway(&request)?;
        self.accounts
            .logout_all(&request.into_inner().session_token)
            .await?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn request_password_reset(
        &self,
        request: Request<pb::RequestPasswordResetRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        require_gateway(&request)?;
        self.accounts
            .request_password_reset(&bounded(request.into_inner().email, 320)?)
            .await?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn confirm_password_reset(
        &self,
        request: Request<pb::ConfirmPasswordResetRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        require_gateway(&request)?;
        let body = request.into_inner();
        self.accounts
            .confirm_password_reset(&body.token, &bounded(body.new_password, 1024)?)
            .await?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn unlock_login(
        &self,
        request: Request<pb::UnlockLoginRequest>,
    ) -> Result<Response<pb::Empty>, Status> {
        require_gateway(&request)?;
        self.accounts
            .unlock_login(&request.into_inner().token)
            .await?;
        Ok(Response::new(pb::Empty {}))
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let caller = principal(&request)?;
        let user_id = parse_user_id(&request.into_inner().user_id)?;
        let allowed = caller.user_id() == Some(user_id)
            || caller.require_service(READERS_OF_ANY_USER).is_ok()
            || (caller.user_id().is_some()
                && (caller.has_role(Role::Admin) || caller.has_role(Role::Moderator)));
        if !allowed {
            return Err(Error::forbidden().into());
        }
        Ok(Response::new(self.accounts.get_user(user_id).await?.into()))
    }

    async fn set_account_status(
        &self,
        request: Request<pb::SetAccountStatusRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let caller = principal(&request)?;
        let staff = caller.user_id().is_some() && caller.has_role(Role::Admin);
        if !staff {
            caller.require_service(STATUS_CHANGERS)?;
        }
        let body = request.into_inner();
        let user_id = parse_user_id(&body.user_id)?;
        let status = match pb::AccountStatus::try_from(body.status) {
            Ok(pb::AccountStatus::Active) => AccountStatus::Active,
            Ok(pb::AccountStatus::Suspended) => AccountStatus::Suspended,
            Ok(pb::AccountStatus::Banned) => AccountStatus::Banned,
            _ => {
                return Err(Error::from(IdentityError::InvalidStatus).into());
            }
        };
        Ok(Response::new(
            self.accounts.set_status(user_id, status).await?.into(),
        ))
    }
}
