//! [`HubConfig`]: history size and age, per-subscriber buffer, slow-consumer policy.

use std::time::Duration;

use super::hub::Hub;

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
    #[cfg(feature = "redis")]
    redis: Option<crate::redis::RedisConfig>,
}

impl HubConfig {
    /// The default [`HubConfig::history`]: 1024 events per topic.
    pub const DEFAULT_HISTORY: usize = 1024;
    /// The default [`HubConfig::buffer`]: 256 events.
    pub const DEFAULT_BUFFER: usize = 256;
    /// The largest [`HubConfig::buffer`]; larger values are lowered to it.
    pub const MAX_BUFFER: usize = 1 << 20;

    /// The defaults: 1024 events of history per topic without an age limit,
    /// a buffer of 256 events, [`SlowConsumer::Disconnect`].
    pub fn new() -> Self {
        Self {
            history: Self::DEFAULT_HISTORY,
            max_age: None,
            buffer: Self::DEFAULT_BUFFER,
            slow_consumer: SlowConsumer::Disconnect,
            #[cfg(feature = "redis")]
            redis: None,
        }
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
    /// used and by [`Hub::reclaim`]).
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
        self.redis = Some(config);
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
        self.redis.as_ref()
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

    /// Applies the hub's history size to the Redis configuration.
    #[cfg(feature = "redis")]
    pub(crate) fn resolved(mut self) -> Self {
        let history = self.history;
        self.redis = self.redis.map(|redis| redis.history(history));
        self
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
