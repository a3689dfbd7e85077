//! Outgoing email, queued in the same transaction as the change that causes it (so a committed
//! signup always gets its email, and a rolled-back one never does), then sent by the service's
//! job runner. Rows are deleted once sent.
//!
//! A queued message may carry a live one-time link, so it is stored encrypted under
//! `mail.encryption` (recipient, subject and body; bound to its row, so a ciphertext moved to
//! another row does not open): a database dump or a replica shows when mail was queued and
//! whether it failed, never to whom or what.
//!
//! Each message is sent by a queued job of its own ([`SendMail`]) that carries only the row's
//! id. Why not a schedule draining the table: a schedule runs at its interval, not when woken,
//! and the table would still need leasing and back-off of its own; a job per message gets both
//! from the runner (one replica at a time, restarts survived, drained on shutdown). Why only the
//! id: the sealed content stays here, bound to its row, so the jobs table holds nothing worth
//! reading. The job sends outside any transaction (a slow mail provider then holds no locks and
//! no pooled connection) and deletes the row once sent; a run that finds the row gone does
//! nothing. Delivery is at least once.
//!
//! Why the job, not the runner, gives a message up: only it can remove the content of a message
//! that will never go out. It counts sends in the row and gives up after [`MAX_ATTEMPTS`]; the
//! runner just retries whatever failed, with its back-off (a database outage before the send
//! costs the message no attempt).

use std::sync::Arc;

use crate::ids::MailId;
use df_common::{
    Error,
    clock::Clock,
    keyring::{Keyring, field_aad},
};
use df_runtime::{
    db::Db,
    jobs::{self, Job, JobRunner, Jobs},
};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    mail::{Email, Mailer},
    schema::mail_queue,
};

/// Sends before a message is left for an operator (it stays in the table with its content
/// removed, and an error is logged with its id).
const MAX_ATTEMPTS: i32 = 12;

/// Where `mail.encryption` problems are reported.
pub const ENCRYPTION_SECTION: &str = "mail.encryption";

/// The job that sends the message of one row.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct SendMail {
    id: MailId,
}

impl Job for SendMail {
    const KIND: &'static str = "identity.send_mail";
    /// The job gives its message up itself (see the module docs), so the runner never does.
    const MAX_ATTEMPTS: i32 = i32::MAX;
}

/// The queue: seals messages on the way in, opens them for the sender, and wakes the runner.
#[derive(Clone)]
pub struct MailQueue {
    keyring: Arc<Keyring>,
    clock: Clock,
    jobs: Jobs,
}

impl std::fmt::Debug for MailQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailQueue")
            .field("keyring", &self.keyring)
            .finish_non_exhaustive()
    }
}

/// The associated data of a queued message: its row.
fn aad(id: MailId) -> Vec<u8> {
    field_aad("mail_queue", id, "message")
}

/// A message as sealed: what the sender needs.
#[derive(serde::Serialize, serde::Deserialize)]
struct Sealable<'a> {
    to: std::borrow::Cow<'a, str>,
    subject: std::borrow::Cow<'a, str>,
    body: std::borrow::Cow<'a, str>,
}

impl MailQueue {
    /// A queue sealing with `keyring`, whose jobs are due by `clock` and run by the runner that
    /// `jobs` wakes.
    pub fn new(keyring: Keyring, clock: Clock, jobs: Jobs) -> Self {
        Self {
            keyring: Arc::new(keyring),
            clock,
            jobs,
        }
    }

    /// Wakes the job runner (call after the transaction that queued mail committed).
    pub fn wake(&self) {
        self.jobs.wake();
    }

    /// Queues `email`, and the job that sends it, inside the caller's transaction.
    pub async fn enqueue(&self, conn: &mut AsyncPgConnection, email: &Email) -> Result<(), Error> {
        let id = MailId::new();
        let plaintext = serde_json::to_string(&Sealable {
            to: email.to.as_str().into(),
            subject: email.subject.as_str().into(),
            body: email.text_body.as_str().into(),
        })
        .map_err(Error::internal)?;
        let sealed = self.keyring.encrypt(&plaintext, &aad(id))?;
        diesel::insert_into(mail_queue::table)
            .values((
                mail_queue::id.eq(id),
                mail_queue::key_id.eq(&sealed.key_id),
                mail_queue::sealed.eq(&sealed.ciphertext),
            ))
            .execute(conn)
            .await?;
        jobs::enqueue(conn, &SendMail { id }, self.clock.now()).await?;
        Ok(())
    }

    /// The message of a row.
    fn open(&self, row: &Row) -> Result<Email, Error> {
        match (&row.key_id, &row.sealed) {
            (Some(key_id), Some(sealed)) => {
                let plaintext = self.keyring.decrypt(key_id, sealed, &aad(row.id))?;
                let message: Sealable<'_> =
                    serde_json::from_str(plaintext.expose()).map_err(Error::internal)?;
                Ok(Email {
                    to: message.to.into_owned(),
                    subject: message.subject.into_owned(),
                    text_body: message.body.into_owned(),
                })
            }
            // Queued before messages were sealed.
            _ => match (&row.recipient, &row.subject, &row.body) {
                (Some(to), Some(subject), Some(body)) => Ok(Email {
                    to: to.clone(),
                    subject: subject.clone(),
                    text_body: body.clone(),
                }),
                _ => Err(Error::internal(anyhow::anyhow!(
                    "queued message has no content"
                ))),
            },
        }
    }
}

