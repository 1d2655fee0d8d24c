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
use super::fanout::{Delivery, LiveReceiver};
use super::gap::{encoded_id, gap_event, GapReason};
use super::header::Header;
use super::hub::{HubInner, TopicKey};
use super::resume::{step, Plan, Step};
use super::topic::Topic;
use crate::engine::Offset;
use crate::event::EncodedEvent;

type Waiting = ReusableBoxFuture<'static, (Result<Delivery, RecvError>, LiveReceiver)>;
type Reading = ReusableBoxFuture<'static, Option<Step>>;

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
/// The replay is read from the engine a page at a time (the first page at
/// subscribe time when the engine answers at once, as the in-memory one
/// does; otherwise on the first poll) while the live receiver, taken first,
/// holds what is published meanwhile. The stream ends when the hub or topic is closed (after the
/// events already buffered), when it falls behind under
/// [`SlowConsumer::Disconnect`], or when the engine fails to replay (the
/// browser reconnects and tries again). Dropping it unsubscribes at once.
///
/// ```
/// use futures_util::StreamExt;
/// use tower_sse::Hub;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
/// let hub = Hub::new();
/// let mut sub = hub.subscribe("room")?;
/// let id = hub.publish("room", "hi").await?;
/// let event = sub.next().await.unwrap();
/// assert_eq!(event.as_bytes(), format!("id: {id}\ndata: hi\n\n").as_bytes());
/// drop(sub);
/// assert_eq!(hub.subscribers("room"), 0);
/// # Ok(()) }
/// ```
#[must_use = "a subscription delivers nothing unless it is polled (put it in an `EventStream`)"]
pub struct Subscription {
    key: TopicKey,
    /// While it replays (or holds the event after a gap): boxed, so that a
    /// live subscription does not carry it.
    replay: Option<Box<Replay>>,
    /// Live events at or before this offset were replayed (or covered by a gap).
    through: Option<Offset>,
    /// The live receiver while it is not inside `waiting`.
    live: Option<LiveReceiver>,
    /// Reused allocation for waiting on the live receiver.
    waiting: Option<Waiting>,
    buffer: usize,
    policy: SlowConsumer,
    lagged: bool,
    done: bool,
    /// `None` for a subscription that ended at once (closed hub).
    guard: Option<Guard>,
}

/// What a subscription keeps only while it replays.
#[derive(Default)]
struct Replay {
    /// Replayed events (or the event after a gap) not yet taken.
    events: VecDeque<EncodedEvent>,
    /// The replay page being read, while `reading`; the allocation is reused
    /// for the next page.
    page: Option<Reading>,
    reading: bool,
    /// The next replay page to read once `events` are sent.
    next: Option<Plan>,
}

/// What the replay has for the next poll.
enum Replayed {
    Event(EncodedEvent),
    /// A page is being read.
    Reading,
    /// Nothing: the subscription is live.
    Over,
}

/// Counts the subscriber while it lives; releases an idle topic on drop.
struct Guard {
    hub: Arc<HubInner>,
    topic: Arc<Topic>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        crate::metrics::facade::hub_unsubscribed(&self.topic.label);
        if self.topic.fanout.remove_subscriber() == 0 {
            self.hub.release_topic(&self.topic);
        }
    }
}

impl Subscription {
    /// A subscription that ends at once.
    pub(crate) fn ended(key: TopicKey, buffer: usize, policy: SlowConsumer) -> Self {
        Self {
            key,
            replay: None,
            through: None,
            live: None,
            waiting: None,
            buffer,
            policy,
            lagged: false,
            done: true,
            guard: None,
        }
    }

    /// Builds a subscription; the caller has already counted it with
    /// `add_subscriber` on the topic's fan-out and taken `live` from it.
    /// With `last_event_id`, the replay is read on the first poll.
    pub(crate) fn new(
        hub: Arc<HubInner>,
        topic: Arc<Topic>,
        live: Option<LiveReceiver>,
        last_event_id: Option<String>,
    ) -> Self {
        let config = &hub.config;
        let mut subscription = Self::ended(
            Arc::clone(&topic.key),
            config.buffer_len(),
            config.slow_consumer_policy(),
        );
        subscription.done = live.is_none();
        subscription.live = live;
        subscription.guard = Some(Guard { hub, topic });
        if let (Some(id), false) = (last_event_id, subscription.done) {
            // Read the first page now: an engine that answers at once (in
            // memory) cuts exactly at subscribe time; one that needs I/O
            // carries on at the first poll (a future may be polled with a
            // different waker each time).
            subscription.read_next(Plan::First(id));
            let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
            let _ = subscription.poll_page(&mut cx);
        }
        subscription
    }

