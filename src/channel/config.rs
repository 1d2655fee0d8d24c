//! [`HubConfig`]: the engine, history size and age, topic and key bounds,
//! per-subscriber buffer, slow-consumer policy.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::hub::Hub;
use crate::engine::{Engine, MemoryEngine};

/// What a [`Hub`] does with a subscriber that falls more than
/// [`HubConfig::buffer`] events behind the newest event of its topic.
///
/// Either way the other subscribers are unaffected and memory stays bounded:
/// a lagging subscriber never holds more than the buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SlowConsumer {
    /// End the subscription (the default). The response body ends cleanly, the
    /// browser reconnects with `Last-Event-ID`, and the hub replays what it
    /// missed from the history, so nothing is lost while the history covers it.
    #[default]
    Disconnect,
    /// Skip the events that fell out of the buffer: the subscription yields a
    /// [gap event](crate::GAP_EVENT_TYPE) with data `lagged`, then continues with
    /// the oldest event still buffered.
    SkipWithGap,
}

/// Configuration of a [`Hub`], built with chained methods.
///
/// ```
/// use std::time::Duration;
/// use tower_sse::{HubConfig, SlowConsumer};
///
/// let hub = HubConfig::new()
///     .history(500)
///     .max_age(Duration::from_secs(300))
///     .buffer(64)
///     .slow_consumer(SlowConsumer::SkipWithGap)
///     .build();
/// assert_eq!(hub.config().history_len(), 500);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct HubConfig {
    history: usize,
    max_age: Option<Duration>,
    buffer: usize,
    slow_consumer: SlowConsumer,
    max_topics: usize,
    idle_timeout: Duration,
    idempotency_window: Duration,
    idempotency_keys: usize,
    topic_metrics: bool,
    engine: EngineChoice,
}

/// Where the hub's topics live.
#[derive(Clone)]
enum EngineChoice {
    /// A [`MemoryEngine`] made from this configuration.
    Memory,
    /// Redis Streams, made from this configuration at build time.
    #[cfg(feature = "redis")]
    Redis(Box<crate::redis::RedisConfig>),
    /// An engine the app built.
    Custom(Arc<dyn Engine>),
}

impl PartialEq for EngineChoice {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Memory, Self::Memory) => true,
            #[cfg(feature = "redis")]
            (Self::Redis(a), Self::Redis(b)) => a == b,
            (Self::Custom(a), Self::Custom(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for EngineChoice {}

impl fmt::Debug for EngineChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("Memory"),
            #[cfg(feature = "redis")]
            Self::Redis(config) => f.debug_tuple("Redis").field(config).finish(),
            Self::Custom(engine) => f.debug_tuple("Custom").field(engine).finish(),
        }
    }
}

impl HubConfig {
    /// The default [`HubConfig::history`]: 1024 events per topic.
    pub const DEFAULT_HISTORY: usize = 1024;
    /// The default [`HubConfig::buffer`]: 256 events.
    pub const DEFAULT_BUFFER: usize = 256;
    /// The largest [`HubConfig::buffer`]; larger values are lowered to it.
    pub const MAX_BUFFER: usize = 1 << 20;
    /// The default [`HubConfig::max_topics`]: 100,000.
    pub const DEFAULT_MAX_TOPICS: usize = MemoryEngine::DEFAULT_MAX_TOPICS;
    /// The default [`HubConfig::idle_timeout`]: 15 minutes.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = MemoryEngine::DEFAULT_IDLE_TIMEOUT;
    /// The default [`HubConfig::idempotency_window`]: 5 minutes.
    pub const DEFAULT_IDEMPOTENCY_WINDOW: Duration = MemoryEngine::DEFAULT_IDEMPOTENCY_WINDOW;
    /// The default [`HubConfig::idempotency_keys`]: 100,000.
    pub const DEFAULT_IDEMPOTENCY_KEYS: usize = MemoryEngine::DEFAULT_IDEMPOTENCY_KEYS;

    /// The defaults: the in-memory engine, 1024 events of history per topic
    /// without an age limit, at most 100,000 topics, idle topics dropped
    /// after 15 minutes, idempotency keys kept 5 minutes (at most 100,000),
    /// a buffer of 256 events, [`SlowConsumer::Disconnect`].
    pub fn new() -> Self {
        Self {
            history: Self::DEFAULT_HISTORY,
            max_age: None,
            buffer: Self::DEFAULT_BUFFER,
            slow_consumer: SlowConsumer::Disconnect,
            max_topics: Self::DEFAULT_MAX_TOPICS,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            idempotency_window: Self::DEFAULT_IDEMPOTENCY_WINDOW,
            idempotency_keys: Self::DEFAULT_IDEMPOTENCY_KEYS,
            topic_metrics: false,
            engine: EngineChoice::Memory,
        }
    }

