//! [`Hub`]: the handle apps publish to and subscribe from. Every method of
//! `Hub` is in this file.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::config::HubConfig;
use super::publish::PublishOptions;
use super::subscription::Subscription;
use super::topic::{sink_for, Topic};
use crate::engine::{Appended, Engine};
use crate::error::{Error, ErrorKind};
use crate::field::EventId;
use crate::into_event::IntoEvent;

/// The name of a topic, shared by the map and the subscriptions.
pub(crate) type TopicKey = Arc<str>;

/// A fan-out hub: apps publish events to topics, browsers subscribe.
///
/// Every published event is stored by the hub's [engine](crate::engine)
/// (in memory by default, Redis Streams with [`HubConfig::redis`]), encoded
/// once and shared by all subscribers of its topic. Events get ids
/// `<epoch>.<offset>` that name the history they belong to (an id of your
/// own is kept in memory), a bounded history per topic replays what a
/// reconnecting browser missed (`Last-Event-ID`), and a
/// [gap event](crate::GAP_EVENT_TYPE) says when that is impossible: after a
/// restart, too old an id, or an id of something else. Cloning a `Hub` is
/// cheap; clones share everything.
///
/// ```
/// use axum::{extract::{Path, State}, http::StatusCode, routing::{get, post}, Router};
/// use tower_sse::{ErrorKind, Event, EventStream, EventType, Hub, LastEventId, Subscription};
///
/// async fn events(
///     State(hub): State<Hub>,
///     Path(room): Path<String>,
///     last_id: Option<LastEventId>,
/// ) -> Result<http::Response<EventStream<Subscription>>, (StatusCode, String)> {
///     let sub = hub.subscribe_from(&room, last_id).map_err(refusal)?;
///     Ok(EventStream::new(sub).into_http_response())
/// }
///
/// async fn say(
///     State(hub): State<Hub>,
///     Path(room): Path<String>,
///     message: String,
/// ) -> Result<String, (StatusCode, String)> {
///     const CHAT: EventType = EventType::from_static("chat");
///     let id = hub
///         .publish(&room, Event::new().event(CHAT).data(message))
///         .await
///         .map_err(refusal)?;
///     Ok(id.to_string())
/// }
///
/// /// Capacity and outages are the server's problem, not the client's.
/// fn refusal(err: tower_sse::Error) -> (StatusCode, String) {
///     let status = match err.kind() {
///         ErrorKind::TooManyTopics => StatusCode::TOO_MANY_REQUESTS,
///         _ => StatusCode::SERVICE_UNAVAILABLE,
///     };
///     (status, err.to_string())
/// }
///
/// let hub = Hub::new();
/// let app: Router = Router::new()
///     .route("/rooms/{room}/events", get(events))
///     .route("/rooms/{room}/messages", post(say))
///     .with_state(hub.clone());
/// // On shutdown, end every stream so the server can finish:
/// hub.close();
/// ```
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

pub(crate) struct HubInner {
    pub(crate) config: HubConfig,
    pub(crate) engine: Arc<dyn Engine>,
    /// The topics with local subscribers, each followed by the engine.
    topics: Mutex<HashMap<TopicKey, Arc<Topic>>>,
    closed: AtomicBool,
}

impl HubInner {
    fn topics(&self) -> MutexGuard<'_, HashMap<TopicKey, Arc<Topic>>> {
        // Nothing that can panic runs under this lock; recover regardless.
        self.topics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes `topic` if it is still in the map and has no subscribers, and
    /// stops following it. Subscribers are counted under the same lock, so
    /// this cannot race with a new subscription.
    pub(crate) fn release_topic(&self, topic: &Arc<Topic>) {
        let removed = {
            let mut topics = self.topics();
            let current = topics
                .get(&topic.key)
                .is_some_and(|t| Arc::ptr_eq(t, topic));
            let idle = current && topic.fanout.subscribers() == 0;
            if idle {
                topics.remove(&topic.key);
            }
            idle
        };
        if removed {
            topic.close();
        }
    }

    /// Removes and closes `topic` if it is still the one under `key`.
    pub(crate) fn end_topic(&self, key: &str, topic: &Topic) {
        let removed = {
            let mut topics = self.topics();
            let current = topics.get(key).is_some_and(|t| std::ptr::eq(&**t, topic));
            if current {
                topics.remove(key)
            } else {
                None
            }
        };
        drop(removed);
        topic.close();
    }
}

