//! [`SseLayer`]: the configuration, and `impl Layer`.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tower_layer::Layer;

use super::keep_alive::MAX_TIMER;
use super::service::SseService;
use crate::error::Error;
use crate::event::{write_comment, write_retry, Event};
use crate::field::Comment;
use crate::last_event_id::LastEventId;
use crate::metrics::SseMetrics;
use crate::shutdown::Shutdown;

/// A tower [`Layer`] that makes every `text/event-stream` response production-ready
/// and leaves every other response byte-identical.
///
/// It recognises event streams by their `Content-Type` (whoever produced them:
/// [`EventStream`](crate::EventStream), axum's `Sse`, a proxied upstream), with
/// status `200 OK`, and then:
///
/// - sets `Content-Type`, `Cache-Control: no-cache` (unless already set) and
///   `X-Accel-Buffering: no`, removes `Content-Length`, and on HTTP/2 the
///   connection-specific headers;
/// - sends an optional `retry:` hint and initial comment at once;
/// - sends a keep-alive comment line (`:\n` by default) after 15 s without a
///   frame, only at a line boundary of the body (for an
///   [`EventStream`](crate::EventStream) response the layer knows every frame
///   ends at an event boundary and does not scan the bytes; other bodies are
///   scanned);
/// - enforces [`max_streams`](SseLayer::max_streams) and
///   [`max_duration`](SseLayer::max_duration);
/// - ends every stream cleanly on [`shutdown`](SseLayer::shutdown);
/// - counts into [`SseMetrics`] and logs each stream with `tracing`
///   (span `sse.stream`, `debug` events on open and close).
///
/// # The `sse.stream` span
///
/// Every stream the layer takes over gets a `debug` span `sse.stream` with
/// the field `version`, and on close `duration_ms`, `events`, `bytes` and
/// `reason`, one of:
///
/// | `reason` | why the stream ended |
/// | --- | --- |
/// | `client_gone` | the body was dropped before it ended: the client left (or the server dropped the connection) |
/// | `ended` | the inner body ended |
/// | `slow_consumer` | a hub [`Subscription`](crate::Subscription) in the body dropped the subscriber for falling behind ([`SlowConsumer::Disconnect`](crate::SlowConsumer::Disconnect)) |
/// | `error` | the inner body failed (an [`EventStream`](crate::EventStream) logs the error at `WARN`) |
/// | `shutdown` | the [`Shutdown`] signal ended it |
/// | `max_duration` | [`SseLayer::max_duration`] ended it |
///
/// # Serving many idle streams
///
/// An idle stream costs what its connection costs, and almost all of that is
/// the server's, not this layer's (the layer keeps a timer, a line tracker
/// and a metrics guard, well under 1 KiB). Measured on one machine with
/// 10,000 idle streams (see `BENCHMARKS.md`), per stream: about 20 KiB of RSS
/// with `axum::serve` (hyper-util's auto HTTP/1+HTTP/2 builder, multi-thread
/// runtime), 11.5 KiB with the setup below, 7.3 KiB with it and jemalloc as
/// the allocator. Most of the rest is hyper's per-connection read buffer
/// (16 KiB reserved) and write buffer (8 KiB reserved), which hyper 1.x does
/// not let you shrink; an allocator with out-of-line metadata (jemalloc)
/// leaves their untouched pages out of RSS. Kernel socket buffers are not
/// RSS at all.
///
/// The setup: HTTP/1 only (`hyper::server::conn::http1`, no protocol
/// sniffing), `max_buf_size(8192)` (hyper's minimum; caps how far the read
/// buffer may grow), one task per connection, a current-thread runtime (or one
/// per core) so the allocator keeps one arena, and a file-descriptor limit
/// above the stream count (`ulimit -n`). It needs `hyper` (`server`, `http1`),
/// `hyper-util` (`tokio`, `service`) and `tower` (`util`):
///
/// ```no_run
/// use std::convert::Infallible;
/// use hyper_util::rt::TokioIo;
/// use hyper_util::service::TowerToHyperService;
/// use tower::ServiceBuilder;
/// use tower_sse::{EventStream, SseLayer};
///
/// # async fn serve() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// let service = ServiceBuilder::new().layer(SseLayer::new()).service_fn(
///     |_req: http::Request<hyper::body::Incoming>| async {
///         let events = futures_util::stream::pending::<String>();
///         Ok::<_, Infallible>(EventStream::new(events).into_http_response())
///     },
/// );
/// loop {
///     let (tcp, _) = listener.accept().await?;
///     let service = TowerToHyperService::new(service.clone());
///     tokio::spawn(async move {
///         let _ = hyper::server::conn::http1::Builder::new()
///             .max_buf_size(8192)
///             .serve_connection(TokioIo::new(tcp), service)
///             .await;
///     });
/// }
/// # }
/// ```
///
/// # Large durations
///
/// Durations saturate at about 100 years where they are set, so
/// `Duration::MAX` means "never" and cannot overflow a timer.
///
/// On requests it validates `Last-Event-ID` and stores a [`LastEventId`] in the
/// request extensions (see [`SseLayer::max_last_event_id_len`]).
///
/// ```
/// use std::time::Duration;
/// use tower_sse::{Shutdown, SseLayer};
///
/// let shutdown = Shutdown::new();
/// let layer = SseLayer::new()
///     .keep_alive_interval(Duration::from_secs(20))
///     .retry(Duration::from_secs(3))
///     .max_streams(10_000)
///     .max_duration(Duration::from_secs(30 * 60))
///     .shutdown(shutdown.clone());
/// let metrics = layer.metrics();
/// # let _ = (metrics, layer);
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct SseLayer {
    pub(super) config: Arc<Config>,
}

