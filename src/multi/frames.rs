//! [`MultiFrames`]: a multi-topic subscription written in runs, straight into
//! the frames an [`EventStream`] sends.

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;

use super::pool::RunPool;
use super::MultiSubscription;
use crate::error::Error;
use crate::into_event::{sealed, EventItem};
use crate::EventStream;

/// The buffer a run is written into is taken this much at a time.
const BUFFER: usize = 8 * 1024;
/// Room a run leaves at the end of its buffer for its last event, so that
/// the usual event (a few hundred bytes) never makes the buffer grow.
const LAST_EVENT_ROOM: usize = 512;
/// The least a run may hold (a buffer with less room left is taken anew).
const MIN_RUN: usize = BUFFER / 2 - LAST_EVENT_ROOM;
/// The buffer of a stream whose runs are small (an event at a time, as most
/// live streams are): what an idle stream keeps.
const SMALL_BUFFER: usize = 1024;
/// How many small runs in a row make a stream with the full buffer take the
/// small one: a stream whose runs alternate does not allocate every time.
const SMALL_RUNS: u8 = 4;

/// A [`MultiSubscription`] as runs of events in their wire form: what
/// [`EventStream::from`] puts into the body.
///
/// It yields every event that is ready, up to about 8 KiB (what its buffer
/// holds; 32 KiB once a run filled half of that, as a busy stream's do), as
/// one [`MultiRun`], written once into a buffer of its own and sent as one
/// frame without another copy. The bytes are the same as those of the
/// subscription's [`MultiEvent`](super::MultiEvent)s, one after the other.
///
/// The 32 KiB buffers come from a pool of the [`Multiplexer`](super::Multiplexer)
/// (at most 64 kept unused, 2 MiB) and go back to it once their run is sent:
/// freed after every write instead, such buffers make glibc trim the top of
/// the heap again and again while many streams are busy, and the next ones
/// fault their pages in anew. The memory a slow client can make the server
/// hold stays what hyper's write queue holds (about 400 KB), as for
/// single-topic frames of 32 KiB.
///
/// ```
/// use futures_util::StreamExt;
/// use tower_sse::{multi::{MultiFrames, MultiRequest, Multiplexer}, EventStream, Hub};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let hub = Hub::new();
/// let multi = Multiplexer::new(hub.clone());
/// let mut frames = MultiFrames::from(multi.subscribe(MultiRequest::new(["a", "b"])).await?);
/// let priming = frames.next().await.unwrap();
/// assert_eq!(priming.events(), 1);
/// hub.publish("a", "one").await?;
/// hub.publish("b", "two").await?;
/// let run = frames.next().await.unwrap();
/// assert_eq!(run.events(), 2);
/// let wire = std::str::from_utf8(run.as_bytes())?;
/// assert!(wire.contains("data: one\nevent: a\nid: "), "{wire}");
/// // In a response:
/// let _body: EventStream<MultiFrames> = multi.subscribe(MultiRequest::new(["a"])).await?.into();
/// # Ok(()) }
/// ```
// `repr(C)`: its own fields, then the subscription's, whose first ones are
// what a run reads (see `MultiSubscription`): together, a few cache lines.
#[repr(C)]
pub struct MultiFrames {
    buf: BytesMut,
    /// Small runs in a row (up to [`SMALL_RUNS`]): at [`SMALL_RUNS`], the
    /// buffer is taken [`SMALL_BUFFER`] at a time, [`BUFFER`] below.
    small_runs: u8,
    /// The last run filled half of [`BUFFER`] or more: the next one is
    /// written into a buffer of the pool.
    big: bool,
    /// That buffer, while a run has not taken it.
    pooled: BytesMut,
    inner: MultiSubscription,
}

impl MultiFrames {
    /// The subscription it writes.
    #[must_use]
    pub fn get_ref(&self) -> &MultiSubscription {
        &self.inner
    }
}

impl From<MultiSubscription> for MultiFrames {
    fn from(inner: MultiSubscription) -> Self {
        Self {
            inner,
            buf: BytesMut::new(),
            small_runs: SMALL_RUNS,
            big: false,
            pooled: BytesMut::new(),
        }
    }
}

impl From<MultiSubscription> for EventStream<MultiFrames> {
    /// The body of a multi-topic stream, written in runs (see
    /// [`MultiFrames`]); [`EventStream::new`] works too, one event at a time.
    fn from(subscription: MultiSubscription) -> Self {
        EventStream::new(MultiFrames::from(subscription))
    }
}

