//! Login with brute-force protection (see [`crate::throttle`] for the rules).
//!
//! Unknown accounts go through exactly the same steps as known ones: the throttle row is keyed
//! by the submitted identifier, a dummy password hash is verified, and the answers are the same,
//! so neither status, body nor timing tells whether an account exists.

use crate::errors::IdentityError;
use std::time::Duration;

use chrono::{DateTime, Utc};
use df_common::Secret;
use df_common::{Error, ids::UserId};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::{
    accounts::{Accounts, find_by_email},
    events,
    mail::Email,
    models::{AccountStatus, User, UserRow},
    one_time::{self, Purpose},
    password::hashing,
    schema::{login_throttle, users},
    sessions::NewSession,
    throttle::{self, Gate, ThrottleState},
    tokens,
    validation::{MAX_EMAIL_LEN, normalize_email},
};

/// A login attempt.
#[derive(Clone, Debug)]
pub struct LoginInput {
    /// Email (any case).
    pub email: String,
    /// Password.
    pub password: Secret<String>,
    /// Client address as seen by the gateway.
    pub client_ip: String,
    /// Client user agent, kept with the session.
    pub user_agent: Option<String>,
}

/// A successful login.
pub struct LoginOutcome {
    /// The new session.
    pub session: NewSession,
    /// The user.
    pub user: User,
}

/// Wrong email or password (also for unknown accounts).
pub fn invalid_credentials() -> Error {
    IdentityError::InvalidCredentials.into()
}

fn too_many_attempts(retry_after: Duration) -> Error {
    Error::from(IdentityError::TooManyAttempts).with_retry_after(retry_after)
}

fn login_locked() -> Error {
    IdentityError::LoginLocked.into()
}

/// What the throttled transaction decided.
enum Verdict {
    Success(Box<LoginOutcome>),
    Refused(Error),
}

impl Accounts {
    /// Checks the credentials and opens a session.
    ///
    /// Three steps, so that no database connection or row lock is held while the password hash
    /// is computed: (1) under the identifier's row lock, decide and count the evaluation;
    /// (2) verify the password with nothing held; (3) under the lock again, record the result
    /// and open the session. Evaluations are counted in step 1, so the hourly budget holds even
    /// for concurrent attempts.
    pub async fn login(&self, input: LoginInput) -> Result<LoginOutcome, Error> {
        let email = normalize_email(&input.email);
        // Bounded input: nothing longer than the policy allows can be a valid password.
        if email.is_empty() || email.len() > MAX_EMAIL_LEN || input.password.expose().len() > 1024 {
            return Err(invalid_credentials());
        }
        let ip_key = format!("login_ip:{}", input.client_ip);
        if self.ip_failures(&ip_key).await >= u64::from(self.settings.login.ip_failures_per_hour) {
            return Err(too_many_attempts(Duration::from_secs(60)));
        }
        let digest = tokens::identifier_digest(&email);

        let (gate, user) = {
            let this = self.clone();
            let (digest, email) = (digest.clone(), email.clone());
            let mut conn = self.db.conn().await?;
            conn.transaction::<(Gate, Option<UserRow>), Error, _>(async move |conn| {
                let mut state = lock_throttle_row(conn, &digest).await?;
                let gate = throttle::gate(&mut state, Utc::now(), &this.settings.login);
                if gate == Gate::Evaluate {
                    save_throttle(conn, &digest, &state).await?;
                }
                Ok((gate, find_by_email(conn, &email).await?))
            })
            .await?
        };
        match gate {
            Gate::Locked => return Err(login_locked()),
            Gate::Wait(wait) => return Err(too_many_attempts(wait)),
            Gate::Evaluate => {}
        }

        let password_ok = match &user {
            Some(user) => {
                hashing::verify_password_async(
                    input.password.expose().clone(),
                    user.password_hash.clone(),
                )
                .await?
            }
            None => {
                hashing::dummy_verify_async(input.password.expose().clone()).await?;
                false
            }
        };

        // A hash made with older parameters is replaced while the password is at hand.
        let stale_hash = user
            .as_ref()
            .filter(|user| password_ok && hashing::needs_rehash(&user.password_hash))
            .map(|user| (user.id, user.password_hash.clone()));
        let password = input.password.expose().clone();
        let this = self.clone();
        let mut conn = self.db.conn().await?;
        let verdict = conn
            .transaction::<Verdict, Error, _>(async move |conn| {
                this.record(conn, &digest, user.filter(|_| password_ok), &input)
                    .await
            })
            .await?;
        self.after_commit();
        match verdict {
            Verdict::Success(outcome) => {
                if let Some((user_id, old)) = stale_hash {
                    self.rehash(user_id, &old, password).await;
                }
                Ok(*outcome)
            }
            Verdict::Refused(error) => {
                if IdentityError::InvalidCredentials.is(&error) {
                    self.count_ip_failure(&ip_key).await;
                }
                Err(error)
            }
        }
    }

