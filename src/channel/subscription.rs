//! [`Subscription`]: one subscriber's stream of encoded events.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_util::sync::ReusableBoxFuture;

use super::config::SlowConsumer;
use super::fanout::{Delivery, LiveReceiver, Seq};
use super::gap::{encoded_id, gap_event, GapReason};
use super::history::Replay;
use super::hub::{HubInner, TopicKey};
use super::topic::Topic;
use crate::event::EncodedEvent;

type Waiting = ReusableBoxFuture<'static, (Result<Delivery, RecvError>, LiveReceiver)>;

async fn recv(mut live: LiveReceiver) -> (Result<Delivery, RecvError>, LiveReceiver) {
    let result = live.recv().await;
    (result, live)
}

/// A stream of the events of one topic, from [`Hub::subscribe`](crate::Hub::subscribe)
/// or [`Hub::subscribe_from`](crate::Hub::subscribe_from).
///
/// It yields [`EncodedEvent`]s: replayed events (or a
/// [gap event](crate::GAP_EVENT_TYPE)) first, then live ones, each exactly once
/// and in publish order. Put it straight into an
/// [`EventStream`](crate::EventStream); every event is shared with the other
/// subscribers, not copied.
///
/// The stream ends when the hub or topic is closed (after the events already
/// buffered), or when it falls behind under [`SlowConsumer::Disconnect`].
/// Dropping it unsubscribes at once.
///
/// ```
/// use futures_util::StreamExt;
/// use tower_sse::Hub;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
/// let hub = Hub::new();
/// let mut sub = hub.subscribe("room");
/// hub.publish("room", "hi").await?;
/// let event = sub.next().await.unwrap();
/// assert_eq!(event.as_bytes(), &b"id: 1\ndata: hi\n\n"[..]);
/// drop(sub);
/// assert_eq!(hub.subscribers("room"), 0);
/// # Ok(()) }
/// ```
pub struct Subscription {
    replay: VecDeque<EncodedEvent>,
    /// Live events at or before this position were replayed (or covered by a gap).
    through: Option<Seq>,
    /// The live receiver while it is not inside `waiting`.
    live: Option<LiveReceiver>,
    /// Reused allocation for waiting on the live receiver.
    waiting: Option<Waiting>,
    policy: SlowConsumer,
    lagged: bool,
    done: bool,
    /// With Redis: the replay, read on the first poll; `None` ends the stream.
    #[cfg(feature = "redis")]
    resume: Option<ReusableBoxFuture<'static, Option<Replay>>>,
    guard: Guard,
}

/// Counts the subscriber while it lives; reclaims an idle topic on drop.
struct Guard {
    hub: Arc<HubInner>,
    key: TopicKey,
    topic: Arc<Topic>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.topic.fanout.remove_subscriber() == 0 {
            self.hub.reclaim_topic(&self.key, &self.topic);
        }
    }
}

impl Subscription {
    /// Builds a subscription; the caller has already counted it with
    /// `add_subscriber` on the topic's fan-out.
    pub(crate) fn new(
        hub: Arc<HubInner>,
        key: TopicKey,
        topic: Arc<Topic>,
        live: Option<LiveReceiver>,
        replay: Replay,
        policy: SlowConsumer,
    ) -> Self {
        Self {
            replay: replay.events,
            through: replay.through,
            done: live.is_none(),
            live,
            waiting: None,
            policy,
            lagged: false,
            #[cfg(feature = "redis")]
            resume: None,
            guard: Guard { hub, key, topic },
        }
    }

    /// Makes the subscription start with the replay `resume` produces (the
    /// live receiver is already taken), or end if it produces none.
    #[cfg(feature = "redis")]
    pub(crate) fn resume_with<F>(&mut self, resume: F)
    where
        F: std::future::Future<Output = Option<Replay>> + Send + 'static,
    {
        if !self.done {
            self.resume = Some(ReusableBoxFuture::new(resume));
        }
    }

    /// How many events this subscription holds that its reader has not taken
    /// yet: replayed ones plus live ones still in the shared ring. Bounded by
    /// the history size plus the buffer size, however far behind it is.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
    /// let hub = tower_sse::HubConfig::new().buffer(4).build();
    /// let sub = hub.subscribe("t");
    /// for _ in 0..10 {
    ///     hub.publish("t", "x").await?;
    /// }
    /// assert_eq!(sub.backlog(), 4);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn backlog(&self) -> usize {
        let live = self.live.as_ref().map_or(0, |live| {
            let capacity = self.guard.hub.config.buffer_len();
            live.len().min(capacity)
        });
        self.replay.len() + live
    }

    /// Receives the next live delivery, without allocating when one is ready.
    fn poll_live(&mut self, cx: &mut Context<'_>) -> Poll<Result<Delivery, RecvError>> {
        if let Some(mut live) = self.live.take() {
            match live.try_recv() {
                Ok(delivery) => {
                    self.live = Some(live);
                    return Poll::Ready(Ok(delivery));
                }
                Err(TryRecvError::Lagged(n)) => {
                    self.live = Some(live);
                    return Poll::Ready(Err(RecvError::Lagged(n)));
                }
                Err(TryRecvError::Closed) => return Poll::Ready(Err(RecvError::Closed)),
                // Nothing ready: park the receiver in the (reused) future,
                // which registers this task to be woken.
                Err(TryRecvError::Empty) => match self.waiting.as_mut() {
                    Some(waiting) => waiting.set(recv(live)),
                    None => self.waiting = Some(ReusableBoxFuture::new(recv(live))),
                },
            }
        }
        let Some(waiting) = self.waiting.as_mut() else {
            return Poll::Ready(Err(RecvError::Closed));
        };
        let (result, live) = ready!(waiting.poll(cx));
        self.live = Some(live);
        Poll::Ready(result)
    }
}

