//! [`KeepAlive`]: when a stream sends its keep-alive comment, and when its
//! maximum lifetime is up.
//!
//! One `Sleep` per stream serves both: it is armed for whichever comes first.
//! Frames do not touch it (they only record their time; the timer catches up
//! when it fires), so a busy stream costs no timer-wheel work per frame, and a
//! keep-alive is only due after a whole quiet interval ("reset on activity").
//! The caller says whether the body is at a line boundary; when it is not, the
//! keep-alive is skipped for one more interval rather than written mid-line.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};

/// The longest interval or lifetime a timer is armed for (about 100 years):
/// configuration saturates here, so no `Instant + Duration` can overflow.
pub(crate) const MAX_TIMER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// What fell due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// A keep-alive is to be written now.
    KeepAlive,
    /// The stream's lifetime is over.
    Deadline,
}

/// `now + d`, or `None` when that is not representable (never, in practice:
/// configuration saturates at [`MAX_TIMER`]).
fn after(now: Instant, d: Duration) -> Option<Instant> {
    now.checked_add(d)
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pin_project! {
    /// The keep-alive and lifetime timer of one stream.
    #[derive(Debug)]
    pub(crate) struct KeepAlive {
        #[pin]
        sleep: Option<Sleep>,
        interval: Option<Duration>,
        deadline: Option<Instant>,
        last_frame: Instant,
    }
}

impl KeepAlive {
    /// A timer for keep-alives every `interval` of silence and an end at
    /// `lifetime` from now (either may be off).
    pub(crate) fn new(interval: Option<Duration>, lifetime: Option<Duration>) -> Self {
        let now = Instant::now();
        let deadline = lifetime.and_then(|l| after(now, l));
        let first = earliest(interval.and_then(|k| after(now, k)), deadline);
        Self {
            sleep: first.map(tokio::time::sleep_until),
            interval,
            deadline,
            last_frame: now,
        }
    }

    /// Records that a frame went out now.
    pub(crate) fn frame_sent(self: Pin<&mut Self>) {
        *self.project().last_frame = Instant::now();
    }

    /// Stops the timer for good.
    pub(crate) fn stop(self: Pin<&mut Self>) {
        self.project().sleep.set(None);
    }

    /// Polls for the next keep-alive or the deadline. `at_line` tells whether
    /// a keep-alive line may be written now.
    pub(crate) fn poll_due(self: Pin<&mut Self>, cx: &mut Context<'_>, at_line: bool) -> Poll<Due> {
        let mut this = self.project();
        while let Some(mut sleep) = this.sleep.as_mut().as_pin_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            if this.deadline.is_some_and(|d| d <= now) {
                this.sleep.set(None);
                return Poll::Ready(Due::Deadline);
            }
            let Some(interval) = *this.interval else {
                // Only the deadline is armed, and it is not due yet.
                match *this.deadline {
                    Some(deadline) => sleep.reset(deadline),
                    None => this.sleep.set(None),
                }
                continue;
            };
            let due = after(*this.last_frame, interval);
            if due.is_some_and(|due| now < due) {
                // A frame went out since the timer was armed: catch up.
                sleep.reset(earliest(due, *this.deadline).unwrap_or(now));
                continue;
            }
            // Idle for a whole interval. Writing mid-line would corrupt the
            // body's line, so then wait another interval.
            *this.last_frame = now;
            match earliest(after(now, interval), *this.deadline) {
                Some(next) => sleep.reset(next),
                None => this.sleep.set(None),
            }
            if at_line {
                return Poll::Ready(Due::KeepAlive);
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {

    use tokio::time::advance;

    use super::*;

    fn poll(timer: &mut Pin<Box<KeepAlive>>, at_line: bool) -> Poll<Due> {
        timer.as_mut().poll_due(
            &mut Context::from_waker(futures_util::task::noop_waker_ref()),
            at_line,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_keep_alive_is_due_after_a_quiet_interval_and_a_frame_resets_it() {
        let mut timer = Box::pin(KeepAlive::new(Some(Duration::from_secs(10)), None));
        advance(Duration::from_secs(9)).await;
        assert_eq!(poll(&mut timer, true), Poll::Pending);
        timer.as_mut().frame_sent();
        advance(Duration::from_secs(2)).await;
        assert_eq!(poll(&mut timer, true), Poll::Pending, "reset on activity");
        advance(Duration::from_secs(8)).await;
        assert_eq!(poll(&mut timer, true), Poll::Ready(Due::KeepAlive));
        assert_eq!(poll(&mut timer, true), Poll::Pending);
    }

    #[tokio::test(start_paused = true)]
    async fn mid_line_the_keep_alive_waits_another_interval() {
        let mut timer = Box::pin(KeepAlive::new(Some(Duration::from_secs(10)), None));
        advance(Duration::from_secs(10)).await;
        assert_eq!(poll(&mut timer, false), Poll::Pending);
        advance(Duration::from_secs(10)).await;
        assert_eq!(poll(&mut timer, true), Poll::Ready(Due::KeepAlive));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_wins_over_keep_alives() {
        let mut timer = Box::pin(KeepAlive::new(
            Some(Duration::from_secs(10)),
            Some(Duration::from_secs(25)),
        ));
        advance(Duration::from_secs(10)).await;
        assert_eq!(poll(&mut timer, true), Poll::Ready(Due::KeepAlive));
        advance(Duration::from_secs(10)).await;
        assert_eq!(poll(&mut timer, true), Poll::Ready(Due::KeepAlive));
        advance(Duration::from_secs(5)).await;
        assert_eq!(poll(&mut timer, true), Poll::Ready(Due::Deadline));
    }

    #[tokio::test(start_paused = true)]
    async fn the_longest_timers_neither_overflow_nor_fire() {
        let mut timer = Box::pin(KeepAlive::new(Some(MAX_TIMER), Some(MAX_TIMER)));
        assert!(timer.deadline.is_some());
        advance(Duration::from_secs(365 * 24 * 3600)).await;
        assert_eq!(poll(&mut timer, true), Poll::Pending);
        let mut off = Box::pin(KeepAlive::new(None, None));
        assert_eq!(poll(&mut off, true), Poll::Pending);
    }
}
