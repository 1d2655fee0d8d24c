//! [`EventStream`]: any stream of events as an `http_body::Body`.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::error::Error;
use crate::event::{EncodedEvent, Event};
use crate::into_event::EventItem;

type OnError = Arc<dyn Fn(&Error) -> Event + Send + Sync>;

pin_project! {
    /// A response body that encodes a stream of events as `text/event-stream`.
    ///
    /// The stream may yield anything that implements [`EventItem`]: an
    /// [`Event`], a string, [`Json`](crate::Json), your own
    /// [`IntoEvent`](crate::IntoEvent) type, an [`EncodedEvent`],
    /// or a `Result` of any of them.
    ///
    /// When several events are ready at once they are encoded into one frame, up
    /// to [`EventStream::max_frame_bytes`]; the body never waits to fill a frame.
    /// Every frame ends at an event boundary, which lets
    /// [`SseLayer`](crate::SseLayer) skip re-scanning the bytes.
    ///
    /// # Errors, the end, and a client that leaves
    ///
    /// - An `Err` item, or an event that fails to encode, is logged at `WARN`
    ///   with its message (target `tower_sse::body`). By default the body then
    ///   fails with that error after the events before it, and hyper cuts the
    ///   response (curl reports "transfer closed with outstanding read data").
    ///   With [`EventStream::on_error`] it instead sends a terminal error event
    ///   and ends cleanly.
    /// - [`EventStream::end_with`] sends a terminal event (say `done`) after the
    ///   stream ends. To end the stream early, end the inner stream (return from
    ///   the generator, or `StreamExt::take_while`).
    /// - When the client goes away, hyper drops the body, and with it the inner
    ///   stream: a producer feeding it through a channel sees its `send` fail
    ///   (or `Sender::closed` complete) and should stop. A client that vanishes
    ///   without closing is noticed at the next write, which keep-alives bound.
    ///
    /// ```
    /// use futures_util::stream;
    /// use http_body_util::BodyExt;
    /// use tower_sse::{Event, EventStream};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let events = stream::iter(vec![Event::new().data("a"), Event::new().data("b")]);
    /// let body = EventStream::new(events);
    /// let bytes = body.collect().await.unwrap().to_bytes();
    /// assert_eq!(&bytes[..], b"data: a\n\ndata: b\n\n");
    /// # }
    /// ```
    ///
    /// A producer learns that the client left when its channel closes:
    ///
    /// ```
    /// use tokio_stream::wrappers::ReceiverStream;
    /// use tower_sse::EventStream;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (tx, rx) = tokio::sync::mpsc::channel::<String>(16);
    /// let body = EventStream::new(ReceiverStream::new(rx));
    /// let producer = tokio::spawn(async move {
    ///     tx.closed().await; // or: `tx.send(..)` fails
    ///     "client left"
    /// });
    /// drop(body); // what hyper does when the client disconnects
    /// assert_eq!(producer.await.unwrap(), "client left");
    /// # }
    /// ```
    #[must_use]
    pub struct EventStream<S> {
        #[pin]
        inner: S,
        buf: BytesMut,
        held: Option<Bytes>,
        error: Option<Error>,
        done: bool,
        max_frame_bytes: usize,
        // Events in `buf`/`held` not yet counted into `counter`.
        ready: u64,
        counter: Option<EventCounter>,
        on_error: Option<OnError>,
        end_with: Option<Bytes>,
    }
}

/// Counts the events an [`EventStream`] has sent, for the layer (which then
/// needs no byte scan). Shared through the response extensions.
#[derive(Debug, Clone, Default)]
pub(crate) struct EventCounter(Arc<AtomicU64>);

impl EventCounter {
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

/// An already-encoded frame at least this long goes out alone: copying it
/// into a larger frame would cost more than the write it saves (a
/// multi-topic run is one).
const SEND_ALONE: usize = 4 * 1024;

impl<S> EventStream<S> {
    /// The default for [`EventStream::max_frame_bytes`]: 32 KiB.
    pub const DEFAULT_MAX_FRAME_BYTES: usize = 32 * 1024;

    /// Wraps a stream of events.
    pub fn new(stream: S) -> Self {
        Self {
            inner: stream,
            buf: BytesMut::new(),
            held: None,
            error: None,
            done: false,
            max_frame_bytes: Self::DEFAULT_MAX_FRAME_BYTES,
            ready: 0,
            counter: None,
            on_error: None,
            end_with: None,
        }
    }

