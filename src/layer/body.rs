//! [`SseBody`]: the response body of [`SseService`](super::SseService).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::live_stream::LiveStream;

pin_project! {
    /// The body of every response that went through [`SseLayer`](crate::SseLayer).
    ///
    /// - Other responses: the inner body, forwarded frame by frame with its
    ///   `size_hint` and `is_end_stream` (data is handed on as `Bytes`, without a
    ///   copy when the inner body already uses `Bytes`).
    /// - Event streams: the inner body with the layer's prelude, keep-alives,
    ///   lifetime and shutdown handling.
    /// - Over-capacity streams: only a `retry:` hint (or nothing, for a 503).
    ///
    /// The error type is the inner body's: the wrapper adds no errors of its own.
    ///
    /// ```
    /// use http_body_util::{BodyExt, Full};
    /// use tower::{Service, ServiceBuilder, ServiceExt};
    /// use tower_sse::SseLayer;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut svc = ServiceBuilder::new().layer(SseLayer::new()).service_fn(|_req: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(bytes::Bytes::from("plain"))))
    /// });
    /// let res = svc.ready().await.unwrap().call(http::Request::new(())).await.unwrap();
    /// assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "plain");
    /// # }
    /// ```
    #[must_use]
    pub struct SseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Passthrough { #[pin] inner: B },
        Live { #[pin] inner: LiveStream<B> },
        Fixed { bytes: Option<Bytes> },
    }
}

impl<B> SseBody<B> {
    pub(crate) fn passthrough(inner: B) -> Self {
        Self {
            kind: Kind::Passthrough { inner },
        }
    }

    pub(crate) fn live(inner: LiveStream<B>) -> Self {
        Self {
            kind: Kind::Live { inner },
        }
    }

    pub(crate) fn fixed(bytes: Bytes) -> Self {
        Self {
            kind: Kind::Fixed {
                bytes: (!bytes.is_empty()).then_some(bytes),
            },
        }
    }

    /// Whether this is an event stream handled by the layer (not a passthrough
    /// body, nor an over-capacity answer).
    ///
    /// ```
    /// # use http_body_util::Empty;
    /// # use tower::{Service, ServiceBuilder, ServiceExt};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut svc = ServiceBuilder::new().layer(tower_sse::SseLayer::new()).service_fn(|_req: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(Empty::<bytes::Bytes>::new()))
    /// });
    /// let res = svc.ready().await.unwrap().call(http::Request::new(())).await.unwrap();
    /// assert!(!res.body().is_event_stream());
    /// # }
    /// ```
    #[must_use]
    pub fn is_event_stream(&self) -> bool {
        matches!(self.kind, Kind::Live { .. })
    }
}

impl<B> Body for SseBody<B>
where
    B: Body,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Passthrough { inner } => inner.poll_frame(cx).map(|frame| {
                frame.map(|r| r.map(|f| f.map_data(|mut d| d.copy_to_bytes(d.remaining()))))
            }),
            KindProj::Live { inner } => inner.poll_frame(cx),
            KindProj::Fixed { bytes } => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Passthrough { inner } => inner.is_end_stream(),
            Kind::Live { inner } => inner.is_end_stream(),
            Kind::Fixed { bytes } => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Passthrough { inner } => inner.size_hint(),
            Kind::Live { inner } => inner.size_hint(),
            Kind::Fixed { bytes } => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

/// A passthrough of the inner body's default (tower-http's `TimeoutLayer` needs
/// this to build its timeout response).
impl<B> Default for SseBody<B>
where
    B: Default,
{
    fn default() -> Self {
        Self::passthrough(B::default())
    }
}

impl<B> fmt::Debug for SseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SseBody");
        match &self.kind {
            Kind::Passthrough { .. } => d.field("kind", &"passthrough"),
            Kind::Live { inner } => d.field("stream", inner),
            Kind::Fixed { bytes } => d.field("fixed", bytes),
        };
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Full, StreamBody};

    use super::*;

    #[tokio::test]
    async fn passthrough_forwards_hints_and_trailers() {
        let body = SseBody::passthrough(Full::new(Bytes::from_static(b"abc")));
        assert_eq!(body.size_hint().exact(), Some(3));
        assert!(!body.is_end_stream());
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-t", "1".parse().unwrap());
        let frames = vec![
            Ok::<_, std::convert::Infallible>(Frame::data(&b"ab"[..])),
            Ok(Frame::trailers(trailers)),
        ];
        let collected = SseBody::passthrough(StreamBody::new(futures_util::stream::iter(frames)))
            .collect()
            .await
            .unwrap();
        assert_eq!(collected.trailers().unwrap()["x-t"], "1");
        assert_eq!(collected.to_bytes(), "ab");
    }

    #[tokio::test]
    async fn a_fixed_body_is_exact_and_never_sends_an_empty_frame() {
        let empty = SseBody::<Full<Bytes>>::fixed(Bytes::new());
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));
        let mut body = Box::pin(SseBody::<Full<Bytes>>::fixed(Bytes::from_static(
            b"retry: 5\n\n",
        )));
        assert_eq!(body.size_hint().exact(), Some(10));
        assert_eq!(
            body.frame().await.unwrap().unwrap().into_data().unwrap(),
            "retry: 5\n\n"
        );
        assert!(body.frame().await.is_none());
        assert!(body.is_end_stream());
    }
}