impl Hub {
    /// A hub with the default [`HubConfig`]: topics in memory.
    ///
    /// ```
    /// let hub = tower_sse::Hub::new();
    /// assert_eq!(hub.config().history_len(), 1024);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::with_config(HubConfig::new())
    }

    /// A hub with the given configuration.
    ///
    /// ```
    /// use tower_sse::{Hub, HubConfig};
    ///
    /// let hub = Hub::with_config(HubConfig::new().history(16));
    /// assert_eq!(hub.config().history_len(), 16);
    /// ```
    #[must_use]
    pub fn with_config(config: HubConfig) -> Self {
        let (config, engine) = config.resolve();
        Self {
            inner: Arc::new(HubInner {
                config,
                engine,
                topics: Mutex::new(HashMap::new()),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// The configuration.
    ///
    /// ```
    /// let hub = tower_sse::Hub::new();
    /// assert_eq!(hub.config().buffer_len(), 256);
    /// ```
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// The engine that stores the topics.
    ///
    /// ```
    /// let hub = tower_sse::Hub::new();
    /// println!("{:?}", hub.engine());
    /// ```
    #[must_use]
    pub fn engine(&self) -> &dyn Engine {
        &*self.inner.engine
    }

    /// Publishes an event to `topic` and returns its id.
    ///
    /// The engine stores the event and gives it its id: `<epoch>.<offset>`
    /// (see [`engine::Position`](crate::engine::Position)), increasing within
    /// the topic's history. In memory an id of your own (non-empty) is kept
    /// and replay finds it by comparing ids, newest first; Redis always
    /// assigns its own. The event is encoded once. Publishing to a topic
    /// nobody listens to only records it in the history. In memory the future
    /// completes at once; with Redis, once Redis acknowledged the event. A
    /// subscription made on this hub before publishing receives the event.
    ///
    /// # Errors
    ///
    /// When the event cannot be converted (e.g. JSON serialization fails),
    /// with [`ErrorKind::Closed`] after [`Hub::close`],
    /// [`ErrorKind::TooManyTopics`] when a new topic would pass
    /// [`HubConfig::max_topics`] (in memory), and [`ErrorKind::Backend`] when
    /// the engine's storage fails. A backend error means the event was not
    /// acknowledged, not that it was not stored: retry with
    /// [`Hub::publish_with`] and an idempotency key so that a retry cannot
    /// store it twice.
    ///
    /// ```
    /// use tower_sse::{ErrorKind, Event, Hub};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
    /// let hub = Hub::new();
    /// let id = hub.publish("votes", "yes").await?;
    /// assert!(id.as_str().ends_with(".1"), "{id}");
    /// let own_id = Event::new().try_id("v-2")?.data("no");
    /// assert_eq!(hub.publish("votes", own_id).await?, "v-2");
    /// hub.close();
    /// let err = hub.publish("votes", "yes").await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Closed);
    /// # Ok(()) }
    /// ```
    pub async fn publish<E>(&self, topic: &str, event: E) -> Result<EventId, Error>
    where
        E: IntoEvent,
    {
        let appended = self
            .publish_with(topic, event, PublishOptions::new())
            .await?;
        Ok(appended.into_id())
    }

    /// Publishes with [`PublishOptions`], e.g. an idempotency key, and
    /// returns what the engine stored: the id, the position, and whether this
    /// was a retry of an earlier publish (then nothing new was stored).
    ///
    /// # Errors
    ///
    /// As [`Hub::publish`].
    ///
    /// ```
    /// use tower_sse::{Hub, PublishOptions};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
    /// let hub = Hub::new();
    /// let once = || PublishOptions::new().try_idempotency_key("msg-7");
    /// let first = hub.publish_with("room", "hello", once()?).await?;
    /// let retry = hub.publish_with("room", "hello", once()?).await?;
    /// assert_eq!((retry.id(), retry.is_duplicate()), (first.id(), true));
    /// # Ok(()) }
    /// ```
    pub async fn publish_with<E>(
        &self,
        topic: &str,
        event: E,
        options: PublishOptions,
    ) -> Result<Appended, Error>
    where
        E: IntoEvent,
    {
        let event = event.into_event()?;
        if self.is_closed() {
            return Err(Error::new(ErrorKind::Closed));
        }
        self.inner.engine.append(topic, options.append(event)).await
    }

    /// Subscribes to the live events of `topic`, without replay.
    ///
    /// With Redis, "live" starts when this server follows the topic: the
    /// first subscriber of a topic on a server starts its reader, which needs
    /// one round trip to find the end of the stream; an event published
    /// *through another server* within that round trip is not delivered to
    /// this subscription (publishing through this hub waits for the reader,
    /// so it is). A client that resumes with `Last-Event-ID`
    /// ([`Hub::subscribe_from`]) gets everything after that id.
    ///
    /// # Errors
    ///
    /// As [`Hub::subscribe_from`].
    ///
    /// ```
    /// use futures_util::StreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
    /// let hub = tower_sse::Hub::new();
    /// hub.publish("t", "before").await?;
    /// let mut sub = hub.subscribe("t")?;
    /// let id = hub.publish("t", "after").await?;
    /// let event = sub.next().await.unwrap();
    /// assert_eq!(event.as_bytes(), format!("id: {id}\ndata: after\n\n").as_bytes());
    /// # Ok(()) }
    /// ```
    pub fn subscribe(&self, topic: &str) -> Result<Subscription, Error> {
        self.subscribe_from(topic, None::<&str>)
    }

    /// Subscribes to `topic`, first replaying every event after
    /// `last_event_id` (the browser's `Last-Event-ID`: pass an
    /// `Option<LastEventId>` from the extractor, an `Option<&str>`, …), then
    /// continuing live, with nothing lost or repeated at the seam.
    ///
    /// What a resume gets (the rules every engine shares):
    ///
    /// - an id of the topic's current history: every later event, exactly;
    /// - an id of another history (another epoch: the server restarted, Redis
    ///   lost the stream, the topic expired): a [gap event](crate::GAP_EVENT_TYPE)
    ///   with data `reset`, then live events;
    /// - an id too old for the history, an offset never issued, garbage: a gap
    ///   event with data `unknown-id`, then live events;
    /// - `"0"`: the whole history (a gap if part of it was dropped);
    /// - `None` or an empty id: live events only.
    ///
    /// The replay is read in pages: the first at once when the engine answers
    /// at once (in memory), otherwise on the subscription's first poll. After
    /// [`Hub::close`] the subscription ends at once.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::TooManyTopics`] when `topic` is new and the hub (or the
    /// in-memory engine) already holds [`HubConfig::max_topics`] topics;
    /// the engine's error when it cannot follow the topic (with Redis: no
    /// tokio runtime).
    ///
    /// ```
    /// use futures_util::StreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
    /// let hub = tower_sse::HubConfig::new().history(2).build();
    /// let mut ids = Vec::new();
    /// for word in ["a", "b", "c", "d"] {
    ///     ids.push(hub.publish("t", word).await?);
    /// }
    /// let mut sub = hub.subscribe_from("t", Some(ids[2].as_str()))?;
    /// let replayed = sub.next().await.unwrap();
    /// assert_eq!(replayed.as_bytes(), format!("id: {}\ndata: d\n\n", ids[3]).as_bytes());
    ///
    /// // "b" fell out of the history, so resuming after "a" cannot be exact:
    /// // a gap event, with the id that state reloaded now covers.
    /// let mut sub = hub.subscribe_from("t", Some(ids[0].as_str()))?;
    /// let gap = sub.next().await.unwrap();
    /// assert_eq!(gap.as_bytes(), format!("event: sse-gap\nid: {}\ndata: unknown-id\n\n", ids[3]).as_bytes());
    ///
    /// // An id from before a restart names another history: `reset`.
    /// let mut sub = hub.subscribe_from("t", Some("oldepoch.2"))?;
    /// let gap = sub.next().await.unwrap();
    /// assert_eq!(gap.as_bytes(), format!("event: sse-gap\nid: {}\ndata: reset\n\n", ids[3]).as_bytes());
    /// # Ok(()) }
    /// ```
    pub fn subscribe_from<I>(
        &self,
        topic: &str,
        last_event_id: Option<I>,
    ) -> Result<Subscription, Error>
    where
        I: AsRef<str>,
    {
        let inner = &self.inner;
        let config = &inner.config;
        if self.is_closed() {
            return Ok(Subscription::ended(
                TopicKey::from(topic),
                config.buffer_len(),
                config.slow_consumer_policy(),
            ));
        }
        let (topic, live) = {
            let mut topics = inner.topics();
            let topic = match topics.get(topic) {
                Some(existing) => Arc::clone(existing),
                None => {
                    if topics.len() >= config.max_topics_limit() {
                        return Err(Error::new(ErrorKind::TooManyTopics));
                    }
                    let key = TopicKey::from(topic);
                    let created = Arc::new(Topic::new(
                        Arc::clone(&key),
                        config.buffer_len(),
                        config.topic_metrics_enabled(),
                        Arc::downgrade(inner),
                    ));
                    // Followed before anyone can subscribe: every event the
                    // engine stores from now on reaches the ring.
                    let follow = inner.engine.follow(&key, sink_for(&created))?;
                    created.set_follow(follow);
                    topics.insert(key, Arc::clone(&created));
                    created
                }
            };
            // Counted under the topics lock, so release cannot race it; the
            // live receiver is taken before any history is read.
            topic.fanout.add_subscriber();
            let live = topic.fanout.receiver();
            (topic, live)
        };
        let last_event_id = last_event_id
            .map(|id| id.as_ref().to_owned())
            .filter(|id| !id.is_empty());
        crate::metrics::facade::hub_subscribed(&topic.label);
        Ok(Subscription::new(
            Arc::clone(inner),
            topic,
            live,
            last_event_id,
        ))
    }

    /// How many subscriptions of `topic` are alive on this hub right now.
    ///
    /// ```
    /// # fn main() -> Result<(), tower_sse::Error> {
    /// let hub = tower_sse::Hub::new();
    /// let a = hub.subscribe("t")?;
    /// let b = hub.subscribe("t")?;
    /// assert_eq!(hub.subscribers("t"), 2);
    /// drop(a);
    /// assert_eq!(hub.subscribers("t"), 1);
    /// assert_eq!(hub.subscribers("other"), 0);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn subscribers(&self, topic: &str) -> usize {
        self.inner
            .topics()
            .get(topic)
            .map_or(0, |topic| topic.fanout.subscribers())
    }

    /// The names of the topics this hub has local subscribers for (and
    /// therefore follows and holds a ring for), sorted. What the engine
    /// stores is the engine's (e.g. [`MemoryEngine::topics`](crate::engine::MemoryEngine::topics)).
    ///
    /// ```
    /// # fn main() -> Result<(), tower_sse::Error> {
    /// let hub = tower_sse::Hub::new();
    /// let sub = hub.subscribe("b")?;
    /// assert_eq!(hub.topics(), ["b"]);
    /// drop(sub);
    /// assert!(hub.topics().is_empty());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn topics(&self) -> Vec<String> {
        let mut names: Vec<String> = self.inner.topics().keys().map(|k| k.to_string()).collect();
        names.sort_unstable();
        names
    }

    /// Ends every subscription of `topic` (after the events it has buffered)
    /// and asks the engine to forget what it keeps of the topic in this
    /// process (the in-memory history; Redis keeps its stream). Publishing
    /// to it later starts a new history.
    ///
    /// ```
    /// use futures_util::StreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
    /// let hub = tower_sse::Hub::new();
    /// let mut sub = hub.subscribe("room")?;
    /// hub.close_topic("room");
    /// assert!(sub.next().await.is_none());
    /// # Ok(()) }
    /// ```
    pub fn close_topic(&self, topic: &str) {
        let removed = self.inner.topics().remove(topic);
        if let Some(removed) = removed {
            removed.close();
        }
        self.inner.engine.forget(topic);
    }

    /// Closes the hub: every subscription ends cleanly after the events it has
    /// buffered, later subscriptions end at once, and [`Hub::publish`] fails.
    /// Call it on shutdown so that servers waiting for open bodies can finish.
    ///
    /// ```
    /// use futures_util::StreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
    /// let hub = tower_sse::Hub::new();
    /// let mut sub = hub.subscribe("t")?;
    /// hub.close();
    /// assert!(sub.next().await.is_none());
    /// assert!(hub.subscribe("t")?.next().await.is_none());
    /// # Ok(()) }
    /// ```
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        let topics: Vec<Arc<Topic>> = self.inner.topics().values().cloned().collect();
        for topic in topics {
            topic.close();
        }
    }

    /// Whether [`Hub::close`] was called.
    ///
    /// ```
    /// let hub = tower_sse::Hub::new();
    /// assert!(!hub.is_closed());
    /// hub.close();
    /// assert!(hub.is_closed());
    /// ```
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    #[cfg(test)]
    pub(crate) fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.inner.topics().get(name).cloned()
    }
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("config", &self.inner.config)
            .field("topics", &self.inner.topics().len())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}
