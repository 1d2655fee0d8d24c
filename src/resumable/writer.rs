//! [`ResumableStream`]: the producer's handle on one stream.

use std::fmt;
use std::sync::Arc;

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use super::control::AbortOnDrop;
use super::records::Topics;
use super::registry::Inner;
use super::terminal::{is_reserved, Terminal};
use super::token::StreamToken;
use crate::error::{Error, ErrorKind};
use crate::field::EventId;
use crate::into_event::IntoEvent;

/// The producer's handle on one resumable stream, from
/// [`ResumableStreams::create`](super::ResumableStreams::create).
///
/// [`send`](Self::send) stores an event (and then delivers it to the readers
/// attached anywhere); [`finish`](Self::finish) writes the terminal event.
/// The producer selects on [`cancelled`](Self::cancelled) to stop when a
/// client asks (or, with the idle policy, when nobody reads). Readers
/// leaving never cancel.
///
/// Dropping the handle without finishing writes [`Terminal::Cancelled`] if
/// the stream was cancelled, otherwise a [`Terminal::Error`] saying the
/// producer stopped, so readers never hang.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
/// use tower_sse::resumable::{ResumableStreams, Terminal};
///
/// let streams = ResumableStreams::new(tower_sse::Hub::new());
/// let answer = streams.create().await?;
/// let producer = tokio::spawn(async move {
///     for token in ["Hel", "lo"] {
///         tokio::select! {
///             () = answer.cancelled() => return answer.finish(Terminal::Cancelled).await,
///             sent = answer.send(token) => { sent?; }
///         }
///     }
///     answer.finish(Terminal::Done(String::new())).await
/// });
/// producer.await.unwrap()?;
/// # Ok(()) }
/// ```
pub struct ResumableStream {
    inner: Arc<Inner>,
    token: StreamToken,
    topic: String,
    cancel: CancellationToken,
    done: CancellationToken,
    finished: bool,
    _watchdog: Option<AbortOnDrop>,
}

impl ResumableStream {
    pub(crate) fn new(
        inner: Arc<Inner>,
        token: StreamToken,
        topic: String,
        cancel: CancellationToken,
        done: CancellationToken,
        watchdog: Option<AbortOnDrop>,
    ) -> Self {
        Self {
            inner,
            token,
            topic,
            cancel,
            done,
            finished: false,
            _watchdog: watchdog,
        }
    }

    /// The stream's name, to hand to the client (e.g. in the URL it resumes
    /// from).
    #[must_use]
    pub fn token(&self) -> StreamToken {
        self.token
    }

    /// Stores `event` and delivers it to the attached readers; returns its
    /// id. Event types starting with `sse-` are reserved for the stream's
    /// own events.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ReservedEventType`] for an `sse-` type, otherwise as
    /// [`Hub::publish`](crate::Hub::publish).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
    /// use tower_sse::{ErrorKind, Event, EventType};
    /// let streams = tower_sse::resumable::ResumableStreams::new(tower_sse::Hub::new());
    /// let answer = streams.create().await?;
    /// let id = answer.send("token").await?;
    /// assert!(!id.as_str().is_empty());
    /// let fake_end = Event::new().event(EventType::from_static("sse-done"));
    /// assert_eq!(answer.send(fake_end).await.unwrap_err().kind(), ErrorKind::ReservedEventType);
    /// # Ok(()) }
    /// ```
    pub async fn send<E>(&self, event: E) -> Result<EventId, Error>
    where
        E: IntoEvent,
    {
        let event = event.into_event()?;
        if is_reserved(&event) {
            return Err(Error::new(ErrorKind::ReservedEventType));
        }
        self.inner.hub.publish(&self.topic, event).await
    }

    /// Completes when the stream is cancelled ([`ResumableStreams::cancel`]
    /// on any node, or the idle policy). Select on it in the producer.
    ///
    /// [`ResumableStreams::cancel`]: super::ResumableStreams::cancel
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    /// Whether the stream was cancelled.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The cancellation itself, to hand to code that takes a
    /// [`CancellationToken`] (cancelling it cancels the stream).
    #[must_use]
    pub fn cancellation_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Writes the terminal event and returns its id; every reader's response
    /// then ends, and the stream stays readable for the configured TTL.
    ///
    /// # Errors
    ///
    /// As [`Hub::publish`](crate::Hub::publish). The stream then counts as
    /// unfinished and expires after its maximum lifetime.
    pub async fn finish(mut self, terminal: Terminal) -> Result<EventId, Error> {
        self.finished = true;
        finish(
            Arc::clone(&self.inner),
            self.token,
            self.topic.clone(),
            terminal,
        )
        .await
    }
}

async fn finish(
    inner: Arc<Inner>,
    token: StreamToken,
    topic: String,
    terminal: Terminal,
) -> Result<EventId, Error> {
    inner.forget_local(token);
    let id = inner.hub.publish(&topic, terminal.to_event()).await?;
    let control = inner.control_topic(token);
    let ttl = inner.config.ttl;
    inner
        .records
        .finish(
            token,
            terminal.state(),
            id.as_str(),
            ttl,
            Topics {
                events: &topic,
                control: &control,
            },
        )
        .await?;
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let inner = Arc::clone(&inner);
        let now = tokio::time::Instant::now();
        let gone = now.checked_add(ttl).unwrap_or(now);
        runtime.spawn(async move {
            tokio::time::sleep_until(gone).await;
            inner.records.remove(token);
            inner.close_topics(token);
        });
    }
    Ok(id)
}

impl Drop for ResumableStream {
    fn drop(&mut self) {
        self.done.cancel();
        if self.finished {
            return;
        }
        let terminal = if self.cancel.is_cancelled() {
            Terminal::Cancelled
        } else {
            Terminal::Error("the producer stopped without finishing".to_owned())
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let task = finish(
                    Arc::clone(&self.inner),
                    self.token,
                    self.topic.clone(),
                    terminal,
                );
                runtime.spawn(async move {
                    if let Err(error) = task.await {
                        tracing::warn!(%error, "could not write the terminal event");
                    }
                });
            }
            Err(_) => self.inner.forget_local(self.token),
        }
    }
}

impl fmt::Debug for ResumableStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResumableStream")
            .field("token", &self.token)
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}
