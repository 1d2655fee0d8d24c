//! [`Hub`]: the handle apps publish to and subscribe from.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::time::Instant;

use super::config::HubConfig;
use super::history::Replay;
#[cfg(feature = "redis")]
use super::redis_source::{resume, Follow as RedisFollow, RedisSource};
use super::subscription::Subscription;
use super::topic::Topic;

/// The name of a topic, shared by the map and the subscriptions.
pub(crate) type TopicKey = Arc<str>;

/// With an age limit, publishes sweep expired topics every this many calls.
pub(super) const SWEEP_EVERY: usize = 1024;

/// A fan-out hub: apps publish events to topics, browsers subscribe.
///
/// Every published event is encoded once and shared by all subscribers of its
/// topic. Events get increasing ids (unless they carry their own), a bounded
/// history per topic replays what a reconnecting browser missed
/// (`Last-Event-ID`), and a [gap event](crate::GAP_EVENT_TYPE) says when that is
/// impossible. Cloning a `Hub` is cheap; clones share everything.
///
/// ```
/// use axum::{extract::{Path, State}, http::HeaderMap, routing::{get, post}, Router};
/// use tower_sse::{Event, EventStream, EventType, Hub, Subscription};
///
/// async fn events(
///     State(hub): State<Hub>,
///     Path(room): Path<String>,
///     headers: HeaderMap,
/// ) -> http::Response<EventStream<Subscription>> {
///     let last_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
///     EventStream::new(hub.subscribe_from(&room, last_id)).into_http_response()
/// }
///
/// async fn say(
///     State(hub): State<Hub>,
///     Path(room): Path<String>,
///     message: String,
/// ) -> Result<String, String> {
///     const CHAT: EventType = EventType::from_static("chat");
///     let id = hub
///         .publish(&room, Event::new().event(CHAT).data(message))
///         .await
///         .map_err(|e| e.to_string())?;
///     Ok(id.to_string())
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
    pub(super) inner: Arc<HubInner>,
}

pub(crate) struct HubInner {
    pub(crate) config: HubConfig,
    topics: Mutex<HashMap<TopicKey, Arc<Topic>>>,
    /// The last position handed out; also the hub's automatic event id.
    pub(super) seq: AtomicU64,
    closed: AtomicBool,
    pub(super) publishes: AtomicUsize,
    /// The Redis source, when the topics live in Redis.
    #[cfg(feature = "redis")]
    pub(super) redis: Option<Arc<RedisSource>>,
}

impl HubInner {
    pub(super) fn topics(&self) -> MutexGuard<'_, HashMap<TopicKey, Arc<Topic>>> {
        // Nothing that can panic runs under this lock; recover regardless.
        self.topics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes `topic` if it is still the one under `key` and has neither
    /// subscribers nor history. Lock order: topics, then the topic's log.
    pub(crate) fn reclaim_topic(&self, key: &str, topic: &Arc<Topic>) {
        let mut topics = self.topics();
        let Some(current) = topics.get(key) else {
            return;
        };
        if !Arc::ptr_eq(current, topic) {
            return;
        }
        if Self::try_retire(topic) {
            topics.remove(key);
        }
    }

    /// Marks an idle topic reclaimed; call with the topics lock held.
    pub(super) fn try_retire(topic: &Topic) -> bool {
        let mut log = topic.log();
        log.history.prune(Instant::now());
        if topic.fanout.subscribers() == 0 && log.history.is_empty() {
            log.reclaimed = true;
            #[cfg(feature = "redis")]
            topic.stop_following();
            true
        } else {
            false
        }
    }
}

impl HubInner {
    /// Removes and closes `topic` if it is still the one under `key`.
    #[cfg(feature = "redis")]
    pub(crate) fn end_topic(&self, key: &str, topic: &Arc<Topic>) {
        let mut topics = self.topics();
        if topics.get(key).is_some_and(|t| Arc::ptr_eq(t, topic)) {
            topics.remove(key);
        }
        drop(topics);
        topic.log().reclaimed = true;
        topic.close();
    }

    /// A new topic under `key`; with Redis this server starts following it.
    fn new_topic(self: &Arc<Self>, key: &TopicKey) -> Arc<Topic> {
        let topic = Arc::new(Topic::new(&self.config));
        #[cfg(feature = "redis")]
        if let Some(source) = &self.redis {
            if !self.closed.load(Ordering::Acquire) {
                let follow = RedisFollow::start(
                    source,
                    Arc::downgrade(self),
                    Arc::clone(key),
                    Arc::downgrade(&topic),
                );
                topic.start_following(follow);
            }
        }
        #[cfg(not(feature = "redis"))]
        let _ = key;
        topic
    }
}

