//! Durable jobs against a real database: a queued job runs once and is gone; a failing one is
//! retried with back-off and then kept, failed, for an operator (its payload cleared when it may
//! hold a secret); a schedule runs every interval whatever its last run did; two replicas never
//! run one job twice; a job whose worker died runs again once its lease is over. Time is moved
//! on the runners' clock, never waited for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use df_common::{Error, ErrorKind, clock::Clock};
use df_runtime::{
    db::Db,
    jobs::{self, FirstRun, Job, JobRunner},
};
use df_testkit::TestDb;
use diesel_async::{AsyncConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use serde::{Deserialize, Serialize};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("tests/migrations");

fn migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/migrations")
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Greet {
    name: String,
}

impl Job for Greet {
    const KIND: &'static str = "test.greet";
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Flaky {
    secret: String,
}

impl Job for Flaky {
    const KIND: &'static str = "test.flaky";
    const MAX_ATTEMPTS: i32 = 3;
    const CLEAR_PAYLOAD_ON_FAILURE: bool = true;
}

fn failure() -> Error {
    Error::new(ErrorKind::Unavailable, "test.down", "down")
}

async fn count(db: &Db, sql: &str) -> i64 {
    df_testkit::db::count(&mut db.conn().await.unwrap(), sql).await
}

async fn queue<J: Job>(db: &Db, clock: &Clock, job: &J) {
    let mut conn = db.conn().await.unwrap();
    let now = clock.now();
    conn.transaction::<_, Error, _>(async |conn| {
        jobs::enqueue(conn, job, now).await?;
        Ok(())
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_job_runs_once_with_its_payload_and_is_gone() {
    let test_db = TestDb::new("runtime_jobs", MIGRATIONS, &migrations_dir()).await;
    let db = test_db.db();
    let clock = Clock::frozen(chrono::Utc::now());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut runner = JobRunner::new(db.clone(), clock.clone(), "test");
    let record = Arc::clone(&seen);
    runner.on(move |job: Greet| {
        let record = Arc::clone(&record);
        async move {
            record.lock().unwrap().push(job);
            Ok(())
        }
    });
    queue(&db, &clock, &Greet { name: "ada".into() }).await;
    assert_eq!(runner.run_due().await.unwrap(), 1);
    assert_eq!(runner.run_due().await.unwrap(), 0);
    assert_eq!(*seen.lock().unwrap(), vec![Greet { name: "ada".into() }]);
    assert_eq!(count(&db, "SELECT count(*) AS n FROM jobs").await, 0);

    // A job due later waits for its time.
    let mut conn = db.conn().await.unwrap();
    conn.transaction::<_, Error, _>(async |conn| {
        jobs::enqueue(
            conn,
            &Greet {
                name: "later".into(),
            },
            clock.now() + chrono::Duration::minutes(5),
        )
        .await?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(runner.run_due().await.unwrap(), 0);
    clock.advance(chrono::Duration::minutes(5));
    assert_eq!(runner.run_due().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_backs_off_then_stays_failed_without_its_payload() {
    let test_db = TestDb::new("runtime_jobs", MIGRATIONS, &migrations_dir()).await;
    let db = test_db.db();
    let clock = Clock::frozen(chrono::Utc::now());
    let mut runner = JobRunner::new(db.clone(), clock.clone(), "test");
    runner.on(|_: Flaky| async { Err(failure()) });
    queue(
        &db,
        &clock,
        &Flaky {
            secret: "link-with-token".into(),
        },
    )
    .await;

    assert_eq!(runner.run_due().await.unwrap(), 1);
    assert_eq!(
        runner.run_due().await.unwrap(),
        0,
        "the retry waits for its back-off"
    );
    for _ in 0..2 {
        clock.advance(chrono::Duration::hours(2));
        assert_eq!(runner.run_due().await.unwrap(), 1);
    }
    clock.advance(chrono::Duration::hours(2));
    assert_eq!(
        runner.run_due().await.unwrap(),
        0,
        "given up after three attempts"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM jobs WHERE failed_at IS NOT NULL AND attempts = 3 \
             AND last_error = 'test.down' AND length(payload) = 0"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_runs_every_interval_whatever_its_last_run_did() {
    let test_db = TestDb::new("runtime_jobs", MIGRATIONS, &migrations_dir()).await;
    let db = test_db.db();
    let clock = Clock::frozen(chrono::Utc::now());
    let runs = Arc::new(Mutex::new(0));
    let make = |runs: Arc<Mutex<i32>>| {
        let mut runner = JobRunner::new(db.clone(), clock.clone(), "test");
        runner.every(
            "test.tidy",
            Duration::from_secs(600),
            FirstRun::Now,
            move || {
                let runs = Arc::clone(&runs);
                async move {
                    let mut runs = runs.lock().unwrap();
                    *runs += 1;
                    // Every second run fails.
                    if *runs % 2 == 0 {
                        Err(failure())
                    } else {
                        Ok(())
                    }
                }
            },
        );
        runner
    };
    // Two replicas start together: one schedule.
    let (first, second) = (make(Arc::clone(&runs)), make(Arc::clone(&runs)));
    first.ensure_schedules().await.unwrap();
    second.ensure_schedules().await.unwrap();
    assert_eq!(count(&db, "SELECT count(*) AS n FROM jobs").await, 1);

    assert_eq!(
        first.run_due().await.unwrap() + second.run_due().await.unwrap(),
        1
    );
    assert_eq!(first.run_due().await.unwrap(), 0, "not due again yet");
    clock.advance(chrono::Duration::minutes(10));
    assert_eq!(second.run_due().await.unwrap(), 1, "the second run fails");
    clock.advance(chrono::Duration::minutes(10));
    assert_eq!(
        first.run_due().await.unwrap(),
        1,
        "and the schedule goes on"
    );
    assert_eq!(*runs.lock().unwrap(), 3);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) AS n FROM jobs WHERE failed_at IS NULL"
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_never_run_one_job_twice_and_a_dead_worker_s_job_runs_again() {
    let test_db = TestDb::new("runtime_jobs", MIGRATIONS, &migrations_dir()).await;
    let db = test_db.db();
    let clock = Clock::frozen(chrono::Utc::now());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let runner = || {
        let mut runner = JobRunner::new(db.clone(), clock.clone(), "test");
        let record = Arc::clone(&seen);
        runner.on(move |job: Greet| {
            let record = Arc::clone(&record);
            async move {
                record.lock().unwrap().push(job.name);
                Ok(())
            }
        });
        runner
    };
    let (a, b) = (runner(), runner());
    for n in 0..60 {
        queue(
            &db,
            &clock,
            &Greet {
                name: format!("g{n}"),
            },
        )
        .await;
    }
    loop {
        let (ran_a, ran_b) = tokio::join!(a.run_due(), b.run_due());
        if ran_a.unwrap() + ran_b.unwrap() == 0 {
            break;
        }
    }
    let mut names = seen.lock().unwrap().clone();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 60);
    assert_eq!(seen.lock().unwrap().len(), 60, "each job ran exactly once");

    // A worker leased a job and died: the job is hidden until the lease is over, then runs.
    queue(
        &db,
        &clock,
        &Greet {
            name: "orphan".into(),
        },
    )
    .await;
    let mut conn = db.conn().await.unwrap();
    diesel::sql_query("UPDATE jobs SET leased_until = $1")
        .bind::<diesel::sql_types::Timestamptz, _>(clock.now() + chrono::Duration::minutes(10))
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(a.run_due().await.unwrap(), 0);
    clock.advance(chrono::Duration::minutes(11));
    assert_eq!(a.run_due().await.unwrap(), 1);
    assert_eq!(
        seen.lock().unwrap().last().map(String::as_str),
        Some("orphan")
    );
}
