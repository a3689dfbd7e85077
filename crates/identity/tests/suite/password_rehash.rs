//! A password hash made with older (weaker) parameters is replaced by one with the current
//! parameters at the next successful login, and only then: a wrong password changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version, password_hash::SaltString};
use df_devstack::platform::Platform;
use df_identity::password::hashing;
use diesel::{QueryableByName, sql_types::Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = Text)]
    password_hash: String,
}

async fn stored_hash(conn: &mut AsyncPgConnection, email: &str) -> String {
    diesel::sql_query("SELECT password_hash FROM users WHERE email = $1")
        .bind::<Text, _>(email)
        .get_result::<Stored>(conn)
        .await
        .unwrap()
        .password_hash
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_hash_is_upgraded_at_the_next_successful_login() {
    let platform = Platform::start().await;
    let email = "upgrade@example.com";
    let password = platform.verified_user(email, "upgrade", "fan").await;
    let mut conn = AsyncPgConnection::establish(platform.identity_db().url())
        .await
        .unwrap();

    // The hash as an older release with cheaper parameters would have stored it.
    let weak = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(8 * 1024, 1, 1, Some(32)).unwrap(),
    )
    .hash_password(
        password.as_bytes(),
        &SaltString::encode_b64(b"sixteen byte sal").unwrap(),
    )
    .unwrap()
    .to_string();
    diesel::sql_query("UPDATE users SET password_hash = $1 WHERE email = $2")
        .bind::<Text, _>(&weak)
        .bind::<Text, _>(email)
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(hashing::needs_rehash(&weak));

    let (status, _) = platform
        .post_json(
            "/v1/auth/login",
            serde_json::json!({"email": email, "password": "wrong wrong wrong wrong"}),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        stored_hash(&mut conn, email).await,
        weak,
        "a failed login rehashes nothing"
    );

    platform.login(email, &password).await;
    let upgraded = stored_hash(&mut conn, email).await;
    assert_ne!(upgraded, weak);
    assert!(!hashing::needs_rehash(&upgraded), "{upgraded}");
    assert!(hashing::verify_password(&password, &upgraded));
    // The upgraded hash keeps working.
    platform.login(email, &password).await;
    platform.stop().await;
}
