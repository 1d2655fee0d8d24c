//! [`ResumableStreams`]: creates, opens and cancels resumable streams.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::FutureExt;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::config::ResumableConfig;
use super::control::{cancel_event, heartbeat, watchdog, AbortOnDrop};
use super::error::{ResumeError, ResumeErrorKind};
use super::lookup::{check_resume, Refusal};
use super::reader::ResumableReader;
use super::records::{MemoryRecords, Records, StreamState, Topics};
use super::terminal::has_type;
use super::token::StreamToken;
use super::writer::ResumableStream;
use crate::channel::{Hub, GAP_EVENT_TYPE};
use crate::error::Error;
use crate::event::Event;

/// Resumable response streams on a [`Hub`]: one stream per unit of work (an
/// AI answer, an agent run, a tool call), written by a producer task, read by
/// any number of requests with `Last-Event-ID`, on any node that shares the
/// hub's backend.
///
/// See the [module docs](super) for the wire protocol and the guarantees.
/// Cloning is cheap; clones share everything.
///
/// ```
/// use futures_util::StreamExt;
/// use tower_sse::resumable::{ResumableStreams, Terminal};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let streams = ResumableStreams::new(tower_sse::Hub::new());
/// let answer = streams.create().await?;
/// let token = answer.token().to_string();
/// answer.send("Hello").await?;
/// answer.finish(Terminal::Done(String::new())).await?;
///
/// // Any reader, later, from the start (or with `Last-Event-ID`):
/// let reader = streams.open(&token, None).await?;
/// let events: Vec<_> = reader.collect().await;
/// let text: Vec<_> = events.iter().map(|e| String::from_utf8_lossy(e.as_bytes())).collect();
/// assert_eq!(text[0], "retry: 1000\n\n");
/// assert!(text[1].starts_with("id: ") && text[1].ends_with("\ndata: \n\n")); // priming
/// assert!(text[2].ends_with("\ndata: Hello\n\n"));
/// assert!(text[3].starts_with("event: sse-done\nid: "));
/// assert_eq!(text.len(), 4);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ResumableStreams {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) hub: Hub,
    pub(crate) config: ResumableConfig,
    pub(crate) records: Box<dyn Records>,
    /// The producers running on this node, for an instant local cancel.
    local: Mutex<HashMap<StreamToken, CancellationToken>>,
}

/// The record store that matches the hub's engine.
fn records_for(hub: &Hub, config: &ResumableConfig) -> Box<dyn Records> {
    #[cfg(feature = "redis")]
    if let Some(redis) = hub.config().redis_config() {
        return Box::new(super::records::RedisRecords::new(redis.clone()));
    }
    let _ = hub;
    Box::new(MemoryRecords::new(config.max_streams))
}

impl Inner {
    pub(crate) fn events_topic(&self, token: StreamToken) -> String {
        format!("{}{token}", self.config.topic_prefix)
    }

    pub(crate) fn control_topic(&self, token: StreamToken) -> String {
        format!("{}{token}:ctl", self.config.topic_prefix)
    }

    fn local(&self) -> MutexGuard<'_, HashMap<StreamToken, CancellationToken>> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn forget_local(&self, token: StreamToken) {
        self.local().remove(&token);
    }

    /// Closes the topics of streams whose records expired unfinished.
    fn sweep(&self) {
        for token in self.records.take_expired() {
            self.close_topics(token);
        }
    }

    pub(crate) fn close_topics(&self, token: StreamToken) {
        self.hub.close_topic(&self.events_topic(token));
        self.hub.close_topic(&self.control_topic(token));
    }
}

impl ResumableStreams {
    /// Streams on `hub` with the default [`ResumableConfig`]. With a Redis
    /// hub the stream records live in the same Redis, so every node sees
    /// the same streams.
    ///
    /// ```
    /// let streams = tower_sse::resumable::ResumableStreams::new(tower_sse::Hub::new());
    /// assert_eq!(streams.config().ttl_value().as_secs(), 300);
    /// ```
    #[must_use]
    pub fn new(hub: Hub) -> Self {
        Self::with_config(hub, ResumableConfig::new())
    }