    /// Stores a fresh hash of `password` (just verified against `old`) with the current
    /// parameters, unless the hash changed meanwhile (a password reset wins). A failure only
    /// means the next login tries again.
    async fn rehash(&self, user_id: UserId, old: &str, password: String) {
        let result = async {
            let fresh = hashing::hash_password_async(password).await?;
            let mut conn = self.db.conn().await?;
            diesel::update(
                users::table
                    .find(user_id)
                    .filter(users::password_hash.eq(old)),
            )
            .set(users::password_hash.eq(fresh))
            .execute(&mut conn)
            .await?;
            Ok::<(), Error>(())
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(%user_id, code = error.code(), "password rehash failed; retried at the next login");
        }
    }

    /// Records the attempt's result under the identifier's row lock; `user` is set only when the
    /// password was right.
    async fn record(
        &self,
        conn: &mut AsyncPgConnection,
        digest: &[u8],
        user: Option<UserRow>,
        input: &LoginInput,
    ) -> Result<Verdict, Error> {
        let now = Utc::now();
        let mut state = lock_throttle_row(conn, digest).await?;
        let Some(user) = user else {
            let locked_now = throttle::record_failure(&mut state, now, &self.settings.login);
            save_throttle(conn, digest, &state).await?;
            if locked_now
                && let Some(user) = find_by_email(conn, &normalize_email(&input.email)).await?
            {
                self.on_locked(conn, user.id, &user.email, state.consecutive_failures, now)
                    .await?;
            }
            return Ok(Verdict::Refused(invalid_credentials()));
        };
        throttle::record_success(&mut state);
        save_throttle(conn, digest, &state).await?;
        let user = User::try_from(user)?;
        if user.status != AccountStatus::Active {
            return Ok(Verdict::Refused(IdentityError::AccountSuspended.into()));
        }
        if !user.email_verified {
            return Ok(Verdict::Refused(IdentityError::EmailNotVerified.into()));
        }
        let session = self
            .sessions
            .create(conn, user.id, user.role, input.user_agent.as_deref())
            .await?;
        Ok(Verdict::Success(Box::new(LoginOutcome { session, user })))
    }

    async fn on_locked(
        &self,
        conn: &mut AsyncPgConnection,
        user_id: UserId,
        email: &str,
        failures: u32,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let expires = now + chrono::Duration::hours(i64::from(self.settings.unlock_ttl_hours));
        let token = one_time::issue(conn, user_id, Purpose::UnlockLogin, now, expires).await?;
        self.mail
            .enqueue(
                conn,
                &Email {
                    to: email.to_owned(),
                    subject: "Your DirectFanz login was locked".into(),
                    text_body: format!(
                        "After {failures} failed login attempts we locked logins to your account.\n\
                 If it was you, unlock it with this link: {}/unlock-login?token={token}\n\
                 If it was not you, reset your password: {}/reset-password\n",
                        self.settings.public_app_url.trim_end_matches('/'),
                        self.settings.public_app_url.trim_end_matches('/'),
                    ),
                },
            )
            .await?;
        events::account_locked(conn, user_id, failures, now).await?;
        tracing::warn!(user_id = %user_id, failures, "login locked after repeated failures");
        Ok(())
    }

