//! Identity accepts gRPC calls only with a valid principal token minted for identity: none, a
//! bare user id, a tampered token, an expired one, one minted for another service, or a user
//! (not service) principal on a gateway-only method are all refused; the gateway's service
//! principal is accepted. Privileged methods name the services they accept: no other service's
//! principal passes them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use df_common::{
    auth::{PRINCIPAL_METADATA, Principal, Role, Subject, TokenSigner, service},
    ids::UserId,
};
use df_proto::identity::v1 as pb;
use tonic::{Code, Request, metadata::MetadataValue};

use crate::support::{Running, start};

fn with_metadata<T>(message: T, value: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(PRINCIPAL_METADATA, MetadataValue::try_from(value).unwrap());
    request
}

fn reset_request() -> pb::RequestPasswordResetRequest {
    pb::RequestPasswordResetRequest {
        email: "nobody@example.com".into(),
    }
}

/// A token for identity, minted with the gateway's key for `subject` with `role`.
fn minted(running: &Running, subject: Subject, role: Role) -> String {
    running
        .signer
        .mint(subject, vec![role], service::IDENTITY)
        .unwrap()
}

fn gateway_subject() -> Subject {
    Subject::Service {
        name: service::GATEWAY.into(),
    }
}

/// How identity refuses a password-reset request made with `request`'s metadata.
async fn reset_refused(
    running: &mut Running,
    request: Request<pb::RequestPasswordResetRequest>,
) -> Code {
    running
        .client
        .request_password_reset(request)
        .await
        .unwrap_err()
        .code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_a_valid_principal_are_refused() {
    let mut running = start().await;
    let service = minted(&running, gateway_subject(), Role::Service);

    // The service principal works (retry while the server binds its first connection).
    if let Err(status) = first_answer(&mut running, &service).await {
        panic!("service principal refused: {status:?}");
    }

    // No token at all.
    let status = running
        .client
        .request_password_reset(Request::new(reset_request()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        status.metadata().get("x-df-error-code").unwrap(),
        "common.invalid_principal"
    );

    // A bare user id where the token belongs.
    let bare_id = with_metadata(reset_request(), &UserId::new().to_string());
    assert_eq!(
        reset_refused(&mut running, bare_id).await,
        Code::Unauthenticated
    );

    // A tampered token: flip one character of the signature.
    let mut tampered = service.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = with_metadata(reset_request(), std::str::from_utf8(&tampered).unwrap());
    assert_eq!(
        reset_refused(&mut running, tampered).await,
        Code::Unauthenticated
    );

    // An expired token signed with the right key.
    let expired = running
        .signer
        .sign(&Principal {
            sub: gateway_subject(),
            roles: vec![Role::Service],
            aud: service::IDENTITY.into(),
            exp: chrono::Utc::now().timestamp() - 120,
        })
        .unwrap();
    let expired = with_metadata(reset_request(), &expired);
    assert_eq!(
        reset_refused(&mut running, expired).await,
        Code::Unauthenticated
    );

    // A token signed with another key.
    let forged = TokenSigner::with_key("k1", &[9u8; 32], Duration::from_secs(60), service::GATEWAY)
        .mint(gateway_subject(), vec![Role::Service], service::IDENTITY)
        .unwrap();
    let forged = with_metadata(reset_request(), &forged);
    assert_eq!(
        reset_refused(&mut running, forged).await,
        Code::Unauthenticated
    );

    // A valid user principal may not call gateway-only methods.
    let user = minted(
        &running,
        Subject::User {
            user_id: UserId::new(),
        },
        Role::Admin,
    );
    let user = with_metadata(reset_request(), &user);
    assert_eq!(
        reset_refused(&mut running, user).await,
        Code::PermissionDenied
    );

    // A user may read only their own profile.
    let someone_else = UserId::new();
    let fan = minted(
        &running,
        Subject::User {
            user_id: UserId::new(),
        },
        Role::Fan,
    );
    let status = running
        .client
        .get_user(with_metadata(
            pb::GetUserRequest {
                user_id: someone_else.to_string(),
            },
            &fan,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    running.stop().await;
}

/// Waits until identity answers `token` with anything but "unavailable".
async fn first_answer(running: &mut Running, token: &str) -> Result<(), tonic::Status> {
    df_testkit::eventually_some("identity answers", async || {
        match running
            .client
            .request_password_reset(with_metadata(reset_request(), token))
            .await
        {
            Err(status) if status.code() == Code::Unavailable => None,
            answer => Some(answer.map(|_| ())),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_minted_for_payments_is_refused_by_identity() {
    let mut running = start().await;
    let for_payments = running
        .signer
        .mint(gateway_subject(), vec![Role::Service], service::PAYMENTS)
        .unwrap();
    let status = first_answer(&mut running, &for_payments).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        status.metadata().get("x-df-error-code").unwrap(),
        "common.invalid_principal"
    );
    let for_identity = minted(&running, gateway_subject(), Role::Service);
    first_answer(&mut running, &for_identity).await.unwrap();
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_named_services_pass_the_privileged_methods() {
    let mut running = start().await;
    let as_service = |name: &str| {
        minted(
            &running,
            Subject::Service { name: name.into() },
            Role::Service,
        )
    };
    let (payments, gateway, moderation) = (
        as_service(service::PAYMENTS),
        as_service(service::GATEWAY),
        as_service(service::MODERATION),
    );
    // The pre-authentication methods (login with a client address among them) are the
    // gateway's alone.
    let status = first_answer(&mut running, &payments).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = running
        .client
        .login(with_metadata(
            pb::LoginRequest {
                email: "someone@example.com".into(),
                password: "quiet orbit lantern 7 maple".into(),
                client_ip: "203.0.113.9".into(),
                user_agent: String::new(),
            },
            &moderation,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // Neither payments' nor the gateway's principal changes an account's status or reads
    // another user; moderation's does get past the check (to a user that does not exist).
    let user_id = UserId::new().to_string();
    for token in [&payments, &gateway] {
        let status = running
            .client
            .set_account_status(with_metadata(
                pb::SetAccountStatusRequest {
                    user_id: user_id.clone(),
                    status: pb::AccountStatus::Banned.into(),
                },
                token,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
        let status = running
            .client
            .get_user(with_metadata(
                pb::GetUserRequest {
                    user_id: user_id.clone(),
                },
                token,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
    }
    let status = running
        .client
        .set_account_status(with_metadata(
            pb::SetAccountStatusRequest {
                user_id: user_id.clone(),
                status: pb::AccountStatus::Banned.into(),
            },
            &moderation,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    running.stop().await;
}
