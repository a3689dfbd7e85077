//! Cleanup of what a test made on the shared servers (its database, queues, keys), run when the
//! test's handle is dropped. Drop may run inside a runtime, so the async work gets a thread and
//! a runtime of its own; and it is bounded in time, because a test that passed must not hang on
//! a slow server afterwards. What a cut-short cleanup leaves behind expires on its own (queues
//! carry an idle expiry) or is harmless (a prefix no other test uses).

use std::{future::Future, time::Duration};

/// How long a cleanup may take before it is abandoned.
const LIMIT: Duration = Duration::from_secs(15);

/// Runs `work` to completion, or for at most [`LIMIT`], on a thread of its own, and waits.
pub(crate) fn run_bounded(what: &'static str, work: impl Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async move {
            if tokio::time::timeout(LIMIT, work).await.is_err() {
                tracing::warn!(
                    what,
                    "test cleanup abandoned after {LIMIT:?}; the server is slow"
                );
            }
        });
    })
    .join();
}