    /// Sets how many bytes of ready events are coalesced into one frame at most
    /// (one event can make a frame larger). `0` sends every event in its own frame.
    ///
    /// ```
    /// use futures_util::stream;
    /// use http_body_util::BodyExt;
    /// use tower_sse::EventStream;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut body = EventStream::new(stream::iter(["a", "b"])).max_frame_bytes(0);
    /// let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    /// assert_eq!(&first[..], b"data: a\n\n");
    /// # }
    /// ```
    pub fn max_frame_bytes(mut self, bytes: usize) -> Self {
        self.max_frame_bytes = bytes;
        self
    }

    /// On an `Err` item (or an event that fails to encode), sends the event
    /// `f` makes of the error and ends the body cleanly, instead of failing
    /// the body. Browsers and HTTP clients then see a complete response with a
    /// last event they can act on. The error is logged at `WARN` either way.
    ///
    /// ```
    /// use futures_util::stream;
    /// use http_body_util::BodyExt;
    /// use tower_sse::{Event, EventStream, EventType};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let items = stream::iter([Ok("a"), Err(std::io::Error::other("db down")), Ok("never")]);
    /// let body = EventStream::new(items).on_error(|err| {
    ///     Event::new().event(EventType::from_static("error")).data(err.to_string())
    /// });
    /// let bytes = body.collect().await.unwrap().to_bytes(); // no body error
    /// assert_eq!(
    ///     &bytes[..],
    ///     &b"data: a\n\nevent: error\ndata: event stream failed: db down\n\n"[..],
    /// );
    /// # }
    /// ```
    pub fn on_error<F>(mut self, f: F) -> Self
    where
        F: Fn(&Error) -> Event + Send + Sync + 'static,
    {
        self.on_error = Some(Arc::new(f));
        self
    }

    /// Sends `event` once after the stream ends (not after an error): a
    /// terminal `done` event, as LLM-style streams send before closing.
    ///
    /// ```
    /// use futures_util::stream;
    /// use http_body_util::BodyExt;
    /// use tower_sse::{Event, EventStream, EventType};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let done = Event::new().event(EventType::from_static("done")).data("[DONE]");
    /// let body = EventStream::new(stream::iter(["tok"])).end_with(done);
    /// let bytes = body.collect().await.unwrap().to_bytes();
    /// assert_eq!(&bytes[..], b"data: tok\n\nevent: done\ndata: [DONE]\n\n");
    /// # }
    /// ```
    pub fn end_with(mut self, event: impl Into<EncodedEvent>) -> Self {
        let bytes = event.into().into_bytes();
        self.end_with = (!bytes.is_empty()).then_some(bytes);
        self
    }

    /// Shares a counter of sent events with the layer (see `response.rs`).
    pub(crate) fn counted(&mut self) -> EventCounter {
        self.counter
            .get_or_insert_with(EventCounter::default)
            .clone()
    }

    /// The wrapped stream.
    #[must_use]
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped stream, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Returns the wrapped stream; events already taken from it but not yet
    /// sent are dropped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> fmt::Debug for EventStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("buffered", &self.buf.len())
            .field("done", &self.done)
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("on_error", &self.on_error.is_some())
            .field("end_with", &self.end_with)
            .finish_non_exhaustive()
    }
}

