//! [`RedisConfig`]: where the Redis backend connects and how it behaves.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, ErrorKind};

use super::keys::TopicKeys;

/// The longest any configured duration may be: longer values are saturated
/// to it where they are set, so no sum or `Instant + Duration` built from the
/// configuration can overflow (one day is "forever" for a network timeout).
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// Where the backend connects: one server, or the seed nodes of a cluster.
#[derive(Clone)]
pub(crate) enum Target {
    Single(redis::Client),
    Cluster(Vec<redis::ConnectionInfo>),
}

fn saturate(d: Duration) -> Duration {
    d.clamp(Duration::from_millis(1), MAX_DURATION)
}

fn invalid(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::with_source(ErrorKind::InvalidConfig, source)
}

/// Configuration of the Redis Streams backend.
///
/// The URL carries everything needed to reach the server, including the
/// password and the database number (`redis://:secret@host:6379/2`,
/// `rediss://` for TLS when the `redis` crate is built with TLS). The URL is
/// parsed when the configuration is created, so a bad URL is an error here and
/// not a panic or a surprise at the first publish. `Debug` never shows the
/// password.
///
/// ```
/// use std::time::Duration;
/// use tower_sse::redis::RedisConfig;
///
/// let config = RedisConfig::new("redis://:secret@127.0.0.1:6379/2")?
///     .key_prefix("chat:")
///     .history(500)
///     .block_timeout(Duration::from_secs(2));
/// assert_eq!(config.history_len(), 500);
/// assert!(!format!("{config:?}").contains("secret"));
///
/// let err = RedisConfig::new("http://not-redis").unwrap_err();
/// assert_eq!(err.kind(), tower_sse::ErrorKind::InvalidConfig);
/// # Ok::<(), tower_sse::Error>(())
/// ```
///
/// Every duration is saturated where it is set: at least 1 ms, at most
/// [`MAX_DURATION`] (one day), so `Duration::MAX` is accepted and never
/// overflows a deadline later.
///
/// ```
/// use std::time::Duration;
/// use tower_sse::redis::{RedisConfig, MAX_DURATION};
///
/// let config = RedisConfig::new("redis://127.0.0.1/")?
///     .response_timeout(Duration::MAX)
///     .connect_timeout(Duration::MAX);
/// assert_eq!(config.get_response_timeout(), MAX_DURATION);
/// # Ok::<(), tower_sse::Error>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct RedisConfig {
    pub(crate) target: Target,
    urls: Vec<String>,
    pub(crate) key_prefix: String,
    prefix_error: Option<String>,
    pub(crate) history: usize,
    pub(crate) idempotency_window: Duration,
    pub(crate) empty_epoch_ttl: Duration,
    pub(crate) block_timeout: Duration,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
}

impl RedisConfig {
    /// Default key prefix: each topic lives in the stream `sse:<topic>`.
    pub const DEFAULT_KEY_PREFIX: &'static str = "sse:";
    /// Default history size, the `MAXLEN ~` of every stream.
    pub const DEFAULT_HISTORY: usize = 1_000;
    /// Default idempotency window: a retry with the same key within 5
    /// minutes returns the first publish's id.
    pub const DEFAULT_IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(5 * 60);
    /// Default [`RedisConfig::empty_epoch_ttl`]: one day, as long as
    /// [`RedisCheckpoints`](crate::multi::RedisCheckpoints) keep a cursor's
    /// checkpoint by default.
    pub const DEFAULT_EMPTY_EPOCH_TTL: Duration = Duration::from_secs(24 * 60 * 60);

