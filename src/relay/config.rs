//! [`Relay`]: how a relay reaches its upstream and what it forwards.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::Response;

use super::error::UpstreamError;
use super::stream::RelayStream;
use crate::event::Event;
use crate::field::EventType;
use crate::last_event_id::LastEventId;
use crate::parse::Parser;

/// The event type of the relay's default terminal error event:
/// `event: sse-upstream-error`, with the [`UpstreamError`]'s message as data
/// (for example `upstream answered 502`).
///
/// ```
/// assert_eq!(tower_sse::relay::UPSTREAM_ERROR_EVENT_TYPE.as_str(), "sse-upstream-error");
/// ```
pub const UPSTREAM_ERROR_EVENT_TYPE: EventType = EventType::from_static("sse-upstream-error");

/// What a relay does with the upstream's comments (keep-alives, mostly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Comments {
    /// Drop them (the default): keep-alives are hop-by-hop, and the relay's
    /// own [`SseLayer`](crate::SseLayer) keeps the client's connection alive.
    #[default]
    Drop,
    /// Send each one on as a comment (never as data), alone between events.
    Forward,
}

type OnError = Arc<dyn Fn(&UpstreamError) -> Option<Event> + Send + Sync>;

/// The longest wait before a reconnect, whatever the upstream's `retry:`
/// or [`Relay::reconnect_delay`] say: one hour.
pub(crate) const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(3600);

/// A relay: reads an upstream event stream, reconnecting with
/// `Last-Event-ID`, and re-encodes it for a client. See the
/// [module docs](super) for an example.
///
/// `connect` makes the upstream request. It gets the last event id the relay
/// has seen (at first the client's own) and returns a future of the
/// upstream's `http::Response`; set the id as the `Last-Event-ID` header
/// with [`LastEventId::to_header_value`].
#[must_use]
pub struct Relay<C> {
    pub(crate) connect: C,
    pub(crate) comments: Comments,
    pub(crate) max_reconnects: u32,
    pub(crate) reconnect_on_end: bool,
    pub(crate) reconnect_delay: Duration,
    pub(crate) max_buffered: usize,
    pub(crate) on_error: OnError,
}

impl<C> Relay<C> {
    /// The default for [`Relay::reconnect_delay`]: 1 second.
    pub const DEFAULT_RECONNECT_DELAY: Duration = Duration::from_secs(1);
    /// The default for [`Relay::max_reconnects`]: 3.
    pub const DEFAULT_MAX_RECONNECTS: u32 = 3;

    /// A relay that makes its upstream requests with `connect`.
    ///
    /// Defaults: comments dropped, up to 3 reconnects in a row after a
    /// failure, none after a clean end, a 1 s delay unless the upstream sent
    /// `retry:`, a 1 MiB parser limit, and the
    /// [default error event](UPSTREAM_ERROR_EVENT_TYPE).
    pub fn new(connect: C) -> Self {
        Self {
            connect,
            comments: Comments::Drop,
            max_reconnects: Self::DEFAULT_MAX_RECONNECTS,
            reconnect_on_end: false,
            reconnect_delay: Self::DEFAULT_RECONNECT_DELAY,
            max_buffered: Parser::DEFAULT_MAX_BUFFERED,
            on_error: Arc::new(default_error_event),
        }
    }

    /// What to do with upstream comments.
    pub fn comments(mut self, comments: Comments) -> Self {
        self.comments = comments;
        self
    }

    /// How many times in a row the relay reconnects after a failure (a
    /// connect error, a body error, a 429 or 5xx status) before it gives up
    /// with its terminal event. The count starts again after every event
    /// received. `0` never reconnects.
    pub fn max_reconnects(mut self, attempts: u32) -> Self {
        self.max_reconnects = attempts;
        self
    }

    /// Whether a clean end of the upstream body is a reason to reconnect, as
    /// a browser would (live feeds), rather than the end of the relay
    /// (the default, right for one LLM response). A 204 answer always ends
    /// the relay.
    pub fn reconnect_on_end(mut self, reconnect: bool) -> Self {
        self.reconnect_on_end = reconnect;
        self
    }

    /// How long to wait before reconnecting when the upstream sent no
    /// `retry:` hint. Values above one hour are cut to one hour.
    pub fn reconnect_delay(mut self, delay: Duration) -> Self {
        self.reconnect_delay = delay.min(MAX_RECONNECT_DELAY);
        self
    }

    /// The parser's buffer limit (see [`Parser::max_buffered`]): an upstream
    /// line or event over it ends the relay with
    /// [`UpstreamErrorKind::BufferFull`](super::UpstreamErrorKind::BufferFull).
    pub fn max_buffered(mut self, bytes: usize) -> Self {
        self.max_buffered = bytes;
        self
    }

    /// The event the client gets when the relay gives up; `None` sends
    /// nothing. Either way the stream then ends cleanly.
    pub fn on_error<F>(mut self, f: F) -> Self
    where
        F: Fn(&UpstreamError) -> Option<Event> + Send + Sync + 'static,
    {
        self.on_error = Arc::new(f);
        self
    }

    /// Starts relaying: `last_event_id` is the client's `Last-Event-ID`,
    /// passed to the first upstream request. Nothing happens until the
    /// stream is polled; dropping it drops the upstream request at once.
    pub fn stream<F, B, E>(self, last_event_id: Option<LastEventId>) -> RelayStream<C, F, B>
    where
        C: FnMut(Option<&LastEventId>) -> F,
        F: Future<Output = Result<Response<B>, E>>,
    {
        RelayStream::new(self, last_event_id)
    }
}

/// `event: sse-upstream-error` with the error's message as data.
fn default_error_event(err: &UpstreamError) -> Option<Event> {
    Some(
        Event::new()
            .event(UPSTREAM_ERROR_EVENT_TYPE)
            .data(err.to_string()),
    )
}

impl<C> fmt::Debug for Relay<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("comments", &self.comments)
            .field("max_reconnects", &self.max_reconnects)
            .field("reconnect_on_end", &self.reconnect_on_end)
            .field("reconnect_delay", &self.reconnect_delay)
            .field("max_buffered", &self.max_buffered)
            .finish_non_exhaustive()
    }
}