impl Hub {
    /// A hub with the default [`HubConfig`].
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
        #[cfg(feature = "redis")]
        let config = config.resolved();
        Self {
            inner: Arc::new(HubInner {
                #[cfg(feature = "redis")]
                redis: config
                    .redis_config()
                    .map(|redis| Arc::new(RedisSource::new(redis.clone()))),
                config,
                topics: Mutex::new(HashMap::new()),
                seq: AtomicU64::new(0),
                closed: AtomicBool::new(false),
                publishes: AtomicUsize::new(0),
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

    /// Subscribes to the live events of `topic`, without replay.
    ///
    /// ```
    /// use futures_util::StreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
    /// let hub = tower_sse::Hub::new();
    /// hub.publish("t", "before").await?;
    /// let mut sub = hub.subscribe("t");
    /// hub.publish("t", "after").await?;
    /// assert_eq!(sub.next().await.unwrap().as_bytes(), &b"id: 2\ndata: after\n\n"[..]);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn subscribe(&self, topic: &str) -> Subscription {
        self.subscribe_from(topic, None)
    }

    /// Subscribes to `topic`, first replaying every event after
    /// `last_event_id` (the browser's `Last-Event-ID` header) from the history,
    /// then continuing live, with nothing lost or repeated at the seam.
    ///
    /// When the id is not in the history (too old, or unknown, e.g. after a
    /// restart) the subscription starts with a [gap event](crate::GAP_EVENT_TYPE)
    /// instead. `None` or an empty id subscribes live only; `"0"` replays the
    /// whole history of a topic that has not dropped any event yet. After
    /// [`Hub::close`] the subscription ends at once.
    ///
    /// ```
    /// use futures_util::StreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
    /// let hub = tower_sse::HubConfig::new().history(2).build();
    /// for word in ["a", "b", "c"] {
    ///     hub.publish("t", word).await?;
    /// }
    /// let mut sub = hub.subscribe_from("t", Some("2"));
    /// assert_eq!(sub.next().await.unwrap().as_bytes(), &b"id: 3\ndata: c\n\n"[..]);
    ///
    /// // Event 1 fell out of the history, so resuming after 0 cannot be
    /// // exact: a gap event, with the id that state reloaded now covers.
    /// let mut sub = hub.subscribe_from("t", Some("0"));
    /// assert_eq!(
    ///     sub.next().await.unwrap().as_bytes(),
    ///     &b"event: sse-gap\nid: 3\ndata: unknown-id\n\n"[..],
    /// );
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn subscribe_from(&self, topic: &str, last_event_id: Option<&str>) -> Subscription {
        let inner = &self.inner;
        let policy = inner.config.slow_consumer_policy();
        let (key, topic) = {
            let mut topics = inner.topics();
            let (key, topic) = match topics.get_key_value(topic) {
                Some((key, existing)) => (Arc::clone(key), Arc::clone(existing)),
                None => {
                    let key = TopicKey::from(topic);
                    let created = inner.new_topic(&key);
                    topics.insert(Arc::clone(&key), Arc::clone(&created));
                    (key, created)
                }
            };
            // Counted under the topics lock, so reclamation cannot race it.
            topic.fanout.add_subscriber();
            (key, topic)
        };
        if inner.closed.load(Ordering::Acquire) {
            return Subscription::new(Arc::clone(inner), key, topic, None, Replay::none(), policy);
        }
        #[cfg(feature = "redis")]
        if let Some(source) = &inner.redis {
            return Self::subscribe_redis(inner, source, key, topic, last_event_id);
        }
        let (live, replay) = topic.subscribe(last_event_id);
        Subscription::new(Arc::clone(inner), key, topic, live, replay, policy)
    }

    /// Live receiver first; the replay is read on the first poll, once this
    /// server's reader has found where it starts.
    #[cfg(feature = "redis")]
    fn subscribe_redis(
        inner: &Arc<HubInner>,
        source: &Arc<RedisSource>,
        key: TopicKey,
        topic: Arc<Topic>,
        last_event_id: Option<&str>,
    ) -> Subscription {
        let policy = inner.config.slow_consumer_policy();
        // Without a reader (no runtime) nothing would ever arrive: end at once.
        let position = topic.position();
        let live = position.as_ref().and_then(|_| topic.fanout.receiver());
        let mut subscription = Subscription::new(
            Arc::clone(inner),
            Arc::clone(&key),
            topic,
            live,
            Replay::none(),
            policy,
        );
        if let (Some(position), Some(id)) = (position, last_event_id.filter(|id| !id.is_empty())) {
            let resume = resume(Arc::clone(source), position, key, id.to_owned());
            subscription.resume_with(resume);
        }
        subscription
    }

    /// Ends every subscription of `topic` (after the events it has buffered)
    /// and forgets the topic's history. Publishing to it later starts afresh.
    ///
    /// ```
    /// use futures_util::StreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let hub = tower_sse::Hub::new();
    /// let mut sub = hub.subscribe("room");
    /// hub.close_topic("room");
    /// assert!(sub.next().await.is_none());
    /// # }
    /// ```
    pub fn close_topic(&self, topic: &str) {
        let removed = self.inner.topics().remove(topic);
        if let Some(topic) = removed {
            topic.log().reclaimed = true;
            topic.close();
        }
    }

    /// Closes the hub: every subscription ends cleanly after the events it has
    /// buffered, later subscriptions end at once, and [`Hub::publish`] fails.
    /// Call it on shutdown so that servers waiting for open bodies can finish.
    ///
    /// ```
    /// use futures_util::StreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let hub = tower_sse::Hub::new();
    /// let mut sub = hub.subscribe("t");
    /// hub.close();
    /// assert!(sub.next().await.is_none());
    /// assert!(hub.subscribe("t").next().await.is_none());
    /// # }
    /// ```
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        for topic in self.inner.topics().values() {
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
}

#[cfg(test)]
impl Hub {
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