    /// Parses `url` and returns a configuration with the defaults: key prefix
    /// `sse:`, history 1,000 events, `XREAD` blocking 5 s at a time, reconnect
    /// backoff from 50 ms doubling to 5 s, connect and response timeouts 2 s.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when the URL is not a Redis URL.
    ///
    /// ```
    /// use tower_sse::redis::RedisConfig;
    ///
    /// assert!(RedisConfig::new("redis://127.0.0.1:6379/0").is_ok());
    /// assert!(RedisConfig::new("redis://127.0.0.1:notaport").is_err());
    /// ```
    pub fn new(url: impl Into<String>) -> Result<Self, Error> {
        let url = url.into();
        let client = redis::Client::open(url.as_str()).map_err(invalid)?;
        Ok(Self::with_target(Target::Single(client), vec![url]))
    }

    /// A configuration for a Redis Cluster, from the URLs of one or more of
    /// its nodes (the client discovers the others and follows slot moves and
    /// failovers). Everything else is as with [`RedisConfig::new`]; a topic's
    /// keys share one hash tag, so each topic lives on one shard.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when there is no URL or one is not a Redis URL.
    ///
    /// ```
    /// use tower_sse::redis::RedisConfig;
    ///
    /// let config = RedisConfig::cluster(["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"])?;
    /// assert!(config.is_cluster());
    /// assert!(RedisConfig::cluster(Vec::<String>::new()).is_err());
    /// assert!(RedisConfig::cluster(["http://x"]).is_err());
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    pub fn cluster<I>(urls: I) -> Result<Self, Error>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let urls: Vec<String> = urls.into_iter().map(Into::into).collect();
        if urls.is_empty() {
            return Err(invalid("a Redis Cluster needs at least one node URL"));
        }
        let infos = urls
            .iter()
            .map(|url| {
                redis::IntoConnectionInfo::into_connection_info(url.as_str()).map_err(invalid)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::with_target(Target::Cluster(infos), urls))
    }

    fn with_target(target: Target, urls: Vec<String>) -> Self {
        Self {
            target,
            urls,
            key_prefix: Self::DEFAULT_KEY_PREFIX.to_owned(),
            prefix_error: None,
            history: Self::DEFAULT_HISTORY,
            idempotency_window: Self::DEFAULT_IDEMPOTENCY_WINDOW,
            empty_epoch_ttl: Self::DEFAULT_EMPTY_EPOCH_TTL,
            block_timeout: Duration::from_secs(5),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
        }
    }

    /// Whether this configuration is for a Redis Cluster.
    ///
    /// ```
    /// # use tower_sse::redis::RedisConfig;
    /// assert!(!RedisConfig::new("redis://127.0.0.1/")?.is_cluster());
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    #[must_use]
    pub fn is_cluster(&self) -> bool {
        matches!(self.target, Target::Cluster(_))
    }

