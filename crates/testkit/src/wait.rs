//! Waiting in a test for what is on its way (an event applied, a service listening, a cache
//! moved): the condition is polled, never assumed after a sleep, and a test whose condition
//! never comes fails with what it waited for instead of hanging.

use std::time::Duration;

/// How long a test waits for something before it fails: far beyond what a loaded machine
/// takes, far below nextest's three-minute limit.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// How often the condition is asked again.
const POLL: Duration = Duration::from_millis(20);

/// Polls `probe` until it yields a value and returns it; fails the test after [`PATIENCE`],
/// naming `what` it waited for.
pub async fn eventually_some<T>(what: &str, probe: impl AsyncFnMut() -> Option<T>) -> T {
    within(PATIENCE, what, probe).await
}

/// Polls `check` until it holds; fails the test after [`PATIENCE`], naming `what` it waited
/// for.
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        give_up_after(deadline, PATIENCE, what);
        tokio::time::sleep(POLL).await;
    }
}

async fn within<T>(patience: Duration, what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        give_up_after(deadline, patience, what);
        tokio::time::sleep(POLL).await;
    }
}

fn give_up_after(deadline: tokio::time::Instant, patience: Duration, what: &str) {
    assert!(
        tokio::time::Instant::now() < deadline,
        "timed out after {patience:?} waiting until {what}"
    );
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
    #[should_panic(expected = "waiting until the impossible")]
    async fn a_condition_that_never_holds_fails_the_test() {
        within(POLL * 3, "the impossible", async || None::<()>).await;
    }
}
