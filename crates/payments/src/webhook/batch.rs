//! Applies concurrent one-off payment events (tips and PPV purchases, the bulk of a creator
//! platform's webhook traffic) together: deliveries that arrive while a batch is being written
//! wait for the next one, which records their event ids and books their payments in one
//! statement (one prepared call of a database function, its own transaction), however many
//! there are. Under load the cost of a commit and of the round trips is shared; alone, an event
//! is written at once.
//!
//! Exactly-once is kept as for every other event: the event ids are recorded in the same
//! transaction as the bookings, and an id recorded before marks the delivery a duplicate. If a
//! batch fails as a whole, each of its events is applied again on its own, so one bad event
//! never takes others down with it, and each delivery gets its own answer.

use crate::errors::PaymentsError;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use df_common::{Error, ids::UserId};
use df_runtime::{bus::RelayHandle, db::Db};
use diesel::sql_types;
use diesel_async::RunQueryDsl;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::apply::Outcome;
use crate::{
    charges::{self, NewPayment},
    entitlements::Entitlements,
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
    Error::from(PaymentsError::ShuttingDown)
}

async fn write_batches(
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    db: Db,
    entitlements: Entitlements,
    relay: RelayHandle,
) {
    loop {
        let Some(jobs) = next_batch(&queue, MAX_BATCH).await else {
            return;
        };
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
                    // A batch of one: its answer has exactly one outcome.
                    let alone = write_together(&db, std::slice::from_ref(job)).await;
                    outcomes.push(alone.map(|mut one| one.remove(0)));
                }
                outcomes
            }
        };
        let applied: Vec<&NewPayment> = jobs
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| matches!(outcome, Ok(Outcome::Applied)))
            .map(|(job, _)| &job.payment)
            .collect();
        if !applied.is_empty() {
            // Of these, only a PPV purchase changes what its fan may see; a tip does not.
            let fans: Vec<UserId> = applied
                .iter()
                .filter(|payment| payment.kind == charges::Kind::Ppv)
                .map(|payment| payment.fan_id)
                .collect();
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

diesel::define_sql_function! {
    /// Records a batch of deliveries and books the payments of the new ones (migration
    /// `000004_batch_booking`); per delivery, whether it applied its event.
    fn webhook_payments_apply(p: sql_types::Jsonb) -> sql_types::Array<sql_types::Bool>;
}

/// The whole batch in one statement, and so in one transaction: the event ids, then the
/// payments of the deliveries whose event is new. One round trip of a prepared statement, with
/// no `BEGIN` and `COMMIT` of its own.
async fn write_together(db: &Db, jobs: &[Job]) -> Result<Vec<Outcome>, Error> {
    let deliveries = jobs
        .iter()
        .map(|job| {
            Ok(serde_json::json!({
                "event_id": job.event_id,
                "event_type": job.event_type,
                "event_created_at": job.created_at,
                "booking": charges::booking(&job.payment)?,
            }))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let mut conn = db.conn().await?;
    let applied: Vec<bool> =
        diesel::select(webhook_payments_apply(serde_json::Value::Array(deliveries)))
            .get_result(&mut conn)
            .await?;
    if applied.len() != jobs.len() {
        return Err(Error::internal(anyhow::anyhow!(
            "{} answers for a batch of {}",
            applied.len(),
            jobs.len()
        )));
    }
    Ok(applied
        .into_iter()
        .map(|applied| {
            if applied {
                Outcome::Applied
            } else {
                Outcome::Duplicate
            }
        })
        .collect())
}