impl<S> Body for EventStream<S>
where
    S: Stream,
    S::Item: EventItem,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let mut this = self.project();
        if this.error.is_none() && !*this.done {
            let budget = (*this.max_frame_bytes).max(1);
            while this.buf.len() + this.held.as_ref().map_or(0, Bytes::len) < budget
                && this
                    .held
                    .as_ref()
                    .map_or(true, |held| held.len() < SEND_ALONE)
            {
                let Poll::Ready(item) = this.inner.as_mut().poll_next(cx) else {
                    break;
                };
                let Some(item) = item else {
                    *this.done = true;
                    if let Some(last) = this.end_with.take() {
                        append(this.buf, this.held, &last);
                        *this.ready += 1;
                    }
                    break;
                };
                if let Some(held) = this.held.take() {
                    // More than one event is ready: coalesce them into one frame.
                    this.buf.extend_from_slice(&held);
                }
                let events = item.event_count();
                let dry = item.ran_dry();
                match item.encode_item(this.buf) {
                    Ok(None) => *this.ready += events,
                    Ok(Some(bytes)) if bytes.is_empty() => {}
                    // Already encoded and alone so far: send it without a copy.
                    Ok(Some(bytes)) if this.buf.is_empty() => {
                        *this.held = Some(bytes);
                        *this.ready += events;
                    }
                    Ok(Some(bytes)) => {
                        this.buf.extend_from_slice(&bytes);
                        *this.ready += events;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "sse event stream failed");
                        *this.end_with = None;
                        if let Some(on_error) = this.on_error.as_ref() {
                            let event = on_error(&e);
                            append(this.buf, this.held, &[]);
                            event.encode_into(this.buf);
                            *this.ready += 1;
                            *this.done = true;
                        } else {
                            *this.error = Some(e);
                        }
                        break;
                    }
                }
                // Polled again now, the stream would only say `Pending`.
                if dry {
                    break;
                }
            }
        }
        let frame = if let Some(held) = this.held.take() {
            held
        } else if !this.buf.is_empty() {
            this.buf.split().freeze()
        } else if let Some(error) = this.error.take() {
            *this.done = true;
            return Poll::Ready(Some(Err(error)));
        } else if *this.done {
            return Poll::Ready(None);
        } else {
            return Poll::Pending;
        };
        if let Some(counter) = this.counter.as_ref() {
            counter.add(*this.ready);
        }
        *this.ready = 0;
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.error.is_none() && self.held.is_none() && self.buf.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// Appends `bytes` to the frame being built, moving a held frame into `buf`
/// first.
fn append(buf: &mut BytesMut, held: &mut Option<Bytes>, bytes: &[u8]) {
    if let Some(held) = held.take() {
        buf.extend_from_slice(&held);
    }
    buf.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;
    use http_body_util::BodyExt;
    use tokio::sync::mpsc;
    use tokio_stream::wrappers::UnboundedReceiverStream;

    use super::*;
    use crate::{ErrorKind, Event};

    type Item = Result<Event, std::io::Error>;

    fn channel_body() -> (
        mpsc::UnboundedSender<Item>,
        EventStream<UnboundedReceiverStream<Item>>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        (tx, EventStream::new(UnboundedReceiverStream::new(rx)))
    }

    fn data(frame: Option<Result<Frame<Bytes>, Error>>) -> Bytes {
        frame.unwrap().unwrap().into_data().unwrap()
    }

    #[tokio::test]
    async fn ready_events_are_coalesced_into_one_frame() {
        let (tx, mut body) = channel_body();
        tx.send(Ok(Event::new().data("a"))).unwrap();
        tx.send(Ok(Event::new().data("b"))).unwrap();
        assert_eq!(&data(body.frame().await)[..], b"data: a\n\ndata: b\n\n");
        assert!(
            body.frame().now_or_never().is_none(),
            "waits, no empty frame"
        );
        tx.send(Ok(Event::new().data("c"))).unwrap();
        assert_eq!(&data(body.frame().await)[..], b"data: c\n\n");
    }

    #[tokio::test]
    async fn frames_stop_growing_at_the_byte_budget() {
        let events = futures_util::stream::iter((0..100).map(|_| Event::new().data("xxxxxx")));
        let mut body = EventStream::new(events).max_frame_bytes(40);
        let mut frames = 0;
        let mut total = 0;
        while let Some(frame) = body.frame().await {
            let bytes = frame.unwrap().into_data().unwrap();
            assert!(!bytes.is_empty());
            assert!(bytes.len() < 40 + 15, "{}", bytes.len());
            total += bytes.len();
            frames += 1;
        }
        assert_eq!(total, 100 * b"data: xxxxxx\n\n".len());
        assert_eq!(frames, 34);
    }

    #[tokio::test]
    async fn a_large_encoded_item_goes_out_alone_without_a_copy() {
        let big = Event::new().data("x".repeat(SEND_ALONE)).encode();
        let small = Event::new().data("s").encode();
        let items = [big.clone(), big.clone(), small.clone(), small.clone()];
        let mut body = EventStream::new(futures_util::stream::iter(items));
        for _ in 0..2 {
            let frame = data(body.frame().await);
            assert_eq!(frame, big.as_bytes());
            assert_eq!(frame.as_ptr(), big.as_bytes().as_ptr(), "sent as it is");
        }
        // Small ones are still coalesced.
        assert_eq!(&data(body.frame().await)[..], b"data: s\n\ndata: s\n\n");
        assert!(body.frame().await.is_none());
    }

    #[tokio::test]
    async fn a_stream_error_ends_the_body_after_the_events_before_it() {
        let (tx, mut body) = channel_body();
        tx.send(Ok(Event::new().data("a"))).unwrap();
        tx.send(Err(std::io::Error::other("db down"))).unwrap();
        tx.send(Ok(Event::new().data("never"))).unwrap();
        assert_eq!(&data(body.frame().await)[..], b"data: a\n\n");
        let err = body.frame().await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Stream);
        assert!(body.frame().await.is_none());
        assert!(body.frame().await.is_none());
    }

    #[tokio::test]
    async fn end_of_stream_is_reported_only_after_the_stream_ended() {
        let (tx, mut body) = channel_body();
        assert!(!body.is_end_stream());
        assert_eq!(body.size_hint().upper(), None);
        assert_eq!(body.size_hint().lower(), 0);
        tx.send(Ok(Event::new().data("last"))).unwrap();
        drop(tx);
        assert_eq!(&data(body.frame().await)[..], b"data: last\n\n");
        assert!(body.is_end_stream());
        for _ in 0..3 {
            assert!(body.frame().await.is_none(), "fused");
        }
    }

    #[tokio::test]
    async fn a_lone_encoded_event_is_sent_without_a_copy() {
        let encoded = Event::new().data("shared").encode();
        let (tx, rx) = mpsc::unbounded_channel::<crate::EncodedEvent>();
        let mut body = EventStream::new(UnboundedReceiverStream::new(rx));
        tx.send(encoded.clone()).unwrap();
        let frame = data(body.frame().await);
        assert_eq!(frame.as_ptr(), encoded.as_bytes().as_ptr());
        tx.send(encoded.clone()).unwrap();
        tx.send(encoded.clone()).unwrap();
        assert_eq!(
            &data(body.frame().await)[..],
            b"data: shared\n\ndata: shared\n\n"
        );
    }

    #[cfg(feature = "json")]
    #[tokio::test]
    async fn a_serialization_failure_is_an_error_not_an_empty_event() {
        let mut bad = std::collections::HashMap::new();
        bad.insert((1, 2), 3);
        let items = vec![crate::Json(None), crate::Json(Some(bad))];
        let mut body = EventStream::new(futures_util::stream::iter(items));
        assert_eq!(&data(body.frame().await)[..], b"data: null\n\n");
        let err = body.frame().await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Serialize);
        assert!(body.frame().await.is_none());
    }

    #[tokio::test]
    async fn an_error_with_on_error_becomes_a_terminal_event_and_a_clean_end() {
        let (tx, body) = channel_body();
        let mut body = body
            .on_error(|e| Event::new().data(e.to_string()))
            .end_with(Event::new().data("not after an error"));
        let counter = body.counted();
        tx.send(Ok(Event::new().data("a"))).unwrap();
        tx.send(Err(std::io::Error::other("db down"))).unwrap();
        assert_eq!(
            &data(body.frame().await)[..],
            b"data: a\n\ndata: event stream failed: db down\n\n"
        );
        assert_eq!(counter.get(), 2);
        assert!(body.is_end_stream());
        assert!(body.frame().await.is_none());
    }

    #[tokio::test]
    async fn end_with_follows_the_last_event_even_when_it_is_held() {
        let encoded = Event::new().data("x").encode();
        let items = futures_util::stream::iter([encoded]);
        let mut body = EventStream::new(items).end_with(Event::new().data("done"));
        let counter = body.counted();
        assert_eq!(&data(body.frame().await)[..], b"data: x\n\ndata: done\n\n");
        assert!(body.frame().await.is_none());
        assert_eq!(counter.get(), 2);
    }

    #[test]
    fn body_is_send_and_sync_when_the_stream_is() {
        fn assert<T: Send + Sync + Unpin + 'static>() {}
        assert::<EventStream<UnboundedReceiverStream<Item>>>();
        assert::<EventStream<futures_util::stream::Iter<std::vec::IntoIter<Event>>>>();
    }
}
