//! [`Multiplexer`]: the configuration and entry point of multi-topic
//! subscriptions over a [`Hub`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::request::Parts;

use super::audience::{self, MAX_AUDIENCE};
use super::authorize::{AllowAll, Authorize, Subscriber};
use super::checkpoint::{CheckpointStore, MemoryCheckpoints, Snapshot};
use super::cursor;
use super::mac::CursorKey;
use super::pool::RunPool;
use super::refusal::{Refusal, RefusalKind};
use super::request::MultiRequest;
use super::steps::Steps;
use super::subscription::{MultiSubscription, Start, Tagged, TopicState};
use crate::engine::{Offset, Position};
use crate::error::{Error, ErrorKind};
use crate::event::Event;
use crate::into_event::IntoEvent;
use crate::last_event_id::Rejected;
use crate::{Hub, LastEventId};

/// An id no event has: resuming after it makes the hub answer with a gap
/// event whose id is the topic's newest event, which is exactly where a
/// live subscription starts.
const LIVE: &str = "\u{1}tower-sse:live";

/// Many topics of a [`Hub`] over one connection, resumed as a whole, with
/// per-topic authorization. Cheap to clone; keep one in your app state.
///
/// See the [module docs](super) for the design and the wire format.
///
/// ```
/// use futures_util::StreamExt;
/// use tower_sse::{multi::{MultiRequest, Multiplexer}, Hub};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let hub = Hub::new();
/// let multi = Multiplexer::new(hub.clone()).max_topics(16);
///
/// let mut stream = multi.subscribe(MultiRequest::new(["a", "b"])).await?;
/// let cursor = stream.next().await.unwrap().cursor().to_owned(); // the priming event
/// hub.publish("a", "1").await?;
/// drop(stream); // the connection drops...
/// hub.publish("b", "2").await?;
///
/// // ...and the browser reconnects with the last id it saw.
/// let request = MultiRequest::new(["a", "b"]).last_event_id(Some(cursor));
/// let mut stream = multi.subscribe(request).await?;
/// assert_eq!(stream.next().await.unwrap().topic(), None); // priming, again
/// let a = stream.next().await.unwrap();
/// let b = stream.next().await.unwrap();
/// assert_eq!((a.topic(), b.topic()), (Some("a"), Some("b")));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Multiplexer {
    hub: Hub,
    pub(crate) key: CursorKey,
    pub(crate) store: Arc<dyn CheckpointStore>,
    authorizer: Arc<dyn Authorize>,
    max_topics: usize,
    max_cursor_len: usize,
    pub(crate) expiry_retry: Duration,
    pub(crate) refresh_every: Duration,
    /// Cursor steps its subscriptions share; under this key only.
    pub(crate) steps: Arc<Steps>,
    /// The buffers of its streams' big runs.
    pub(crate) runs: Arc<RunPool>,
}

impl Multiplexer {
    /// The most topics one subscription can have, whatever the configuration.
    pub const MAX_TOPICS: usize = 255;
    /// The default [`Multiplexer::max_topics`]: 64.
    pub const DEFAULT_MAX_TOPICS: usize = 64;
    /// The default [`Multiplexer::max_cursor_len`]: 256 bytes (cursors are at
    /// most 128).
    pub const DEFAULT_MAX_CURSOR_LEN: usize = 256;
    /// The default [`Multiplexer::expiry_retry`]: 1 s.
    pub const DEFAULT_EXPIRY_RETRY: Duration = Duration::from_secs(1);
    /// The default [`Multiplexer::checkpoint_refresh`]: 12 h.
    pub const DEFAULT_CHECKPOINT_REFRESH: Duration = Duration::from_secs(12 * 3600);

