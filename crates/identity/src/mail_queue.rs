//! Outgoing email, queued in the same transaction as the change that causes it (so a committed
//! signup always gets its email, and a rolled-back one never does), then sent by a background
//! sender with retries. Rows are deleted once sent.
//!
//! A queued message may carry a live one-time link, so it is stored encrypted under
//! `mail.encryption` (recipient, subject and body; bound to its row, so a ciphertext moved to
//! another row does not open): a database dump or a replica shows when mail was queued and
//! whether it failed, never to whom or what.
//!
//! The sender leases a batch in a short transaction (pushing the rows' `next_attempt_at` past
//! the time the batch may take, so other replicas skip them) and sends outside any transaction:
//! a slow mail provider then holds no locks and no pooled connection. A sender that dies
//! mid-batch leaves its rows to be picked up again when the lease runs out, so delivery is at
//! least once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use df_common::{
    Error,
    keyring::{Keyring, field_aad},
    worker::Waker,
};
use df_runtime::db::Db;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::{
    mail::{Email, Mailer},
    schema::mail_queue,
};

/// Attempts before a message is left for an operator (it stays in the table with its content
/// removed, and an error is logged with its id).
const MAX_ATTEMPTS: i32 = 12;

/// Messages leased per round.
const BATCH: i64 = 20;

/// How long a leased batch is hidden from other senders.
const LEASE: chrono::Duration = chrono::Duration::minutes(2);

/// A send not started by this much before the lease ends waits for the next round, so no other
/// sender can pick up the same message while this one is still sending it.
const LEASE_MARGIN: chrono::Duration = chrono::Duration::seconds(30);

/// Where `mail.encryption` problems are reported.
pub const ENCRYPTION_SECTION: &str = "mail.encryption";

/// The queue: seals messages on the way in, opens them for the sender, and wakes it.
#[derive(Clone)]
pub struct MailQueue {
    keyring: Arc<Keyring>,
    waker: Waker,
}

impl std::fmt::Debug for MailQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailQueue")
            .field("keyring", &self.keyring)
            .finish_non_exhaustive()
    }
}

