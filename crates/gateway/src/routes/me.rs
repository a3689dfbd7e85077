//! `GET /v1/me`: the signed-in user's profile.

use actix_web::{HttpResponse, web};
use df_proto::identity::v1 as pb;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    auth::Authenticated,
    routes::{
        auth::Username,
        openapi::{
            InternalError, RateLimited, Timeout, Unauthenticated, Unavailable, named_schema,
            one_of, problems,
        },
    },
    security::problem::ApiError,
    upstream::{Identity, role_from_pb},
};

/// A user as the user sees themselves.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User, examples(json!({
    "id": "0193a5b8-2f4c-7d1e-8a6b-5c3d2e1f0a9b",
    "email": "fan@example.com",
    "username": "night_owl",
    "role": "fan",
    "email_verified": true,
    "created_at": "2026-11-20T09:15:00Z"
})))]
pub struct UserView {
    /// Id (UUIDv7).
    #[schema(format = Uuid)]
    pub id: String,
    /// Email address, lower-cased.
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// Public handle.
    #[schema(value_type = Username)]
    pub username: String,
    #[schema(value_type = Role)]
    pub role: &'static str,
    /// Whether the email address was verified.
    pub email_verified: bool,
    /// Sign-up time (RFC 3339, UTC, whole seconds).
    #[schema(format = DateTime)]
    pub created_at: String,
}

named_schema!(
    /// The roles users can hold.
    Role = one_of(
        &["fan", "creator", "moderator", "admin"],
        "What a user may do. Only `fan` and `creator` can be chosen at sign-up.",
    )
);

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

problems!(GetMeProblems {
    404 ["identity.user_not_found"]
        "The account was deleted after the session was checked.",
});

/// Handler. The profile comes with the session validation, which the edge caches for at most
/// a second, so most calls are answered without leaving the gateway.
#[utoipa::path(
    get, path = "/v1/me", operation_id = "getMe", tag = "account",
    summary = "The signed-in user",
    description = "The profile of the user whose session authenticates the request. A GET needs \
                   no CSRF token.",
    responses(
        (status = 200, body = UserView, description = "The user."),
        GetMeProblems, Unauthenticated, RateLimited, InternalError, Unavailable, Timeout,
    ),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
)]
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