    /// Subscriptions over `hub` with a random [`CursorKey`], checkpoints in
    /// memory ([`MemoryCheckpoints`]) and every topic allowed ([`AllowAll`]).
    #[must_use]
    pub fn new(hub: Hub) -> Self {
        let key = CursorKey::random();
        Self {
            steps: Arc::new(Steps::new(hub.config().buffer_len())),
            runs: Arc::default(),
            hub,
            key,
            store: Arc::new(MemoryCheckpoints::new()),
            authorizer: Arc::new(AllowAll),
            max_topics: Self::DEFAULT_MAX_TOPICS,
            max_cursor_len: Self::DEFAULT_MAX_CURSOR_LEN,
            expiry_retry: Self::DEFAULT_EXPIRY_RETRY,
            refresh_every: Self::DEFAULT_CHECKPOINT_REFRESH,
        }
    }

    /// The key that signs cursors and audience tags: the same on every server
    /// that may resume a stream (and publish private events).
    #[must_use]
    pub fn key(mut self, key: CursorKey) -> Self {
        // Steps are tags under the old key: a fresh table.
        self.steps = Arc::new(Steps::new(self.hub.config().buffer_len()));
        self.key = key;
        self
    }

    /// Where checkpoints are kept; on a cluster, a store every server reads
    /// (`RedisCheckpoints` with the `redis` feature).
    #[must_use]
    pub fn checkpoints<C>(mut self, store: C) -> Self
    where
        C: CheckpointStore,
    {
        self.store = Arc::new(store);
        self
    }

    /// Decides per topic in [`Multiplexer::subscribe_parts`].
    #[must_use]
    pub fn authorizer<A>(mut self, authorizer: A) -> Self
    where
        A: Authorize,
    {
        self.authorizer = Arc::new(authorizer);
        self
    }

    /// The most topics per subscription, 1 to [`Multiplexer::MAX_TOPICS`]
    /// (values outside are clamped).
    ///
    /// ```
    /// let multi = tower_sse::multi::Multiplexer::new(tower_sse::Hub::new()).max_topics(1000);
    /// assert_eq!(multi.topic_limit(), 255);
    /// ```
    #[must_use]
    pub fn max_topics(mut self, topics: usize) -> Self {
        self.max_topics = topics.clamp(1, Self::MAX_TOPICS);
        self
    }

    /// The longest `Last-Event-ID` accepted; longer ones are refused with 400
    /// ([`RefusalKind::CursorTooLong`]) without being read. At least 128
    /// bytes (a smaller value is raised to it): this crate's own cursors
    /// take up to 128, and refusing them would stop a browser for good.
    #[must_use]
    pub fn max_cursor_len(mut self, bytes: usize) -> Self {
        self.max_cursor_len = bytes.max(super::cursor::MAX_CURSOR_LEN);
        self
    }

    /// The `retry:` hint sent when a subscription expires (at most a day).
    #[must_use]
    pub fn expiry_retry(mut self, retry: Duration) -> Self {
        self.expiry_retry = retry.min(Duration::from_secs(24 * 3600));
        self
    }

    /// How often an open subscription saves its checkpoint again, so that it
    /// does not expire under an idle client: keep it under half the store's
    /// TTL. At least 1 s.
    #[must_use]
    pub fn checkpoint_refresh(mut self, every: Duration) -> Self {
        self.refresh_every = every.max(Duration::from_secs(1));
        self
    }

    /// The hub.
    #[must_use]
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The configured [`Multiplexer::max_topics`].
    #[must_use]
    pub fn topic_limit(&self) -> usize {
        self.max_topics
    }

    /// The configured [`Multiplexer::max_cursor_len`].
    #[must_use]
    pub fn cursor_limit(&self) -> usize {
        self.max_cursor_len
    }

