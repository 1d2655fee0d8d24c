//! [`RelayStream`]: the upstream, read and re-encoded, as a stream of
//! [`Relayed`] items.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use futures_core::Stream;
use http::{Response, StatusCode};
use http_body::Body;
use pin_project_lite::pin_project;
use tokio::time::{sleep, Sleep};

use super::config::{Comments, Relay, MAX_RECONNECT_DELAY};
use super::error::{UpstreamError, UpstreamErrorKind};
use super::item::{write_comment_block, write_event, write_retry_block, Relayed};
use crate::error::{BoxError, ErrorKind};
use crate::last_event_id::LastEventId;
use crate::layer::is_event_stream;
use crate::parse::{EventReader, Item, Parser};

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        // Make the next upstream request on the next poll.
        Idle,
        Connect { #[pin] future: F },
        Read { #[pin] reader: EventReader<B> },
        Wait { #[pin] sleep: Sleep },
        Done,
    }
}

pin_project! {
    /// The items a [`Relay`] sends downstream; wrap it in an
    /// [`EventStream`](crate::EventStream). Made by [`Relay::stream`].
    ///
    /// Dropping it (hyper does when the client goes away) drops the upstream
    /// request or body with it, which closes the upstream connection.
    #[must_use = "streams do nothing unless polled"]
    pub struct RelayStream<C, F, B> {
        relay: Relay<C>,
        // Carries the last event id and retry time across reconnections;
        // `None` while a reader owns it.
        parser: Option<Parser>,
        // The last event id the client has been sent (or came with).
        sent_id: String,
        // Where upstream events are re-encoded; each is split off.
        out: BytesMut,
        // Failed attempts since the last event.
        failures: u32,
        #[pin]
        state: State<F, B>,
    }
}

impl<C, F, B> RelayStream<C, F, B> {
    pub(crate) fn new(relay: Relay<C>, last_event_id: Option<LastEventId>) -> Self {
        let mut parser = Parser::new().max_buffered(relay.max_buffered);
        let mut sent_id = String::new();
        if let Some(id) = last_event_id {
            // The upstream resumes from the client's id.
            parser.set_last_event_id(id.as_str());
            sent_id = id.into_string();
        }
        Self {
            relay,
            parser: Some(parser),
            sent_id,
            out: BytesMut::new(),
            failures: 0,
            state: State::Idle,
        }
    }

    /// The last event id read from the upstream (or the client's, before
    /// any); the one the next upstream request resumes from.
    ///
    /// ```
    /// use tower_sse::{relay::Relay, LastEventId};
    /// # use http_body_util::Empty;
    /// # type Upstream = std::future::Ready<Result<http::Response<Empty<bytes::Bytes>>, std::io::Error>>;
    ///
    /// let relay = Relay::new(|_: Option<&LastEventId>| -> Upstream { unreachable!() });
    /// let stream = relay.stream(LastEventId::new("41").ok());
    /// assert_eq!(stream.last_event_id(), "41");
    /// ```
    pub fn last_event_id(&self) -> &str {
        match (&self.parser, &self.state) {
            (Some(parser), _) => parser.last_event_id(),
            (None, State::Read { reader }) => reader.parser().last_event_id(),
            (None, _) => "",
        }
    }
}

/// How many bytes of re-encoded items one [`Relayed`] run holds at most
/// (plus the item that crossed it).
const RUN_BYTES: usize = 16 * 1024;

/// How long to wait before the next upstream request: the upstream's
/// `retry:` if it sent one, else the configured delay, at most
/// [`MAX_RECONNECT_DELAY`].
fn next_delay<C>(parser: Option<&Parser>, relay: &Relay<C>) -> Duration {
    parser
        .and_then(Parser::retry)
        .unwrap_or(relay.reconnect_delay)
        .min(MAX_RECONNECT_DELAY)
}

impl<C, F, B, E> Stream for RelayStream<C, F, B>
where
    C: FnMut(Option<&LastEventId>) -> F,
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Item = Relayed;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Relayed>> {
        let mut this = self.project();
        loop {
            let error = match this.state.as_mut().project() {
                StateProj::Idle => {
                    let parser = this.parser.get_or_insert_with(Parser::new);
                    let id = LastEventId::new(parser.last_event_id()).ok();
                    let future = (this.relay.connect)(id.as_ref());
                    this.state.set(State::Connect { future });
                    continue;
                }
                StateProj::Connect { future } => match ready!(future.poll(cx)) {
                    Ok(response) if response.status() == StatusCode::NO_CONTENT => {
                        tracing::debug!("relay: upstream answered 204, ending");
                        this.state.set(State::Done);
                        continue;
                    }
                    Ok(response) if response.status() != StatusCode::OK => {
                        UpstreamError::new(UpstreamErrorKind::Status(response.status()))
                    }
                    Ok(response) if !is_event_stream(response.status(), response.headers()) => {
                        UpstreamError::new(UpstreamErrorKind::NotEventStream)
                    }
                    Ok(response) => {
                        let parser = this.parser.take().unwrap_or_default();
                        let reader = EventReader::with_parser(response.into_body(), parser);
                        this.state.set(State::Read { reader });
                        continue;
                    }
                    Err(e) => UpstreamError::with_source(UpstreamErrorKind::Connect, e),
                },
                StateProj::Read { mut reader } => {
                    // Re-encode every item that is ready into one run: the
                    // first may wait for the body; after it, only items the
                    // parser already holds (they never fail or end).
                    let mut items = 0;
                    let mut events = 0;
                    let polled = loop {
                        let ready = reader.parser().has_items();
                        if items > 0 && (!ready || this.out.len() >= RUN_BYTES) {
                            break None;
                        }
                        let item = match reader.as_mut().poll_next(cx) {
                            Poll::Ready(Some(Ok(item))) => item,
                            // Only the first poll can get here.
                            Poll::Ready(Some(Err(e))) => break Some(Err(e)),
                            Poll::Ready(None) => break Some(Ok(())),
                            Poll::Pending => return Poll::Pending,
                        };
                        match item {
                            Item::Event(event) => {
                                write_event(this.out, &event, this.sent_id);
                                reader.as_mut().parser_mut().recycle(event);
                                events += 1;
                            }
                            Item::Comment(text) => match this.relay.comments {
                                Comments::Forward => write_comment_block(this.out, &text),
                                Comments::Drop => continue,
                            },
                            Item::Retry(retry) => write_retry_block(this.out, retry),
                        }
                        items += 1;
                    };
                    if items > 0 {
                        if events > 0 {
                            *this.failures = 0;
                        }
                        return Poll::Ready(Some(Relayed::wire(this.out.split().freeze(), events)));
                    }
                    // The reader is done with: its parser carries the last
                    // event id and retry time on.
                    *this.parser = Some(std::mem::take(reader.as_mut().parser_mut()));
                    // `None` (a run was cut) only comes with items.
                    match polled.unwrap_or(Ok(())) {
                        Err(e) if e.kind() == ErrorKind::BufferFull => {
                            UpstreamError::with_source(UpstreamErrorKind::BufferFull, e)
                        }
                        Err(e) => UpstreamError::with_source(UpstreamErrorKind::Body, e),
                        Ok(()) => {
                            if this.relay.reconnect_on_end {
                                let delay = next_delay(this.parser.as_ref(), this.relay);
                                tracing::debug!(?delay, "relay: upstream ended, reconnecting");
                                this.state.set(State::Wait {
                                    sleep: sleep(delay),
                                });
                            } else {
                                this.state.set(State::Done);
                            }
                            continue;
                        }
                    }
                }
                StateProj::Wait { sleep } => {
                    ready!(sleep.poll(cx));
                    this.state.set(State::Idle);
                    continue;
                }
                StateProj::Done => return Poll::Ready(None),
            };

            // The upstream failed: retry, or end with the terminal event.
            if error.is_retryable() && *this.failures < this.relay.max_reconnects {
                *this.failures += 1;
                let delay = next_delay(this.parser.as_ref(), this.relay);
                tracing::warn!(
                    error = %error,
                    source = ?std::error::Error::source(&error),
                    attempt = *this.failures,
                    ?delay,
                    "relay: upstream failed, reconnecting"
                );
                this.state.set(State::Wait {
                    sleep: sleep(delay),
                });
                continue;
            }
            tracing::warn!(
                error = %error,
                source = ?std::error::Error::source(&error),
                "relay: upstream failed, ending the stream"
            );
            this.state.set(State::Done);
            if let Some(event) = (this.relay.on_error)(&error) {
                return Poll::Ready(Some(Relayed::custom(event)));
            }
        }
    }
}

impl<C, F, B> fmt::Debug for RelayStream<C, F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Idle => "idle",
            State::Connect { .. } => "connecting",
            State::Read { .. } => "reading",
            State::Wait { .. } => "waiting",
            State::Done => "done",
        };
        f.debug_struct("RelayStream")
            .field("relay", &self.relay)
            .field("state", &state)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}
