//! `GET /v1/me`: the signed-in user's profile.

use actix_web::{HttpResponse, web};
use df_proto::identity::v1 as pb;
use serde::Serialize;

use crate::{
    auth::Authenticated,
    security::problem::ApiError,
    upstream::{Identity, role_from_pb},
};

/// A user as clients see it.
#[derive(Debug, Serialize)]
pub struct UserView {
    /// Id (UUIDv7).
    pub id: String,
    /// Email address.
    pub email: String,
    /// Public handle.
    pub username: String,
    /// `fan`, `creator`, `moderator` or `admin`.
    pub role: &'static str,
    /// Whether the email was verified.
    pub email_verified: bool,
    /// Sign-up time (RFC 3339).
    pub created_at: String,
}

impl TryFrom<pb::User> for UserView {
    type Error = df_common::Error;

    fn try_from(user: pb::User) -> Result<Self, Self::Error> {
        Ok(Self {
            role: role_from_pb(user.role)?.as_str(),
            created_at: df_common::wire::rfc3339_or_epoch(user.created_at.as_ref()),
            id: user.id,
            email: user.email,
            username: user.username,
            email_verified: user.email_verified,
        })
    }
}

/// Handler. The profile comes with the session validation, which the edge caches for at most
/// a second, so most calls are answered without leaving the gateway.
pub async fn handle(
    caller: Authenticated,
    identity: web::Data<Identity>,
) -> Result<HttpResponse, ApiError> {
    let user = match caller.session.user.clone() {
        Some(user) => user,
        None => identity.me(&caller.session).await?,
    };
    Ok(HttpResponse::Ok().json(UserView::try_from(user)?))
}
