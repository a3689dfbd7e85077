//! Waiting in a test for what is on its way (an event applied, a service listening, a cache
//! moved): the condition is polled, never assumed after a sleep, and a test whose condition
//! never comes fails with what it waited for and the last answer it got, instead of hanging.

use std::{fmt, time::Duration};

/// How long a test waits for something before it fails: far beyond what a loaded machine
/// takes, far below nextest's three-minute limit.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// How often the condition is asked again.
const POLL: Duration = Duration::from_millis(20);

/// Polls `probe` until it answers `Ok` and returns the value; fails the test after
/// [`PATIENCE`], naming `what` it waited for and showing the last `Err` (what was seen instead).
pub async fn eventually_ok<T, E: fmt::Debug>(
    what: &str,
    probe: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    within(PATIENCE, what, probe).await
}

/// Polls `probe` until it yields a value and returns it; see [`eventually_ok`].
pub async fn eventually_some<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    eventually_ok(what, async || probe().await.ok_or(NotYet)).await
}

/// Polls `check` until it holds; see [`eventually_ok`].
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    eventually_ok(what, async || check().await.then_some(()).ok_or(NotYet)).await;
}

/// The last answer of a condition that does not say what it saw.
struct NotYet;

impl fmt::Debug for NotYet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not yet")
    }
}

async fn within<T, E: fmt::Debug>(
    patience: Duration,
    what: &str,
    mut probe: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) => assert!(
                tokio::time::Instant::now() < deadline,
                "timed out after {patience:?} waiting until {what} (last answer: {last:?})"
            ),
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_value_on_its_way_is_returned_once_it_comes() {
        let mut asked = 0;
        let value = eventually_some("the third answer", async || {
            asked += 1;
            (asked == 3).then_some(asked * 10)
        })
        .await;
        assert_eq!((value, asked), (30, 3));
    }

    #[tokio::test]
    #[should_panic(expected = "waiting until the impossible (last answer: [\"seen\"])")]
    async fn a_condition_that_never_holds_fails_the_test_with_what_it_saw() {
        within(POLL * 3, "the impossible", async || {
            Err::<(), _>(vec!["seen"])
        })
        .await;
    }
}
