//! Outgoing email, queued in the same transaction as the change that causes it (so a committed
//! signup always gets its email, and a rolled-back one never does), then sent by a background
//! sender with retries. Rows are deleted once sent, so tokens in bodies do not linger.
//!
//! The sender leases a batch in a short transaction (pushing the rows' `next_attempt_at` past
//! the time the batch may take, so other replicas skip them) and sends outside any transaction:
//! a slow mail provider then holds no locks and no pooled connection. A sender that dies
//! mid-batch leaves its rows to be picked up again when the lease runs out, so delivery is at
//! least once.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use df_common::{Error, db::Db};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    mail::{Email, Mailer},
    schema::mail_queue,
};

/// Attempts before a message is left for an operator (it stays in the table with its body blanked,
/// and an error is logged with its id).
const MAX_ATTEMPTS: i32 = 12;

/// Messages leased per round.
const BATCH: i64 = 20;

/// How long a leased batch is hidden from other senders.
const LEASE: chrono::Duration = chrono::Duration::minutes(2);

/// A send not started by this much before the lease ends waits for the next round, so no other
/// sender can pick up the same message while this one is still sending it.
const LEASE_MARGIN: chrono::Duration = chrono::Duration::seconds(30);

/// Queues `email` inside the caller's transaction.
pub async fn enqueue(conn: &mut AsyncPgConnection, email: &Email) -> Result<(), Error> {
    diesel::insert_into(mail_queue::table)
        .values((
            mail_queue::id.eq(uuid::Uuid::now_v7()),
            mail_queue::recipient.eq(&email.to),
            mail_queue::subject.eq(&email.subject),
            mail_queue::body.eq(&email.text_body),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Wakes the sender after a commit so email goes out at once rather than at the next poll.
#[derive(Clone, Default)]
pub struct MailWaker(Arc<Notify>);

impl MailWaker {
    /// Wakes the sender.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Runs the sender until `shutdown`.
pub fn spawn_sender(
    db: Db,
    mailer: Arc<dyn Mailer>,
    waker: MailWaker,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match send_due(&db, mailer.as_ref()).await {
                Ok(sent) if sent > 0 => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(code = error.code(), "mail queue round failed"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = waker.0.notified() => {},
                () = tokio::time::sleep(Duration::from_secs(1)) => {},
            }
        }
    })
}

type Row = (uuid::Uuid, String, String, String, i32);

/// Leases up to [`BATCH`] due messages for [`LEASE`] and returns them with the lease's end.
async fn lease_due(db: &Db) -> Result<(Vec<Row>, DateTime<Utc>), Error> {
    let mut conn = db.conn().await?;
    conn.transaction::<_, Error, _>(async move |conn| {
        let now = Utc::now();
        let due: Vec<Row> = mail_queue::table
            .filter(mail_queue::next_attempt_at.le(now))
            .filter(mail_queue::attempts.lt(MAX_ATTEMPTS))
            .order(mail_queue::next_attempt_at)
            .limit(BATCH)
            .select((
                mail_queue::id,
                mail_queue::recipient,
                mail_queue::subject,
                mail_queue::body,
                mail_queue::attempts,
            ))
            .for_update()
            .skip_locked()
            .load(conn)
            .await?;
        let until = now + LEASE;
        if !due.is_empty() {
            let ids: Vec<uuid::Uuid> = due.iter().map(|row| row.0).collect();
            diesel::update(mail_queue::table.filter(mail_queue::id.eq_any(&ids)))
                .set(mail_queue::next_attempt_at.eq(until))
                .execute(conn)
                .await?;
        }
        Ok((due, until))
    })
    .await
}

/// Sends what is due; returns how many were sent. Public so that tests can drive one round.
pub async fn send_due(db: &Db, mailer: &dyn Mailer) -> Result<usize, Error> {
    let (due, leased_until) = lease_due(db).await?;
    let mut sent = 0;
    for (id, to, subject, body, attempts) in due {
        if Utc::now() + LEASE_MARGIN >= leased_until {
            // The rest stay leased and come due again when the lease ends.
            break;
        }
        let email = Email {
            to,
            subject,
            text_body: body,
        };
        let outcome = mailer.send(&email).await;
        let mut conn = db.conn().await?;
        match outcome {
            Ok(()) => {
                diesel::delete(mail_queue::table.find(id))
                    .execute(&mut conn)
                    .await?;
                sent += 1;
            }
            Err(error) => record_failure(&mut conn, id, attempts, &error).await?,
        }
    }
    Ok(sent)
}

/// Schedules the next attempt with exponential backoff, or gives up after [`MAX_ATTEMPTS`].
async fn record_failure(
    conn: &mut AsyncPgConnection,
    id: uuid::Uuid,
    attempts: i32,
    error: &Error,
) -> Result<(), Error> {
    let attempts = attempts.saturating_add(1);
    let delay = 2_i64.saturating_pow(u32::try_from(attempts - 1).unwrap_or(0).min(12));
    let update = diesel::update(mail_queue::table.find(id));
    let changes = (
        mail_queue::attempts.eq(attempts),
        mail_queue::next_attempt_at.eq(Utc::now() + chrono::Duration::seconds(delay)),
        mail_queue::last_error.eq(error.code().to_owned()),
    );
    if attempts >= MAX_ATTEMPTS {
        // The body may hold a live link; an undeliverable message must not keep it.
        update
            .set((changes, mail_queue::body.eq("")))
            .execute(conn)
            .await?;
        tracing::error!(
            mail_id = %id,
            code = error.code(),
            attempts,
            "email undeliverable; giving up and blanking its body"
        );
    } else {
        update.set(changes).execute(conn).await?;
        tracing::warn!(
            mail_id = %id,
            code = error.code(),
            attempts,
            "email delivery failed; will retry"
        );
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use df_common::ErrorKind;

    /// A mailer that looks at the queue while it "sends", then succeeds or fails.
    struct Probe {
        db: Db,
        fail: bool,
        /// Per send: could the row be locked from elsewhere, was it leased, did a second
        /// sender get anything.
        seen: Mutex<Vec<(bool, bool, usize)>>,
    }

    #[async_trait::async_trait]
    impl Mailer for Probe {
        async fn send(&self, _email: &Email) -> Result<(), Error> {
            let mut conn = self.db.conn().await.unwrap();
            let lockable = conn
                .transaction::<bool, Error, _>(async |conn| {
                    let locked = diesel::sql_query("SELECT id FROM mail_queue FOR UPDATE NOWAIT")
                        .execute(conn)
                        .await;
                    Ok(locked.is_ok())
                })
                .await
                .unwrap();
            let leased: i64 = mail_queue::table
                .filter(mail_queue::next_attempt_at.gt(Utc::now() + chrono::Duration::seconds(60)))
                .count()
                .get_result(&mut conn)
                .await
                .unwrap();
            let (others, _) = lease_due(&self.db).await.unwrap();
            self.seen
                .lock()
                .unwrap()
                .push((lockable, leased == 1, others.len()));
            if self.fail {
                Err(Error::new(
                    ErrorKind::Unavailable,
                    "identity.mail_provider_down",
                    "down",
                ))
            } else {
                Ok(())
            }
        }
    }

    async fn setup(fail: bool) -> (df_testkit::TestDb, Probe) {
        let test_db = df_testkit::TestDb::new(
            "identity",
            crate::MIGRATIONS,
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"),
        )
        .await;
        let db = test_db.db();
        let mut conn = db.conn().await.unwrap();
        enqueue(
            &mut conn,
            &Email {
                to: "queued@example.com".into(),
                subject: "Reset".into(),
                text_body: "https://app.example/reset-password?token=secret-ish".into(),
            },
        )
        .await
        .unwrap();
        let probe = Probe {
            db,
            fail,
            seen: Mutex::new(Vec::new()),
        };
        (test_db, probe)
    }

    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct Left {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        attempts: i32,
        #[diesel(sql_type = diesel::sql_types::Text)]
        body: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        last_error: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Timestamptz)]
        next_attempt_at: DateTime<Utc>,
    }

    async fn left(db: &Db) -> Vec<Left> {
        let mut conn = db.conn().await.unwrap();
        diesel::sql_query("SELECT attempts, body, last_error, next_attempt_at FROM mail_queue")
            .load(&mut conn)
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn messages_are_leased_then_sent_outside_any_transaction_and_deleted() {
        let (_test_db, probe) = setup(false).await;
        assert_eq!(send_due(&probe.db, &probe).await.unwrap(), 1);
        assert_eq!(
            *probe.seen.lock().unwrap(),
            vec![(true, true, 0)],
            "during the send: no lock held, the row leased, nothing for a second sender"
        );
        assert!(
            left(&probe.db).await.is_empty(),
            "a sent message is deleted"
        );
        assert_eq!(send_due(&probe.db, &probe).await.unwrap(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failures_back_off_and_the_last_one_blanks_the_body() {
        let (_test_db, probe) = setup(true).await;
        let before = Utc::now();
        assert_eq!(send_due(&probe.db, &probe).await.unwrap(), 0);
        let after = Utc::now();
        let rows = left(&probe.db).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].attempts, 1);
        assert_eq!(
            rows[0].body,
            "https://app.example/reset-password?token=secret-ish"
        );
        assert_eq!(
            rows[0].last_error.as_deref(),
            Some("identity.mail_provider_down")
        );
        let second = chrono::Duration::seconds(1);
        assert!(
            rows[0].next_attempt_at >= before + second && rows[0].next_attempt_at <= after + second,
            "the first retry comes one second later"
        );

        // Not due: nothing is attempted.
        let mut conn = probe.db.conn().await.unwrap();
        diesel::update(mail_queue::table)
            .set(mail_queue::next_attempt_at.eq(Utc::now() + chrono::Duration::hours(1)))
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(send_due(&probe.db, &probe).await.unwrap(), 0);
        assert_eq!(probe.seen.lock().unwrap().len(), 1);

        diesel::update(mail_queue::table)
            .set((
                mail_queue::attempts.eq(MAX_ATTEMPTS - 1),
                mail_queue::next_attempt_at.eq(Utc::now() - chrono::Duration::seconds(1)),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(send_due(&probe.db, &probe).await.unwrap(), 0);
        let given_up = left(&probe.db).await;
        assert_eq!(given_up.len(), 1, "kept for an operator");
        assert_eq!(given_up[0].attempts, MAX_ATTEMPTS);
        assert_eq!(given_up[0].body, "", "the link does not linger");

        // Given up for good, even once due again.
        diesel::update(mail_queue::table)
            .set(mail_queue::next_attempt_at.eq(Utc::now() - chrono::Duration::seconds(1)))
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(send_due(&probe.db, &probe).await.unwrap(), 0);
        assert_eq!(probe.seen.lock().unwrap().len(), 2);
    }
}
