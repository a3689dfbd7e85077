//! The gateway's clients of the internal services, all of one shape: an [`Upstream`] holds the
//! generated gRPC client, a health client for readiness and the signer of principal tokens.
//! Every call carries a principal minted here: the gateway's own for anonymous calls, the
//! user's once identity vouched for their session. gRPC failures come back as
//! [`df_common::Error`]s with the service's stable codes.

mod identity;
mod payments;

use std::{future::Future, sync::Arc};

use df_common::{
    Error,
    auth::{Role, Subject, TokenSigner, service},
    grpc::{ClientConfig, channel, request_with_principal},
    ids::UserId,
};
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

pub use identity::{Identity, ValidatedSession, role_from_pb};
pub use payments::Payments;

use crate::auth::Authenticated;

/// The user a call is made for, as identity vouched for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub user_id: UserId,
    /// The user's role.
    pub role: Role,
}

impl From<&Authenticated> for Caller {
    fn from(authenticated: &Authenticated) -> Self {
        Self {
            user_id: authenticated.user_id,
            role: authenticated.role,
        }
    }
}

/// Whom a call is made as.
#[derive(Clone, Copy, Debug)]
pub enum OnBehalfOf {
    /// The gateway itself: anonymous requests, provider webhooks.
    Gateway,
    /// A signed-in user.
    User(Caller),
}

/// One internal service as the gateway calls it; cheap to clone, connects lazily (so the
/// gateway starts, and stays ready, while a service it does not need for readiness is down).
#[derive(Clone)]
pub struct Upstream<C> {
    client: C,
    health: HealthClient<Channel>,
    signer: Arc<TokenSigner>,
    /// The service's name: the audience of the principal tokens.
    audience: &'static str,
}

impl<C: Clone> Upstream<C> {
    /// The upstream `audience` at `config`, its client made by `client` over the channel.
    pub fn new(
        audience: &'static str,
        config: &ClientConfig,
        signer: Arc<TokenSigner>,
        client: impl FnOnce(Channel) -> C,
    ) -> Result<Self, Error> {
        let channel = channel(config)?;
        Ok(Self {
            health: HealthClient::new(channel.clone()),
            client: client(channel),
            signer,
            audience,
        })
    }

    /// True when the service's gRPC health service reports it serving (readiness).
    pub async fn is_serving(&self) -> bool {
        let request = HealthCheckRequest {
            service: String::new(),
        };
        matches!(
            self.health.clone().check(request).await.map(|r| r.into_inner().status),
            Ok(status) if status == ServingStatus::Serving as i32
        )
    }

    /// Calls `rpc` with `message` as `on_behalf`; the answer, or the service's error.
    pub async fn call<M, R, Fut>(
        &self,
        on_behalf: OnBehalfOf,
        message: M,
        rpc: impl FnOnce(C, tonic::Request<M>) -> Fut,
    ) -> Result<R, Error>
    where
        Fut: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        let (subject, role) = match on_behalf {
            OnBehalfOf::Gateway => (
                Subject::Service {
                    name: service::GATEWAY.into(),
                },
                Role::Service,
            ),
            OnBehalfOf::User(caller) => (
                Subject::User {
                    user_id: caller.user_id,
                },
                caller.role,
            ),
        };
        let token = self.signer.mint(subject, vec![role], self.audience)?;
        let request = request_with_principal(message, &token)?;
        rpc(self.client.clone(), request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| Error::from_status(&status))
    }
}

/// Methods that pass a message through unchanged, one line each: `user name(Request) ->
/// Response;` calls as the signed-in user, `gateway name(...)` as the gateway itself.
macro_rules! calls {
    ($($(#[$doc:meta])* $as:ident $name:ident($request:ty) -> $response:ty;)*) => {
        $($crate::upstream::calls!(@$as $(#[$doc])* $name($request) -> $response);)*
    };
    (@user $(#[$doc:meta])* $name:ident($request:ty) -> $response:ty) => {
        $(#[$doc])*
        pub async fn $name(
            &self,
            caller: $crate::upstream::Caller,
            message: $request,
        ) -> Result<$response, df_common::Error> {
            let on_behalf = $crate::upstream::OnBehalfOf::User(caller);
            self.0
                .call(on_behalf, message, |mut client, r| async move { client.$name(r).await })
                .await
        }
    };
    (@gateway $(#[$doc:meta])* $name:ident($request:ty) -> $response:ty) => {
        $(#[$doc])*
        pub async fn $name(&self, message: $request) -> Result<$response, df_common::Error> {
            let on_behalf = $crate::upstream::OnBehalfOf::Gateway;
            self.0
                .call(on_behalf, message, |mut client, r| async move { client.$name(r).await })
                .await
        }
    };
}
pub(crate) use calls;