/// What over-capacity event-stream requests get, see [`SseLayer::max_streams`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OverCapacity {
    /// `200 OK` with a body holding only a `retry:` hint, which then ends, so
    /// `EventSource` backs off and reconnects (the default).
    #[default]
    RetryLater,
    /// `503 Service Unavailable` with `Retry-After`. Note that `EventSource`
    /// gives up for good on any non-200 status.
    ServiceUnavailable,
}

/// The settings shared by the service, its futures and bodies.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) keep_alive_line: Bytes,
    pub(crate) retry: Option<Duration>,
    pub(crate) initial_comment: Option<Bytes>,
    /// The retry hint and initial comment, encoded once.
    pub(crate) prelude: Option<Bytes>,
    pub(crate) max_id_len: usize,
    pub(crate) id_query: bool,
    pub(crate) max_streams: Option<usize>,
    pub(crate) over_capacity: OverCapacity,
    pub(crate) max_duration: Option<Duration>,
    pub(crate) jitter: Option<Duration>,
    pub(crate) shutdown: Option<Shutdown>,
    pub(crate) final_event: Option<Bytes>,
    pub(crate) metrics: SseMetrics,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            keep_alive: Some(SseLayer::DEFAULT_KEEP_ALIVE),
            keep_alive_line: Bytes::from_static(b":\n"),
            retry: None,
            initial_comment: None,
            prelude: None,
            max_id_len: LastEventId::DEFAULT_MAX_LEN,
            id_query: false,
            max_streams: None,
            over_capacity: OverCapacity::RetryLater,
            max_duration: None,
            jitter: None,
            shutdown: None,
            final_event: None,
            metrics: SseMetrics::default(),
        }
    }
}

impl Config {
    fn refresh_prelude(&mut self) {
        let mut buf = BytesMut::new();
        if let Some(retry) = self.retry {
            buf.put_slice(&retry_hint(retry));
        }
        if let Some(comment) = &self.initial_comment {
            buf.put_slice(comment);
        }
        self.prelude = (!buf.is_empty()).then(|| buf.freeze());
    }
}

/// `retry: <ms>\n\n`, written as [`Event`] writes its retry field.
pub(crate) fn retry_hint(retry: Duration) -> Bytes {
    let mut buf = BytesMut::new();
    write_retry(&mut buf, retry);
    buf.put_u8(b'\n');
    buf.freeze()
}