/// Lets `jobs` send queued mail through `mailer`.
pub fn register(jobs: &mut JobRunner, db: Db, queue: MailQueue, mailer: Arc<dyn Mailer>) {
    jobs.on(move |job: SendMail| {
        let (db, queue, mailer) = (db.clone(), queue.clone(), Arc::clone(&mailer));
        async move { send(&db, &queue, mailer.as_ref(), job.id).await }
    });
}

/// A queued row.
#[derive(Queryable, Selectable)]
#[diesel(table_name = mail_queue)]
struct Row {
    id: MailId,
    key_id: Option<String>,
    sealed: Option<Vec<u8>>,
    recipient: Option<String>,
    subject: Option<String>,
    body: Option<String>,
    attempts: i32,
}

/// Sends the message of row `id` and deletes the row. A failed send is counted in the row and
/// returned, for the runner to retry; the last one removes the content and ends the job.
async fn send(db: &Db, queue: &MailQueue, mailer: &dyn Mailer, id: MailId) -> Result<(), Error> {
    let row = {
        let mut conn = db.conn().await?;
        mail_queue::table
            .find(id)
            .filter(mail_queue::attempts.lt(MAX_ATTEMPTS))
            .select(Row::as_select())
            .first(&mut conn)
            .await
            .optional()?
    };
    // Sent by an earlier run of this job, or given up.
    let Some(row) = row else {
        return Ok(());
    };
    // Retrying cannot help a message whose key is gone or whose ciphertext was changed: it
    // counts as its last attempt.
    let (outcome, attempts) = match queue.open(&row) {
        Ok(email) => (mailer.send(&email).await, row.attempts.saturating_add(1)),
        Err(error) => (Err(error), MAX_ATTEMPTS),
    };
    let mut conn = db.conn().await?;
    let Err(error) = outcome else {
        diesel::delete(mail_queue::table.find(id))
            .execute(&mut conn)
            .await?;
        return Ok(());
    };
    let update = diesel::update(mail_queue::table.find(id));
    let counted = (
        mail_queue::attempts.eq(attempts),
        mail_queue::last_error.eq(error.code()),
    );
    if attempts < MAX_ATTEMPTS {
        update.set(counted).execute(&mut conn).await?;
        return Err(error);
    }
    // The message may hold a live link; an undeliverable one must not keep it.
    update
        .set((
            counted,
            mail_queue::key_id.eq(None::<String>),
            mail_queue::sealed.eq(None::<Vec<u8>>),
            mail_queue::recipient.eq(None::<String>),
            mail_queue::subject.eq(None::<String>),
            mail_queue::body.eq(None::<String>),
        ))
        .execute(&mut conn)
        .await?;
    tracing::error!(
        mail_id = %id,
        code = error.code(),
        attempts,
        "email undeliverable; giving up and removing its content"
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Mutex;

    use chrono::Utc;
    use df_common::ErrorKind;
    use diesel_async::AsyncConnection;

    use super::*;

    /// A mailer that looks at the queue while it "sends", then succeeds or fails.
    struct Probe {
        db: Db,
        fail: bool,
        /// Per send: could the row be locked from elsewhere, was its job leased (hidden from
        /// other replicas).
        seen: Mutex<Vec<(bool, bool)>>,
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
            let leased = diesel::sql_query("SELECT id FROM jobs WHERE leased_until IS NOT NULL")
                .execute(&mut conn)
                .await
                .unwrap();
            self.seen.lock().unwrap().push((lockable, leased == 1));
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

    /// A database holding one queued message, and a job runner that sends it.
    struct Setup {
        _test_db: df_testkit::TestDb,
        db: Db,
        clock: Clock,
        queue: MailQueue,
        runner: JobRunner,
        probe: Arc<Probe>,
    }

    async fn setup(fail: bool) -> Setup {
        let test_db = df_testkit::TestDb::new(
            "identity",
            crate::MIGRATIONS,
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"),
        )
        .await;
        let db = test_db.db();
        let clock = Clock::frozen(Utc::now());
        let probe = Arc::new(Probe {
            db: db.clone(),
            fail,
            seen: Mutex::new(Vec::new()),
        });
        let (runner, queue) = runner(&db, &clock, &probe);
        queue_one(&db, &queue, "queued@example.com", "Reset").await;
        Setup {
            _test_db: test_db,
            db,
            clock,
            queue,
            runner,
            probe,
        }
    }

    /// A runner sending through `probe`, with a queue under a fresh key.
    fn runner(db: &Db, clock: &Clock, probe: &Arc<Probe>) -> (JobRunner, MailQueue) {
        let mut runner = JobRunner::new(db.clone(), clock.clone(), crate::SERVICE);
        let keyring = Keyring::from_config(
            &df_common::keyring::EncryptionConfig::ephemeral(),
            ENCRYPTION_SECTION,
        )
        .unwrap();
        let queue = MailQueue::new(keyring, clock.clone(), runner.handle());
        register(&mut runner, db.clone(), queue.clone(), probe.clone());
        (runner, queue)
    }

    async fn queue_one(db: &Db, queue: &MailQueue, to: &str, subject: &str) {
        let mut conn = db.conn().await.unwrap();
        let email = Email {
            to: to.into(),
            subject: subject.into(),
            text_body: "https://app.example/reset-password?token=secret-ish".into(),
        };
        conn.transaction::<_, Error, _>(async |conn| queue.enqueue(conn, &email).await)
            .await
            .unwrap();
    }

    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct Left {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        attempts: i32,
        /// Everything stored of the message, plain or sealed, as bytes.
        #[diesel(sql_type = diesel::sql_types::Bytea)]
        content: Vec<u8>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        last_error: Option<String>,
    }

    async fn left(db: &Db) -> Vec<Left> {
        let mut conn = db.conn().await.unwrap();
        diesel::sql_query(
            "SELECT attempts, last_error, \
             coalesce(sealed, '') || convert_to(concat(recipient, subject, body, key_id), 'UTF8') \
             AS content FROM mail_queue ORDER BY id",
        )
        .load(&mut conn)
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn messages_are_sent_by_their_job_outside_any_transaction_and_deleted() {
        let s = setup(false).await;
        assert_eq!(s.runner.run_due().await.unwrap(), 1);
        assert_eq!(
            *s.probe.seen.lock().unwrap(),
            vec![(true, true)],
            "during the send: no lock held on the row, its job leased"
        );
        assert!(left(&s.db).await.is_empty(), "a sent message is deleted");
        assert_eq!(s.runner.run_due().await.unwrap(), 0, "and so is its job");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failures_back_off_and_the_last_one_blanks_the_body() {
        let s = setup(true).await;
        assert_eq!(s.runner.run_due().await.unwrap(), 1);
        let rows = left(&s.db).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].attempts, 1);
        assert!(!rows[0].content.is_empty(), "kept for the next attempt");
        assert_eq!(
            rows[0].last_error.as_deref(),
            Some("identity.mail_provider_down")
        );

        // Not due: nothing is attempted. The first retry comes within a second.
        assert_eq!(s.runner.run_due().await.unwrap(), 0);
        assert_eq!(s.probe.seen.lock().unwrap().len(), 1);
        s.clock.advance(chrono::Duration::seconds(1));
        assert_eq!(s.runner.run_due().await.unwrap(), 1);
        assert_eq!(left(&s.db).await[0].attempts, 2);

        for _ in 2..MAX_ATTEMPTS {
            s.clock.advance(chrono::Duration::hours(1));
            assert_eq!(s.runner.run_due().await.unwrap(), 1);
        }
        let given_up = left(&s.db).await;
        assert_eq!(given_up.len(), 1, "kept for an operator");
        assert_eq!(given_up[0].attempts, MAX_ATTEMPTS);
        assert!(given_up[0].content.is_empty(), "the link does not linger");

        // Given up for good: its job is over.
        s.clock.advance(chrono::Duration::days(1));
        assert_eq!(s.runner.run_due().await.unwrap(), 0);
        let sends = usize::try_from(MAX_ATTEMPTS).unwrap();
        assert_eq!(s.probe.seen.lock().unwrap().len(), sends);
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_messages_show_neither_recipient_nor_link_and_open_only_in_their_row() {
        let s = setup(false).await;
        let rows = left(&s.db).await;
        for needle in [
            "secret-ish",
            "queued@example.com",
            "reset-password",
            "Reset",
        ] {
            assert!(
                !contains(&rows[0].content, needle.as_bytes()),
                "{needle} in clear"
            );
        }
        // A ciphertext moved into another row does not open there: given up at once.
        let moved = MailId::new();
        let mut conn = s.db.conn().await.unwrap();
        diesel::sql_query(
            "INSERT INTO mail_queue (id, key_id, sealed) SELECT $1, key_id, sealed FROM mail_queue",
        )
        .bind::<diesel::sql_types::Uuid, _>(moved)
        .execute(&mut conn)
        .await
        .unwrap();
        jobs::enqueue(&mut conn, &SendMail { id: moved }, s.clock.now())
            .await
            .unwrap();
        assert_eq!(s.runner.run_due().await.unwrap(), 2);
        assert_eq!(s.probe.seen.lock().unwrap().len(), 1, "only the original");
        let rows = left(&s.db).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].attempts, MAX_ATTEMPTS);
        assert!(rows[0].content.is_empty());

        // Under a key no longer configured, likewise.
        queue_one(&s.db, &s.queue, "later@example.com", "Verify").await;
        let (rotated_away, _) = runner(&s.db, &s.clock, &s.probe);
        assert_eq!(rotated_away.run_due().await.unwrap(), 1);
        assert_eq!(s.probe.seen.lock().unwrap().len(), 1);
        assert!(left(&s.db).await.iter().all(|row| row.content.is_empty()));
    }
}
