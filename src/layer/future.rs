//! [`ResponseFuture`]: recognises event streams and prepares their responses.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode, Version};
use http_body::Body;
use pin_project_lite::pin_project;

use super::body::SseBody;
use super::boundary::Framing;
use super::guard::StreamGuard;
use super::jitter;
use super::layer::{retry_hint, Config, OverCapacity};
use super::live_stream::LiveStream;
use crate::response::{set_sse_headers, WholeEvents};

/// The retry delay asked of over-capacity clients when no `retry` is set:
/// 5 s plus up to 5 s of jitter.
const DEFAULT_OVER_CAPACITY_RETRY: Duration = Duration::from_secs(5);

pin_project! {
    /// The response future of [`SseService`](super::SseService).
    ///
    /// ```
    /// use http_body_util::Empty;
    /// use tower::{Service, ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut svc = ServiceBuilder::new().layer(tower_sse::SseLayer::new()).service_fn(|_req: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(Empty::<bytes::Bytes>::new()))
    /// });
    /// let future: tower_sse::layer::ResponseFuture<_> = svc.ready().await.unwrap().call(http::Request::new(()));
    /// assert_eq!(future.await.unwrap().status(), 200);
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        config: Arc<Config>,
        version: Version,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, config: Arc<Config>, version: Version) -> Self {
        Self {
            inner,
            config,
            version,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<SseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = ready!(this.inner.poll(cx))?;
        Poll::Ready(Ok(prepare(res, this.config, *this.version)))
    }
}

/// Whether a response is an event stream the layer takes over.
pub(crate) fn is_event_stream(status: StatusCode, headers: &HeaderMap) -> bool {
    if status != StatusCode::OK {
        return false;
    }
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("text/event-stream")
}

/// Headers that are connection-specific, hence forbidden on HTTP/2 and later.
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

fn prepare<B>(res: Response<B>, config: &Arc<Config>, version: Version) -> Response<SseBody<B>> {
    let (mut parts, body) = res.into_parts();
    let whole = parts.extensions.remove::<WholeEvents>();
    if !is_event_stream(parts.status, &parts.headers) {
        return Response::from_parts(parts, SseBody::passthrough(body));
    }
    set_sse_headers(&mut parts.headers);
    parts.headers.remove(header::CONTENT_LENGTH);
    if version >= Version::HTTP_2 {
        for name in CONNECTION_SPECIFIC {
            parts.headers.remove(name);
        }
    }
    if config.metrics.try_open(config.max_streams) {
        let guard = StreamGuard::new(config.metrics.clone(), version);
        // An `EventStream` ends every frame at an event boundary: no scan.
        let framing = whole.map_or_else(Framing::scanned, |w| Framing::whole(w.0));
        let stream = LiveStream::new(body, config.clone(), guard, framing);
        return Response::from_parts(parts, SseBody::live(stream));
    }
    // Over capacity: release whatever the handler's body holds, at once.
    drop(body);
    let retry = config.retry.unwrap_or_else(|| {
        jitter::lengthen(DEFAULT_OVER_CAPACITY_RETRY, DEFAULT_OVER_CAPACITY_RETRY)
    });
    tracing::debug!(
        max_streams = config.max_streams,
        retry_ms = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX),
        "sse stream rejected: over capacity"
    );
    match config.over_capacity {
        OverCapacity::RetryLater => Response::from_parts(parts, SseBody::fixed(retry_hint(retry))),
        OverCapacity::ServiceUnavailable => {
            let mut res = Response::new(SseBody::fixed(bytes::Bytes::new()));
            *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            *res.version_mut() = parts.version;
            let secs = retry
                .as_secs()
                .saturating_add(u64::from(retry.subsec_nanos() > 0));
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            res
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
        h
    }

    #[test]
    fn event_streams_are_recognised_by_media_type_case_insensitively() {
        let ok = StatusCode::OK;
        assert!(is_event_stream(ok, &headers("text/event-stream")));
        assert!(is_event_stream(
            ok,
            &headers("Text/Event-Stream; charset=utf-8")
        ));
        assert!(!is_event_stream(ok, &headers("text/event-streamx")));
        assert!(!is_event_stream(ok, &headers("text/plain")));
        assert!(!is_event_stream(ok, &HeaderMap::new()));
        let no_content = StatusCode::NO_CONTENT;
        assert!(!is_event_stream(no_content, &headers("text/event-stream")));
    }

    #[tokio::test]
    async fn h2_responses_lose_connection_headers_and_h1_keep_them() {
        let config = Arc::new(Config::default());
        let make = || {
            Response::builder()
                .header("content-type", "text/event-stream")
                .header("connection", "keep-alive")
                .header("content-length", "10")
                .header("access-control-allow-origin", "*")
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap()
        };
        let h2 = prepare(make(), &config, Version::HTTP_2);
        assert!(h2.headers().get("connection").is_none());
        assert!(h2.headers().get("content-length").is_none());
        assert_eq!(h2.headers()["access-control-allow-origin"], "*");
        assert_eq!(h2.headers()["cache-control"], "no-cache");
        let h1 = prepare(make(), &config, Version::HTTP_11);
        assert_eq!(h1.headers()["connection"], "keep-alive");
        assert!(h1.headers().get("content-length").is_none());
        drop((h1, h2));
        assert_eq!(config.metrics.open_streams(), 0);
        assert_eq!(config.metrics.opened(), 2);
    }
}