/// The comment line, written as [`Event`] writes its comments.
fn comment_line(comment: Comment) -> Bytes {
    let mut buf = BytesMut::new();
    write_comment(&mut buf, &comment.into_string());
    buf.freeze()
}

impl SseLayer {
    /// The default keep-alive interval: 15 s, well under the 55-60 s idle
    /// timeouts of common proxies and load balancers.
    pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

    /// A layer with the defaults: keep-alive `:\n` every 15 s, no retry hint, no
    /// limit, no maximum duration, no shutdown signal, header-only `Last-Event-ID`
    /// capped at 1 KiB.
    ///
    /// ```
    /// let layer = tower_sse::SseLayer::new();
    /// # let _ = layer;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    fn edit(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// Sends a keep-alive after this long without a frame (the timer restarts
    /// on every frame). At least 1 ms; saturates at about 100 years, so
    /// `Duration::MAX` never fires and never overflows.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let layer = tower_sse::SseLayer::new().keep_alive_interval(Duration::from_secs(25));
    /// let never = tower_sse::SseLayer::new().keep_alive_interval(Duration::MAX);
    /// # let _ = (layer, never);
    /// ```
    pub fn keep_alive_interval(self, interval: Duration) -> Self {
        let interval = interval.clamp(Duration::from_millis(1), MAX_TIMER);
        self.edit(|c| c.keep_alive = Some(interval))
    }

    /// The keep-alive comment (default empty: the line `:\n`). It is sent as
    /// the single line `: <text>\n`, never with a blank line, so it cannot
    /// dispatch a half-sent event.
    ///
    /// ```
    /// use tower_sse::{Comment, SseLayer};
    /// let layer = SseLayer::new().keep_alive_text(Comment::from_static("ping"));
    /// # let _ = layer;
    /// ```
    pub fn keep_alive_text(self, comment: Comment) -> Self {
        let line = comment_line(comment);
        self.edit(|c| c.keep_alive_line = line)
    }

    /// Validates and sets the keep-alive comment, see
    /// [`SseLayer::keep_alive_text`].
    ///
    /// # Errors
    ///
    /// When `text` holds a carriage return or a line feed.
    ///
    /// ```
    /// let layer = tower_sse::SseLayer::new().try_keep_alive_text("ping")?;
    /// assert!(tower_sse::SseLayer::new().try_keep_alive_text("a\nb").is_err());
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    pub fn try_keep_alive_text(self, text: impl Into<String>) -> Result<Self, Error> {
        Ok(self.keep_alive_text(Comment::new(text)?))
    }

    /// Turns keep-alives off.
    ///
    /// ```
    /// let layer = tower_sse::SseLayer::new().no_keep_alive();
    /// # let _ = layer;
    /// ```
    pub fn no_keep_alive(self) -> Self {
        self.edit(|c| c.keep_alive = None)
    }

    /// Sends `retry: <ms>` first on every stream: the delay before the browser
    /// reconnects. Also the delay asked of over-capacity clients.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let layer = tower_sse::SseLayer::new().retry(Duration::from_secs(2));
    /// # let _ = layer;
    /// ```
    pub fn retry(self, retry: Duration) -> Self {
        self.edit(|c| {
            c.retry = Some(retry);
            c.refresh_prelude();
        })
    }

    /// Sends the comment `: <text>\n` at once when a stream opens (after the
    /// retry hint), so proxies and clients see it open.
    ///
    /// ```
    /// use tower_sse::{Comment, SseLayer};
    /// let layer = SseLayer::new().initial_comment(Comment::from_static("ok"));
    /// # let _ = layer;
    /// ```
    pub fn initial_comment(self, comment: Comment) -> Self {
        let line = comment_line(comment);
        self.edit(|c| {
            c.initial_comment = Some(line);
            c.refresh_prelude();
        })
    }

