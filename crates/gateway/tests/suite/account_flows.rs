//! Account flows beyond the first login: duplicate signups reveal nothing, weak passwords are
//! refused with clear codes, password reset links are single-use and end every session, and a
//! suspended account's sessions stop at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use df_common::auth::{Role, Subject};
use df_devstack::platform::{Platform, token_from_link};
use df_proto::identity::v1::{self as pb, identity_client::IdentityClient};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_refuses_bad_input_and_hides_existing_accounts() {
    let platform = Platform::start().await;
    let cases = [
        (
            json!({"email": "a@example.com", "username": "alpha", "password": "short"}),
            422,
            "identity.password_too_short",
        ),
        (
            json!({"email": "a@example.com", "username": "alpha", "password": "p".repeat(129)}),
            422,
            "identity.password_too_long",
        ),
        (
            json!({"email": "a@example.com", "username": "alpha", "password": "QWERTY123456"}),
            422,
            "identity.password_common",
        ),
        (
            json!({"email": "a@example.com", "username": "alphabet", "password": "my alphabet soup is great"}),
            422,
            "identity.password_contains_identity",
        ),
        (
            json!({"email": "not-an-email", "username": "alpha", "password": "quiet orbit lantern 7 maple"}),
            400,
            "identity.invalid_email",
        ),
        (
            json!({"email": "a@example.com", "username": "a", "password": "quiet orbit lantern 7 maple"}),
            400,
            "identity.invalid_username",
        ),
        (
            json!({"email": "a@example.com", "username": "alpha", "password": "quiet orbit lantern 7 maple", "role": "admin"}),
            400,
            "identity.invalid_role",
        ),
        (
            json!({"email": "a@example.com", "username": "alpha", "password": "quiet orbit lantern 7 maple", "extra": 1}),
            400,
            "common.invalid_json",
        ),
    ];
    for (body, status, code) in cases {
        let (got, problem) = platform.post_json("/v1/auth/signup", body.clone()).await;
        assert_eq!(got, status, "{body} → {problem}");
        assert_eq!(problem["code"], code, "{body}");
    }
    // Nothing was created by the refused attempts.
    assert!(platform.emails().is_empty());

    let first = json!({"email": "dup@example.com", "username": "dup_one", "password": "quiet orbit lantern 7 maple"});
    let again = json!({"email": "DUP@example.com", "username": "dup_two", "password": "another quiet orbit 8"});
    let (status_first, body_first) = platform.post_json("/v1/auth/signup", first).await;
    let (status_again, body_again) = platform.post_json("/v1/auth/signup", again).await;
    assert_eq!(
        (status_first, &body_first),
        (status_again, &body_again),
        "same answer for an existing email"
    );
    platform
        .wait_for_email("dup@example.com", "already has one")
        .await;
    // More attempts within the hour get the same answer but send no further notice: the
    // reset email queued after them arrives, and still only one notice is there.
    for n in 3..6 {
        let again = json!({"email": "dup@example.com", "username": format!("dup_{n}"), "password": "another quiet orbit 8"});
        let (status, body) = platform.post_json("/v1/auth/signup", again).await;
        assert_eq!((status, &body), (status_first, &body_first));
    }
    let (status, _) = platform
        .post_json(
            "/v1/auth/password-reset/request",
            json!({"email": "dup@example.com"}),
        )
        .await;
    assert_eq!(status, 202);
    platform
        .wait_for_email("dup@example.com", "reset-password?token=")
        .await;
    let notices = platform
        .emails()
        .iter()
        .filter(|m| m.contains("To: dup@example.com") && m.contains("already has one"))
        .count();
    assert_eq!(notices, 1, "one signup notice an hour");

    // A taken username is said to be taken whether or not the email is registered, so the
    // answer cannot be used to test emails.
    for email in ["other@example.com", "dup@example.com"] {
        let taken = json!({"email": email, "username": "DUP_ONE", "password": "quiet orbit lantern 7 maple"});
        let (status, problem) = platform.post_json("/v1/auth/signup", taken).await;
        assert_eq!(status, 409, "{email}");
        assert_eq!(problem["code"], "identity.username_taken");
    }
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_reset_is_single_use_and_ends_sessions() {
    let platform = Platform::start().await;
    let email = "reset@example.com";
    let old_password = platform.verified_user(email, "resetter", "fan").await;
    let session = platform.login(email, &old_password).await;

    // Unknown and known emails get the same answer.
    let known = platform
        .post_json("/v1/auth/password-reset/request", json!({"email": email}))
        .await;
    let unknown = platform
        .post_json(
            "/v1/auth/password-reset/request",
            json!({"email": "ghost@example.com"}),
        )
        .await;
    assert_eq!(known, unknown);
    assert_eq!(known.0, 202);

    let mail = platform
        .wait_for_email(email, "reset-password?token=")
        .await;
    assert!(mail.contains("30 minutes"));
    let token = token_from_link(&mail, "reset-password?token=");

    // A weak password is refused and the link stays usable.
    let (status, problem) = platform
        .post_json(
            "/v1/auth/password-reset/confirm",
            json!({"token": token, "new_password": "1qaz2wsx3edc"}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    let new_password = "fresh meadow violin 93";
    let (status, _) = platform
        .post_json(
            "/v1/auth/password-reset/confirm",
            json!({"token": token, "new_password": new_password}),
        )
        .await;
    assert_eq!(status, 204);
    let (status, problem) = platform
        .post_json(
            "/v1/auth/password-reset/confirm",
            json!({"token": token, "new_password": "other fresh violin 94"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(problem["code"], "identity.invalid_token");

    let response = platform
        .http()
        .get(platform.url("/v1/me"))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        401,
        "old sessions end on password change"
    );
    let (status, _) = platform
        .post_json(
            "/v1/auth/login",
            json!({"email": email, "password": old_password}),
        )
        .await;
    assert_eq!(status, 401);
    platform.login(email, new_password).await;
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspending_an_account_ends_its_sessions_and_blocks_login() {
    let platform = Platform::start().await;
    let email = "suspend@example.com";
    let password = platform.verified_user(email, "suspendee", "creator").await;
    let session = platform.login(email, &password).await;
    let me: Value = platform
        .http()
        .get(platform.url("/v1/me"))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "creator");

    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", platform.identity_addr()))
            .unwrap()
            .connect_lazy();
    let admin = platform
        .signer
        .mint(
            Subject::User {
                user_id: df_common::ids::UserId::new(),
            },
            vec![Role::Admin],
            df_common::auth::service::IDENTITY,
        )
        .unwrap();
    let request = df_common::grpc::request_with_principal(
        pb::SetAccountStatusRequest {
            user_id: me["id"].as_str().unwrap().to_owned(),
            status: pb::AccountStatus::Suspended.into(),
        },
        &admin,
    )
    .unwrap();
    IdentityClient::new(channel)
        .set_account_status(request)
        .await
        .unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let status = platform
            .http()
            .get(platform.url("/v1/me"))
            .bearer_auth(&session)
            .send()
            .await
            .unwrap()
            .status();
        if status == 401 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "suspended session still accepted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let (status, problem) = platform
        .post_json(
            "/v1/auth/login",
            json!({"email": email, "password": password}),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(problem["code"], "identity.account_suspended");
    platform.stop().await;
}