    /// How many events this subscription holds that its reader has not taken
    /// yet: replayed ones plus live ones still in the shared ring. Bounded by
    /// a replay page plus the buffer size, however far behind it is.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
    /// let hub = tower_sse::HubConfig::new().buffer(4).build();
    /// let sub = hub.subscribe("t")?;
    /// for _ in 0..10 {
    ///     hub.publish("t", "x").await?;
    /// }
    /// assert_eq!(sub.backlog(), 4);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn backlog(&self) -> usize {
        let live = self
            .live
            .as_ref()
            .map_or(0, |live| live.len().min(self.buffer));
        self.replay.as_ref().map_or(0, |replay| replay.events.len()) + live
    }

    /// Starts reading the next replay page, reusing the last one's allocation.
    fn read_next(&mut self, plan: Plan) {
        let Some(guard) = self.guard.as_ref() else {
            return;
        };
        let engine = Arc::clone(&guard.hub.engine);
        let future = step(
            engine,
            Arc::clone(&self.key),
            guard.topic.label.clone(),
            plan,
        );
        let replay = self.replay.get_or_insert_with(Box::default);
        match replay.page.as_mut() {
            Some(page) => page.set(future),
            None => replay.page = Some(ReusableBoxFuture::new(future)),
        }
        replay.reading = true;
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
                Err(TryRecvError::Empty) => self.park(live),
            }
        }
        let Some(waiting) = self.waiting.as_mut() else {
            return Poll::Ready(Err(RecvError::Closed));
        };
        let (result, live) = ready!(waiting.poll(cx));
        self.live = Some(live);
        Poll::Ready(result)
    }

    /// Nothing is ready: parks the receiver in the (reused) future, which
    /// registers the task to be woken when it is next polled.
    fn park(&mut self, live: LiveReceiver) {
        match self.waiting.as_mut() {
            Some(waiting) => waiting.set(recv(live)),
            None => self.waiting = Some(ReusableBoxFuture::new(recv(live))),
        }
    }

    /// Polls the replay page being read; `Ready` once there is none.
    fn poll_page(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(replay) = self.replay.as_mut().filter(|replay| replay.reading) else {
            return Poll::Ready(());
        };
        let Some(page) = replay.page.as_mut() else {
            replay.reading = false;
            return Poll::Ready(());
        };
        let step = ready!(page.poll(cx));
        replay.reading = false;
        match step {
            Some(step) => {
                replay.events = step.events;
                replay.next = step.next;
                if replay.next.is_none() {
                    // The last page: its future is not needed again.
                    replay.page = None;
                }
                self.through = Some(step.through);
            }
            None => self.finish(),
        }
        Poll::Ready(())
    }
}

impl Stream for Subscription {
    type Item = EncodedEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<EncodedEvent>> {
        self.get_mut()
            .poll_next_with_header(cx)
            .map(|next| next.map(|(event, _)| event))
    }
}