    /// Validates and sets the initial comment, see [`SseLayer::initial_comment`].
    ///
    /// # Errors
    ///
    /// When `text` holds a carriage return or a line feed.
    ///
    /// ```
    /// let layer = tower_sse::SseLayer::new().try_initial_comment("ok")?;
    /// assert!(tower_sse::SseLayer::new().try_initial_comment("\r").is_err());
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    pub fn try_initial_comment(self, text: impl Into<String>) -> Result<Self, Error> {
        Ok(self.initial_comment(Comment::new(text)?))
    }

    /// Caps the accepted `Last-Event-ID` length in bytes (default 1 KiB). Longer
    /// values count as absent: they are logged, removed from the request and
    /// never reach the handler. (A multi-topic subscription, which must not
    /// take a resume for a fresh start, refuses them instead: see
    /// [`Multiplexer::subscribe_parts`](crate::multi::Multiplexer::subscribe_parts).)
    ///
    /// ```
    /// let layer = tower_sse::SseLayer::new().max_last_event_id_len(64);
    /// # let _ = layer;
    /// ```
    pub fn max_last_event_id_len(self, max: usize) -> Self {
        self.edit(|c| c.max_id_len = max)
    }

    /// Also accepts the id from a `lastEventId` query parameter (percent-decoded)
    /// when no `Last-Event-ID` header is sent. A header, even an invalid one,
    /// wins over the query.
    ///
    /// ```
    /// let layer = tower_sse::SseLayer::new().last_event_id_query(true);
    /// # let _ = layer;
    /// ```
    pub fn last_event_id_query(self, enabled: bool) -> Self {
        self.edit(|c| c.id_query = enabled)
    }

    /// At most `max` open event streams; see [`OverCapacity`] for what the
    /// others get. A stream counts until its body is dropped.
    ///
    /// ```
    /// let layer = tower_sse::SseLayer::new().max_streams(50_000);
    /// # let _ = layer;
    /// ```
    pub fn max_streams(self, max: usize) -> Self {
        self.edit(|c| c.max_streams = Some(max))
    }

    /// How to turn away streams past [`SseLayer::max_streams`].
    ///
    /// ```
    /// use tower_sse::{OverCapacity, SseLayer};
    /// let layer = SseLayer::new().max_streams(1).over_capacity(OverCapacity::ServiceUnavailable);
    /// # let _ = layer;
    /// ```
    pub fn over_capacity(self, mode: OverCapacity) -> Self {
        self.edit(|c| c.over_capacity = mode)
    }

    /// Ends each stream cleanly after about `max` (at an event boundary, or at
    /// once if the body is mid-event), so clients reconnect and spread over
    /// servers. Each stream's lifetime is drawn from `[max - jitter, max]`;
    /// jitter defaults to a tenth of `max`. Saturates at about 100 years, so
    /// `Duration::MAX` means "no limit" and never overflows.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let layer = tower_sse::SseLayer::new().max_duration(Duration::from_secs(600));
    /// let unbounded = tower_sse::SseLayer::new().max_duration(Duration::MAX);
    /// # let _ = (layer, unbounded);
    /// ```
    pub fn max_duration(self, max: Duration) -> Self {
        self.edit(|c| c.max_duration = Some(max.min(MAX_TIMER)))
    }

    /// The jitter of [`SseLayer::max_duration`] (capped at the duration itself).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let layer = tower_sse::SseLayer::new()
    ///     .max_duration(Duration::from_secs(600))
    ///     .max_duration_jitter(Duration::from_secs(120));
    /// # let _ = layer;
    /// ```
    pub fn max_duration_jitter(self, jitter: Duration) -> Self {
        self.edit(|c| c.jitter = Some(jitter))
    }

    /// Ends every open stream when `shutdown` is triggered, so a server's
    /// graceful shutdown completes; streams opened afterwards end at once.
    ///
    /// ```
    /// let shutdown = tower_sse::Shutdown::new();
    /// let layer = tower_sse::SseLayer::new().shutdown(shutdown.clone());
    /// # let _ = layer;
    /// ```
    pub fn shutdown(self, shutdown: Shutdown) -> Self {
        self.edit(|c| c.shutdown = Some(shutdown))
    }