impl Stream for MultiFrames {
    type Item = MultiRun;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<MultiRun>> {
        let this = self.get_mut();
        // Polled again with nothing woken (as right after every run): no
        // buffer to look at.
        if this.inner.is_idle(cx) {
            return Poll::Pending;
        }
        if this.big {
            return this.poll_big(cx);
        }
        // Write where the last run was when it is gone (sent and dropped):
        // the same few cache lines every time, instead of a fresh part of
        // the buffer that is cold by now.
        let small = this.small_runs == SMALL_RUNS;
        let size = if small { SMALL_BUFFER } else { BUFFER };
        if !this.buf.try_reclaim(size) && this.buf.capacity() < size / 2 {
            // Empty (every run takes all it wrote): a fresh buffer of just
            // that size.
            this.buf = BytesMut::with_capacity(size);
        }
        // A run ends before it outgrows the buffer: growing it would copy
        // what the run wrote so far, and allocate anew for every run while
        // the one before is still being sent.
        let budget = this
            .buf
            .capacity()
            .saturating_sub(LAST_EVENT_ROOM)
            .max(if small { 1 } else { MIN_RUN });
        match ready!(this.inner.poll_run(cx, &mut this.buf, budget, true)) {
            Some(events) => {
                // A lone event another stream in the same state left whole
                // goes out as it is, shared.
                let wire = match this.inner.take_first() {
                    Some(whole) => whole,
                    None => this.buf.split().freeze(),
                };
                let run = this.run(wire, events);
                if this.small_runs == SMALL_RUNS && !small || this.big {
                    // Let go of the buffer: the run alone keeps it, until
                    // it is sent.
                    this.buf = BytesMut::new();
                }
                Poll::Ready(Some(run))
            }
            None => Poll::Ready(None),
        }
    }
}

impl MultiFrames {
    /// A run into a buffer of the pool, which it gives back once sent.
    fn poll_big(&mut self, cx: &mut Context<'_>) -> Poll<Option<MultiRun>> {
        if self.pooled.capacity() == 0 {
            self.pooled = self.inner.runs().take();
        }
        let budget = self.pooled.capacity().saturating_sub(LAST_EVENT_ROOM);
        let Poll::Ready(run) = self.inner.poll_run(cx, &mut self.pooled, budget, false) else {
            // Woken for nothing (an event for someone else): the buffer is
            // not kept while the stream waits. (A `Pending` run wrote
            // nothing; were it otherwise, the bytes stay for the next run.)
            if self.pooled.is_empty() {
                self.inner.runs().give(std::mem::take(&mut self.pooled));
            }
            return Poll::Pending;
        };
        match run {
            Some(events) => {
                let buf = std::mem::take(&mut self.pooled);
                let wire = RunPool::send(self.inner.runs(), buf);
                Poll::Ready(Some(self.run(wire, events)))
            }
            None => Poll::Ready(None),
        }
    }

    /// The run of `events` in `wire`; sizes the next run's buffer after it.
    fn run(&mut self, wire: Bytes, events: u64) -> MultiRun {
        let len = wire.len();
        // Runs of an event or two (a stream that is mostly idle) keep a
        // small buffer; a bigger run takes the whole size from the next one
        // on, and one that fills most of that a buffer of the pool.
        self.small_runs = if len <= SMALL_BUFFER / 2 {
            self.small_runs.saturating_add(1).min(SMALL_RUNS)
        } else {
            0
        };
        self.big = len >= BUFFER / 2;
        MultiRun {
            wire,
            events,
            dry: self.inner.ran_dry(),
        }
    }
}

impl fmt::Debug for MultiFrames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiFrames")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// Events of a multi-topic stream in their wire form, one after the other:
/// the items of [`MultiFrames`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiRun {
    wire: Bytes,
    events: u64,
    /// The stream had nothing more ready (see [`EventItem::ran_dry`]).
    dry: bool,
}

impl MultiRun {
    /// The wire bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &Bytes {
        &self.wire
    }

    /// How many events it holds.
    #[must_use]
    pub fn events(&self) -> u64 {
        self.events
    }
}

impl sealed::Sealed for MultiRun {}

impl EventItem for MultiRun {
    fn encode_item(self, _buf: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        Ok(Some(self.wire))
    }

    fn event_count(&self) -> u64 {
        self.events
    }

    fn ran_dry(&self) -> bool {
        self.dry
    }
}

#[cfg(test)]
mod tests {
    use futures_util::{FutureExt, StreamExt};

