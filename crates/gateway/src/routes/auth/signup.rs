//! `POST /v1/auth/signup`: always 202 when the input is valid, whether or not the email was
//! already registered (the owner of an existing address gets a notice by email instead).

use actix_web::{HttpResponse, web};
use df_common::Secret;
use df_proto::identity::v1 as pb;
use serde::Deserialize;

use super::Accepted;
use crate::security::Json;
use crate::{security::problem::ApiError, upstream::Identity};

/// Request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    email: String,
    username: String,
    password: Secret<String>,
    /// `fan` (default) or `creator`.
    #[serde(default)]
    role: Option<String>,
}

/// Handler.
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