impl Stream for Subscription {
    type Item = EncodedEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<EncodedEvent>> {
        let this = self.get_mut();
        #[cfg(feature = "redis")]
        if let Some(resume) = this.resume.as_mut() {
            let replay = ready!(resume.poll(cx));
            this.resume = None;
            match replay {
                Some(replay) => {
                    this.replay = replay.events;
                    this.through = replay.through;
                }
                None => this.finish(),
            }
        }
        loop {
            if let Some(event) = this.replay.pop_front() {
                return Poll::Ready(Some(event));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match ready!(this.poll_live(cx)) {
                Ok(delivery) if this.through.is_some_and(|t| delivery.seq <= t) => {}
                Ok(delivery) if this.lagged => {
                    this.lagged = false;
                    // The gap takes the id of the first event after the skipped
                    // ones, which follows it: state reloaded now includes it.
                    if let Some(id) = encoded_id(&delivery.event) {
                        this.replay.push_back(delivery.event);
                        return Poll::Ready(Some(gap_event(GapReason::Lagged, &id)));
                    }
                    return Poll::Ready(Some(delivery.event));
                }
                Ok(delivery) => return Poll::Ready(Some(delivery.event)),
                Err(RecvError::Lagged(_)) => match this.policy {
                    SlowConsumer::Disconnect => this.finish(),
                    SlowConsumer::SkipWithGap => this.lagged = true,
                },
                Err(RecvError::Closed) => this.finish(),
            }
        }
    }
}

impl Subscription {
    fn finish(&mut self) {
        self.done = true;
        self.replay.clear();
        // Release the receiver (and its place in the ring) right away.
        self.live = None;
        self.waiting = None;
        #[cfg(feature = "redis")]
        {
            self.resume = None;
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &&*self.guard.key)
            .field("replay", &self.replay.len())
            .field("policy", &self.policy)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;
    use crate::{Event, Hub, HubConfig};

    fn wire(event: &EncodedEvent) -> &str {
        std::str::from_utf8(event.as_bytes()).unwrap()
    }

    #[tokio::test]
    async fn live_events_already_replayed_are_skipped_at_the_seam() {
        let hub = Hub::new();
        for word in ["a", "b", "c"] {
            hub.publish("t", word).await.unwrap();
        }
        let mut sub = hub.subscribe_from("t", Some("1"));
        // A backend whose cut is not atomic delivers an already replayed event live.
        let topic = hub.topic("t").unwrap();
        topic
            .fanout
            .deliver(3, Event::new().id(3_u64).data("c").encode());
        hub.publish("t", "d").await.unwrap();
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(wire(&sub.next().await.unwrap()).to_owned());
        }
        assert_eq!(
            seen,
            [
                "id: 2\ndata: b\n\n",
                "id: 3\ndata: c\n\n",
                "id: 4\ndata: d\n\n"
            ]
        );
        assert_eq!(sub.backlog(), 0);
    }

    #[tokio::test]
    async fn a_lagging_subscriber_gets_a_gap_then_the_buffered_events() {
        let hub = HubConfig::new()
            .buffer(4)
            .slow_consumer(SlowConsumer::SkipWithGap)
            .build();
        let mut sub = hub.subscribe("t");
        for n in 0..10 {
            hub.publish("t", format!("{n}")).await.unwrap();
        }
        assert_eq!(sub.backlog(), 4);
        let gap = sub.next().await.unwrap();
        assert_eq!(wire(&gap), "event: sse-gap\nid: 7\ndata: lagged\n\n");
        for id in 7..=10 {
            let event = sub.next().await.unwrap();
            assert!(
                wire(&event).starts_with(&format!("id: {id}\n")),
                "{}",
                wire(&event)
            );
        }
        hub.publish("t", "next").await.unwrap();
        assert_eq!(wire(&sub.next().await.unwrap()), "id: 11\ndata: next\n\n");
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_disconnected_by_default() {
        let hub = HubConfig::new().buffer(2).build();
        let mut sub = hub.subscribe("t");
        for _ in 0..3 {
            hub.publish("t", "x").await.unwrap();
        }
        assert!(sub.next().await.is_none());
        assert!(sub.next().await.is_none());
        assert_eq!(sub.backlog(), 0);
    }

    #[tokio::test]
    async fn a_waiting_subscription_is_woken_by_a_publish() {
        let hub = Hub::new();
        let mut sub = hub.subscribe("t");
        let publisher = {
            let hub = hub.clone();
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                hub.publish("t", "late").await.unwrap();
            })
        };
        assert_eq!(wire(&sub.next().await.unwrap()), "id: 1\ndata: late\n\n");
        publisher.await.unwrap();
    }

    #[test]
    fn subscription_is_send_sync_unpin() {
        fn assert<T: Send + Sync + Unpin + 'static>() {}
        assert::<Subscription>();
    }
}
