//! [`EventStream`]: any stream of events as an `http_body::Body`.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::error::Error;
use crate::into_event::EventItem;

pin_project! {
    /// A response body that encodes a stream of events as `text/event-stream`.
    ///
    /// The stream may yield anything that implements [`EventItem`]: an
    /// [`Event`](crate::Event), a string, [`Json`](crate::Json), your own
    /// [`IntoEvent`](crate::IntoEvent) type, an [`EncodedEvent`](crate::EncodedEvent),
    /// or a `Result` of any of them. An `Err` item, or an event that fails to
    /// encode, ends the body with that error (after the events before it).
    ///
    /// When several events are ready at once they are encoded into one frame, up
    /// to [`EventStream::max_frame_bytes`]; the body never waits to fill a frame.
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
    #[must_use]
    pub struct EventStream<S> {
        #[pin]
        inner: S,
        buf: BytesMut,
        held: Option<Bytes>,
        error: Option<Error>,
        done: bool,
        max_frame_bytes: usize,
    }
}

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
            while this.buf.len() + this.held.as_ref().map_or(0, Bytes::len) < budget {
                let Poll::Ready(item) = this.inner.as_mut().poll_next(cx) else {
                    break;
                };
                let Some(item) = item else {
                    *this.done = true;
                    break;
                };
                if let Some(held) = this.held.take() {
                    // More than one event is ready: coalesce them into one frame.
                    this.buf.extend_from_slice(&held);
                }
                match item.encode_item(this.buf) {
                    Ok(None) => {}
                    Ok(Some(bytes)) if bytes.is_empty() => {}
                    // Already encoded and alone so far: send it without a copy.
                    Ok(Some(bytes)) if this.buf.is_empty() => *this.held = Some(bytes),
                    Ok(Some(bytes)) => this.buf.extend_from_slice(&bytes),
                    Err(e) => {
                        *this.error = Some(e);
                        break;
                    }
                }
            }
        }
        if let Some(held) = this.held.take() {
            return Poll::Ready(Some(Ok(Frame::data(held))));
        }
        if !this.buf.is_empty() {
            return Poll::Ready(Some(Ok(Frame::data(this.buf.split().freeze()))));
        }
        if let Some(error) = this.error.take() {
            *this.done = true;
            return Poll::Ready(Some(Err(error)));
        }
        if *this.done {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.error.is_none() && self.held.is_none() && self.buf.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
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

    #[test]
    fn body_is_send_and_sync_when_the_stream_is() {
        fn assert<T: Send + Sync + Unpin + 'static>() {}
        assert::<EventStream<UnboundedReceiverStream<Item>>>();
        assert::<EventStream<futures_util::stream::Iter<std::vec::IntoIter<Event>>>>();
    }
}