impl Subscription {
    /// The next event, with its [`Header`] when the hub read it already (a
    /// live one).
    #[inline]
    pub(crate) fn poll_next_with_header(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(EncodedEvent, Option<Header>)>> {
        let this = self;
        loop {
            ready!(this.poll_page(cx));
            if this.replay.is_some() {
                match this.next_replayed() {
                    Replayed::Event(event) => return Poll::Ready(Some((event, None))),
                    Replayed::Reading => continue,
                    Replayed::Over => {}
                }
            }
            if this.done {
                return Poll::Ready(None);
            }
            match ready!(this.poll_live(cx)) {
                Ok(delivery) if this.through.is_some_and(|t| delivery.offset <= t) => {}
                Ok(delivery) if this.lagged => {
                    this.lagged = false;
                    // The gap takes the id of the first event after the skipped
                    // ones, which follows it: state reloaded now includes it.
                    if let Some(id) = encoded_id(&delivery.event) {
                        let replay = this.replay.get_or_insert_with(Box::default);
                        replay.events.push_back(delivery.event);
                        if let Some(guard) = this.guard.as_ref() {
                            crate::metrics::facade::hub_gap(
                                &guard.topic.label,
                                GapReason::Lagged.as_str(),
                            );
                        }
                        return Poll::Ready(Some((gap_event(GapReason::Lagged, &id), None)));
                    }
                    return Poll::Ready(Some((delivery.event, Some(delivery.header))));
                }
                Ok(delivery) => return Poll::Ready(Some((delivery.event, Some(delivery.header)))),
                Err(RecvError::Lagged(_)) => this.fell_behind(),
                Err(RecvError::Closed) => this.finish(),
            }
        }
    }

    /// The next live event when it is ready now and nothing comes before it
    /// (no replay, no gap to announce, not ended): what
    /// [`Self::poll_next_with_header`] would answer, without a poll, a
    /// waker or a move through its layers. `None` otherwise (then that
    /// method answers, and registers the waker), having recorded a lag or
    /// an end it met.
    #[inline]
    pub(crate) fn try_live(&mut self) -> Option<Delivery> {
        if self.replay.is_some() || self.done || self.lagged {
            return None;
        }
        loop {
            match self.live.as_mut()?.try_recv() {
                Ok(delivery) if self.through.is_some_and(|t| delivery.offset <= t) => {}
                Ok(delivery) => return Some(delivery),
                Err(TryRecvError::Empty) => {
                    // The next poll registers the waker without a second
                    // look at the ring first.
                    if let Some(live) = self.live.take() {
                        self.park(live);
                    }
                    return None;
                }
                Err(TryRecvError::Lagged(_)) => {
                    self.fell_behind();
                    return None;
                }
                Err(TryRecvError::Closed) => {
                    self.finish();
                    return None;
                }
            }
        }
    }

    /// The live receiver lagged: ends the subscription or announces a gap,
    /// as the policy says.
    fn fell_behind(&mut self) {
        match self.policy {
            SlowConsumer::Disconnect => {
                crate::end_hint::note(crate::end_hint::EndHint::SlowConsumer);
                self.finish();
            }
            SlowConsumer::SkipWithGap => self.lagged = true,
        }
    }
}

impl Subscription {
    /// The next replayed event, or the next page to read; once there is
    /// neither, the replay is let go (a live subscription keeps nothing of
    /// it).
    #[cold]
    #[inline(never)]
    fn next_replayed(&mut self) -> Replayed {
        let Some(replay) = self.replay.as_mut() else {
            return Replayed::Over;
        };
        if let Some(event) = replay.events.pop_front() {
            return Replayed::Event(event);
        }
        if let Some(plan) = replay.next.take() {
            self.read_next(plan);
            return Replayed::Reading;
        }
        self.replay = None;
        Replayed::Over
    }

    fn finish(&mut self) {
        self.done = true;
        self.replay = None;
        // Release the receiver (and its place in the ring) right away.
        self.live = None;
        self.waiting = None;
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &&*self.key)
            .field(
                "replay",
                &self.replay.as_ref().map_or(0, |replay| replay.events.len()),
            )
            .field("policy", &self.policy)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;
    use crate::{Event, EventId, Hub, HubConfig};

    fn wire(event: &EncodedEvent) -> &str {
        std::str::from_utf8(event.as_bytes()).unwrap()
    }

    fn data(id: &EventId, data: &str) -> String {
        format!("id: {id}\ndata: {data}\n\n")
    }

    #[tokio::test]
    async fn live_events_already_replayed_are_skipped_at_the_seam() {
        let hub = Hub::new();
        let mut ids = Vec::new();
        for word in ["a", "b", "c"] {
            ids.push(hub.publish("t", word).await.unwrap());
        }
        let mut sub = hub.subscribe_from("t", Some(ids[0].as_str())).unwrap();
        // An engine whose cut is not atomic delivers an already replayed event live.
        let topic = hub.topic("t").unwrap();
        let c = Event::new().id(ids[2].clone()).data("c").encode();
        topic.fanout.deliver(Offset::from(3), c);
        let d = hub.publish("t", "d").await.unwrap();
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(wire(&sub.next().await.unwrap()).to_owned());
        }
        assert_eq!(
            seen,
            [data(&ids[1], "b"), data(&ids[2], "c"), data(&d, "d")]
        );
        // The live copies of c and d are skipped: e comes next.
        let e = hub.publish("t", "e").await.unwrap();
        assert_eq!(wire(&sub.next().await.unwrap()), data(&e, "e"));
    }

