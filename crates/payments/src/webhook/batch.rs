//! Applies concurrent one-off payment events (tips and PPV purchases, the bulk of a creator
//! platform's webhook traffic) together: deliveries that arrive while a batch is being written
//! wait for the next one, which records their event ids and books their payments in one
//! database transaction and two statements, however many there are. Under load the cost of a
//! commit and of the round trips is shared; alone, an event is written at once.
//!
//! Exactly-once is kept as for every other event: the event ids are recorded in the same
//! transaction as the bookings, and an id recorded before marks the delivery a duplicate. If a
//! batch fails as a whole, each of its events is applied again on its own, so one bad event
//! never takes others down with it, and each delivery gets its own answer.

use std::{collections::HashSet, sync::Arc};

use chrono::{DateTime, Utc};
use df_common::{Error, bus::RelayHandle, db::Db};
use diesel::sql_types;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use super::apply::Outcome;
use crate::{
    charges::{self, NewPayment},
    entitlements::Entitlements,
    ledger,
};

/// Events written together at most.
const MAX_BATCH: usize = 64;
/// Deliveries waiting at most; beyond, callers wait to hand theirs over (back-pressure).
const QUEUE: usize = 1_024;
/// Batches written at once (each holds one connection while it writes).
const WRITERS: usize = 2;

/// One delivery's event and the payment it books.
struct Job {
    event_id: String,
    event_type: String,
    created_at: DateTime<Utc>,
    payment: NewPayment,
    reply: oneshot::Sender<Result<Outcome, Error>>,
}

/// Hands one-off payment events to the batch writers.
#[derive(Clone)]
pub struct PaymentBatcher {
    jobs: mpsc::Sender<Job>,
}

impl PaymentBatcher {
    /// Starts the writers. They stop when the last batcher handle is dropped.
    pub fn spawn(db: Db, entitlements: Entitlements, relay: RelayHandle) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..WRITERS {
            tokio::spawn(write_batches(
                Arc::clone(&queue),
                db.clone(),
                entitlements.clone(),
                relay.clone(),
            ));
        }
        Self { jobs }
    }

    /// Records the event and books its payment, with whatever else is waiting.
    pub async fn apply(
        &self,
        event_id: &str,
        event_type: &str,
        created_at: DateTime<Utc>,
        payment: NewPayment,
    ) -> Result<Outcome, Error> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            event_id: event_id.to_owned(),
            event_type: event_type.to_owned(),
            created_at,
            payment,
            reply,
        };
        self.jobs.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The answer while the service shuts down.
pub(crate) fn stopped() -> Error {
    Error::new(
        df_common::ErrorKind::Unavailable,
        "payments.shutting_down",
        "The service is restarting; deliver the event again.",
    )
}

async fn write_batches(
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    db: Db,
    entitlements: Entitlements,
    relay: RelayHandle,
) {
    loop {
        let Some(mut jobs) = next_batch(&queue, MAX_BATCH).await else {
            return;
        };
        // Every batch takes creators' locks in the same order, so two batches never deadlock.
        jobs.sort_by_key(|job| ledger::lock_key(job.payment.creator_id));
        let outcomes = match write_together(&db, &jobs).await {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            Err(error) => {
                tracing::warn!(
                    code = error.code(),
                    events = jobs.len(),
                    "batch not written; applying its events one by one"
                );
                let mut outcomes = Vec::with_capacity(jobs.len());
                for job in &jobs {
                    outcomes.push(write_alone(&db, job).await);
                }
                outcomes
            }
        };
        let fans: Vec<Uuid> = jobs
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| matches!(outcome, Ok(Outcome::Applied)))
            .map(|(job, _)| job.payment.fan_id)
            .collect();
        if !fans.is_empty() {
            crate::service::after_commit(&relay, &entitlements, &fans).await;
        }
        for (job, outcome) in jobs.into_iter().zip(outcomes) {
            // The delivery may have given up waiting; its event is written all the same.
            let _ = job.reply.send(outcome);
        }
    }
}

/// Waits for the next item of `queue`, then takes whatever else is already waiting, up to
/// `max` in all. `None` once every sender is gone. Readers sharing the queue take turns, so one
/// gathers the next batch while another writes its own.
pub(crate) async fn next_batch<T>(queue: &Mutex<mpsc::Receiver<T>>, max: usize) -> Option<Vec<T>> {
    let mut queue = queue.lock().await;
    let first = queue.recv().await?;
    let mut batch = vec![first];
    while batch.len() < max {
        match queue.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    Some(batch)
}

#[derive(diesel::QueryableByName)]
struct Recorded {
    #[diesel(sql_type = sql_types::Text)]
    event_id: String,
}

/// One transaction for the whole batch: the event ids, then the payments of the new ones.
async fn write_together(db: &Db, jobs: &[Job]) -> Result<Vec<Outcome>, Error> {
    let mut conn = db.conn().await?;
    conn.transaction::<Vec<Outcome>, Error, _>(async |conn| {
        let recorded: Vec<Recorded> = diesel::sql_query(
            "INSERT INTO webhook_events (event_id, event_type, created_at)
             SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
             ON CONFLICT DO NOTHING
             RETURNING event_id",
        )
        .bind::<sql_types::Array<sql_types::Text>, _>(
            jobs.iter().map(|j| j.event_id.as_str()).collect::<Vec<_>>(),
        )
        .bind::<sql_types::Array<sql_types::Text>, _>(
            jobs.iter()
                .map(|j| j.event_type.as_str())
                .collect::<Vec<_>>(),
        )
        .bind::<sql_types::Array<sql_types::Timestamptz>, _>(
            jobs.iter().map(|j| j.created_at).collect::<Vec<_>>(),
        )
        .load(conn)
        .await?;
        // The first delivery of a newly recorded id applies it; any other is a duplicate.
        let mut new: HashSet<String> = recorded.into_iter().map(|r| r.event_id).collect();
        let outcomes: Vec<Outcome> = jobs
            .iter()
            .map(|job| {
                if new.remove(&job.event_id) {
                    Outcome::Applied
                } else {
                    Outcome::Duplicate
                }
            })
            .collect();
        let payments: Vec<&NewPayment> = jobs
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| **outcome == Outcome::Applied)
            .map(|(job, _)| &job.payment)
            .collect();
        if !payments.is_empty() {
            charges::book_payments(conn, &payments).await?;
        }
        Ok(outcomes)
    })
    .await
}

/// One event in its own transaction (after its batch failed).
async fn write_alone(db: &Db, job: &Job) -> Result<Outcome, Error> {
    let mut conn = db.conn().await?;
    conn.transaction::<Outcome, Error, _>(async |conn| {
        if !record(conn, job).await? {
            return Ok(Outcome::Duplicate);
        }
        charges::book_payment(conn, &job.payment).await?;
        Ok(Outcome::Applied)
    })
    .await
}

async fn record(conn: &mut AsyncPgConnection, job: &Job) -> Result<bool, Error> {
    let recorded: Vec<Recorded> = diesel::sql_query(
        "INSERT INTO webhook_events (event_id, event_type, created_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING
         RETURNING event_id",
    )
    .bind::<sql_types::Text, _>(&job.event_id)
    .bind::<sql_types::Text, _>(&job.event_type)
    .bind::<sql_types::Timestamptz, _>(job.created_at)
    .load(conn)
    .await?;
    Ok(!recorded.is_empty())
}
