//! The loop the job runner works on: a round of work now, again at once while rounds keep
//! finding work, and otherwise when woken or after a quiet interval; stopped by the service's
//! shutdown token between rounds, never in the middle of one.

use std::{future::Future, sync::Arc, time::Duration};

use df_common::Error;
use tokio::{sync::Notify, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// Wakes a worker after a commit, so work goes out at once rather than at the next interval.
#[derive(Clone, Debug, Default)]
pub struct Waker(Arc<Notify>);

impl Waker {
    /// Wakes the worker (a wake while it is busy makes it run one more round).
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Runs `round` until `shutdown`. A round returns how many items it handled; a failed round is
/// logged under `name` and tried again after `idle`.
pub fn spawn_worker<F, Fut>(
    name: &'static str,
    waker: Waker,
    idle: Duration,
    shutdown: CancellationToken,
    mut round: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<usize, Error>> + Send,
{
    tokio::spawn(async move {
        while !shutdown.is_cancelled() {
            match round().await {
                Ok(handled) if handled > 0 => continue,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(worker = name, code = error.code(), "worker round failed")
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = waker.0.notified() => {}
                () = tokio::time::sleep(idle) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn it_runs_while_there_is_work_sleeps_until_woken_and_stops_at_shutdown() {
        let rounds = Arc::new(AtomicUsize::new(0));
        let (waker, shutdown) = (Waker::default(), CancellationToken::new());
        let (seen, done) = (Arc::clone(&rounds), Arc::new(Notify::new()));
        let idle_reached = Arc::clone(&done);
        let task = spawn_worker(
            "test",
            waker.clone(),
            Duration::from_secs(3_600),
            shutdown.clone(),
            move || {
                let round = seen.fetch_add(1, Ordering::SeqCst) + 1;
                let idle_reached = Arc::clone(&idle_reached);
                async move {
                    // Three rounds find work, the fourth finds none and the worker waits.
                    if round >= 4 {
                        idle_reached.notify_one();
                    }
                    Ok(usize::from(round < 4))
                }
            },
        );
        done.notified().await;
        assert_eq!(rounds.load(Ordering::SeqCst), 4);
        waker.wake();
        done.notified().await;
        assert_eq!(
            rounds.load(Ordering::SeqCst),
            5,
            "a wake runs one more round"
        );
        shutdown.cancel();
        task.await.unwrap_or_default();
    }
}
