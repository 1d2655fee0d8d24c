//! Complete SSE responses: the headers, and [`EventStream::into_http_response`].

use http::header::{HeaderMap, HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::Response;

use crate::body::{EventCounter, EventStream};

/// `text/event-stream`, the media type of server-sent events.
pub const TEXT_EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");

/// `X-Accel-Buffering`, which tells nginx not to buffer the response.
pub(crate) const X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");

/// Marks a response whose body is an [`EventStream`]: every frame ends at an
/// event boundary, and the counter says how many events were sent, so
/// [`SseLayer`](crate::SseLayer) needs no byte scan. It survives
/// `Response::map` into another body type (axum's `Body`) and is removed by
/// the layer.
#[derive(Debug, Clone)]
pub(crate) struct WholeEvents(pub(crate) EventCounter);

/// Sets the headers every event-stream response needs, keeping any
/// `Cache-Control` or `X-Accel-Buffering` value already set.
pub(crate) fn set_sse_headers(headers: &mut HeaderMap) {
    headers.insert(CONTENT_TYPE, TEXT_EVENT_STREAM);
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-cache"));
    headers
        .entry(X_ACCEL_BUFFERING)
        .or_insert(HeaderValue::from_static("no"));
}

impl<S> EventStream<S> {
    /// A `200 OK` response with this body and the SSE headers:
    /// `Content-Type: text/event-stream`, `Cache-Control: no-cache` and
    /// `X-Accel-Buffering: no`. This is what a plain hyper service returns.
    ///
    /// The response also carries a private marker that tells
    /// [`SseLayer`](crate::SseLayer) the body is an `EventStream`, so the layer
    /// does not scan its bytes for line boundaries. If you swap the body for a
    /// different one with `Response::map` (wrapping it, as axum's `Body::new`
    /// does, is fine), build a new response instead, so the marker does not
    /// describe a body it no longer holds.
    ///
    /// ```
    /// use futures_util::stream;
    /// use tower_sse::EventStream;
    ///
    /// let res = EventStream::new(stream::iter(["hi"])).into_http_response();
    /// assert_eq!(res.status(), 200);
    /// assert_eq!(res.headers()["content-type"], "text/event-stream");
    /// assert_eq!(res.headers()["cache-control"], "no-cache");
    /// assert_eq!(res.headers()["x-accel-buffering"], "no");
    /// assert!(res.headers().get("content-length").is_none());
    /// ```
    pub fn into_http_response(mut self) -> Response<Self> {
        let counter = self.counted();
        let mut res = Response::new(self);
        set_sse_headers(res.headers_mut());
        res.extensions_mut().insert(WholeEvents(counter));
        res
    }
}

impl<S> From<EventStream<S>> for Response<EventStream<S>> {
    fn from(body: EventStream<S>) -> Self {
        body.into_http_response()
    }
}

#[cfg(feature = "axum")]
impl<S> axum_core::response::IntoResponse for EventStream<S>
where
    S: futures_core::Stream + Send + 'static,
    S::Item: crate::EventItem,
{
    fn into_response(self) -> axum_core::response::Response {
        self.into_http_response().map(axum_core::body::Body::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_set_by_the_app_are_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        set_sse_headers(&mut headers);
        assert_eq!(headers[CACHE_CONTROL], "no-store");
        assert_eq!(headers[CONTENT_TYPE], "text/event-stream");
        assert_eq!(headers[X_ACCEL_BUFFERING], "no");
    }
}