    /// Sets the prefix put before every key of the backend.
    ///
    /// The prefix cannot hold `{` or `}` (they would change the hash tag
    /// that keeps a topic's keys on one cluster shard): such a prefix makes
    /// [`RedisStreams::connect`](super::RedisStreams::connect) fail with
    /// [`ErrorKind::InvalidConfig`]; [`RedisConfig::try_key_prefix`] refuses
    /// it at once.
    ///
    /// ```
    /// # use tower_sse::redis::RedisConfig;
    /// let config = RedisConfig::new("redis://127.0.0.1/")?.key_prefix("app1:sse:");
    /// assert_eq!(config.stream_key("news"), "app1:sse:{news}");
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        self.prefix_error = prefix
            .contains(['{', '}'])
            .then(|| format!("the key prefix {prefix:?} holds a brace"));
        self.key_prefix = prefix;
        self
    }

    /// Like [`RedisConfig::key_prefix`], but refuses a prefix with `{` or `}` here.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when the prefix holds a brace.
    ///
    /// ```
    /// # use tower_sse::redis::RedisConfig;
    /// let config = RedisConfig::new("redis://127.0.0.1/")?;
    /// assert!(config.clone().try_key_prefix("app:").is_ok());
    /// assert!(config.try_key_prefix("{app}:").is_err());
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    pub fn try_key_prefix(self, prefix: impl Into<String>) -> Result<Self, Error> {
        let config = self.key_prefix(prefix);
        config.validate()?;
        Ok(config)
    }

    /// Sets how long an idempotency key is remembered: a publish with the
    /// same key within this window returns the first one's id and stores
    /// nothing (saturated to 1 ms ..= [`MAX_DURATION`]). Each remembered key
    /// is one Redis key that expires after the window.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_sse::redis::RedisConfig;
    /// let config = RedisConfig::new("redis://127.0.0.1/")?.idempotency_window(Duration::from_secs(60));
    /// assert_eq!(config.get_idempotency_window(), Duration::from_secs(60));
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    pub fn idempotency_window(mut self, window: Duration) -> Self {
        self.idempotency_window = saturate(window);
        self
    }

    /// The idempotency window.
    ///
    /// ```
    /// # use tower_sse::redis::RedisConfig;
    /// assert_eq!(
    ///     RedisConfig::new("redis://127.0.0.1/")?.get_idempotency_window(),
    ///     RedisConfig::DEFAULT_IDEMPOTENCY_WINDOW,
    /// );
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    #[must_use]
    pub fn get_idempotency_window(&self) -> Duration {
        self.idempotency_window
    }

    /// Sets how long the epoch of a topic that has no stream yet is kept
    /// (saturated to 1 ms ..= [`MAX_DURATION`]).
    ///
    /// [`Engine::epoch`](crate::engine::Engine::epoch) on a topic never
    /// published to stores a fresh epoch under the topic's epoch key with
    /// this expiry (each call while the topic is still empty renews it), and
    /// the first publish keeps that epoch and removes the expiry. So a
    /// position taken while the topic was empty (`<epoch>.0-0`, as in a
    /// [multi-topic cursor](crate::multi)) resumes exactly, on any server,
    /// after the topic's first events. A topic that stays empty for longer
    /// gets a new epoch at its first publish, and such a position then
    /// resumes with a `reset` gap: announced, never a silent skip.
    ///
    /// The bound: only [`Engine::epoch`](crate::engine::Engine::epoch)
    /// creates these keys (reads and subscriptions do not), the
    /// [`Multiplexer`](crate::multi::Multiplexer) calls it only for topics
    /// its authorizer allowed, and each key (the key name and an epoch of at
    /// most 16 bytes, plus Redis's per-key overhead) expires by itself: at
    /// most one key per distinct empty topic asked for within the TTL.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_sse::redis::RedisConfig;
    /// let config = RedisConfig::new("redis://127.0.0.1/")?.empty_epoch_ttl(Duration::from_secs(3600));
    /// assert_eq!(config.get_empty_epoch_ttl(), Duration::from_secs(3600));
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    pub fn empty_epoch_ttl(mut self, ttl: Duration) -> Self {
        self.empty_epoch_ttl = saturate(ttl);
        self
    }

    /// How long the epoch of a topic without a stream is kept (see
    /// [`RedisConfig::empty_epoch_ttl`]).
    ///
    /// ```
    /// # use tower_sse::redis::RedisConfig;
    /// assert_eq!(
    ///     RedisConfig::new("redis://127.0.0.1/")?.get_empty_epoch_ttl(),
    ///     RedisConfig::DEFAULT_EMPTY_EPOCH_TTL,
    /// );
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    #[must_use]
    pub fn get_empty_epoch_ttl(&self) -> Duration {
        self.empty_epoch_ttl
    }

    /// The response timeout of commands.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_sse::redis::RedisConfig;
    /// assert_eq!(RedisConfig::new("redis://127.0.0.1/")?.get_response_timeout(), Duration::from_secs(2));
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    #[must_use]
    pub fn get_response_timeout(&self) -> Duration {
        self.response_timeout
    }

    /// How long anything may wait for Redis in total (connect plus response
    /// timeout; cannot overflow, both are saturated).
    #[must_use]
    pub(crate) fn patience(&self) -> Duration {
        self.connect_timeout.saturating_add(self.response_timeout)
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        match &self.prefix_error {
            Some(message) => Err(invalid(message.clone())),
            None => Ok(()),
        }
    }

    pub(crate) fn keys(&self, topic: &str) -> TopicKeys {
        TopicKeys::new(&self.key_prefix, topic)
    }

    /// Sets how many events each topic keeps for replay (`XADD … MAXLEN ~ n`).
    /// Redis trims approximately, so a stream may hold somewhat more; it never
    /// holds fewer than `n` once `n` events were published. At least 1.
    ///
    /// ```
    /// # use tower_sse::redis::RedisConfig;
    /// let config = RedisConfig::new("redis://127.0.0.1/")?.history(0);
    /// assert_eq!(config.history_len(), 1);
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    pub fn history(mut self, events: usize) -> Self {
        self.history = events.max(1);
        self
    }

    /// Sets how long one `XREAD BLOCK` waits before it is issued again
    /// (saturated to 1 ms ..= [`MAX_DURATION`]).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_sse::redis::RedisConfig;
    /// let config = RedisConfig::new("redis://127.0.0.1/")?.block_timeout(Duration::from_secs(1));
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    pub fn block_timeout(mut self, timeout: Duration) -> Self {
        self.block_timeout = saturate(timeout);
        self
    }

    /// Sets the reconnect backoff of the readers: the first retry waits `min`,
    /// each further one twice as long, capped at `max` (both saturated to
    /// 1 ms ..= [`MAX_DURATION`]; `max` is never below `min`).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_sse::redis::RedisConfig;
    /// let config = RedisConfig::new("redis://127.0.0.1/")?
    ///     .backoff(Duration::from_millis(10), Duration::from_secs(1));
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff_min = saturate(min);
        self.backoff_max = saturate(max).max(self.backoff_min);
        self
    }

    /// Sets how long establishing a connection may take before it fails
    /// (saturated to 1 ms ..= [`MAX_DURATION`]).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_sse::redis::RedisConfig;
    /// let config = RedisConfig::new("redis://127.0.0.1/")?.connect_timeout(Duration::from_millis(500));
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = saturate(timeout);
        self
    }

    /// Sets how long a command (a publish, a replay) waits for its reply
    /// before it fails, so that a hung Redis makes publishing fail instead of
    /// hang (saturated to 1 ms ..= [`MAX_DURATION`]).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_sse::redis::RedisConfig;
    /// let config = RedisConfig::new("redis://127.0.0.1/")?.response_timeout(Duration::from_millis(500));
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = saturate(timeout);
        self
    }

    /// The history size (`MAXLEN ~`) of every stream.
    ///
    /// ```
    /// # use tower_sse::redis::RedisConfig;
    /// assert_eq!(RedisConfig::new("redis://127.0.0.1/")?.history_len(), 1_000);
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    #[must_use]
    pub fn history_len(&self) -> usize {
        self.history
    }

    /// The Redis key of the stream that holds `topic`: the prefix followed
    /// by the topic as a hash tag, `<prefix>{<topic>}` (braces and `%` in
    /// the topic are written `%7B`, `%7D`, `%25`; the empty topic is `%`).
    /// The topic's epoch is `<stream key>:epoch`, its idempotency keys
    /// `<stream key>:idem:<key>`: one hash tag, one cluster slot.
    ///
    /// ```
    /// # use tower_sse::redis::RedisConfig;
    /// let config = RedisConfig::new("redis://127.0.0.1/")?;
    /// assert_eq!(config.stream_key("news"), "sse:{news}");
    /// assert_eq!(config.stream_key("a}b"), "sse:{a%7Db}");
    /// assert_eq!(config.stream_key(""), "sse:{%}");
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    #[must_use]
    pub fn stream_key(&self, topic: &str) -> String {
        self.keys(topic).stream
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field(
                "urls",
                &self.urls.iter().map(|u| redact(u)).collect::<Vec<_>>(),
            )
            .field("key_prefix", &self.key_prefix)
            .field("history", &self.history)
            .field("idempotency_window", &self.idempotency_window)
            .field("empty_epoch_ttl", &self.empty_epoch_ttl)
            .field("block_timeout", &self.block_timeout)
            .field("backoff_min", &self.backoff_min)
            .field("backoff_max", &self.backoff_max)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .finish()
    }
}

