//! Durable jobs: work that must happen even if the process that asked for it dies, leased from
//! the service's own `jobs` table so that several replicas share it and none runs a job twice at
//! the same time.
//!
//! - A **queued job** is a row written by [`enqueue`] inside the transaction of the change that
//!   asks for it (so it exists exactly when the change does); a worker leases it once it is due,
//!   runs its handler outside any transaction, and deletes it on success. A failure schedules
//!   the next attempt with exponential back-off; after the kind's `MAX_ATTEMPTS` the row stays,
//!   marked failed, for an operator (its payload cleared where it may hold secrets).
//! - A **schedule** ([`JobRunner::every`]) is one row per schedule (`unique_key`) that is never
//!   deleted: after each run, failed or not, it is due again one interval later (a failure is
//!   retried sooner, with back-off). Replicas that start together create it once.
//!
//! Delivery is at least once: a worker that dies holding a lease leaves the job to be leased
//! again when the lease runs out, so handlers must be idempotent. Time comes from the service's
//! [`Clock`], so tests move it instead of waiting. Runs are counted in
//! `df_jobs_runs_total{service, kind, outcome}` (`done`, `retry`, `failed`) and timed in
//! `df_jobs_run_seconds{service, kind}`.

mod worker;

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use df_common::{Error, clock::Clock, telemetry::metrics};
use diesel::{
    ExpressionMethods, QueryDsl,
    sql_types::{Array, BigInt, Bytea, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures::future::BoxFuture;
use serde::{Serialize, de::DeserializeOwned};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::db::Db;
use worker::{Waker, spawn_worker};

df_common::typed_id!(
    /// A queued or scheduled job.
    sql JobId
);

/// A kind of queued job; its value is the payload its handler receives.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stable name, `<service>.<what>`, stored in every row of this kind.
    const KIND: &'static str;
    /// Attempts before the job is left, failed, for an operator.
    const MAX_ATTEMPTS: i32 = 10;
    /// Whether a failed job's payload is cleared (it may carry a secret, such as a link).
    const CLEAR_PAYLOAD_ON_FAILURE: bool = false;
}

/// Queues `job`, due at `run_at`, inside the caller's transaction; wake the runner after the
/// commit ([`Jobs::wake`]) so it runs at once rather than at the next poll.
pub async fn enqueue<J: Job>(
    conn: &mut AsyncPgConnection,
    job: &J,
    run_at: DateTime<Utc>,
) -> Result<JobId, Error> {
    insert(
        conn,
        J::KIND,
        &payload_of(job)?,
        run_at,
        J::MAX_ATTEMPTS,
        None,
    )
    .await
}

fn payload_of<J: Job>(job: &J) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(job).map_err(Error::internal)
}

async fn insert(
    conn: &mut AsyncPgConnection,
    kind: &str,
    payload: &[u8],
    run_at: DateTime<Utc>,
    max_attempts: i32,
    unique_key: Option<&str>,
) -> Result<JobId, Error> {
    let id = JobId::new();
    diesel::sql_query(
        "INSERT INTO jobs (id, kind, payload, run_at, max_attempts, unique_key) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (unique_key) DO NOTHING",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(kind)
    .bind::<Bytea, _>(payload)
    .bind::<Timestamptz, _>(run_at)
    .bind::<Integer, _>(max_attempts.max(1))
    .bind::<Nullable<Text>, _>(unique_key)
    .execute(conn)
    .await?;
    Ok(id)
}

/// A cheap handle that wakes the service's job runner after a commit that queued work.
#[derive(Clone, Debug, Default)]
pub struct Jobs {
    waker: Waker,
}

impl Jobs {
    /// Wakes the runner.
    pub fn wake(&self) {
        self.waker.wake();
    }
}

/// When a schedule first runs after the service starts (for the first time anywhere).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstRun {
    /// At once.
    Now,
    /// One interval later.
    AfterInterval,
}

type Handler = Arc<dyn Fn(Vec<u8>) -> BoxFuture<'static, Result<(), Error>> + Send + Sync>;

struct Kind {
    handler: Handler,
    clear_payload: bool,
    /// `Some` for a schedule: its interval.
    every: Option<(Duration, FirstRun)>,
}

/// Runs the jobs of one service: the handlers and schedules registered on it, on a worker that
/// leases due jobs in batches.
pub struct JobRunner {
    db: Db,
    clock: Clock,
    service: &'static str,
    kinds: HashMap<&'static str, Kind>,
    jobs: Jobs,
    lease: chrono::Duration,
    batch: i64,
    idle: Duration,
}

/// How long a leased job is hidden from other workers: longer than any handler runs.
const LEASE: chrono::Duration = chrono::Duration::minutes(10);
/// Jobs leased per round; they run concurrently.
const BATCH: i64 = 20;
/// Back-off of retries: from a second, doubling, up to an hour.
const RETRY_BASE: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(3_600);

