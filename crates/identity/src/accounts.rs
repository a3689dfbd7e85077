//! Account flows: signup with email verification, password reset, login unlock, profile and
//! status. Each flow writes its rows, its email and its events in one transaction.

use crate::errors::IdentityError;
use std::sync::Arc;

use chrono::Utc;
use df_common::Secret;
use df_common::{Error, auth::Role, cache::Cache, clock::Clock, ids::UserId};
use df_runtime::{bus::relay::RelayHandle, db::Db};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::{
    account_mail::{self, Request},
    config::IdentitySettings,
    events,
    mail::Email,
    mail_queue::MailQueue,
    models::{AccountStatus, User, UserRow},
    one_time::{self, Purpose},
    password::{breached::BreachedPasswordChecker, hashing, policy::PasswordPolicy},
    schema::{login_throttle, users},
    sessions::Sessions,
    tokens,
    validation::{check_email, check_username, normalize_email},
};

/// How long a profile may be served from the cache; changes purge it at once.
const PROFILE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// Everything the account and login flows need.
#[derive(Clone)]
pub struct Accounts {
    pub(crate) db: Db,
    pub(crate) cache: Cache,
    pub(crate) sessions: Sessions,
    pub(crate) settings: Arc<IdentitySettings>,
    pub(crate) policy: PasswordPolicy,
    pub(crate) breached: Option<Arc<BreachedPasswordChecker>>,
    pub(crate) mail: MailQueue,
    pub(crate) relay: RelayHandle,
    /// The service's clock, by which one-time tokens are issued, expire and cool down.
    pub(crate) clock: Clock,
}

/// A signup request.
#[derive(Clone, Debug)]
pub struct SignupInput {
    /// Email (any case).
    pub email: String,
    /// Public handle.
    pub username: String,
    /// Chosen password.
    pub password: Secret<String>,
    /// `Fan` or `Creator`.
    pub role: Role,
}

