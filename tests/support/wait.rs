//! Bounded polling: wait for a condition observed from outside (a browser page,
//! a child process, a hub's subscriber count), never a fixed sleep standing in
//! for synchronisation. The one wait-until helper of the test suite: include
//! it with `mod support;` or alone with `#[path = "support/wait.rs"] mod wait;`.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::{Duration, Instant};

/// What test scenarios return (the same type as `support::TestResult`).
type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// How long [`until_true`] waits for a condition that should be prompt.
pub const PROMPT: Duration = Duration::from_secs(10);

/// Polls `condition` every 5 ms until it holds; panics naming `what` after
/// [`PROMPT`]. Measured on tokio's clock, so it also ends under paused time.
pub async fn until_true(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PROMPT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {PROMPT:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How long a browser-side condition may take before the test fails.
///
/// Generous, because a loaded CI machine can be slow; a passing test returns as
/// soon as the condition holds.
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(15);

/// Interval between two probes.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// What one probe observed.
#[derive(Debug)]
pub enum Check<T> {
    /// The condition holds; waiting ends with this value.
    Done(T),
    /// Not yet; the description of what was seen goes into the timeout message.
    Pending(String),
}

/// Probes until it returns [`Check::Done`], an error, or `timeout` passes.
///
/// The timeout error names `what` was awaited and the last observed state.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> TestResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = TestResult<Check<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match probe().await? {
            Check::Done(value) => return Ok(value),
            Check::Pending(seen) if Instant::now() >= deadline => {
                return Err(format!(
                    "timed out after {timeout:?} waiting for {what}; last seen: {seen}"
                )
                .into());
            }
            Check::Pending(_) => tokio::time::sleep(POLL_INTERVAL).await,
        }
    }
}