    /// Like [`SseLayer::shutdown`] with a future, via [`Shutdown::from_future`]
    /// (spawns a small task; must be called inside a tokio runtime).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let layer = tower_sse::SseLayer::new().shutdown_on(async {
    ///     let _ = tokio::signal::ctrl_c().await;
    /// });
    /// # let _ = layer;
    /// # }
    /// ```
    pub fn shutdown_on<F>(self, signal: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.shutdown(Shutdown::from_future(signal))
    }

    /// An event sent to each open stream on shutdown before it ends, when the
    /// stream is at an event boundary (a stream cut mid-event ends without it).
    ///
    /// ```
    /// use tower_sse::{Event, EventType, SseLayer};
    /// let layer = SseLayer::new().final_event(&Event::new().event(EventType::from_static("bye")).data(""));
    /// # let _ = layer;
    /// ```
    pub fn final_event(self, event: &Event) -> Self {
        let bytes = event.encode().into_bytes();
        self.edit(|c| c.final_event = Some(bytes))
    }

    /// The counters of this layer, shared by all its services and clones.
    ///
    /// ```
    /// let metrics = tower_sse::SseLayer::new().metrics();
    /// assert_eq!(metrics.open_streams(), 0);
    /// ```
    #[must_use]
    pub fn metrics(&self) -> SseMetrics {
        self.config.metrics.clone()
    }
}

impl<S> Layer<S> for SseLayer {
    type Service = SseService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SseService::new(inner, self.config.clone())
    }
}

impl fmt::Debug for SseLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("SseLayer")
            .field("keep_alive", &c.keep_alive)
            .field("retry", &c.retry)
            .field("max_streams", &c.max_streams)
            .field("over_capacity", &c.over_capacity)
            .field("max_duration", &c.max_duration)
            .field("shutdown", &c.shutdown)
            .field("metrics", &c.metrics)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prelude_holds_the_retry_hint_then_the_comment() {
        let layer = SseLayer::new()
            .try_initial_comment("hi")
            .unwrap()
            .retry(Duration::from_millis(2500));
        assert_eq!(
            layer.config.prelude.as_deref(),
            Some(&b"retry: 2500\n\n: hi\n"[..])
        );
        assert_eq!(SseLayer::new().config.prelude, None);
    }

    #[test]
    fn huge_durations_saturate_where_they_are_set() {
        let layer = SseLayer::new()
            .keep_alive_interval(Duration::MAX)
            .max_duration(Duration::MAX)
            .max_duration_jitter(Duration::MAX)
            .retry(Duration::MAX);
        assert_eq!(layer.config.keep_alive, Some(MAX_TIMER));
        assert_eq!(layer.config.max_duration, Some(MAX_TIMER));
        let zero = SseLayer::new().keep_alive_interval(Duration::ZERO);
        assert_eq!(zero.config.keep_alive, Some(Duration::from_millis(1)));
    }

    #[test]
    fn comments_and_retry_are_written_as_events_write_them() {
        let layer = SseLayer::new()
            .keep_alive_text(Comment::from_static("ka"))
            .retry(Duration::from_millis(10));
        let event = Event::new()
            .comment(Comment::from_static("ka"))
            .retry(Duration::from_millis(10))
            .encode();
        assert_eq!(
            event.as_bytes(),
            &[
                &layer.config.keep_alive_line[..],
                &layer.config.prelude.as_ref().unwrap()[..]
            ]
            .concat()[..]
        );
        assert_eq!(&SseLayer::new().config.keep_alive_line[..], b":\n");
    }

    #[test]
    fn clones_share_metrics_but_not_settings() {
        let a = SseLayer::new();
        let b = a.clone().no_keep_alive();
        assert!(a.config.keep_alive.is_some() && b.config.keep_alive.is_none());
        assert!(a.metrics().try_open(None));
        assert_eq!(b.metrics().open_streams(), 1);
    }
}