    /// The most topics the hub holds at once (at least 1): topics with local
    /// subscribers on this hub, and for the in-memory engine also the topics
    /// it stores. Subscribing to (or, in memory, publishing to) one more
    /// topic fails with [`ErrorKind::TooManyTopics`](crate::ErrorKind::TooManyTopics);
    /// existing topics keep working. Answer it like any over-capacity
    /// condition: 429 or 503, not 400.
    ///
    /// ```
    /// use tower_sse::{ErrorKind, HubConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::Error> {
    /// let hub = HubConfig::new().max_topics(1).build();
    /// hub.publish("a", "x").await?;
    /// let err = hub.publish("b", "x").await.unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::TooManyTopics);
    /// assert_eq!(hub.subscribe("b").unwrap_err().kind(), ErrorKind::TooManyTopics);
    /// assert!(hub.subscribe("a").is_ok());
    /// # Ok(()) }
    /// ```
    pub fn max_topics(mut self, topics: usize) -> Self {
        self.max_topics = topics.max(1);
        self
    }

    /// How long the in-memory engine keeps a topic that nobody subscribes to
    /// and nobody publishes to (with its history). Any duration is fine.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = tower_sse::HubConfig::new().idle_timeout(Duration::from_secs(60));
    /// assert_eq!(config.idle_timeout_duration(), Duration::from_secs(60));
    /// ```
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// How long the in-memory engine remembers an idempotency key (see
    /// [`PublishOptions`](crate::PublishOptions)). Any duration is fine.
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = tower_sse::HubConfig::new().idempotency_window(Duration::from_secs(30));
    /// assert_eq!(config.idempotency_window_duration(), Duration::from_secs(30));
    /// ```
    pub fn idempotency_window(mut self, window: Duration) -> Self {
        self.idempotency_window = window;
        self
    }

    /// The most idempotency keys the in-memory engine remembers; past it
    /// the oldest key is forgotten first (a retry of it would be stored again).
    ///
    /// ```
    /// let config = tower_sse::HubConfig::new().idempotency_keys(1000);
    /// assert_eq!(config.idempotency_keys_limit(), 1000);
    /// ```
    pub fn idempotency_keys(mut self, keys: usize) -> Self {
        self.idempotency_keys = keys;
        self
    }

    /// Stores the hub's topics in `engine` instead of memory: the one line
    /// that plugs in your own [`Engine`] (see the [`engine`](crate::engine)
    /// module for the contract and a complete example). History, age and
    /// idempotency settings of this configuration then belong to the engine;
    /// buffer, slow-consumer policy and [`HubConfig::max_topics`] (for local
    /// subscriptions) stay the hub's. Pass an `Arc<E>` to keep a handle.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tower_sse::{engine::MemoryEngine, HubConfig};
    ///
    /// let engine = Arc::new(MemoryEngine::new().history(8));
    /// let hub = HubConfig::new().engine(Arc::clone(&engine)).build();
    /// ```
    pub fn engine<E>(mut self, engine: E) -> Self
    where
        E: Engine,
    {
        self.engine = EngineChoice::Custom(Arc::new(engine));
        self
    }

    /// How many recent events each topic keeps for `Last-Event-ID` replay.
    /// `0` keeps none: every reconnect that names an id then starts with a gap
    /// event, unless nothing was published since that id.
    ///
    /// Keep it at least as large as [`HubConfig::buffer`], so that a subscriber
    /// disconnected for lagging can replay what it missed.
    ///
    /// ```
    /// let config = tower_sse::HubConfig::new().history(0);
    /// assert_eq!(config.history_len(), 0);
    /// ```
    pub fn history(mut self, events: usize) -> Self {
        self.history = events;
        self
    }

    /// Also drops history entries older than `age` (checked when the topic is
    /// used). Any duration is fine.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let config = tower_sse::HubConfig::new().max_age(Duration::from_secs(60));
    /// assert_eq!(config.max_age_limit(), Some(Duration::from_secs(60)));
    /// ```
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// How many events a subscriber may fall behind before the
    /// [`SlowConsumer`] policy applies. Rounded up to a power of two, at least 1
    /// and at most [`HubConfig::MAX_BUFFER`]. The buffer is one ring per topic
    /// shared by all its subscribers, so its memory does not grow with them.
    ///
    /// ```
    /// let config = tower_sse::HubConfig::new().buffer(100);
    /// assert_eq!(config.buffer_len(), 128);
    /// assert_eq!(tower_sse::HubConfig::new().buffer(0).buffer_len(), 1);
    /// ```
    pub fn buffer(mut self, events: usize) -> Self {
        self.buffer = events.clamp(1, Self::MAX_BUFFER).next_power_of_two();
        self
    }

