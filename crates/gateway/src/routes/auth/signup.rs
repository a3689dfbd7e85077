//! `POST /v1/auth/signup`: always 202 when the input is valid, whether or not the email was
//! already registered (the owner of an existing address gets a notice by email instead).

use actix_web::{HttpResponse, web};
use df_common::Secret;
use df_proto::identity::v1 as pb;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Accepted, Email, NewPassword, PASSWORD_RULES, Username};
use crate::routes::openapi::{
    CsrfFailed, InternalError, JSON_BODY, PayloadTooLarge, RateLimited, Timeout, Unavailable,
    named_schema, one_of, problems,
};
use crate::security::Json;
use crate::{security::problem::ApiError, upstream::Identity};

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SignupRequest)]
pub struct SignupBody {
    #[schema(value_type = Email)]
    email: String,
    #[schema(value_type = Username)]
    username: String,
    #[schema(value_type = NewPassword)]
    password: Secret<String>,
    /// The role to sign up with; `null` or absent means `fan`. Anything else is refused with
    /// `identity.invalid_role`.
    #[serde(default)]
    #[schema(value_type = Option<SignupRole>, default = "fan")]
    role: Option<String>,
}

named_schema!(
    /// The roles that can be chosen at sign-up.
    SignupRole = one_of(&["fan", "creator"], "A role that can be chosen at sign-up.")
);

problems!(SignupProblems {
    400 [
        JSON_BODY, "identity.invalid_email", "identity.invalid_username", "identity.invalid_role",
        "common.field_too_long",
    ]
        "`identity.invalid_email`, `identity.invalid_username`, `identity.invalid_role`: a \
         field is not acceptable; `common.field_too_long`: a field is far beyond its limit.",
    409 ["identity.username_taken"]
        "The username belongs to another account.",
    422 [PASSWORD_RULES]
        "The password does not meet the password rules.",
});

/// Handler.
#[utoipa::path(
    post, path = "/v1/auth/signup", operation_id = "signup", tag = "auth",
    summary = "Create an account",
    description = "Creates a `fan` or `creator` account and emails a verification link. The \
                   answer is the same 202 whether or not the address already has an account \
                   (its owner gets a notice by email instead), so sign-up cannot be used to \
                   learn who is registered. The account can log in once the email is verified.",
    request_body(content = SignupBody, example = json!({
        "email": "fan@example.com",
        "username": "night_owl",
        "password": "plum-orbit-tundra-47-lantern",
        "role": "fan"
    })),
    responses(
        (status = 202,
            description = "Accepted: a verification link is on its way if the address is new.",
            body = Accepted, example = json!({"status": "verification_sent"})),
        SignupProblems, CsrfFailed, PayloadTooLarge, RateLimited, InternalError, Unavailable,
        Timeout,
    ),
)]
pub async fn handle(
    identity: web::Data<Identity>,
    body: Json<SignupBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let role = match body.role.as_deref() {
        None | Some("fan") => pb::Role::Fan,
        Some("creator") => pb::Role::Creator,
        Some(_) => {
            return Err(ApiError(df_common::Error::invalid_input(
                "identity.invalid_role",
                "Choose the fan or the creator role.",
            )));
        }
    };
    identity
        .signup(pb::SignupRequest {
            email: body.email,
            username: body.username,
            password: body.password.into_exposed(),
            role: role.into(),
        })
        .await?;
    Ok(HttpResponse::Accepted().json(Accepted {
        status: "verification_sent",
    }))
}