impl Accounts {
    /// Builds the flows.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        cache: Cache,
        sessions: Sessions,
        settings: IdentitySettings,
        breached: Option<BreachedPasswordChecker>,
        mail: MailQueue,
        relay: RelayHandle,
        clock: Clock,
    ) -> Self {
        Self {
            db,
            cache,
            sessions,
            settings: Arc::new(settings),
            policy: PasswordPolicy::default(),
            breached: breached.map(Arc::new),
            mail,
            relay,
            clock,
        }
    }

    /// The session store.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    pub(crate) fn link(&self, path: &str, token: &str) -> String {
        format!(
            "{}/{path}?token={token}",
            self.settings.public_app_url.trim_end_matches('/')
        )
    }

    pub(crate) fn after_commit(&self) {
        self.mail.wake();
        self.relay.notify();
    }

    async fn check_new_password(
        &self,
        password: &str,
        email: &str,
        username: &str,
    ) -> Result<(), Error> {
        self.policy.check(password, email, username)?;
        if let Some(checker) = &self.breached {
            checker.screen(password).await?;
        }
        Ok(())
    }

    /// Creates an account and emails a verification link. When the email is already registered
    /// the answer is the same (no id) and the owner gets a notice instead, so signup cannot be
    /// used to learn who has an account.
    pub async fn signup(&self, input: SignupInput) -> Result<Option<UserId>, Error> {
        let email = normalize_email(&input.email);
        check_email(&email)?;
        check_username(&input.username)?;
        if !matches!(input.role, Role::Fan | Role::Creator) {
            return Err(IdentityError::InvalidRole.into());
        }
        self.check_new_password(input.password.expose(), &email, &input.username)
            .await?;
        let password_hash = hashing::hash_password_async(input.password.expose().clone()).await?;
        let user_id = UserId::new();
        let now = self.clock.now();
        let expires =
            now + chrono::Duration::hours(i64::from(self.settings.verification_ttl_hours));
        let this = self.clone();
        let mut conn = self.db.conn().await?;
        let created = conn
            .transaction::<Option<UserId>, Error, _>(async move |conn| {
                // Usernames are public, so "taken" may be said; it is checked first so that the
                // answer for a taken username never depends on whether the email is registered.
                let username_taken: bool = diesel::select(diesel::dsl::exists(
                    users::table.filter(
                        diesel::dsl::sql::<diesel::sql_types::Text>("lower(username)")
                            .eq(input.username.to_lowercase()),
                    ),
                ))
                .get_result(conn)
                .await?;
                if username_taken {
                    return Err(username_taken_error());
                }
                let existing: Option<UserId> = users::table
                    .filter(users::email.eq(&email))
                    .select(users::id)
                    .first(conn)
                    .await
                    .optional()?;
                if let Some(existing) = existing {
                    // One notice per address an hour: repeated signups with someone else's
                    // address must not become a way to flood their inbox. The answer is the
                    // same whether a notice goes out or not.
                    let due = diesel::sql_query(
                        "UPDATE users SET signup_notice_at = now() WHERE id = $1 \
                         AND (signup_notice_at IS NULL OR signup_notice_at < now() - interval '1 hour')",
                    )
                    .bind::<diesel::sql_types::Uuid, _>(existing)
                    .execute(conn)
                    .await?;
                    if due == 0 {
                        return Ok(None);
                    }
                    this.mail.enqueue(conn, &Email {
                        to: email.clone(),
                        subject: "Someone tried to sign up with your email".into(),
                        text_body: format!(
                            "Someone tried to create a DirectFanz account with this address, which already has one.\n\
                             If it was you, log in or reset your password: {}/reset-password\n\
                             If not, you can ignore this message.\n",
                            this.settings.public_app_url.trim_end_matches('/')
                        ),
                    })
                    .await?;
                    return Ok(None);
                }
                let inserted = diesel::insert_into(users::table)
                    .values((
                        users::id.eq(user_id.as_uuid()),
                        users::email.eq(&email),
                        users::username.eq(&input.username),
                        users::password_hash.eq(&password_hash),
                        users::role.eq(input.role.as_str()),
                    ))
                    .execute(conn)
                    .await;
                if let Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    info,
                )) = &inserted
                {
                    if info.constraint_name() == Some("users_username_key") {
                        return Err(username_taken_error());
                    }
                    // A concurrent signup with the same email won the race: same answer as above.
                    return Err(IdentityError::SignupRace.into());
                }
                inserted?;
                let token =
                    one_time::issue(conn, user_id, Purpose::VerifyEmail, now, expires).await?;
                this.mail.enqueue(conn, &Email {
                    to: email.clone(),
                    subject: "Verify your DirectFanz email".into(),
                    text_body: format!(
                        "Welcome to DirectFanz, {}!\n\nConfirm your email address by opening this link within {} hours:\n{}\n",
                        input.username,
                        this.settings.verification_ttl_hours,
                        this.link("verify-email", &token)
                    ),
                })
                .await?;
                events::user_registered(conn, user_id, input.role, now).await?;
                Ok(Some(user_id))
            })
            .await;
        let created = match created {
            Err(e) if IdentityError::SignupRace.is(&e) => None,
            other => other?,
        };
        self.after_commit();
        Ok(created)
    }

    /// Marks the email of the token's user verified.
    pub async fn verify_email(&self, token: &str) -> Result<UserId, Error> {
        let mut conn = self.db.conn().await?;
        let (token, now) = (token.to_owned(), self.clock.now());
        let user_id = conn
            .transaction::<UserId, Error, _>(async move |conn| {
                let user_id = one_time::consume(conn, &token, Purpose::VerifyEmail, now).await?;
                let updated = diesel::update(
                    users::table
                        .find(user_id.as_uuid())
                        .filter(users::email_verified_at.is_null()),
                )
                .set((users::email_verified_at.eq(now), users::updated_at.eq(now)))
                .execute(conn)
                .await?;
                if updated == 1 {
                    events::email_verified(conn, user_id, now).await?;
                }
                Ok(user_id)
            })
            .await?;
        self.forget_profile(user_id).await;
        self.after_commit();
        Ok(user_id)
    }

    /// Sends a new verification link when the account exists and is unverified; answers the
    /// same, after the same work, either way ([`account_mail`]).
    pub async fn resend_verification(&self, email: &str) -> Result<(), Error> {
        self.record_mail_request(Request::VerifyEmail, email).await
    }

    /// Emails a password reset link when the account exists; answers the same, after the same
    /// work, either way ([`account_mail`]).
    pub async fn request_password_reset(&self, email: &str) -> Result<(), Error> {
        self.record_mail_request(Request::PasswordReset, email)
            .await
    }

    async fn record_mail_request(&self, request: Request, email: &str) -> Result<(), Error> {
        let email = normalize_email(email);
        // A malformed address can have no account; refusing it early says nothing about any.
        if check_email(&email).is_err() {
            return Ok(());
        }
        let mut conn = self.db.conn().await?;
        account_mail::record(&mut conn, request, &email, self.clock.now()).await?;
        self.mail.wake();
        Ok(())
    }

    /// Sets a new password with a reset token: every session ends and a login lock is lifted.
    pub async fn confirm_password_reset(
        &self,
        token: &str,
        new_password: &str,
    ) -> Result<(), Error> {
        if !tokens::is_well_formed(token) {
            return Err(one_time::invalid_token());
        }
        let now = self.clock.now();
        // Check the policy before consuming the token, so a refused password keeps the link usable.
        let user = {
            let mut conn = self.db.conn().await?;
            let user_id: Option<UserId> = crate::schema::one_time_tokens::table
                .filter(crate::schema::one_time_tokens::token_hash.eq(tokens::digest(token)))
                .filter(crate::schema::one_time_tokens::purpose.eq(Purpose::PasswordReset.as_str()))
                .filter(crate::schema::one_time_tokens::used_at.is_null())
                .filter(crate::schema::one_time_tokens::expires_at.gt(now))
                .select(crate::schema::one_time_tokens::user_id)
                .first(&mut conn)
                .await
                .optional()?;
            let user_id = user_id.ok_or_else(one_time::invalid_token)?;
            users::table
                .find(user_id)
                .select(UserRow::as_select())
                .first(&mut conn)
                .await?
        };
        self.check_new_password(new_password, &user.email, &user.username)
            .await?;
        let password_hash = hashing::hash_password_async(new_password.to_owned()).await?;
        let token = token.to_owned();
        let mut conn = self.db.conn().await?;
        let digests = conn
            .transaction::<Vec<Vec<u8>>, Error, _>(async move |conn| {
                let user_id = one_time::consume(conn, &token, Purpose::PasswordReset, now).await?;
                let email: String = diesel::update(users::table.find(user_id.as_uuid()))
                    .set((
                        users::password_hash.eq(&password_hash),
                        users::password_changed_at.eq(now),
                        users::updated_at.eq(now),
                        // Following the emailed link proves ownership of the address too.
                        users::email_verified_at.eq(diesel::dsl::sql::<
                            diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
                        >(
                            "COALESCE(email_verified_at, now())"
                        )),
                    ))
                    .returning(users::email)
                    .get_result(conn)
                    .await?;
                clear_throttle(conn, &email).await?;
                crate::sessions::Sessions::revoke_all_in(conn, user_id).await
            })
            .await?;
        self.sessions.purge(digests).await;
        self.forget_profile(user.id).await;
        self.after_commit();
        Ok(())
    }

    /// Lifts a login lock with the emailed unlock token.
    pub async fn unlock_login(&self, token: &str) -> Result<(), Error> {
        let mut conn = self.db.conn().await?;
        let (token, now) = (token.to_owned(), self.clock.now());
        conn.transaction::<(), Error, _>(async move |conn| {
            let user_id = one_time::consume(conn, &token, Purpose::UnlockLogin, now).await?;
            let email: String = users::table
                .find(user_id.as_uuid())
                .select(users::email)
                .first(conn)
                .await?;
            clear_throttle(conn, &email).await
        })
        .await
    }

    fn profile_key(user_id: UserId) -> String {
        format!("user:{user_id}")
    }

    /// Forgets a cached profile after a change (email verified, status changed).
    pub(crate) async fn forget_profile(&self, user_id: UserId) {
        if self
            .cache
            .del(&[&Self::profile_key(user_id)])
            .await
            .is_err()
        {
            tracing::warn!(%user_id, "profile cache purge failed; the entry expires within its TTL");
        }
    }

    /// One user's profile, cached in Redis for a few seconds: `GET /v1/me` is on the hot path.
    pub async fn get_user(&self, user_id: UserId) -> Result<User, Error> {
        let key = Self::profile_key(user_id);
        // Sealed: a profile carries the account's role and status, and the Redis is shared.
        if let Ok(Some(bytes)) = self.cache.get_sealed(&key).await
            && let Ok(user) = serde_json::from_slice::<User>(&bytes)
        {
            return Ok(user);
        }
        let user = self.load_user(user_id).await?;
        if let Ok(bytes) = serde_json::to_vec(&user) {
            let _ = self.cache.set_sealed_px(&key, &bytes, PROFILE_TTL).await;
        }
        Ok(user)
    }

    async fn load_user(&self, user_id: UserId) -> Result<User, Error> {
        let mut conn = self.db.conn().await?;
        let row = users::table
            .find(user_id.as_uuid())
            .select(UserRow::as_select())
            .first(&mut conn)
            .await
            .optional()?
            .ok_or_else(|| Error::from(IdentityError::UserNotFound))?;
        User::try_from(row)
    }

    /// Changes an account's status; suspending or banning ends every session at once.
    pub async fn set_status(&self, user_id: UserId, status: AccountStatus) -> Result<User, Error> {
        let mut conn = self.db.conn().await?;
        let (row, digests) = conn
            .transaction::<(UserRow, Vec<Vec<u8>>), Error, _>(async move |conn| {
                let row: UserRow = diesel::update(users::table.find(user_id.as_uuid()))
                    .set((
                        users::status.eq(status.as_str()),
                        users::updated_at.eq(Utc::now()),
                    ))
                    .returning(UserRow::as_returning())
                    .get_result(conn)
                    .await
                    .optional()?
                    .ok_or_else(|| Error::from(IdentityError::UserNotFound))?;
                let digests = if status == AccountStatus::Active {
                    Vec::new()
                } else {
                    crate::sessions::Sessions::revoke_all_in(conn, user_id).await?
                };
                Ok((row, digests))
            })
            .await?;
        self.sessions.purge(digests).await;
        self.forget_profile(user_id).await;
        User::try_from(row)
    }

    /// Ends every session of the user holding `token` (logout everywhere).
    pub async fn logout_all(&self, token: &str) -> Result<(), Error> {
        let session = self.sessions.validate(token).await?;
        let mut conn = self.db.conn().await?;
        let digests = conn
            .transaction::<Vec<Vec<u8>>, Error, _>(async move |conn| {
                crate::sessions::Sessions::revoke_all_in(conn, session.user_id).await
            })
            .await?;
        self.sessions.purge(digests).await;
        Ok(())
    }
}

fn username_taken_error() -> Error {
    IdentityError::UsernameTaken.into()
}

pub(crate) async fn find_by_email(
    conn: &mut AsyncPgConnection,
    email: &str,
) -> Result<Option<UserRow>, Error> {
    Ok(users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

async fn clear_throttle(conn: &mut AsyncPgConnection, email: &str) -> Result<(), Error> {
    diesel::delete(login_throttle::table.find(tokens::identifier_digest(email)))
        .execute(conn)
        .await?;
    Ok(())
}