impl JobRunner {
    /// A runner for `service` on `db`, telling time by `clock`.
    pub fn new(db: Db, clock: Clock, service: &'static str) -> Self {
        Self {
            db,
            clock,
            service,
            kinds: HashMap::new(),
            jobs: Jobs::default(),
            lease: LEASE,
            batch: BATCH,
            idle: Duration::from_secs(1),
        }
    }

    /// The handle that wakes this runner.
    pub fn handle(&self) -> Jobs {
        self.jobs.clone()
    }

    /// Runs `handler` for every queued job of kind `J`.
    pub fn on<J, F, Fut>(&mut self, handler: F) -> &mut Self
    where
        J: Job,
        F: Fn(J) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.kinds.insert(
            J::KIND,
            Kind {
                handler: Arc::new(move |payload: Vec<u8>| {
                    let handler = Arc::clone(&handler);
                    Box::pin(async move {
                        let job: J = serde_json::from_slice(&payload).map_err(|e| {
                            Error::internal(anyhow::anyhow!("payload of a {} job: {e}", J::KIND))
                        })?;
                        handler(job).await
                    })
                }),
                clear_payload: J::CLEAR_PAYLOAD_ON_FAILURE,
                every: None,
            },
        );
        self
    }

    /// Runs `handler` every `interval`, on one replica at a time, under the name `kind`
    /// (`<service>.<what>`).
    pub fn every<F, Fut>(
        &mut self,
        kind: &'static str,
        interval: Duration,
        first: FirstRun,
        handler: F,
    ) -> &mut Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.kinds.insert(
            kind,
            Kind {
                handler: Arc::new(move |_| {
                    let handler = Arc::clone(&handler);
                    Box::pin(async move { handler().await })
                }),
                clear_payload: false,
                every: Some((interval, first)),
            },
        );
        self
    }

    /// Creates every schedule's row (once, whichever replica gets there first).
    pub async fn ensure_schedules(&self) -> Result<(), Error> {
        let now = self.clock.now();
        let mut conn = self.db.conn().await?;
        for (kind, registered) in &self.kinds {
            if let Some((interval, first)) = registered.every {
                let run_at = match first {
                    FirstRun::Now => now,
                    FirstRun::AfterInterval => now + to_chrono(interval),
                };
                insert(
                    &mut conn,
                    kind,
                    b"null",
                    run_at,
                    i32::MAX,
                    Some(&schedule_key(kind)),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Leases the due jobs of the registered kinds (up to a batch), runs them concurrently and
    /// records each outcome; returns how many ran. The worker calls this; tests call it to run
    /// exactly one round.
    pub async fn run_due(&self) -> Result<usize, Error> {
        let now = self.clock.now();
        let kinds: Vec<String> = self.kinds.keys().map(|k| (*k).to_owned()).collect();
        let leased: Vec<Leased> = {
            let mut conn = self.db.conn().await?;
            diesel::sql_query(
                "WITH due AS ( \
                   SELECT id FROM jobs \
                   WHERE failed_at IS NULL AND run_at <= $1 AND kind = ANY($2) \
                     AND (leased_until IS NULL OR leased_until <= $1) \
                   ORDER BY run_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
                 UPDATE jobs SET leased_until = $4 FROM due WHERE jobs.id = due.id \
                 RETURNING jobs.id, jobs.kind, jobs.payload, jobs.attempts, jobs.max_attempts",
            )
            .bind::<Timestamptz, _>(now)
            .bind::<Array<Text>, _>(&kinds)
            .bind::<BigInt, _>(self.batch)
            .bind::<Timestamptz, _>(now + self.lease)
            .load(&mut conn)
            .await?
        };
        let count = leased.len();
        futures::future::join_all(leased.into_iter().map(|job| self.run_one(job))).await;
        Ok(count)
    }

    async fn run_one(&self, job: Leased) {
        let Some(kind) = self.kinds.get(job.kind.as_str()) else {
            return;
        };
        let started = std::time::Instant::now();
        let result = (kind.handler)(job.payload).await;
        if let Some(histogram) = RUN_SECONDS.as_ref() {
            histogram
                .with_label_values(&[self.service, &job.kind])
                .observe(started.elapsed().as_secs_f64());
        }
        let outcome = self.record(
            &job.kind,
            job.id,
            job.attempts,
            job.max_attempts,
            kind,
            result,
        );
        match outcome.await {
            Ok(outcome) => {
                if let Some(counter) = RUNS.as_ref() {
                    counter
                        .with_label_values(&[self.service, &job.kind, outcome])
                        .inc();
                }
            }
            Err(error) => {
                // The lease runs out and the job is tried again: at least once, never lost.
                tracing::warn!(job = %job.id, kind = %job.kind, code = error.code(), "job outcome not recorded");
            }
        }
    }

    async fn record(
        &self,
        kind_name: &str,
        id: JobId,
        attempts: i32,
        max_attempts: i32,
        kind: &Kind,
        result: Result<(), Error>,
    ) -> Result<&'static str, Error> {
        let now = self.clock.now();
        let mut conn = self.db.conn().await?;
        let attempts = attempts.saturating_add(1);
        let backoff = crate::backoff::delay(
            RETRY_BASE,
            u32::try_from(attempts - 1).unwrap_or(0),
            RETRY_MAX,
        );
        match (result, kind.every) {
            (Ok(()), None) => {
                diesel::delete(schema::jobs::table.find(id))
                    .execute(&mut conn)
                    .await?;
                Ok("done")
            }
            (Ok(()), Some((interval, _))) => {
                reschedule(&mut conn, id, now + to_chrono(interval), 0, None).await?;
                Ok("done")
            }
            (Err(error), Some((interval, _))) => {
                tracing::warn!(kind = kind_name, code = error.code(), cause = ?error.cause(), attempts, "scheduled job failed; retried");
                let retry = now + to_chrono(backoff.min(interval));
                reschedule(&mut conn, id, retry, attempts, Some(error.code())).await?;
                Ok("retry")
            }
            (Err(error), None) if attempts < max_attempts => {
                tracing::warn!(job = %id, kind = kind_name, code = error.code(), cause = ?error.cause(), attempts, "job failed; retried");
                reschedule(
                    &mut conn,
                    id,
                    now + to_chrono(backoff),
                    attempts,
                    Some(error.code()),
                )
                .await?;
                Ok("retry")
            }
            (Err(error), None) => {
                tracing::error!(job = %id, kind = kind_name, code = error.code(), cause = ?error.cause(), attempts, "job failed for good; kept for an operator");
                let update = diesel::update(schema::jobs::table.find(id));
                let changes = (
                    schema::jobs::attempts.eq(attempts),
                    schema::jobs::failed_at.eq(Some(now)),
                    schema::jobs::leased_until.eq(None::<DateTime<Utc>>),
                    schema::jobs::last_error.eq(Some(error.code().to_owned())),
                );
                if kind.clear_payload {
                    update
                        .set((changes, schema::jobs::payload.eq(Vec::<u8>::new())))
                        .execute(&mut conn)
                        .await?;
                } else {
                    update.set(changes).execute(&mut conn).await?;
                }
                Ok("failed")
            }
        }
    }

    /// Starts the worker: schedules are created, then due jobs run until `shutdown` (a round in
    /// progress finishes first).
    pub fn spawn(self, shutdown: CancellationToken) -> JoinHandle<()> {
        let waker = self.jobs.waker.clone();
        let idle = self.idle;
        let this = Arc::new(self);
        let (setup, round) = (Arc::clone(&this), this);
        let ready = Arc::new(tokio::sync::OnceCell::new());
        spawn_worker("jobs", waker, idle, shutdown, move || {
            let (setup, round, ready) =
                (Arc::clone(&setup), Arc::clone(&round), Arc::clone(&ready));
            async move {
                ready
                    .get_or_try_init(|| async { setup.ensure_schedules().await })
                    .await?;
                round.run_due().await
            }
        })
    }
}

fn schedule_key(kind: &str) -> String {
    format!("schedule:{kind}")
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

async fn reschedule(
    conn: &mut AsyncPgConnection,
    id: JobId,
    run_at: DateTime<Utc>,
    attempts: i32,
    last_error: Option<&str>,
) -> Result<(), Error> {
    diesel::update(schema::jobs::table.find(id))
        .set((
            schema::jobs::run_at.eq(run_at),
            schema::jobs::attempts.eq(attempts),
            schema::jobs::leased_until.eq(None::<DateTime<Utc>>),
            schema::jobs::last_error.eq(last_error),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct Leased {
    #[diesel(sql_type = SqlUuid)]
    id: JobId,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Bytea)]
    payload: Vec<u8>,
    #[diesel(sql_type = Integer)]
    attempts: i32,
    #[diesel(sql_type = Integer)]
    max_attempts: i32,
}

static RUNS: std::sync::LazyLock<Option<prometheus::IntCounterVec>> =
    std::sync::LazyLock::new(|| {
        metrics::counter_vec(
            "df_jobs_runs_total",
            "Job runs by outcome: done, retry (failed, tried again later) or failed (given up).",
            &["service", "kind", "outcome"],
        )
        .ok()
    });

static RUN_SECONDS: std::sync::LazyLock<Option<prometheus::HistogramVec>> =
    std::sync::LazyLock::new(|| {
        metrics::histogram_vec(
            "df_jobs_run_seconds",
            "Time a job's handler took.",
            &["service", "kind"],
            metrics::LATENCY_BUCKETS,
        )
        .ok()
    });

/// Diesel declaration of the kit's `jobs` table.
pub mod schema {
    diesel::table! {
        jobs (id) {
            id -> Uuid,
            kind -> Text,
            payload -> Bytea,
            run_at -> Timestamptz,
            attempts -> Int4,
            max_attempts -> Int4,
            leased_until -> Nullable<Timestamptz>,
            last_error -> Nullable<Text>,
            unique_key -> Nullable<Text>,
            failed_at -> Nullable<Timestamptz>,
            created_at -> Timestamptz,
        }
    }
}