    /// What to do with subscribers that fall behind.
    ///
    /// ```
    /// use tower_sse::{HubConfig, SlowConsumer};
    ///
    /// let config = HubConfig::new().slow_consumer(SlowConsumer::SkipWithGap);
    /// assert_eq!(config.slow_consumer_policy(), SlowConsumer::SkipWithGap);
    /// ```
    pub fn slow_consumer(mut self, policy: SlowConsumer) -> Self {
        self.slow_consumer = policy;
        self
    }

    /// Labels the hub's metrics (feature `metrics`: subscribers, replayed
    /// events, gaps) with the topic, as `sse.topic`. Off by default: without
    /// it the metrics count all topics together.
    ///
    /// Turn it on only where topic names are few or trusted. A metrics
    /// recorder keeps a series for every label value it has seen, so each
    /// topic a client can name adds series: the hub labels only topics it has
    /// local subscribers for, which [`HubConfig::max_topics`] bounds, but
    /// series of topics that went away stay until the recorder drops them
    /// (with `metrics-exporter-prometheus`, set its `idle_timeout`). A
    /// topic's subscriber gauge goes back to 0 when its last subscriber
    /// leaves.
    ///
    /// ```
    /// use tower_sse::HubConfig;
    ///
    /// let config = HubConfig::new().topic_metrics(true);
    /// assert!(config.topic_metrics_enabled());
    /// ```
    pub fn topic_metrics(mut self, enabled: bool) -> Self {
        self.topic_metrics = enabled;
        self
    }

    /// Whether hub metrics carry the topic label ([`HubConfig::topic_metrics`]).
    #[must_use]
    pub fn topic_metrics_enabled(&self) -> bool {
        self.topic_metrics
    }

    /// Puts the hub's topics in Redis Streams (feature `redis`), shared by
    /// every server configured with the same Redis and key prefix. The rest of
    /// the API is unchanged: this is the one line that switches backends.
    ///
    /// - [`Hub::publish`] appends to the topic's stream (`XADD … MAXLEN ~`);
    ///   the event id is the id Redis assigns (`<ms>-<seq>`), the same on every
    ///   server, and an id set on the event is ignored. It fails with
    ///   [`ErrorKind::Backend`](crate::ErrorKind::Backend) while Redis is
    ///   unreachable: nothing is queued or dropped silently.
    /// - Each server follows a topic that has local subscribers with one
    ///   reader task (blocking `XREAD`, its own connection) and fans every
    ///   event out locally, encoded once. The reader resumes from its last id
    ///   after Redis restarts; if Redis trimmed events meanwhile, the local
    ///   subscribers get a [gap event](crate::GAP_EVENT_TYPE) (`lagged`).
    /// - `Last-Event-ID` is replayed from the stream (exclusive `XRANGE`) on
    ///   the subscription's first poll, de-duplicated against live events;
    ///   an id Redis no longer holds gets the gap event. If Redis is
    ///   unreachable then, the subscription ends and the browser retries.
    ///
    /// [`HubConfig::history`] becomes the `MAXLEN ~` of every stream
    /// (overriding [`RedisConfig::history`](crate::redis::RedisConfig::history));
    /// [`HubConfig::max_age`] does not apply. Buffer and slow-consumer policy
    /// apply to each server's local fan-out. The connection is made on first
    /// use; subscribing needs a tokio runtime (the reader task is spawned on it).
    ///
    /// ```
    /// use tower_sse::{redis::RedisConfig, HubConfig};
    ///
    /// let hub = HubConfig::new()
    ///     .history(1000)
    ///     .redis(RedisConfig::new("redis://:secret@127.0.0.1:6379/0")?.key_prefix("app:"))
    ///     .build();
    /// assert_eq!(hub.config().redis_config().unwrap().history_len(), 1000);
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    #[cfg(feature = "redis")]
    pub fn redis(mut self, config: crate::redis::RedisConfig) -> Self {
        self.engine = EngineChoice::Redis(Box::new(config));
        self
    }

