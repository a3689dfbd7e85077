//! Single-use, expiring tokens sent by email: verification, password reset and login unlock.

use crate::errors::IdentityError;
use chrono::{DateTime, Utc};
use df_common::{Error, ids::UserId};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    schema::{one_time_tokens, users},
    tokens,
};

/// After a token is emailed, further requests of the same purpose send nothing for this long, so
/// the link just sent stays valid and repeated clicks do not flood the inbox.
pub const RESEND_COOLDOWN: chrono::Duration = chrono::Duration::seconds(60);

/// Most tokens of one purpose issued to one user in any hour, used or not: bounds how much mail a
/// stranger can cause to be sent to someone else's address.
pub const MAX_ISSUED_PER_HOUR: i64 = 5;

/// What a token may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Proves ownership of the email address.
    VerifyEmail,
    /// Sets a new password.
    PasswordReset,
    /// Lifts a login lock.
    UnlockLogin,
}

impl Purpose {
    /// The value stored in `one_time_tokens.purpose`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
            Self::UnlockLogin => "unlock_login",
        }
    }
}

/// The error for any unknown, used, expired or mistyped token: they are indistinguishable.
pub fn invalid_token() -> Error {
    IdentityError::InvalidToken.into()
}

/// Issues a token for `user_id` at `now`. Earlier unused tokens of the same purpose stop
/// working, so only the newest email's link is valid.
pub async fn issue(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    purpose: Purpose,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<String, Error> {
    diesel::update(
        one_time_tokens::table
            .filter(one_time_tokens::user_id.eq(user_id.as_uuid()))
            .filter(one_time_tokens::purpose.eq(purpose.as_str()))
            .filter(one_time_tokens::used_at.is_null()),
    )
    .set(one_time_tokens::used_at.eq(now))
    .execute(conn)
    .await?;
    let token = tokens::new_token();
    diesel::insert_into(one_time_tokens::table)
        .values((
            one_time_tokens::token_hash.eq(tokens::digest(&token)),
            one_time_tokens::purpose.eq(purpose.as_str()),
            one_time_tokens::user_id.eq(user_id.as_uuid()),
            one_time_tokens::expires_at.eq(expires_at),
            one_time_tokens::created_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(token)
}

/// Consumes a token at `now`: marks it used and returns its user. A second use fails.
pub async fn consume(
    conn: &mut AsyncPgConnection,
    token: &str,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<UserId, Error> {
    if !tokens::is_well_formed(token) {
        return Err(invalid_token());
    }
    let user: Option<UserId> = diesel::update(
        one_time_tokens::table
            .filter(one_time_tokens::token_hash.eq(tokens::digest(token)))
            .filter(one_time_tokens::purpose.eq(purpose.as_str()))
            .filter(one_time_tokens::used_at.is_null())
            .filter(one_time_tokens::expires_at.gt(now)),
    )
    .set(one_time_tokens::used_at.eq(now))
    .returning(one_time_tokens::user_id)
    .get_result(conn)
    .await
    .optional()?;
    user.ok_or_else(invalid_token)
}

/// True when `user_id` holds an unused, unexpired token of `purpose` created within `window`
/// before `now`.
pub async fn issued_within(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    purpose: Purpose,
    window: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    Ok(diesel::select(diesel::dsl::exists(
        one_time_tokens::table
            .filter(one_time_tokens::user_id.eq(user_id.as_uuid()))
            .filter(one_time_tokens::purpose.eq(purpose.as_str()))
            .filter(one_time_tokens::used_at.is_null())
            .filter(one_time_tokens::expires_at.gt(now))
            .filter(one_time_tokens::created_at.gt(now - window)),
    ))
    .get_result(conn)
    .await?)
}

/// How many tokens of `purpose` were issued to `user_id` after `since`, used or not.
pub async fn issued_since(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    purpose: Purpose,
    since: DateTime<Utc>,
) -> Result<i64, Error> {
    Ok(one_time_tokens::table
        .filter(one_time_tokens::user_id.eq(user_id.as_uuid()))
        .filter(one_time_tokens::purpose.eq(purpose.as_str()))
        .filter(one_time_tokens::created_at.gt(since))
        .count()
        .get_result(conn)
        .await?)
}

/// Whether a new token of `purpose` may be emailed to `user_id` at `now`: not within
/// [`RESEND_COOLDOWN`] of a live one, and fewer than [`MAX_ISSUED_PER_HOUR`] in the last hour.
///
/// Call it inside the transaction that issues the token. It locks the user's row until that
/// transaction ends, so concurrent requests for one user decide one after another and cannot
/// both pass. (`FOR NO KEY UPDATE` so that logins inserting sessions for the user are not held.)
pub async fn may_issue(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    users::table
        .find(user_id)
        .select(users::id)
        .for_no_key_update()
        .first::<UserId>(conn)
        .await?;
    if issued_within(conn, user_id, purpose, RESEND_COOLDOWN, now).await? {
        return Ok(false);
    }
    let hour_ago = now - chrono::Duration::hours(1);
    Ok(issued_since(conn, user_id, purpose, hour_ago).await? < MAX_ISSUED_PER_HOUR)
}
