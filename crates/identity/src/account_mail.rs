//! Email asked for without signing in: a new verification link, a password reset link.
//!
//! The answer to such a request must not tell whether the address has an account, and its
//! timing is part of the answer. So the request only records what was asked (a row and its job,
//! the same for every address) and the job ([`ComposeMail`]) does the rest: finds the account,
//! applies the cooldown and hourly cap, issues the token and queues the email, all in one
//! transaction that also removes the request. Nothing of an unknown address outlives that
//! transaction.
//!
//! Why the request keeps a row of its own and its job carries only the row's id: the runner
//! deletes a job after its handler's transaction has committed, so a job may run twice. Removing
//! the request in the composing transaction makes a second run find nothing, so one request
//! never issues two tokens (the second would void the link just sent).

use crate::ids::MailRequestId;
use chrono::{DateTime, Utc};
use df_common::Error;
use df_runtime::jobs::{self, Job, JobRunner};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::{
    accounts::{Accounts, find_by_email},
    mail::Email,
    one_time::{self, Purpose},
    schema::account_mail_requests,
};

/// The job that composes the email of one recorded request.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ComposeMail {
    id: MailRequestId,
}

impl Job for ComposeMail {
    const KIND: &'static str = "identity.account_mail";
}

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

/// Records a request for `email` (already normalized and checked), and its job, in one
/// transaction; wake the job runner after it.
pub async fn record(
    conn: &mut AsyncPgConnection,
    request: Request,
    email: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let id = MailRequestId::new();
    let email = email.to_owned();
    conn.transaction::<(), Error, _>(async move |conn| {
        diesel::insert_into(account_mail_requests::table)
            .values((
                account_mail_requests::id.eq(id),
                account_mail_requests::purpose.eq(request.as_str()),
                account_mail_requests::email.eq(email),
            ))
            .execute(conn)
            .await?;
        jobs::enqueue(conn, &ComposeMail { id }, now).await?;
        Ok(())
    })
    .await
}

/// Lets `jobs` compose recorded requests.
pub fn register(jobs: &mut JobRunner, accounts: Accounts) {
    jobs.on(move |job: ComposeMail| {
        let accounts = accounts.clone();
        async move { compose_request(&accounts, job.id).await }
    });
}

/// Composes the request `id`, unless an earlier run did, in the transaction that removes it.
async fn compose_request(accounts: &Accounts, id: MailRequestId) -> Result<(), Error> {
    let mut conn = accounts.db.conn().await?;
    let this = accounts.clone();
    conn.transaction::<(), Error, _>(async move |conn| {
        let recorded: Option<(String, String)> =
            diesel::delete(account_mail_requests::table.find(id))
                .returning((account_mail_requests::purpose, account_mail_requests::email))
                .get_result(conn)
                .await
                .optional()?;
        match recorded.and_then(|(purpose, email)| Some((Request::parse(&purpose)?, email))) {
            Some((request, email)) => compose(&this, conn, request, &email).await,
            // Composed by an earlier run of this job.
            None => Ok(()),
        }
    })
    .await?;
    accounts.after_commit();
    Ok(())
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
    let user_id = user.id;
    let purpose = match request {
        Request::VerifyEmail => Purpose::VerifyEmail,
        Request::PasswordReset => Purpose::PasswordReset,
    };
    // Within the cooldown or over the hourly cap nothing is sent, and the link already sent
    // stays valid (each new reset token would invalidate the last, so unlimited requests would
    // let anyone keep the owner's link from ever working).
    let now = accounts.clock.now();
    if !one_time::may_issue(conn, user_id, purpose, now).await? {
        return Ok(());
    }
    let settings = &accounts.settings;
    let message = match request {
        Request::VerifyEmail => {
            let hours = settings.verification_ttl_hours;
            let expires = now + chrono::Duration::hours(i64::from(hours));
            let token = one_time::issue(conn, user_id, purpose, now, expires).await?;
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
            let expires = now + chrono::Duration::minutes(i64::from(minutes));
            let token = one_time::issue(conn, user_id, purpose, now, expires).await?;
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
