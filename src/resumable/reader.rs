//! [`ResumableReader`]: one reader's stream of a resumable stream's events.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use tokio::time::Sleep;

use super::config::ResumableConfig;
use super::control::AbortOnDrop;
use super::terminal::{has_type, is_terminal, Terminal};
use crate::channel::{Subscription, GAP_EVENT_TYPE};
use crate::event::{EncodedEvent, Event};

/// A reader of one resumable stream, from
/// [`ResumableStreams::open`](super::ResumableStreams::open): a stream of
/// encoded events for an [`EventStream`](crate::EventStream).
///
/// It yields the `retry:` hint, the stored events after `Last-Event-ID` (from
/// the start: the priming event first), then live ones, and ends after the
/// terminal event. With [`end_after`](Self::end_after) it ends earlier, at a
/// time of the server's choosing, and the client resumes exactly where it
/// stopped (every event it got carried an id). Dropping it (the client went
/// away) never stops the producer.
#[must_use = "a reader delivers nothing unless it is polled (put it in an `EventStream`)"]
pub struct ResumableReader {
    retry: Option<EncodedEvent>,
    first: Option<EncodedEvent>,
    /// Whether the first event of the subscription was checked for a gap.
    checked: bool,
    subscription: Subscription,
    end_at: Option<Pin<Box<Sleep>>>,
    done: bool,
    _heartbeat: Option<AbortOnDrop>,
}

impl ResumableReader {
    pub(crate) fn new(
        config: &ResumableConfig,
        subscription: Subscription,
        first: Option<EncodedEvent>,
        heartbeat: Option<AbortOnDrop>,
    ) -> Self {
        Self {
            retry: Some(Event::new().retry(config.retry).encode()),
            checked: first.is_some(),
            first,
            subscription,
            end_at: None,
            done: false,
            _heartbeat: heartbeat,
        }
    }

    /// Ends this reader's response after `after` (polling style, as MCP
    /// servers do with SEP-1699): the client waits the retry hint and
    /// resumes with its `Last-Event-ID`, losing and repeating nothing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use futures_util::StreamExt;
    /// let streams = tower_sse::resumable::ResumableStreams::new(tower_sse::Hub::new());
    /// let answer = streams.create().await?;
    /// let token = answer.token().to_string();
    /// let reader = streams.open(&token, None).await?.end_after(Duration::from_secs(10));
    /// // retry hint and priming event, then nothing until the reader ends at 10 s.
    /// assert_eq!(reader.collect::<Vec<_>>().await.len(), 2);
    /// # Ok(()) }
    /// ```
    pub fn end_after(mut self, after: Duration) -> Self {
        let after = after.min(Duration::from_secs(365 * 24 * 60 * 60));
        self.end_at = Some(Box::pin(tokio::time::sleep(after)));
        self
    }
}

impl Stream for ResumableReader {
    type Item = EncodedEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(retry) = this.retry.take() {
            return Poll::Ready(Some(retry));
        }
        let next = match this.first.take() {
            Some(event) => Some(event),
            None => match Pin::new(&mut this.subscription).poll_next(cx) {
                Poll::Ready(next) => next,
                Poll::Pending => {
                    if let Some(end_at) = this.end_at.as_mut() {
                        if end_at.as_mut().poll(cx).is_ready() {
                            this.done = true;
                            return Poll::Ready(None);
                        }
                    }
                    return Poll::Pending;
                }
            },
        };
        let Some(event) = next else {
            this.done = true;
            return Poll::Ready(None);
        };
        if !std::mem::replace(&mut this.checked, true) && has_type(&event, GAP_EVENT_TYPE.as_str())
        {
            // The history was trimmed after the look-up in `open`: refuse
            // in-band (the response has started).
            this.done = true;
            return Poll::Ready(Some(Terminal::Error("unknown-id".to_owned()).encode()));
        }
        if is_terminal(&event) {
            this.done = true;
        }
        Poll::Ready(Some(event))
    }
}

impl fmt::Debug for ResumableReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResumableReader")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
