//! Email asked for without signing in: a new verification link, a password reset link.
//!
//! The answer to such a request must not tell whether the address has an account, and its
//! timing is part of the answer. So the request only records what was asked (one insert, the
//! same for every address) and a background worker does the rest: finds the account, applies
//! the cooldown and hourly cap, issues the token and queues the email, all in one transaction
//! that also removes the request. Nothing of an unknown address outlives that transaction.

use chrono::Utc;
use df_common::{Error, ids::UserId, worker::Waker};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::{
    accounts::{Accounts, find_by_email},
    mail::Email,
    one_time::{self, Purpose},
    schema::account_mail_requests,
};

/// Requests composed per round.
const BATCH: i64 = 50;

/// What was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// A new verification link for an unverified account.
    VerifyEmail,
    /// A password reset link.
    PasswordReset,
}

impl Request {
    fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::PasswordReset => "password_reset",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "verify_email" => Some(Self::VerifyEmail),
            "password_reset" => Some(Self::PasswordReset),
            _ => None,
        }
    }
}

/// Records a request for `email` (already normalized and checked) and wakes the worker.
pub async fn record(
    conn: &mut AsyncPgConnection,
    waker: &Waker,
    request: Request,
    email: &str,
) -> Result<(), Error> {
    diesel::insert_into(account_mail_requests::table)
        .values((
            account_mail_requests::id.eq(uuid::Uuid::now_v7()),
            account_mail_requests::purpose.eq(request.as_str()),
            account_mail_requests::email.eq(email),
        ))
        .execute(conn)
        .await?;
    waker.wake();
    Ok(())
}

/// Composes up to [`BATCH`] recorded requests, each in its own transaction; returns how many
/// were handled. Requests other workers hold are skipped.
pub async fn compose_due(accounts: &Accounts) -> Result<usize, Error> {
    let mut handled = 0;
    for _ in 0..BATCH {
        let mut conn = accounts.db.conn().await?;
        let this = accounts.clone();
        let took_one = conn
            .transaction::<bool, Error, _>(async move |conn| {
                let next: Option<(uuid::Uuid, String, String)> = account_mail_requests::table
                    .order(account_mail_requests::requested_at)
                    .select((
                        account_mail_requests::id,
                        account_mail_requests::purpose,
                        account_mail_requests::email,
                    ))
                    .for_update()
                    .skip_locked()
                    .first(conn)
                    .await
                    .optional()?;
                let Some((id, purpose, email)) = next else {
                    return Ok(false);
                };
                diesel::delete(account_mail_requests::table.find(id))
                    .execute(conn)
                    .await?;
                if let Some(request) = Request::parse(&purpose) {
                    compose(&this, conn, request, &email).await?;
                }
                Ok(true)
            })
            .await?;
        if !took_one {
            break;
        }
        handled += 1;
    }
    if handled > 0 {
        accounts.after_commit();
    }
    Ok(handled)
}

/// The email for one request, if the account exists and its caps allow one.
async fn compose(
    accounts: &Accounts,
    conn: &mut AsyncPgConnection,
    request: Request,
    email: &str,
) -> Result<(), Error> {
    let Some(user) = find_by_email(conn, email).await? else {
        return Ok(());
    };
    if request == Request::VerifyEmail && user.email_verified_at.is_some() {
        return Ok(());
    }
    let user_id = UserId::from_uuid(user.id);
    let purpose = match request {
        Request::VerifyEmail => Purpose::VerifyEmail,
        Request::PasswordReset => Purpose::PasswordReset,
    };
    // Within the cooldown or over the hourly cap nothing is sent, and the link already sent
    // stays valid (each new reset token would invalidate the last, so unlimited requests would
    // let anyone keep the owner's link from ever working).
    if !one_time::may_issue(conn, user_id, purpose).await? {
        return Ok(());
    }
    let settings = &accounts.settings;
    let message = match request {
        Request::VerifyEmail => {
            let hours = settings.verification_ttl_hours;
            let expires = Utc::now() + chrono::Duration::hours(i64::from(hours));
            let token = one_time::issue(conn, user_id, purpose, expires).await?;
            Email {
                to: user.email.clone(),
                subject: "Verify your DirectFanz email".into(),
                text_body: format!(
                    "Confirm your email address by opening this link:\n{}\n",
                    accounts.link("verify-email", &token)
                ),
            }
        }
        Request::PasswordReset => {
            let minutes = settings.password_reset_ttl_minutes;
            let expires = Utc::now() + chrono::Duration::minutes(i64::from(minutes));
            let token = one_time::issue(conn, user_id, purpose, expires).await?;
            Email {
                to: user.email.clone(),
                subject: "Reset your DirectFanz password".into(),
                text_body: format!(
                    "Open this link within {minutes} minutes to choose a new password:\n{}\n\
                     If you did not ask for this, ignore this message; your password is unchanged.\n",
                    accounts.link("reset-password", &token)
                ),
            }
        }
    };
    accounts.mail.enqueue(conn, &message).await
}
