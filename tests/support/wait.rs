//! Bounded polling: wait for a condition observed from outside (a browser page,
//! a child process), never a fixed sleep standing in for synchronisation.

use std::future::Future;
use std::time::{Duration, Instant};

use super::TestResult;

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