    /// `event`, delivered by multi-topic subscriptions only to the given
    /// principals (see [`Subscriber`]), in live delivery and in replay.
    ///
    /// The mark is a first comment line of keyed tags, cut off before sending.
    /// Single-topic [`Subscription`](crate::Subscription)s do not filter:
    /// publish private events only to topics read through a `Multiplexer`.
    ///
    /// # Errors
    ///
    /// When `event` cannot be converted, or names more than 1024 principals
    /// ([`ErrorKind::InvalidConfig`]).
    ///
    /// ```
    /// use tower_sse::{multi::Multiplexer, Hub};
    ///
    /// let multi = Multiplexer::new(Hub::new());
    /// let event = multi.private("you have mail", ["ann"])?;
    /// assert!(event.comments()[0].starts_with("tower-sse-for "));
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    pub fn private<E, I, P>(&self, event: E, principals: I) -> Result<Event, Error>
    where
        E: IntoEvent,
        I: IntoIterator<Item = P>,
        P: AsRef<str>,
    {
        let event = event.into_event()?;
        let mut line = String::from("tower-sse-for");
        for (n, principal) in principals.into_iter().enumerate() {
            if n == MAX_AUDIENCE {
                return Err(Error::with_source(
                    ErrorKind::InvalidConfig,
                    "a private event names at most 1024 principals",
                ));
            }
            line.push(' ');
            let tag = audience::tag(&self.key, principal.as_ref());
            line.push_str(std::str::from_utf8(&tag).unwrap_or_default());
        }
        let mut private = Event::new().try_comment(line)?;
        for comment in event.comments() {
            private = private.try_comment(comment.clone())?;
        }
        if let Some(kind) = event.event_type() {
            private = private.event(kind.clone());
        }
        if let Some(id) = event.event_id() {
            private = private.id(id.clone());
        }
        if let Some(retry) = event.retry_duration() {
            private = private.retry(retry);
        }
        if let Some(data) = event.data_str() {
            private = private.data(data);
        }
        Ok(private)
    }