    /// Streams on `hub` with the given configuration.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_sse::resumable::{ResumableConfig, ResumableStreams};
    ///
    /// let config = ResumableConfig::new().ttl(Duration::from_secs(30));
    /// let streams = ResumableStreams::with_config(tower_sse::Hub::new(), config);
    /// assert_eq!(streams.config().ttl_value(), Duration::from_secs(30));
    /// ```
    #[must_use]
    pub fn with_config(hub: Hub, config: ResumableConfig) -> Self {
        let records = records_for(&hub, &config);
        Self {
            inner: Arc::new(Inner {
                hub,
                config,
                records,
                local: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The hub the streams live on.
    #[must_use]
    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// The configuration.
    pub fn config(&self) -> &ResumableConfig {
        &self.inner.config
    }

    /// Creates a stream for one unit of work and returns its producer handle.
    ///
    /// The stream starts with its priming event (an id and empty data),
    /// stored before this returns, so a reader that drops before any real
    /// event can still resume. Hand [`ResumableStream::token`] to the client
    /// and move the handle into the producer task.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooManyStreams`](crate::ErrorKind::TooManyStreams) when an
    /// in-memory registry holds [`ResumableConfig::max_streams`] streams,
    /// [`ErrorKind::Closed`](crate::ErrorKind::Closed) after
    /// [`Hub::close`], [`ErrorKind::Backend`](crate::ErrorKind::Backend) when
    /// Redis fails.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
    /// use tower_sse::resumable::{ResumableConfig, ResumableStreams};
    ///
    /// let streams = ResumableStreams::with_config(
    ///     tower_sse::Hub::new(),
    ///     ResumableConfig::new().max_streams(1),
    /// );
    /// let _first = streams.create().await?;
    /// let err = streams.create().await.unwrap_err();
    /// assert_eq!(err.kind(), tower_sse::ErrorKind::TooManyStreams);
    /// # Ok(()) }
    /// ```
    pub async fn create(&self) -> Result<ResumableStream, Error> {
        let inner = &self.inner;
        inner.sweep();
        let token = StreamToken::generate();
        let events = inner.events_topic(token);
        let control = inner.control_topic(token);
        let topics = Topics {
            events: &events,
            control: &control,
        };
        // Listen for cancel requests before anyone can know the token.
        let control_subscription = inner.hub.subscribe(&control)?;
        inner.hub.publish(&events, Event::new().data("")).await?;
        if let Err(error) = inner
            .records
            .create(token, inner.config.max_lifetime, topics)
            .await
        {
            inner.close_topics(token);
            return Err(error);
        }
        let cancel = CancellationToken::new();
        let done = CancellationToken::new();
        inner.local().insert(token, cancel.clone());
        let watch = watchdog(
            inner.hub.clone(),
            events.clone(),
            control_subscription,
            cancel.clone(),
            done.clone(),
            inner.config.unread,
        );
        let watchdog = tokio::runtime::Handle::try_current()
            .ok()
            .map(|rt| AbortOnDrop(rt.spawn(watch)));
        Ok(ResumableStream::new(
            Arc::clone(inner),
            token,
            events,
            cancel,
            done,
            watchdog,
        ))
    }

    /// Opens a reader of the stream named `token`, after `last_event_id`
    /// (the `Last-Event-ID` header), or from its start when `None` or empty.
    ///
    /// The reader yields the retry hint, then every stored event after the
    /// id (from the start: the priming event first), then live events, and
    /// ends after the terminal event. Put it into an
    /// [`EventStream`](crate::EventStream). Dropping it does not stop the
    /// producer.
    ///
    /// # Errors
    ///
    /// A [`ResumeError`]; its [`status_code`](ResumeError::status_code) is the
    /// documented answer: `404` unknown or expired stream, `204` resumed
    /// after the terminal event, `400` a malformed id or one that is not an
    /// event of this stream, `410` the start is no longer stored, `503`
    /// backend failure.
    ///
    /// The id is looked up before any response starts, with one bounded
    /// read on every engine (one Redis round trip): a foreign, made-up or
    /// trimmed id is refused with `400` on Redis as in memory. Only a
    /// history trimmed in the instant between that look-up and the replay
    /// is reported in-band: the reader then yields an `sse-error` terminal
    /// event with data `unknown-id` and ends.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use futures_util::StreamExt;
    /// use tower_sse::resumable::{ResumableStreams, ResumeErrorKind, Terminal};
    ///
    /// let streams = ResumableStreams::new(tower_sse::Hub::new());
    /// let answer = streams.create().await?;
    /// let token = answer.token().to_string();
    /// let first = answer.send("a").await?;
    /// let second = answer.send("b").await?;
    ///
    /// let mut reader = streams.open(&token, Some(first.as_str())).await?;
    /// assert_eq!(reader.next().await.unwrap().as_bytes(), &b"retry: 1000\n\n"[..]);
    /// let next = reader.next().await.unwrap();
    /// assert_eq!(next.as_bytes(), format!("id: {second}\ndata: b\n\n").as_bytes());
    ///
    /// let err = streams.open(&token, Some("garbage id")).await.unwrap_err();
    /// assert_eq!(err.kind(), ResumeErrorKind::InvalidId);
    /// let err = streams.open(&token, Some("999")).await.unwrap_err();
    /// assert_eq!(err.kind(), ResumeErrorKind::UnknownId);
    /// # Ok(()) }
    /// ```
    pub async fn open(
        &self,
        token: &str,
        last_event_id: Option<&str>,
    ) -> Result<ResumableReader, ResumeError> {
        let inner = &self.inner;
        inner.sweep();
        let token: StreamToken = token
            .parse()
            .map_err(|_| ResumeError::new(ResumeErrorKind::NotFound))?;
        let last = last_event_id.filter(|id| !id.is_empty());
        if let Some(id) = last {
            let printable = |b: u8| b.is_ascii_graphic();
            if id.len() > 128 || !id.bytes().all(printable) {
                return Err(ResumeError::new(ResumeErrorKind::InvalidId));
            }
        }
        let record = inner
            .records
            .get(token)
            .await
            .map_err(ResumeError::backend)?
            .ok_or_else(|| ResumeError::new(ResumeErrorKind::NotFound))?;
        if last.is_some() && record.terminal_id.as_deref() == last {
            return Err(ResumeError::new(ResumeErrorKind::Ended));
        }
        let events = inner.events_topic(token);
        // Look the id up first (one bounded read on every engine), so a
        // foreign or stale id is refused before any response starts.
        check_resume(&inner.hub, &events, last)
            .await
            .map_err(|refusal| match refusal {
                Refusal::UnknownId => ResumeError::new(ResumeErrorKind::UnknownId),
                Refusal::HistoryLost => ResumeError::new(ResumeErrorKind::HistoryLost),
                Refusal::Backend(error) => ResumeError::backend(error),
            })?;
        let mut subscription = inner
            .hub
            .subscribe_from(&events, Some(last.unwrap_or("0")))
            .map_err(ResumeError::backend)?;
        // An in-memory replay is ready at once; a history trimmed since the
        // look-up is refused here (or, on Redis, in-band by the reader).
        let first = match subscription.next().now_or_never() {
            Some(Some(event)) if has_type(&event, GAP_EVENT_TYPE.as_str()) => {
                let kind = if last.is_some() {
                    ResumeErrorKind::UnknownId
                } else {
                    ResumeErrorKind::HistoryLost
                };
                return Err(ResumeError::new(kind));
            }
            Some(Some(event)) => Some(event),
            // The hub is closed.
            Some(None) => return Err(ResumeError::new(ResumeErrorKind::NotFound)),
            None => None,
        };
        let producer_here = inner.local().contains_key(&token);
        let heartbeat = match inner.config.unread {
            Some(limit) if record.state.is_running() && !producer_here => heartbeat(
                inner.hub.clone(),
                inner.control_topic(token),
                (limit / 3).max(std::time::Duration::from_millis(1)),
            ),
            _ => None,
        };
        Ok(ResumableReader::new(
            &inner.config,
            subscription,
            first,
            heartbeat,
        ))
    }

    /// The state of the stream named `token`, or `None` when it is unknown
    /// or expired.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Backend`](crate::ErrorKind::Backend) when Redis fails.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
    /// use tower_sse::resumable::{ResumableStreams, StreamState, Terminal};
    ///
    /// let streams = ResumableStreams::new(tower_sse::Hub::new());
    /// let answer = streams.create().await?;
    /// let token = answer.token().to_string();
    /// assert_eq!(streams.state(&token).await?, Some(StreamState::Running));
    /// answer.finish(Terminal::Error("upstream failed".into())).await?;
    /// assert_eq!(streams.state(&token).await?, Some(StreamState::Failed));
    /// assert_eq!(streams.state("bogus").await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn state(&self, token: &str) -> Result<Option<StreamState>, Error> {
        let Ok(token) = token.parse::<StreamToken>() else {
            return Ok(None);
        };
        Ok(self.inner.records.get(token).await?.map(|r| r.state))
    }

    /// Asks the producer of the stream named `token` to stop, on whichever
    /// node it runs: its [`ResumableStream::cancelled`] completes. Returns
    /// whether the stream was running. Readers leaving never cancel.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Backend`](crate::ErrorKind::Backend) when Redis fails.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
    /// let streams = tower_sse::resumable::ResumableStreams::new(tower_sse::Hub::new());
    /// let answer = streams.create().await?;
    /// assert!(streams.cancel(&answer.token().to_string()).await?);
    /// answer.cancelled().await; // completes at once
    /// assert!(!streams.cancel("bogus").await?);
    /// # Ok(()) }
    /// ```
    pub async fn cancel(&self, token: &str) -> Result<bool, Error> {
        let inner = &self.inner;
        let Ok(token) = token.parse::<StreamToken>() else {
            return Ok(false);
        };
        let local = inner.local().get(&token).cloned();
        if let Some(cancel) = local {
            cancel.cancel();
            return Ok(true);
        }
        match inner.records.get(token).await? {
            Some(record) if record.state.is_running() => {
                inner
                    .hub
                    .publish(&inner.control_topic(token), cancel_event())
                    .await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

impl fmt::Debug for ResumableStreams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResumableStreams")
            .field("config", &self.inner.config)
            .field("records", &self.inner.records)
            .finish_non_exhaustive()
    }
}