    use super::*;
    use crate::multi::pool::RUN;
    use crate::multi::{MultiRequest, Multiplexer};
    use crate::parse::parse_events;
    use crate::Hub;

    const TOPICS: [&str; 3] = ["a", "b", "c"];

    /// A hub, a multiplexer over it, and the frames of a subscription to
    /// `topics`.
    async fn subscribed(topics: &[&str]) -> (Hub, Multiplexer, MultiFrames) {
        let hub = Hub::new();
        let multi = Multiplexer::new(hub.clone());
        let subscription = multi
            .subscribe(MultiRequest::new(topics.iter().copied()))
            .await
            .unwrap();
        (hub, multi, MultiFrames::from(subscription))
    }

    /// A waker that counts its wakes.
    struct Count(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn a_run_that_ran_dry_is_sent_without_another_poll_and_the_next_event_wakes_the_body() {
        use http_body::Body;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;

        let (hub, _multi, mut frames) = subscribed(&TOPICS).await;
        frames.next().await.unwrap();
        let polls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&polls);
        let mut body = std::pin::pin!(EventStream::new(futures_util::stream::poll_fn(move |cx| {
            counted.fetch_add(1, Ordering::SeqCst);
            frames.poll_next_unpin(cx)
        })));
        let wakes = Arc::new(Count(AtomicUsize::new(0)));
        let waker = std::task::Waker::from(Arc::clone(&wakes));
        let mut cx = Context::from_waker(&waker);
        assert!(body.as_mut().poll_frame(&mut cx).is_pending());
        for (n, topic) in TOPICS.iter().cycle().take(6).enumerate() {
            hub.publish(topic, format!("m{n}")).await.unwrap();
            assert_eq!(wakes.0.load(Ordering::SeqCst), n + 1, "woken for m{n}");
            polls.store(0, Ordering::SeqCst);
            let Poll::Ready(Some(Ok(frame))) = body.as_mut().poll_frame(&mut cx) else {
                panic!("m{n} is ready");
            };
            let data = frame.into_data().unwrap();
            let events = parse_events(&data).unwrap();
            assert_eq!(events.len(), 1);
            assert_eq!(
                (events[0].event_type.as_str(), events[0].data.as_str()),
                (*topic, format!("m{n}").as_str())
            );
            assert_eq!(polls.load(Ordering::SeqCst), 1, "the run ran dry: one poll");
            assert!(body.as_mut().poll_frame(&mut cx).is_pending());
        }
        // Two topics at once: one run, then nothing until the next publish.
        hub.publish("a", "x").await.unwrap();
        hub.publish("b", "y").await.unwrap();
        let Poll::Ready(Some(Ok(frame))) = body.as_mut().poll_frame(&mut cx) else {
            panic!("x and y are ready");
        };
        let data = frame.into_data().unwrap();
        assert_eq!(parse_events(&data).unwrap().len(), 2);
        assert!(body.as_mut().poll_frame(&mut cx).is_pending());
        let before = wakes.0.load(Ordering::SeqCst);
        hub.publish("c", "z").await.unwrap();
        assert!(wakes.0.load(Ordering::SeqCst) > before, "woken for z");
        assert!(body.as_mut().poll_frame(&mut cx).is_ready());
    }

    #[tokio::test]
    async fn a_poll_with_nothing_woken_waits_and_the_next_publish_wakes_it() {
        let (hub, _multi, mut frames) = subscribed(&TOPICS).await;
        frames.next().await.unwrap();
        for topic in TOPICS {
            // Polled again and again with nothing new: still waiting.
            for _ in 0..3 {
                assert!(futures_util::poll!(frames.next()).is_pending());
            }
            hub.publish(topic, format!("to {topic}")).await.unwrap();
            let run = tokio::time::timeout(std::time::Duration::from_secs(5), frames.next())
                .await
                .expect("the publish woke the stream")
                .unwrap();
            let events = parse_events(run.as_bytes()).unwrap();
            assert_eq!(events.len(), 1);
            assert_eq!(events[0].event_type, topic);
            assert_eq!(events[0].data, format!("to {topic}"));
        }
    }