    /// The Redis configuration, when the hub uses Redis (with the hub's
    /// history size as its `MAXLEN ~` once built).
    ///
    /// ```
    /// assert!(tower_sse::HubConfig::new().redis_config().is_none());
    /// ```
    #[cfg(feature = "redis")]
    #[must_use]
    pub fn redis_config(&self) -> Option<&crate::redis::RedisConfig> {
        match &self.engine {
            EngineChoice::Redis(config) => Some(config),
            _ => None,
        }
    }

    /// Builds a hub with this configuration.
    ///
    /// ```
    /// let hub = tower_sse::HubConfig::new().history(10).build();
    /// assert!(hub.topics().is_empty());
    /// ```
    #[must_use]
    pub fn build(self) -> Hub {
        Hub::with_config(self)
    }

    /// Makes the engine this configuration names (applying the hub's
    /// history size to Redis).
    #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
    pub(crate) fn resolve(mut self) -> (Self, Arc<dyn Engine>) {
        let engine: Arc<dyn Engine> = match &self.engine {
            EngineChoice::Memory => {
                let mut memory = MemoryEngine::new()
                    .history(self.history)
                    .max_topics(self.max_topics)
                    .idle_timeout(self.idle_timeout)
                    .idempotency_window(self.idempotency_window)
                    .idempotency_keys(self.idempotency_keys);
                if let Some(age) = self.max_age {
                    memory = memory.max_age(age);
                }
                Arc::new(memory)
            }
            #[cfg(feature = "redis")]
            EngineChoice::Redis(redis) => {
                let redis = (**redis).clone().history(self.history);
                self.engine = EngineChoice::Redis(Box::new(redis.clone()));
                Arc::new(crate::redis::RedisEngine::new(redis))
            }
            EngineChoice::Custom(engine) => Arc::clone(engine),
        };
        (self, engine)
    }

    /// The history size per topic.
    ///
    /// ```
    /// assert_eq!(tower_sse::HubConfig::new().history_len(), 1024);
    /// ```
    #[must_use]
    pub fn history_len(&self) -> usize {
        self.history
    }

    /// The history age limit, if any.
    ///
    /// ```
    /// assert_eq!(tower_sse::HubConfig::new().max_age_limit(), None);
    /// ```
    #[must_use]
    pub fn max_age_limit(&self) -> Option<Duration> {
        self.max_age
    }

    /// The per-subscriber buffer, after rounding.
    ///
    /// ```
    /// assert_eq!(tower_sse::HubConfig::new().buffer_len(), 256);
    /// ```
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        self.buffer
    }

    /// The bound on topics.
    ///
    /// ```
    /// assert_eq!(tower_sse::HubConfig::new().max_topics_limit(), 100_000);
    /// ```
    #[must_use]
    pub fn max_topics_limit(&self) -> usize {
        self.max_topics
    }

    /// How long an idle in-memory topic is kept.
    ///
    /// ```
    /// assert_eq!(tower_sse::HubConfig::new().idle_timeout_duration().as_secs(), 900);
    /// ```
    #[must_use]
    pub fn idle_timeout_duration(&self) -> Duration {
        self.idle_timeout
    }

    /// How long an idempotency key is remembered in memory.
    ///
    /// ```
    /// assert_eq!(tower_sse::HubConfig::new().idempotency_window_duration().as_secs(), 300);
    /// ```
    #[must_use]
    pub fn idempotency_window_duration(&self) -> Duration {
        self.idempotency_window
    }

    /// The most idempotency keys remembered in memory.
    ///
    /// ```
    /// assert_eq!(tower_sse::HubConfig::new().idempotency_keys_limit(), 100_000);
    /// ```
    #[must_use]
    pub fn idempotency_keys_limit(&self) -> usize {
        self.idempotency_keys
    }

    /// The slow-consumer policy.
    ///
    /// ```
    /// use tower_sse::{HubConfig, SlowConsumer};
    ///
    /// assert_eq!(HubConfig::new().slow_consumer_policy(), SlowConsumer::Disconnect);
    /// ```
    #[must_use]
    pub fn slow_consumer_policy(&self) -> SlowConsumer {
        self.slow_consumer
    }
}

impl Default for HubConfig {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_buffers_are_capped_instead_of_allocating_or_panicking() {
        let config = HubConfig::new().buffer(usize::MAX);
        assert_eq!(config.buffer_len(), HubConfig::MAX_BUFFER);
    }

    #[test]
    fn default_is_new() {
        assert_eq!(HubConfig::default(), HubConfig::new());
    }
}
