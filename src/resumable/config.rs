//! [`ResumableConfig`]: time-to-live, idle policy, retry hint, bounds.

use std::time::Duration;

/// Durations are saturated here so that `Instant + Duration` never overflows.
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Configuration of a [`ResumableStreams`](super::ResumableStreams) registry.
///
/// Every node that serves the same streams should use the same values.
///
/// ```
/// use std::time::Duration;
/// use tower_sse::resumable::ResumableConfig;
///
/// let config = ResumableConfig::new()
///     .ttl(Duration::from_secs(60))
///     .cancel_when_unread(Duration::from_secs(30))
///     .retry(Duration::from_millis(500));
/// assert_eq!(config.ttl_value(), Duration::from_secs(60));
/// assert_eq!(config.unread_limit(), Some(Duration::from_secs(30)));
///
/// // Durations saturate at one year, never overflow.
/// let config = ResumableConfig::new().ttl(Duration::MAX);
/// assert_eq!(config.ttl_value(), Duration::from_secs(365 * 24 * 60 * 60));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ResumableConfig {
    pub(crate) ttl: Duration,
    pub(crate) max_lifetime: Duration,
    pub(crate) unread: Option<Duration>,
    pub(crate) retry: Duration,
    pub(crate) max_streams: usize,
    pub(crate) topic_prefix: String,
}

impl ResumableConfig {
    /// Default time a finished stream stays readable: 5 minutes.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);
    /// Default longest life of a stream that never finishes: 1 hour.
    pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(60 * 60);
    /// Default retry hint sent to every reader: 1 second.
    pub const DEFAULT_RETRY: Duration = Duration::from_secs(1);
    /// Default bound on the streams one in-memory registry holds: 10,000.
    pub const DEFAULT_MAX_STREAMS: usize = 10_000;

    /// The defaults: TTL 5 minutes, maximum lifetime 1 hour, no idle
    /// cancellation, retry hint 1 s, at most 10,000 streams in memory, topics
    /// named `resumable:<token>`.
    ///
    /// ```
    /// let config = tower_sse::resumable::ResumableConfig::new();
    /// assert_eq!(config.unread_limit(), None);
    /// ```
    pub fn new() -> Self {
        Self {
            ttl: Self::DEFAULT_TTL,
            max_lifetime: Self::DEFAULT_MAX_LIFETIME,
            unread: None,
            retry: Self::DEFAULT_RETRY,
            max_streams: Self::DEFAULT_MAX_STREAMS,
            topic_prefix: "resumable:".to_owned(),
        }
    }

    /// How long a stream stays readable after its terminal event; after that
    /// it is gone and a resume is answered
    /// [`NotFound`](super::ResumeErrorKind::NotFound) (`404`).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = tower_sse::resumable::ResumableConfig::new().ttl(Duration::from_secs(9));
    /// assert_eq!(config.ttl_value(), Duration::from_secs(9));
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.min(MAX_DURATION);
        self
    }

    /// How long a stream that never writes its terminal event (its producer
    /// crashed with its process) is kept; then it is gone as after its TTL.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = tower_sse::resumable::ResumableConfig::new().max_lifetime(Duration::from_secs(600));
    /// assert_eq!(config.max_lifetime_value(), Duration::from_secs(600));
    /// ```
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = lifetime.min(MAX_DURATION);
        self
    }

    /// Cancels the producer when no reader has been attached (on any node)
    /// for `after`. Off by default: a stream nobody reads runs to its end.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = tower_sse::resumable::ResumableConfig::new()
    ///     .cancel_when_unread(Duration::from_secs(20));
    /// assert_eq!(config.unread_limit(), Some(Duration::from_secs(20)));
    /// ```
    pub fn cancel_when_unread(mut self, after: Duration) -> Self {
        self.unread = Some(after.clamp(Duration::from_millis(1), MAX_DURATION));
        self
    }

    /// The `retry:` hint every reader gets first (how long a client waits
    /// before it resumes after the server ends its response).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = tower_sse::resumable::ResumableConfig::new().retry(Duration::from_millis(250));
    /// assert_eq!(config.retry_value(), Duration::from_millis(250));
    /// ```
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = retry.min(MAX_DURATION);
        self
    }

    /// The most streams an in-memory registry holds (running or within their
    /// TTL); creating one more fails with
    /// [`ErrorKind::TooManyStreams`](crate::ErrorKind::TooManyStreams).
    /// Streams kept in Redis are bounded by their expiry instead.
    ///
    /// ```
    /// let config = tower_sse::resumable::ResumableConfig::new().max_streams(2);
    /// assert_eq!(config.max_streams_value(), 2);
    /// ```
    pub fn max_streams(mut self, streams: usize) -> Self {
        self.max_streams = streams;
        self
    }

    /// The prefix of the hub topics the streams use (`<prefix><token>` for
    /// events, `<prefix><token>:ctl` for cancel requests and reader
    /// heartbeats).
    ///
    /// ```
    /// let config = tower_sse::resumable::ResumableConfig::new().topic_prefix("chat-answers:");
    /// assert_eq!(config.topic_prefix_value(), "chat-answers:");
    /// ```
    pub fn topic_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.topic_prefix = prefix.into();
        self
    }

    /// The time-to-live after the terminal event.
    #[must_use]
    pub fn ttl_value(&self) -> Duration {
        self.ttl
    }

    /// The longest life of an unfinished stream.
    #[must_use]
    pub fn max_lifetime_value(&self) -> Duration {
        self.max_lifetime
    }

    /// The idle-cancellation limit, if any.
    #[must_use]
    pub fn unread_limit(&self) -> Option<Duration> {
        self.unread
    }

    /// The retry hint.
    #[must_use]
    pub fn retry_value(&self) -> Duration {
        self.retry
    }

    /// The bound on in-memory streams.
    #[must_use]
    pub fn max_streams_value(&self) -> usize {
        self.max_streams
    }

    /// The topic prefix.
    #[must_use]
    pub fn topic_prefix_value(&self) -> &str {
        &self.topic_prefix
    }
}

impl Default for ResumableConfig {
    fn default() -> Self {
        Self::new()
    }
}
