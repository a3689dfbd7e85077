//! Emailed links cannot be used to flood an inbox or to keep the owner's link from working:
//! repeated requests within a minute send nothing and leave the first link valid, and no more
//! than five links of one kind go out per hour. Also: housekeeping removes stale rows and keeps
//! live ones.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use df_devstack::platform::{Platform, token_from_link};
use df_identity::housekeeping::{self, Counts};
use df_testkit::TestDb;
use diesel::{
    QueryableByName,
    sql_types::{BigInt, Bytea, Nullable, Timestamptz, Uuid},
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::json;

const RESET_LINK: &str = "reset-password?token=";
const VERIFY_LINK: &str = "verify-email?token=";

async fn connect(url: &str) -> AsyncPgConnection {
    AsyncPgConnection::establish(url).await.unwrap()
}

/// Waits until every request was composed and everything queued was delivered, so the outbox is
/// complete. (A request leaves its table in the transaction that queues its email.)
async fn queue_drained(conn: &mut AsyncPgConnection) {
    let pending = "SELECT (SELECT count(*) FROM mail_queue) \
                   + (SELECT count(*) FROM account_mail_requests) AS n";
    df_testkit::eventually("the mail queue drained", async || {
        df_testkit::db::count(conn, pending).await == 0
    })
    .await;
}

/// Emails to `to` containing `needle`, once everything queued has been sent.
async fn emails_with(
    platform: &Platform,
    conn: &mut AsyncPgConnection,
    to: &str,
    needle: &str,
) -> Vec<String> {
    queue_drained(conn).await;
    platform
        .emails()
        .into_iter()
        .filter(|m| m.contains(&format!("To: {to}")) && m.contains(needle))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reset_requests_send_one_email_and_the_first_link_works() {
    let platform = Platform::start().await;
    let mut conn = connect(platform.identity_db().url()).await;
    let email = "cooldown@example.com";
    platform.verified_user(email, "cooldown", "fan").await;

    let first = platform
        .post_json("/v1/auth/password-reset/request", json!({"email": email}))
        .await;
    let second = platform
        .post_json("/v1/auth/password-reset/request", json!({"email": email}))
        .await;
    assert_eq!(first.0, 202);
    assert_eq!(first, second, "the answer never reveals the cooldown");

    let mails = emails_with(&platform, &mut conn, email, RESET_LINK).await;
    assert_eq!(mails.len(), 1, "one reset email, not two");
    let token = token_from_link(&mails[0], RESET_LINK);
    let (status, problem) = platform
        .post_json(
            "/v1/auth/password-reset/confirm",
            json!({"token": token, "new_password": "fresh meadow violin 93"}),
        )
        .await;
    assert_eq!(status, 204, "the first link still works: {problem}");
    platform.login(email, "fresh meadow violin 93").await;
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resending_verification_right_after_signup_keeps_the_signup_link() {
    let platform = Platform::start().await;
    let mut conn = connect(platform.identity_db().url()).await;
    let email = "resend@example.com";
    let (status, _) = platform.post_json("/v1/auth/signup",
        json!({"email": email, "username": "resender", "password": "quiet orbit lantern 7 maple"}),
    )
    .await;
    assert_eq!(status, 202);
    let (status, _) = platform
        .post_json("/v1/auth/resend-verification", json!({"email": email}))
        .await;
    assert_eq!(status, 202);

    let mails = emails_with(&platform, &mut conn, email, VERIFY_LINK).await;
    assert_eq!(mails.len(), 1, "the resend within a minute sent nothing");
    let token = token_from_link(&mails[0], VERIFY_LINK);
    let (status, problem) = platform
        .post_json("/v1/auth/verify-email", json!({"token": token}))
        .await;
    assert_eq!(status, 200, "the signup link still works: {problem}");
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_five_reset_links_per_hour() {
    let platform = Platform::start().await;
    let mut conn = connect(platform.identity_db().url()).await;
    let email = "capped@example.com";
    platform.verified_user(email, "capped", "fan").await;
    // Time passes on identity's clock.
    let clock = platform.identity().clock();
    let request = || platform.post_json("/v1/auth/password-reset/request", json!({"email": email}));

    // Past the cooldown each request sends a link, up to five in the hour.
    for sent in 1..=5 {
        assert_eq!(request().await.0, 202);
        let mails = emails_with(&platform, &mut conn, email, RESET_LINK).await;
        assert_eq!(mails.len(), sent);
        clock.advance(chrono::Duration::minutes(2));
    }
    let sixth = request().await;
    assert_eq!(sixth.0, 202, "the cap changes nothing in the answer");
    let mails = emails_with(&platform, &mut conn, email, RESET_LINK).await;
    assert_eq!(mails.len(), 5, "a sixth link within the hour is not sent");
    // The last link sent is the one still valid.
    let last = token_from_link(&mails[4], RESET_LINK);
    let (status, _) = platform
        .post_json(
            "/v1/auth/password-reset/confirm",
            json!({"token": last, "new_password": "fresh meadow violin 93"}),
        )
        .await;
    assert_eq!(status, 204);

    // Once the hour has passed, links flow again.
    clock.advance(chrono::Duration::hours(1));
    assert_eq!(request().await.0, 202);
    let mails = emails_with(&platform, &mut conn, email, RESET_LINK).await;
    assert_eq!(mails.len(), 6);
    platform.stop().await;
}

async fn insert_throttle(
    conn: &mut AsyncPgConnection,
    digest: &[u8],
    last_failure_at: Option<DateTime<Utc>>,
    locked_at: Option<DateTime<Utc>>,
    evaluations: &[DateTime<Utc>],
) {
    diesel::sql_query(
        "INSERT INTO login_throttle \
         (identifier_digest, consecutive_failures, last_failure_at, locked_at, recent_evaluations) \
         VALUES ($1, 3, $2, $3, $4)",
    )
    .bind::<Bytea, _>(digest)
    .bind::<Nullable<Timestamptz>, _>(last_failure_at)
    .bind::<Nullable<Timestamptz>, _>(locked_at)
    .bind::<diesel::sql_types::Array<Timestamptz>, _>(evaluations)
    .execute(conn)
    .await
    .unwrap();
}

async fn insert_token(
    conn: &mut AsyncPgConnection,
    digest: &[u8],
    user: uuid::Uuid,
    expires_at: DateTime<Utc>,
) {
    diesel::sql_query(
        "INSERT INTO one_time_tokens (token_hash, purpose, user_id, expires_at) \
         VALUES ($1, 'password_reset', $2, $3)",
    )
    .bind::<Bytea, _>(digest)
    .bind::<Uuid, _>(user)
    .bind::<Timestamptz, _>(expires_at)
    .execute(conn)
    .await
    .unwrap();
}

async fn insert_session(
    conn: &mut AsyncPgConnection,
    user: uuid::Uuid,
    absolute_expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
) -> uuid::Uuid {
    let id = uuid::Uuid::now_v7();
    diesel::sql_query(
        "INSERT INTO sessions (id, user_id, token_hash, idle_expires_at, absolute_expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4, $4, $5)",
    )
    .bind::<Uuid, _>(id)
    .bind::<Uuid, _>(user)
    .bind::<Bytea, _>(uuid::Uuid::new_v4().as_bytes().as_slice())
    .bind::<Timestamptz, _>(absolute_expires_at)
    .bind::<Nullable<Timestamptz>, _>(revoked_at)
    .execute(conn)
    .await
    .unwrap();
    id
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn exists(conn: &mut AsyncPgConnection, table: &str, column: &str, key: &[u8]) -> bool {
    diesel::sql_query(format!(
        "SELECT count(*) AS n FROM {table} WHERE {column} = $1"
    ))
    .bind::<Bytea, _>(key)
    .get_result::<Count>(conn)
    .await
    .unwrap()
    .n == 1
}

// A database of its own with no service running, so no other round can delete the rows first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn housekeeping_removes_stale_rows_and_keeps_live_ones() {
    let test_db = TestDb::new(
        "identity",
        df_identity::MIGRATIONS,
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"),
    )
    .await;
    let mut conn = connect(test_db.url()).await;
    let now = Utc::now();
    let days = chrono::Duration::days;

    let old_unlocked = b"old unlocked".to_vec();
    let never_failed = b"never failed".to_vec();
    let fresh_locked = b"fresh locked".to_vec();
    let old_locked = b"old locked".to_vec();
    let recently_failed = b"recently failed".to_vec();
    let recently_evaluated = b"recently evaluated".to_vec();
    insert_throttle(&mut conn, &old_unlocked, Some(now - days(2)), None, &[]).await;
    insert_throttle(&mut conn, &never_failed, None, None, &[]).await;
    insert_throttle(&mut conn, &fresh_locked, Some(now), Some(now), &[now]).await;
    insert_throttle(
        &mut conn,
        &old_locked,
        Some(now - days(9)),
        Some(now - days(9)),
        &[],
    )
    .await;
    insert_throttle(
        &mut conn,
        &recently_failed,
        Some(now - chrono::Duration::hours(2)),
        None,
        &[],
    )
    .await;
    // A success cleared the failure time, but this hour's evaluation budget still counts.
    insert_throttle(
        &mut conn,
        &recently_evaluated,
        None,
        None,
        &[now - chrono::Duration::minutes(10)],
    )
    .await;

    let user = uuid::Uuid::now_v7();
    diesel::sql_query(
        "INSERT INTO users (id, email, username, password_hash, role) \
         VALUES ($1, 'keeper@example.com', 'keeper', 'x', 'fan')",
    )
    .bind::<Uuid, _>(user)
    .execute(&mut conn)
    .await
    .unwrap();
    let long_expired = b"token expired 8 days ago".to_vec();
    let recently_expired = b"token expired yesterday".to_vec();
    let live = b"token still live".to_vec();
    insert_token(&mut conn, &long_expired, user, now - days(8)).await;
    insert_token(&mut conn, &recently_expired, user, now - days(1)).await;
    insert_token(&mut conn, &live, user, now + days(1)).await;

    let old_expired_session = insert_session(&mut conn, user, now - days(31), None).await;
    let old_revoked_session =
        insert_session(&mut conn, user, now + days(10), Some(now - days(31))).await;
    let recently_revoked =
        insert_session(&mut conn, user, now + days(10), Some(now - days(1))).await;
    let live_session = insert_session(&mut conn, user, now + days(10), None).await;

    let clock = df_common::clock::Clock::frozen(now);
    let counts = housekeeping::run_once(&test_db.db(), &clock).await.unwrap();
    assert_eq!(
        counts,
        Counts {
            throttle_rows: 2,
            tokens: 1,
            sessions: 2,
        }
    );

    let table = "login_throttle";
    let key = "identifier_digest";
    assert!(!exists(&mut conn, table, key, &old_unlocked).await);
    assert!(!exists(&mut conn, table, key, &never_failed).await);
    assert!(exists(&mut conn, table, key, &fresh_locked).await);
    assert!(
        exists(&mut conn, table, key, &old_locked).await,
        "locks outlive any age"
    );
    assert!(exists(&mut conn, table, key, &recently_failed).await);
    assert!(exists(&mut conn, table, key, &recently_evaluated).await);

    let (table, key) = ("one_time_tokens", "token_hash");
    assert!(!exists(&mut conn, table, key, &long_expired).await);
    assert!(exists(&mut conn, table, key, &recently_expired).await);
    assert!(exists(&mut conn, table, key, &live).await);

    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = Uuid)]
        id: uuid::Uuid,
    }
    let mut left: Vec<uuid::Uuid> = diesel::sql_query("SELECT id FROM sessions")
        .load::<Id>(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.id)
        .collect();
    left.sort();
    let mut expected = vec![recently_revoked, live_session];
    expected.sort();
    assert_eq!(left, expected);
    assert!(!left.contains(&old_expired_session) && !left.contains(&old_revoked_session));

    // A second round finds nothing more to do.
    let again = housekeeping::run_once(&test_db.db(), &clock).await.unwrap();
    assert_eq!(again, Counts::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_link_is_not_a_reset_link() {
    let platform = Platform::start().await;
    let email = "not-a-reset@example.com";
    let (status, _) = platform.post_json("/v1/auth/signup",
        json!({"email": email, "username": "notreset", "password": "quiet orbit lantern 7 maple"}),
    )
    .await;
    assert_eq!(status, 202);
    let mail = platform.wait_for_email(email, VERIFY_LINK).await;
    let token = token_from_link(&mail, VERIFY_LINK);
    // Refused as a token before the password is even looked at (a weak one would be a 422).
    let (status, problem) = platform
        .post_json(
            "/v1/auth/password-reset/confirm",
            json!({"token": token, "new_password": "1qaz2wsx3edc"}),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["code"], "identity.invalid_token");
    let (status, _) = platform
        .post_json("/v1/auth/verify-email", json!({"token": token}))
        .await;
    assert_eq!(status, 200, "the verification link is untouched");
    platform.stop().await;
}