    #[tokio::test]
    async fn runs_hold_every_event_in_order_and_their_cursors_resume_exactly() {
        let (hub, multi, mut frames) = subscribed(&TOPICS).await;
        let priming = frames.next().await.unwrap();
        assert_eq!(priming.events(), 1);
        for n in 0..30 {
            hub.publish(TOPICS[n % 3], format!("m{n}")).await.unwrap();
        }
        let mut wire = priming.as_bytes().to_vec();
        let mut runs = 0;
        let events = loop {
            let run = frames.next().await.unwrap();
            runs += 1;
            wire.extend_from_slice(run.as_bytes());
            let events = parse_events(&wire).unwrap();
            if events.len() == 30 {
                break events;
            }
        };
        assert!(runs < 30, "events that were ready share a run: {runs} runs");
        // In order per topic (topics interleave in runs of one topic).
        let per_topic = |events: &[(String, String)]| -> Vec<Vec<String>> {
            TOPICS
                .iter()
                .map(|t| {
                    events
                        .iter()
                        .filter(|(e, _)| e == t)
                        .map(|(_, d)| d.clone())
                        .collect()
                })
                .collect()
        };
        let got: Vec<_> = events
            .iter()
            .map(|e| (e.event_type.clone(), e.data.clone()))
            .collect();
        let published: Vec<_> = (0..30)
            .map(|n| (TOPICS[n % 3].to_owned(), format!("m{n}")))
            .collect();
        assert_eq!(per_topic(&got), per_topic(&published));
        let ids: std::collections::HashSet<_> = events.iter().map(|e| &e.last_event_id).collect();
        assert_eq!(ids.len(), 30, "every event has its own cursor");

        // A reconnect with the id of the 10th event gets the 20 after it.
        let request = MultiRequest::new(TOPICS).last_event_id(Some(&events[9].last_event_id));
        let mut again = multi.subscribe(request).await.unwrap();
        let mut rest = Vec::new();
        while rest.len() < 20 {
            let event = again.next().await.unwrap();
            if let Some(topic) = event.topic() {
                let parsed = parse_events(&event.to_bytes()).unwrap();
                assert_eq!(parsed[0].last_event_id, event.cursor());
                rest.push((topic.to_owned(), parsed[0].data.clone()));
            }
        }
        assert_eq!(per_topic(&rest), per_topic(&got[10..]));
    }

    #[tokio::test]
    async fn a_run_ends_before_its_buffer_would_grow() {
        let (hub, _multi, mut frames) = subscribed(&["a"]).await;
        frames.next().await.unwrap();
        // About 100 KiB ready at once: several runs, none past its buffer
        // (a pooled one from the second on).
        let payload = "p".repeat(400);
        for n in 0..200 {
            hub.publish("a", format!("{n} {payload}")).await.unwrap();
        }
        let mut wire = Vec::new();
        let mut sizes = Vec::new();
        while parse_events(&wire).unwrap().len() < 200 {
            let run = frames.next().await.unwrap();
            wire.extend_from_slice(run.as_bytes());
            sizes.push(run.as_bytes().len());
            // Sent: its buffer goes back to the pool.
            drop(run);
            assert!(frames.inner.runs().spares() <= 1, "{sizes:?}");
        }
        assert!(sizes[0] <= BUFFER, "{sizes:?}");
        assert!(
            sizes.iter().all(|&len| len <= RUN),
            "a run outgrew its buffer: {sizes:?}"
        );
        assert!(
            sizes.len() < 8 && sizes.iter().filter(|&&len| len > BUFFER).count() >= 2,
            "runs still take what their buffer holds: {sizes:?}"
        );
        // Each big run's buffer came back, and the next took it again.
        assert_eq!(frames.inner.runs().spares(), 1);
        let data: Vec<_> = parse_events(&wire)
            .unwrap()
            .into_iter()
            .map(|e| e.data)
            .collect();
        let published: Vec<_> = (0..200).map(|n| format!("{n} {payload}")).collect();
        assert_eq!(data, published);
    }

    /// A burst takes the whole buffer; once the runs are an event at a time
    /// again, the stream lets it go and keeps a small one while idle.
    #[tokio::test]
    async fn a_stream_with_small_runs_keeps_a_small_buffer() {
        let (hub, _multi, mut frames) = subscribed(&["a"]).await;
        frames.next().await.unwrap();
        assert!(frames.buf.capacity() <= SMALL_BUFFER);
        let payload = "p".repeat(100);
        for n in 0..200 {
            hub.publish("a", format!("{n} {payload}")).await.unwrap();
        }
        let mut events = 0;
        let mut biggest = 0;
        while events < 200 {
            let run = frames.next().await.unwrap();
            events += run.events();
            biggest = biggest.max(run.as_bytes().len());
        }
        assert!(
            biggest >= MIN_RUN,
            "a burst fills big runs: {biggest} bytes"
        );
        for n in 0..6 {
            hub.publish("a", format!("alone {n}")).await.unwrap();
            let run = frames.next().await.unwrap();
            assert_eq!(run.events(), 1);
            assert!(futures_util::poll!(frames.next()).is_pending());
            // The first went out in the pool's buffer and took it along;
            // then a few small runs in a row: the full buffer stays for a
            // stream whose runs alternate.
            let kept = frames.buf.capacity() + frames.pooled.capacity();
            if n == 0 {
                assert_eq!(kept, 0, "the pool's buffer went out with the run");
                drop(run);
                assert_eq!(frames.inner.runs().spares(), 1, "and came back");
            } else if n + 1 < usize::from(SMALL_RUNS) {
                assert!(
                    kept > SMALL_BUFFER,
                    "{kept} bytes kept after {n} small runs"
                );
            } else {
                assert!(kept <= SMALL_BUFFER, "{kept} bytes kept");
            }
        }
    }