    #[tokio::test]
    async fn a_long_replay_is_read_in_pages_without_loss_or_duplicates() {
        let hub = HubConfig::new().history(2000).buffer(4).build();
        let first = hub.publish("t", "0").await.unwrap();
        for n in 1..1000 {
            hub.publish("t", n.to_string()).await.unwrap();
        }
        let mut sub = hub.subscribe_from("t", Some(first.as_str())).unwrap();
        for n in 1..1000 {
            let event = sub.next().await.unwrap();
            assert!(
                wire(&event).ends_with(&format!("data: {n}\n\n")),
                "{}",
                wire(&event)
            );
        }
        let live = hub.publish("t", "live").await.unwrap();
        assert_eq!(wire(&sub.next().await.unwrap()), data(&live, "live"));
    }

    /// Once live, a resumed subscription keeps nothing of its replay: an
    /// idle one costs what a fresh one does.
    #[tokio::test]
    async fn a_finished_replay_lets_go_of_its_page_and_buffer() {
        let hub = Hub::new();
        let first = hub.publish("t", "0").await.unwrap();
        for n in 1..40 {
            hub.publish("t", n.to_string()).await.unwrap();
        }
        let mut sub = hub.subscribe_from("t", Some(first.as_str())).unwrap();
        for _ in 1..40 {
            sub.next().await.unwrap();
        }
        assert!(futures_util::poll!(sub.next()).is_pending());
        assert!(sub.replay.is_none());
        hub.publish("t", "live").await.unwrap();
        let event = sub.next().await.unwrap();
        assert!(wire(&event).ends_with("data: live\n\n"), "{}", wire(&event));
    }

    #[tokio::test]
    async fn a_lagging_subscriber_gets_a_gap_then_the_buffered_events() {
        let hub = HubConfig::new()
            .buffer(4)
            .slow_consumer(SlowConsumer::SkipWithGap)
            .build();
        let mut sub = hub.subscribe("t").unwrap();
        let mut ids = Vec::new();
        for n in 0..10 {
            ids.push(hub.publish("t", format!("{n}")).await.unwrap());
        }
        assert_eq!(sub.backlog(), 4);
        let gap = sub.next().await.unwrap();
        assert_eq!(
            wire(&gap),
            format!("event: sse-gap\nid: {}\ndata: lagged\n\n", ids[6])
        );
        for id in &ids[6..] {
            let event = sub.next().await.unwrap();
            assert!(
                wire(&event).starts_with(&format!("id: {id}\n")),
                "{}",
                wire(&event)
            );
        }
        let next = hub.publish("t", "next").await.unwrap();
        assert_eq!(wire(&sub.next().await.unwrap()), data(&next, "next"));
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_disconnected_by_default() {
        let hub = HubConfig::new().buffer(2).build();
        let mut sub = hub.subscribe("t").unwrap();
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
        let mut sub = hub.subscribe("t").unwrap();
        let publisher = {
            let hub = hub.clone();
            tokio::spawn(async move {
                tokio::task::yield_now().await;
                hub.publish("t", "late").await.unwrap()
            })
        };
        let event = sub.next().await.unwrap();
        let id = publisher.await.unwrap();
        assert_eq!(wire(&event), data(&id, "late"));
    }

    #[tokio::test]
    async fn the_ring_exists_only_while_the_topic_has_local_subscribers() {
        let hub = Hub::new();
        hub.publish("t", "nobody listens").await.unwrap();
        assert!(hub.topic("t").is_none(), "publishing allocates no ring");
        let sub = hub.subscribe("t").unwrap();
        assert!(hub.topic("t").is_some());
        drop(sub);
        assert!(
            hub.topic("t").is_none(),
            "the last subscriber frees the ring"
        );
    }

    #[test]
    fn subscription_is_send_sync_unpin() {
        fn assert<T: Send + Sync + Unpin + 'static>() {}
        assert::<Subscription>();
    }
}
