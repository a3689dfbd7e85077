//! Clients of internal services, all of one shape: an [`Upstream`] holds the generated gRPC
//! client, a health client for readiness and the signer of principal tokens. Every call carries
//! a principal minted by the caller: its own as a service, or (the gateway only) a user's once
//! identity vouched for their session. gRPC failures come back as [`Error`]s with the called
//! service's stable codes.

use std::{future::Future, sync::Arc};

use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    Error,
    auth::{Role, Subject, TokenSigner},
    grpc::{ClientConfig, channel, request_with_principal},
    ids::UserId,
};

/// The user a call is made for, as identity vouched for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The user.
    pub user_id: UserId,
    /// The user's role.
    pub role: Role,
}

/// Whom a call is made as.
#[derive(Clone, Copy, Debug)]
pub enum OnBehalfOf {
    /// The calling service itself (the gateway for anonymous requests and provider webhooks,
    /// media asking payments about a fan).
    Itself,
    /// A signed-in user.
    User(Caller),
}

/// One internal service as another calls it; cheap to clone, connects lazily (so the
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
            OnBehalfOf::Itself => (
                Subject::Service {
                    name: self.signer.service().to_owned(),
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

/// Methods of a newtype over [`Upstream`] that pass a message through unchanged, one line
/// each: `user name(Request) -> Response;` calls as the user the caller names, `itself
/// name(...)` as the calling service itself.
#[macro_export]
macro_rules! upstream_calls {
    ($($(#[$doc:meta])* $as:ident $name:ident($request:ty) -> $response:ty;)*) => {
        $($crate::upstream_calls!(@$as $(#[$doc])* $name($request) -> $response);)*
    };
    (@user $(#[$doc:meta])* $name:ident($request:ty) -> $response:ty) => {
        $(#[$doc])*
        pub async fn $name(
            &self,
            caller: $crate::grpc::upstream::Caller,
            message: $request,
        ) -> Result<$response, $crate::Error> {
            let on_behalf = $crate::grpc::upstream::OnBehalfOf::User(caller);
            self.0
                .call(on_behalf, message, |mut client, r| async move { client.$name(r).await })
                .await
        }
    };
    (@itself $(#[$doc:meta])* $name:ident($request:ty) -> $response:ty) => {
        $(#[$doc])*
        pub async fn $name(&self, message: $request) -> Result<$response, $crate::Error> {
            let on_behalf = $crate::grpc::upstream::OnBehalfOf::Itself;
            self.0
                .call(on_behalf, message, |mut client, r| async move { client.$name(r).await })
                .await
        }
    };
}