/// Equal when every setting is: the client is derived from the URL.
impl PartialEq for RedisConfig {
    fn eq(&self, other: &Self) -> bool {
        self.urls == other.urls
            && self.is_cluster() == other.is_cluster()
            && self.key_prefix == other.key_prefix
            && self.history == other.history
            && self.idempotency_window == other.idempotency_window
            && self.block_timeout == other.block_timeout
            && self.backoff_min == other.backoff_min
            && self.backoff_max == other.backoff_max
            && self.connect_timeout == other.connect_timeout
            && self.response_timeout == other.response_timeout
            && self.empty_epoch_ttl == other.empty_epoch_ttl
    }
}

impl Eq for RedisConfig {}

/// Replaces the userinfo part of a URL (`user:password@`) with `***@`.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..scheme_end], &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_redacted_but_host_and_database_are_shown() {
        assert_eq!(redact("redis://user:pw@host:1/2"), "redis://***@host:1/2");
        assert_eq!(redact("redis://host:1/2"), "redis://host:1/2");
        assert_eq!(redact("unix:///tmp/r.sock"), "unix:///tmp/r.sock");
    }

    #[test]
    fn malformed_urls_are_errors_not_panics() {
        for url in [
            "",
            "redis://",
            "http://x",
            "redis://h:99999999/",
            "redis://h/notadb",
        ] {
            let err = RedisConfig::new(url).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{url}");
        }
    }

    #[test]
    fn every_duration_saturates_so_no_deadline_can_overflow() {
        let config = RedisConfig::new("redis://127.0.0.1/")
            .unwrap()
            .response_timeout(Duration::MAX)
            .connect_timeout(Duration::MAX)
            .block_timeout(Duration::MAX)
            .idempotency_window(Duration::MAX)
            .backoff(Duration::MAX, Duration::MAX);
        for d in [
            config.response_timeout,
            config.connect_timeout,
            config.block_timeout,
            config.idempotency_window,
            config.backoff_min,
            config.backoff_max,
        ] {
            assert_eq!(d, MAX_DURATION);
        }
        // The sums the backend builds, and a deadline from now.
        let sum = config.patience() + config.block_timeout;
        assert!(std::time::Instant::now().checked_add(sum).is_some());
        let zero = RedisConfig::new("redis://127.0.0.1/")
            .unwrap()
            .response_timeout(Duration::ZERO)
            .connect_timeout(Duration::ZERO)
            .block_timeout(Duration::ZERO)
            .idempotency_window(Duration::ZERO);
        assert_eq!(zero.response_timeout, Duration::from_millis(1));
        assert_eq!(zero.connect_timeout, Duration::from_millis(1));
        assert_eq!(zero.block_timeout, Duration::from_millis(1));
        assert_eq!(zero.idempotency_window, Duration::from_millis(1));
    }

    #[test]
    fn a_prefix_with_a_brace_is_refused() {
        let config = RedisConfig::new("redis://127.0.0.1/").unwrap();
        for bad in ["{", "}", "a{b}:", "x}"] {
            let err = config.clone().try_key_prefix(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{bad}");
            assert!(config.clone().key_prefix(bad).validate().is_err());
        }
        assert!(config.key_prefix("ok:").validate().is_ok());
    }

    #[test]
    fn backoff_max_is_never_below_min() {
        let config = RedisConfig::new("redis://127.0.0.1/")
            .unwrap()
            .backoff(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(config.backoff_max, Duration::from_secs(2));
    }
}