/// The associated data of a queued message: its row.
fn aad(id: uuid::Uuid) -> Vec<u8> {
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
    /// A queue sealing with `keyring`.
    pub fn new(keyring: Keyring) -> Self {
        Self {
            keyring: Arc::new(keyring),
            waker: Waker::default(),
        }
    }

    /// What wakes the sender.
    pub fn waker(&self) -> &Waker {
        &self.waker
    }

    /// Wakes the sender (call after the transaction that queued mail committed).
    pub fn wake(&self) {
        self.waker.wake();
    }

    /// Queues `email` inside the caller's transaction.
    pub async fn enqueue(&self, conn: &mut AsyncPgConnection, email: &Email) -> Result<(), Error> {
        let id = uuid::Uuid::now_v7();
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
        Ok(())
    }

    /// The message of a leased row.
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

/// A leased row.
#[derive(Queryable, Selectable)]
#[diesel(table_name = mail_queue)]
struct Row {
    id: uuid::Uuid,
    key_id: Option<String>,
    sealed: Option<Vec<u8>>,
    recipient: Option<String>,
    subject: Option<String>,
    body: Option<String>,
    attempts: i32,
}

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
            .select(Row::as_select())
            .for_update()
            .skip_locked()
            .load(conn)
            .await?;
        let until = now + LEASE;
        if !due.is_empty() {
            let ids: Vec<uuid::Uuid> = due.iter().map(|row| row.id).collect();
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
pub async fn send_due(db: &Db, queue: &MailQueue, mailer: &dyn Mailer) -> Result<usize, Error> {
    let (due, leased_until) = lease_due(db).await?;
    let mut sent = 0;
    for row in due {
        if Utc::now() + LEASE_MARGIN >= leased_until {
            // The rest stay leased and come due again when the lease ends.
            break;
        }
        // Retrying cannot help a message whose key is gone or whose ciphertext was changed: it
        // counts as its last attempt.
        let (outcome, attempts) = match queue.open(&row) {
            Ok(email) => (mailer.send(&email).await, row.attempts),
            Err(error) => (Err(error), MAX_ATTEMPTS - 1),
        };
        let mut conn = db.conn().await?;
        match outcome {
            Ok(()) => {
                diesel::delete(mail_queue::table.find(row.id))
                    .execute(&mut conn)
                    .await?;
                sent += 1;
            }
            Err(error) => record_failure(&mut conn, row.id, attempts, &error).await?,
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
        // The message may hold a live link; an undeliverable one must not keep it.
        update
            .set((
                changes,
                mail_queue::key_id.eq(None::<String>),
                mail_queue::sealed.eq(None::<Vec<u8>>),
                mail_queue::recipient.eq(None::<String>),
                mail_queue::subject.eq(None::<String>),
                mail_queue::body.eq(None::<String>),
            ))
            .execute(conn)
            .await?;
        tracing::error!(
            mail_id = %id,
            code = error.code(),
            attempts,
            "email undeliverable; giving up and removing its content"
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
        queue: MailQueue,
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
        let queue = queue();
        queue
            .enqueue(
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
            queue,
            fail,
            seen: Mutex::new(Vec::new()),
        };
        (test_db, probe)
    }

    fn queue() -> MailQueue {
        MailQueue::new(
            Keyring::from_config(
                &df_common::keyring::EncryptionConfig::ephemeral(),
                ENCRYPTION_SECTION,
            )
            .unwrap(),
        )
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
        #[diesel(sql_type = diesel::sql_types::Timestamptz)]
        next_attempt_at: DateTime<Utc>,
    }

    async fn left(db: &Db) -> Vec<Left> {
        let mut conn = db.conn().await.unwrap();
        diesel::sql_query(
            "SELECT attempts, last_error, next_attempt_at, \
             coalesce(sealed, '') || convert_to(concat(recipient, subject, body, key_id), 'UTF8') \
             AS content FROM mail_queue",
        )
        .load(&mut conn)
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn messages_are_leased_then_sent_outside_any_transaction_and_deleted() {
        let (_test_db, probe) = setup(false).await;
        assert_eq!(send_due(&probe.db, &probe.queue, &probe).await.unwrap(), 1);
        assert_eq!(
            *probe.seen.lock().unwrap(),
            vec![(true, true, 0)],
            "during the send: no lock held, the row leased, nothing for a second sender"
        );
        assert!(
            left(&probe.db).await.is_empty(),
            "a sent message is deleted"
        );
        assert_eq!(send_due(&probe.db, &probe.queue, &probe).await.unwrap(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failures_back_off_and_the_last_one_blanks_the_body() {
        let (_test_db, probe) = setup(true).await;
        let before = Utc::now();
        assert_eq!(send_due(&probe.db, &probe.queue, &probe).await.unwrap(), 0);
        let after = Utc::now();
        let rows = left(&probe.db).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].attempts, 1);
        assert!(!rows[0].content.is_empty(), "kept for the next attempt");
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
        assert_eq!(send_due(&probe.db, &probe.queue, &probe).await.unwrap(), 0);
        assert_eq!(probe.seen.lock().unwrap().len(), 1);

        diesel::update(mail_queue::table)
            .set((
                mail_queue::attempts.eq(MAX_ATTEMPTS - 1),
                mail_queue::next_attempt_at.eq(Utc::now() - chrono::Duration::seconds(1)),
            ))
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(send_due(&probe.db, &probe.queue, &probe).await.unwrap(), 0);
        let given_up = left(&probe.db).await;
        assert_eq!(given_up.len(), 1, "kept for an operator");
        assert_eq!(given_up[0].attempts, MAX_ATTEMPTS);
        assert!(given_up[0].content.is_empty(), "the link does not linger");

        // Given up for good, even once due again.
        diesel::update(mail_queue::table)
            .set(mail_queue::next_attempt_at.eq(Utc::now() - chrono::Duration::seconds(1)))
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(send_due(&probe.db, &probe.queue, &probe).await.unwrap(), 0);
        assert_eq!(probe.seen.lock().unwrap().len(), 2);
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_messages_show_neither_recipient_nor_link_and_open_only_in_their_row() {
        let (_test_db, probe) = setup(false).await;
        let rows = left(&probe.db).await;
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
        let mut conn = probe.db.conn().await.unwrap();
        diesel::sql_query(
            "INSERT INTO mail_queue (id, key_id, sealed) \
             SELECT gen_random_uuid(), key_id, sealed FROM mail_queue",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        assert_eq!(send_due(&probe.db, &probe.queue, &probe).await.unwrap(), 1);
        let moved = left(&probe.db).await;
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0].attempts, MAX_ATTEMPTS);
        assert!(moved[0].content.is_empty());

        // Under a key no longer configured, likewise.
        probe
            .queue
            .enqueue(
                &mut conn,
                &Email {
                    to: "later@example.com".into(),
                    subject: "Verify".into(),
                    text_body: "link".into(),
                },
            )
            .await
            .unwrap();
        let rotated_away = queue();
        assert_eq!(send_due(&probe.db, &rotated_away, &probe).await.unwrap(), 0);
        assert!(
            left(&probe.db)
                .await
                .iter()
                .all(|row| row.content.is_empty())
        );
    }
}