    fn validate(&self, request: &MultiRequest) -> Result<(), Refusal> {
        if request.topics.is_empty() {
            return Err(Refusal::new(RefusalKind::NoTopics));
        }
        if request.overflow || request.topics.len() > self.max_topics {
            return Err(Refusal::new(RefusalKind::TooManyTopics));
        }
        for (topic, _) in &request.topics {
            let bad = topic.is_empty()
                || topic.len() > 255
                || topic.starts_with("sse-")
                || topic.bytes().any(|b| matches!(b, b'\r' | b'\n' | b'\0'));
            if bad {
                return Err(Refusal::new(RefusalKind::InvalidTopic).with_topic(topic.as_str()));
            }
        }
        let mut names: Vec<&str> = request.topics().collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(Refusal::new(RefusalKind::DuplicateTopic).with_topic(pair[0]));
        }
        if request
            .last_event_id
            .as_ref()
            .is_some_and(|id| id.len() > self.max_cursor_len)
        {
            return Err(Refusal::new(RefusalKind::CursorTooLong));
        }
        Ok(())
    }

    /// Subscribes from an HTTP request: reads the cursor
    /// ([`LastEventId::from_parts`]: the header, or a `lastEventId` query
    /// parameter) and the [`Subscriber`] from the extensions (anonymous when
    /// absent), asks the [authorizer](Multiplexer::authorizer) about every
    /// topic, then [subscribes](Multiplexer::subscribe).
    ///
    /// An id that was sent but is no id at all is never taken for a fresh
    /// start (which would skip what the client missed without a gap): one
    /// over the [layer's cap](crate::SseLayer::max_last_event_id_len) (or
    /// over 1 KiB without the layer) is refused like a cursor over
    /// [`Multiplexer::max_cursor_len`], and one the layer refused otherwise
    /// (a NUL, CR or LF, not UTF-8, several headers) gives every topic a gap
    /// with reason `invalid-cursor`, like an edited cursor.
    ///
    /// # Errors
    ///
    /// The first [`Refusal`]: limits first, then the authorizer's, then the
    /// expiry; nothing is opened.
    ///
    /// ```
    /// use axum::{extract::{Query, Request, State}, response::{IntoResponse, Response}};
    /// use tower_sse::{multi::Multiplexer, EventStream};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Topics { topics: String }
    ///
    /// async fn events(State(multi): State<Multiplexer>, Query(q): Query<Topics>, request: Request) -> Response {
    ///     let (parts, _) = request.into_parts();
    ///     match multi.subscribe_parts(&parts, q.topics.split(',')).await {
    ///         Ok(stream) => EventStream::from(stream).into_http_response().into_response(),
    ///         Err(refusal) => refusal.into_response(),
    ///     }
    /// }
    /// # let _: axum::Router = axum::Router::new()
    /// #     .route("/events", axum::routing::get(events))
    /// #     .with_state(Multiplexer::new(tower_sse::Hub::new()));
    /// ```
    pub async fn subscribe_parts<I, T>(
        &self,
        parts: &Parts,
        topics: I,
    ) -> Result<MultiSubscription, Refusal>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let subscriber = parts
            .extensions
            .get::<Subscriber>()
            .cloned()
            .unwrap_or_default();
        let mut request = MultiRequest::new(topics).subscriber(subscriber);
        match LastEventId::checked_from_parts(parts) {
            Ok(id) => request = request.last_event_id(id.map(LastEventId::into_string)),
            // Refused as too long (by the layer's cap or the default one):
            // the same answer as a cursor over this multiplexer's cap.
            Err(Rejected::TooLong) => return Err(Refusal::new(RefusalKind::CursorTooLong)),
            // Sent, but no cursor: a resume whose positions are lost, not a
            // fresh start (which would skip what was missed without a gap).
            Err(Rejected::Invalid) => request.cursor_invalid = true,
        }
        self.validate(&request)?;
        for topic in request.topics() {
            self.authorizer.authorize(parts, topic)?;
        }
        self.subscribe(request).await
    }

    /// Subscribes to the request's topics, resuming every topic the cursor
    /// knows. Does not ask the authorizer: use it when you have authorized
    /// the topics yourself, or [`Multiplexer::subscribe_parts`].
    ///
    /// # Errors
    ///
    /// A [`Refusal`] for a request past the limits, an expired subscriber, a
    /// closed hub, a hub that cannot take one of the topics (its topic bound,
    /// an engine failure) or an unreadable checkpoint store.
    ///
    /// ```
    /// use tower_sse::{multi::{MultiRequest, Multiplexer, RefusalKind}, Hub};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let multi = Multiplexer::new(Hub::new()).max_topics(2);
    /// let refusal = multi.subscribe(MultiRequest::new(["a", "b", "c"])).await.unwrap_err();
    /// assert_eq!(refusal.kind(), RefusalKind::TooManyTopics);
    /// let refusal = multi.subscribe(MultiRequest::new(["a", "a"])).await.unwrap_err();
    /// assert_eq!(refusal.to_string(), "topic `a` requested twice");
    /// # }
    /// ```
    pub async fn subscribe(&self, request: MultiRequest) -> Result<MultiSubscription, Refusal> {
        self.validate(&request)?;
        if self.hub.is_closed() {
            return Err(Refusal::new(RefusalKind::Unavailable));
        }
        let expiry = match request.subscriber.expiry() {
            None => None,
            Some(at) => match at.duration_since(SystemTime::now()) {
                Ok(left) if !left.is_zero() => Some(left),
                _ => return Err(Refusal::new(RefusalKind::Expired)),
            },
        };
        let principal = request.subscriber.principal();
        let subscriber = principal.map_or(0, |p| self.key.tag(&[b"subscriber\0", p.as_bytes()]));
        let known = if request.cursor_invalid {
            Known::Lost("invalid-cursor")
        } else {
            self.resolve(request.last_event_id.as_deref(), subscriber)
                .await?
        };
        let starts: Vec<(Start, Bytes)> = request
            .topics
            .iter()
            .map(|(name, from)| match &known {
                Known::Fresh => match from {
                    Some(from) => (Start::Resolved, Bytes::from(from.clone())),
                    None => (Start::Swallow, Bytes::new()),
                },
                Known::Lost(reason) => (Start::Announce(reason), Bytes::new()),
                Known::Positions(map) => match map.get(name.as_bytes()) {
                    Some(position) if position.is_empty() => {
                        (Start::Announce("unknown-id"), Bytes::new())
                    }
                    Some(position) => (Start::Resolved, position.clone()),
                    None => match from {
                        Some(from) => (Start::Resolved, Bytes::from(from.clone())),
                        None => (Start::Swallow, Bytes::new()),
                    },
                },
            })
            .collect();
        self.keep_empty_epochs(&request, &starts).await;
        let mut topics = Vec::with_capacity(request.topics.len());
        let mut children = Vec::with_capacity(request.topics.len());
        for (index, ((name, _), (start, position))) in request.topics.iter().zip(starts).enumerate()
        {
            let after = match start {
                Start::Resolved => std::str::from_utf8(&position).unwrap_or(LIVE),
                _ => LIVE,
            };
            let child = self.hub.subscribe_from(name, Some(after)).map_err(|error| {
                // Over the hub's topic bound, or the engine cannot follow:
                // a retry later may succeed.
                tracing::warn!(%error, topic = %name, "cannot subscribe; refusing with a retry hint");
                Refusal::new(RefusalKind::Unavailable).with_topic(name.as_str())
            })?;
            #[allow(clippy::cast_possible_truncation)]
            children.push(Tagged::new(index as u8, child));
            topics.push(TopicState::new(name, position, start));
        }
        let tag = principal.map(|p| audience::tag(&self.key, p));
        Ok(MultiSubscription::new(
            self.clone(),
            topics,
            children,
            subscriber,
            tag,
            expiry,
        ))
    }

    /// Asks the engine for the epoch of every topic that may be empty: the
    /// live-started ones and those whose position is offset zero. An engine
    /// keeps the epoch of an empty topic from then on (Redis: a key with
    /// `RedisConfig::empty_epoch_ttl`),
    /// so the `<epoch>.0` position the cursor records for it still names
    /// the topic's history after its first publish, on any server. Only the
    /// request's (authorized, at most [`Multiplexer::max_topics`]) topics are
    /// asked about, all at once. A failure is only logged: the position
    /// then resumes with a `reset` gap at worst.
    async fn keep_empty_epochs(&self, request: &MultiRequest, starts: &[(Start, Bytes)]) {
        let engine = self.hub.engine();
        let asks = request
            .topics
            .iter()
            .zip(starts)
            .filter(|(_, (start, position))| match start {
                Start::Swallow | Start::Announce(_) => true,
                Start::Resolved => std::str::from_utf8(position)
                    .ok()
                    .and_then(|p| p.parse::<Position>().ok())
                    .is_some_and(|p| p.offset() == Offset::ZERO),
            })
            .map(|((name, _), _)| async move {
                if let Err(error) = engine.epoch(name).await {
                    tracing::debug!(%error, topic = %name, "cannot keep the epoch of an empty topic");
                }
            });
        futures_util::future::join_all(asks).await;
    }

    /// Where the cursor says each topic stands.
    async fn resolve(&self, cursor: Option<&str>, subscriber: u64) -> Result<Known, Refusal> {
        let Some(cursor) = cursor else {
            return Ok(Known::Fresh);
        };
        let Some(parsed) = cursor::parse(cursor.as_bytes()) else {
            return Ok(Known::Lost("invalid-cursor"));
        };
        let blob = match self.store.load(parsed.checkpoint()).await {
            Ok(Some(blob)) => blob,
            Ok(None) => return Ok(Known::Lost("checkpoint-lost")),
            Err(error) => {
                tracing::warn!(%error, "checkpoint store unreadable; refusing with a retry hint");
                return Err(Refusal::new(RefusalKind::Unavailable));
            }
        };
        // The tag covers the hash of the snapshot the cursor was made from:
        // an edited or foreign cursor, or one whose checkpoint id another
        // snapshot took since, does not verify.
        let hash = cursor::checkpoint_hash(&self.key, &blob);
        let Some(decoded) = parsed.verify(&self.key, subscriber, hash) else {
            return Ok(Known::Lost("invalid-cursor"));
        };
        let Some(snapshot) = Snapshot::decode(&blob) else {
            return Ok(Known::Lost("checkpoint-lost"));
        };
        let mut positions: Vec<(Bytes, Bytes)> = snapshot.entries;
        for delta in decoded.deltas() {
            let Some(entry) = positions.get_mut(usize::from(delta.index)) else {
                return Ok(Known::Lost("invalid-cursor"));
            };
            let Some(position) = delta.apply(&entry.1) else {
                return Ok(Known::Lost("invalid-cursor"));
            };
            entry.1 = Bytes::from(position);
        }
        Ok(Known::Positions(
            positions
                .into_iter()
                .map(|(name, position)| (name.to_vec(), position))
                .collect(),
        ))
    }
}

