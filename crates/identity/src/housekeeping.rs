//! Periodic clean-up of rows nothing will read again: stale login throttle state, long-expired
//! one-time tokens and sessions long past their end (the runtime prunes the bus inbox).
//!
//! A schedule of the service's job runner (`identity.housekeeping`). Each kind is deleted by its
//! own statements outside any transaction, in batches, so a large backlog never holds locks or
//! runs into the statement timeout. A failure is logged and the next round tries again;
//! housekeeping never stops the service.

use std::time::Duration;

use chrono::{DateTime, Utc};
use df_common::{Error, clock::Clock};
use df_runtime::db::Db;
use diesel::sql_types::{BigInt, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// Time between rounds.
pub const INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Rows per delete statement.
const BATCH: i64 = 1_000;

/// An unlocked throttle row is kept this long after its last failure: long after any delay it
/// could impose has passed (the largest configurable delay is one day).
const THROTTLE_RETENTION: chrono::Duration = chrono::Duration::hours(24);

/// Expired one-time tokens are kept this long, for support questions about a link.
const TOKEN_RETENTION: chrono::Duration = chrono::Duration::days(7);

/// Ended sessions are kept this long after they ended, for "where am I logged in" history and
/// incident review.
const SESSION_RETENTION: chrono::Duration = chrono::Duration::days(30);

/// How many rows one round deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Stale `login_throttle` rows.
    pub throttle_rows: usize,
    /// One-time tokens expired for more than seven days.
    pub tokens: usize,
    /// Sessions that expired or were revoked more than thirty days ago.
    pub sessions: usize,
}

/// Runs one round. Every step is attempted even when an earlier one fails; the first failure is
/// returned after all have run (each is also logged).
pub async fn run_once(db: &Db, clock: &Clock) -> Result<Counts, Error> {
    let mut conn = db.conn().await.inspect_err(|error| {
        tracing::warn!(
            code = error.code(),
            "housekeeping could not get a connection"
        );
    })?;
    let now = clock.now();
    let mut first_error = None;
    let counts = Counts {
        throttle_rows: outcome(
            "login_throttle",
            prune_throttle(&mut conn, now).await,
            &mut first_error,
        ),
        tokens: outcome(
            "one_time_tokens",
            delete_before(&mut conn, DELETE_OLD_TOKENS, now - TOKEN_RETENTION).await,
            &mut first_error,
        ),
        sessions: outcome(
            "sessions",
            delete_before(&mut conn, DELETE_OLD_SESSIONS, now - SESSION_RETENTION).await,
            &mut first_error,
        ),
    };
    tracing::debug!(
        throttle_rows = counts.throttle_rows,
        tokens = counts.tokens,
        sessions = counts.sessions,
        "housekeeping round done"
    );
    match first_error {
        Some(error) => Err(error),
        None => Ok(counts),
    }
}

/// The count of a step that worked; a failed step is logged, remembered, and counts zero.
fn outcome(step: &'static str, result: Result<usize, Error>, first: &mut Option<Error>) -> usize {
    match result {
        Ok(deleted) => deleted,
        Err(error) => {
            let cause = error.cause().map(|c| format!("{c:#}"));
            tracing::warn!(
                step,
                code = error.code(),
                cause = cause.as_deref().unwrap_or(""),
                "housekeeping step failed"
            );
            first.get_or_insert(error);
            0
        }
    }
}

/// True when a delete removed a whole batch, so more rows may be waiting.
fn batch_was_full(deleted: usize) -> bool {
    i64::try_from(deleted).unwrap_or(i64::MAX) >= BATCH
}

/// Unlocked throttle rows with no failure since `$1` and no password evaluated since `$2`. The
/// evaluation check keeps a row whose hourly budget still counts (a success clears the failure
/// time but not the budget). A locked row stays until it is unlocked. The conditions are repeated
/// outside the sub-select so that a row a login updates while this waits for its lock is
/// re-checked against its new values.
const DELETE_STALE_THROTTLE: &str = "
    DELETE FROM login_throttle
    WHERE identifier_digest IN (
            SELECT identifier_digest FROM login_throttle
            WHERE locked_at IS NULL
              AND (last_failure_at IS NULL OR last_failure_at < $1)
              AND NOT EXISTS (SELECT 1 FROM unnest(recent_evaluations) AS e WHERE e >= $2)
            LIMIT $3)
      AND locked_at IS NULL
      AND (last_failure_at IS NULL OR last_failure_at < $1)
      AND NOT EXISTS (SELECT 1 FROM unnest(recent_evaluations) AS e WHERE e >= $2)";

/// One-time tokens, used or not, that expired before `$1`.
const DELETE_OLD_TOKENS: &str = "
    DELETE FROM one_time_tokens
    WHERE token_hash IN (
        SELECT token_hash FROM one_time_tokens WHERE expires_at < $1 LIMIT $2)";

/// Sessions whose absolute lifetime ended, or that were revoked, before `$1`.
const DELETE_OLD_SESSIONS: &str = "
    DELETE FROM sessions
    WHERE id IN (
        SELECT id FROM sessions
        WHERE absolute_expires_at < $1 OR revoked_at < $1
        LIMIT $2)";

async fn prune_throttle(conn: &mut AsyncPgConnection, now: DateTime<Utc>) -> Result<usize, Error> {
    let failed_before = now - THROTTLE_RETENTION;
    let evaluated_before = now - chrono::Duration::hours(1);
    let mut total = 0;
    loop {
        let deleted = diesel::sql_query(DELETE_STALE_THROTTLE)
            .bind::<Timestamptz, _>(failed_before)
            .bind::<Timestamptz, _>(evaluated_before)
            .bind::<BigInt, _>(BATCH)
            .execute(conn)
            .await?;
        total += deleted;
        if !batch_was_full(deleted) {
            return Ok(total);
        }
    }
}

/// Runs `sql`, a batched delete taking a cutoff (`$1`) and a batch size (`$2`), until a batch
/// comes back short.
async fn delete_before(
    conn: &mut AsyncPgConnection,
    sql: &'static str,
    cutoff: DateTime<Utc>,
) -> Result<usize, Error> {
    let mut total = 0;
    loop {
        let deleted = diesel::sql_query(sql)
            .bind::<Timestamptz, _>(cutoff)
            .bind::<BigInt, _>(BATCH)
            .execute(conn)
            .await?;
        total += deleted;
        if !batch_was_full(deleted) {
            return Ok(total);
        }
    }
}
