//! The control topic of a stream (`<prefix><token>:ctl`): cancel requests
//! from any node, heartbeats of readers on other nodes, and the watchdog that
//! turns them into the producer's cancellation.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::Duration;

use futures_core::Stream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::terminal::has_type;
use crate::channel::{Hub, Subscription};
use crate::event::Event;
use crate::field::EventType;

/// A request to cancel the producer.
const CANCEL: EventType = EventType::from_static("cancel");
/// A reader on another node is attached.
const ATTACHED: EventType = EventType::from_static("attached");

pub(crate) fn cancel_event() -> Event {
    Event::new().event(CANCEL).data("")
}

fn attached_event() -> Event {
    Event::new().event(ATTACHED).data("")
}

/// Aborts a spawned task when dropped.
#[derive(Debug)]
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs next to a producer until it finishes (`done`): cancels it on a cancel
/// request, or, with `unread`, when no reader was attached for that long
/// (readers on this node count through the hub's subscriber count of the
/// events topic, readers elsewhere through their heartbeats).
pub(crate) async fn watchdog(
    hub: Hub,
    events_topic: String,
    mut control: Subscription,
    cancel: CancellationToken,
    done: CancellationToken,
    unread: Option<Duration>,
) {
    enum Step {
        Stop,
        Cancel,
        Seen,
        Deadline,
    }
    let limit = unread.unwrap_or(Duration::ZERO);
    let deadline = |from: Instant| from.checked_add(limit).unwrap_or(from);
    let mut finished = pin!(done.cancelled());
    let mut sleep = pin!(tokio::time::sleep_until(deadline(Instant::now())));
    loop {
        let step = poll_fn(|cx| {
            if finished.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Step::Stop);
            }
            match Pin::new(&mut control).poll_next(cx) {
                Poll::Ready(None) => return Poll::Ready(Step::Stop),
                Poll::Ready(Some(event)) if has_type(&event, CANCEL.as_str()) => {
                    return Poll::Ready(Step::Cancel);
                }
                Poll::Ready(Some(_)) => return Poll::Ready(Step::Seen),
                Poll::Pending => {}
            }
            if unread.is_some() && sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Step::Deadline);
            }
            Poll::Pending
        })
        .await;
        match step {
            Step::Stop => return,
            Step::Cancel => {
                cancel.cancel();
                return;
            }
            Step::Seen => sleep.as_mut().reset(deadline(Instant::now())),
            Step::Deadline if hub.subscribers(&events_topic) > 0 => {
                sleep.as_mut().reset(deadline(Instant::now()));
            }
            Step::Deadline => {
                tracing::debug!("no reader attached: cancelling the producer");
                cancel.cancel();
                return;
            }
        }
    }
}

/// Tells a producer on another node that a reader is attached, every third
/// of the unread limit, while the returned guard lives.
pub(crate) fn heartbeat(hub: Hub, control_topic: String, every: Duration) -> Option<AbortOnDrop> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let task = runtime.spawn(async move {
        loop {
            if let Err(error) = hub.publish(&control_topic, attached_event()).await {
                tracing::debug!(%error, "reader heartbeat failed");
            }
            tokio::time::sleep(every).await;
        }
    });
    Some(AbortOnDrop(task))
}