/// What a cursor says.
enum Known {
    /// No cursor: a fresh subscription.
    Fresh,
    /// A cursor that cannot be read: every topic gets a gap.
    Lost(&'static str),
    Positions(HashMap<Vec<u8>, Bytes>),
}

impl fmt::Debug for Multiplexer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Multiplexer")
            .field("hub", &self.hub)
            .field("max_topics", &self.max_topics)
            .field("max_cursor_len", &self.max_cursor_len)
            .field("expiry_retry", &self.expiry_retry)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use futures_util::{FutureExt, StreamExt};

    use super::super::{cursor, CheckpointStore, MemoryCheckpoints, MultiRequest, Multiplexer};
    use crate::Hub;

    /// The gaps (topic, reason) and the data of every event ready now.
    fn ready(stream: &mut super::MultiSubscription) -> (Vec<String>, Vec<String>) {
        let (mut gaps, mut data) = (Vec::new(), Vec::new());
        while let Some(Some(event)) = stream.next().now_or_never() {
            for event in crate::parse::parse_events(&event.to_bytes()).unwrap() {
                if event.event_type == crate::GAP_EVENT_TYPE.as_str() {
                    gaps.push(event.data);
                } else if !event.data.is_empty() {
                    data.push(event.data);
                }
            }
        }
        (gaps, data)
    }