    /// Failed logins from this IP in the last hour; 0 when Redis is unavailable (per-account
    /// throttling still applies).
    async fn ip_failures(&self, key: &str) -> u64 {
        match self.cache.get(key).await {
            Ok(Some(bytes)) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            _ => 0,
        }
    }

    async fn count_ip_failure(&self, key: &str) {
        let key = self.cache.key(key);
        let _ = self
            .cache
            .run(move |c| {
                let key = key.clone();
                Box::pin(async move {
                    let count: u64 = deadpool_redis::redis::cmd("INCR")
                        .arg(&key)
                        .query_async(c)
                        .await?;
                    if count == 1 {
                        deadpool_redis::redis::cmd("EXPIRE")
                            .arg(&key)
                            .arg(3600)
                            .query_async::<()>(c)
                            .await?;
                    }
                    Ok(count)
                })
            })
            .await;
    }
}

type ThrottleRow = (
    i32,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Vec<DateTime<Utc>>,
);

/// Creates or locks the identifier's row in one statement (an upsert locks the row it touches),
/// so nothing can remove it between creating and locking.
async fn lock_throttle_row(
    conn: &mut AsyncPgConnection,
    digest: &[u8],
) -> Result<ThrottleState, Error> {
    let (failures, last_failure_at, locked_at, recent_evaluations): ThrottleRow =
        diesel::insert_into(login_throttle::table)
            .values(login_throttle::identifier_digest.eq(digest))
            .on_conflict(login_throttle::identifier_digest)
            .do_update()
            .set(
                login_throttle::identifier_digest
                    .eq(diesel::upsert::excluded(login_throttle::identifier_digest)),
            )
            .returning((
                login_throttle::consecutive_failures,
                login_throttle::last_failure_at,
                login_throttle::locked_at,
                login_throttle::recent_evaluations,
            ))
            .get_result(conn)
            .await?;
    Ok(ThrottleState {
        consecutive_failures: u32::try_from(failures).unwrap_or(0),
        last_failure_at,
        locked_at,
        recent_evaluations,
    })
}

async fn save_throttle(
    conn: &mut AsyncPgConnection,
    digest: &[u8],
    state: &ThrottleState,
) -> Result<(), Error> {
    diesel::update(login_throttle::table.find(digest))
        .set((
            login_throttle::consecutive_failures
                .eq(i32::try_from(state.consecutive_failures).unwrap_or(i32::MAX)),
            login_throttle::last_failure_at.eq(state.last_failure_at),
            login_throttle::locked_at.eq(state.locked_at),
            login_throttle::recent_evaluations.eq(&state.recent_evaluations),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod credential_tests {
    use df_common::auth::Role;

    use super::*;
    use crate::accounts::SignupInput;

    /// Passwords stay secrets through identity's flows: no input type prints one.
    #[test]
    fn no_input_prints_its_password() {
        const PASSWORD: &str = "correct-horse-battery-staple";
        let login = LoginInput {
            email: "fan@example.com".into(),
            password: PASSWORD.into(),
            client_ip: "192.0.2.1".into(),
            user_agent: None,
        };
        let signup = SignupInput {
            email: "fan@example.com".into(),
            username: "fan".into(),
            password: PASSWORD.into(),
            role: Role::Fan,
        };
        for text in [format!("{login:?}"), format!("{signup:?}")] {
            assert!(!text.contains(PASSWORD), "{text}");
            assert!(text.contains(df_common::secret::REDACTED), "{text}");
        }
    }
}