    #[tokio::test]
    async fn a_busy_stream_woken_for_nothing_keeps_no_pooled_buffer() {
        let (hub, multi, mut frames) = subscribed(&["a"]).await;
        frames.next().await.unwrap();
        let payload = "p".repeat(400);
        for n in 0..40 {
            hub.publish("a", format!("{n} {payload}")).await.unwrap();
        }
        while frames.next().now_or_never().flatten().is_some() {}
        assert!(frames.big, "the burst's runs were big");
        // An event for someone else wakes the stream; nothing is sent.
        let private = multi.private("not yours", ["ann"]).unwrap();
        hub.publish("a", private).await.unwrap();
        assert!(futures_util::poll!(frames.next()).is_pending());
        assert_eq!(frames.pooled.capacity(), 0, "the buffer went back");
        assert_eq!(frames.inner.runs().spares(), 1);
        // The next event still comes, in that buffer.
        hub.publish("a", "yours").await.unwrap();
        let run = frames.next().await.unwrap();
        assert_eq!(run.events(), 1);
        assert_eq!(frames.inner.runs().spares(), 0);
    }

    /// Followers in the leader's state send its lone events as the same
    /// shared bytes (no copy each); once a run holds more than one event,
    /// or the event is too big to keep whole, each writes its own, and
    /// every stream's bytes stay the same as the leader's.
    #[tokio::test]
    async fn lone_events_of_followers_are_the_leaders_bytes_shared() {
        let hub = Hub::new();
        let multi = Multiplexer::new(hub.clone());
        let mut streams = Vec::new();
        for _ in 0..3 {
            let subscription = multi.subscribe(MultiRequest::new(TOPICS)).await.unwrap();
            let mut frames = MultiFrames::from(subscription);
            frames.next().await.unwrap();
            streams.push(frames);
        }
        let next = |frames: &mut MultiFrames| frames.next().now_or_never().flatten().unwrap();
        let big = "x".repeat(super::super::steps::MAX_WHOLE);
        let rounds: [Vec<(&str, &str)>; 4] = [
            vec![("a", "one")],
            vec![("a", "two")],
            vec![("b", "three"), ("a", "four")],
            vec![("c", &big)],
        ];
        for (round, publishes) in rounds.iter().enumerate() {
            for (topic, data) in publishes {
                hub.publish(topic, data.to_string()).await.unwrap();
            }
            let runs: Vec<MultiRun> = streams.iter_mut().map(next).collect();
            for run in &runs[1..] {
                assert_eq!(run.as_bytes(), runs[0].as_bytes(), "round {round}");
                assert_eq!(run.events(), publishes.len() as u64);
            }
            let events = parse_events(runs[0].as_bytes()).unwrap();
            let sent: Vec<_> = events
                .iter()
                .map(|e| (e.event_type.as_str(), e.data.as_str()))
                .collect();
            assert_eq!(sent, *publishes, "round {round}");
            let shared = runs[1].as_bytes().as_ptr() == runs[2].as_bytes().as_ptr();
            assert_eq!(shared, publishes.len() == 1 && round < 3, "round {round}");
            for frames in &mut streams {
                assert!(frames.next().now_or_never().is_none(), "round {round}");
            }
        }
    }

    #[tokio::test]
    async fn the_stream_ends_after_its_last_run() {
        let (hub, _multi, mut frames) = subscribed(&["a"]).await;
        frames.next().await.unwrap();
        hub.publish("a", "x").await.unwrap();
        assert_eq!(frames.next().await.unwrap().events(), 1);
        hub.close();
        assert!(frames.next().await.is_none());
        assert!(frames.next().await.is_none());
    }
}