    /// A cursor's checkpoint id is 40 bits of its snapshot's hash. Should
    /// another snapshot be saved over it (ids that collide), the cursor does
    /// not verify against what the store returns: its topics get gaps, and
    /// it is never applied to the other snapshot's positions.
    #[tokio::test]
    async fn a_cursor_whose_checkpoint_was_saved_over_gets_gaps_only() {
        let hub = Hub::new();
        let store = MemoryCheckpoints::new();
        let multi = Multiplexer::new(hub.clone()).checkpoints(store.clone());
        let topics = ["a", "b"];
        let mut first = multi.subscribe(MultiRequest::new(topics)).await.unwrap();
        for n in 0..3 {
            hub.publish("a", format!("a{n}")).await.unwrap();
        }
        let mut cursor = String::new();
        while let Some(Some(event)) = first.next().now_or_never() {
            cursor = event.cursor();
        }
        // Another subscription's checkpoint: `b` started later.
        hub.publish("b", "b0").await.unwrap();
        let mut other = multi.subscribe(MultiRequest::new(topics)).await.unwrap();
        let other_cursor = other.next().await.unwrap().cursor();
        let other_id = cursor::parse(other_cursor.as_bytes()).unwrap().checkpoint();
        let id = cursor::parse(cursor.as_bytes()).unwrap().checkpoint();
        assert_ne!(id, other_id);

        // Untouched, the cursor resumes exactly: `b0` is all it missed.
        let request = || MultiRequest::new(topics).last_event_id(Some(cursor.as_str()));
        let mut resumed = multi.subscribe(request()).await.unwrap();
        assert_eq!(ready(&mut resumed), (vec![], vec!["b0".to_owned()]));

        let snapshot = store.load(other_id).await.unwrap().unwrap();
        store.save(id, snapshot).await.unwrap();
        let mut resumed = multi.subscribe(request()).await.unwrap();
        let (gaps, data) = ready(&mut resumed);
        assert_eq!(
            gaps,
            [
                r#"{"topic":"a","reason":"invalid-cursor"}"#,
                r#"{"topic":"b","reason":"invalid-cursor"}"#
            ]
        );
        assert!(data.is_empty(), "{data:?}");
    }
}
