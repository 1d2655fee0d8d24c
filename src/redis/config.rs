//! [`RedisConfig`]: where the Redis backend connects and how it behaves.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, ErrorKind};

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
#[derive(Clone)]
#[must_use]
pub struct RedisConfig {
    pub(crate) client: redis::Client,
    url: String,
    pub(crate) key_prefix: String,
    pub(crate) history: usize,
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
        let client = redis::Client::open(url.as_str())
            .map_err(|e| Error::with_source(ErrorKind::InvalidConfig, e))?;
        Ok(Self {
            client,
            url,
            key_prefix: Self::DEFAULT_KEY_PREFIX.to_owned(),
            history: Self::DEFAULT_HISTORY,
            block_timeout: Duration::from_secs(5),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
        })
    }

    /// Sets the prefix put before every topic name to form its stream key.
    ///
    /// ```
    /// # use tower_sse::redis::RedisConfig;
    /// let config = RedisConfig::new("redis://127.0.0.1/")?.key_prefix("app1:sse:");
    /// assert_eq!(config.stream_key("news"), "app1:sse:news");
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
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

    /// Sets how long one `XREAD BLOCK` waits before it is issued again (at least 1 ms).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_sse::redis::RedisConfig;
    /// let config = RedisConfig::new("redis://127.0.0.1/")?.block_timeout(Duration::from_secs(1));
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    pub fn block_timeout(mut self, timeout: Duration) -> Self {
        self.block_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Sets the reconnect backoff of the readers: the first retry waits `min`,
    /// each further one twice as long, capped at `max`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_sse::redis::RedisConfig;
    /// let config = RedisConfig::new("redis://127.0.0.1/")?
    ///     .backoff(Duration::from_millis(10), Duration::from_secs(1));
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff_min = min.max(Duration::from_millis(1));
        self.backoff_max = max.max(self.backoff_min);
        self
    }

    /// Sets how long establishing a connection may take before it fails.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_sse::redis::RedisConfig;
    /// let config = RedisConfig::new("redis://127.0.0.1/")?.connect_timeout(Duration::from_millis(500));
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets how long a command (a publish, a replay) waits for its reply
    /// before it fails, so that a hung Redis makes publishing fail instead of hang.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_sse::redis::RedisConfig;
    /// let config = RedisConfig::new("redis://127.0.0.1/")?.response_timeout(Duration::from_millis(500));
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
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

    /// The Redis key of the stream that holds `topic`: the prefix followed by the topic.
    ///
    /// ```
    /// # use tower_sse::redis::RedisConfig;
    /// assert_eq!(RedisConfig::new("redis://127.0.0.1/")?.stream_key("news"), "sse:news");
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    #[must_use]
    pub fn stream_key(&self, topic: &str) -> String {
        let mut key = String::with_capacity(self.key_prefix.len() + topic.len());
        key.push_str(&self.key_prefix);
        key.push_str(topic);
        key
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("history", &self.history)
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
        self.url == other.url
            && self.key_prefix == other.key_prefix
            && self.history == other.history
            && self.block_timeout == other.block_timeout
            && self.backoff_min == other.backoff_min
            && self.backoff_max == other.backoff_max
            && self.connect_timeout == other.connect_timeout
            && self.response_timeout == other.response_timeout
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
    fn backoff_max_is_never_below_min() {
        let config = RedisConfig::new("redis://127.0.0.1/")
            .unwrap()
            .backoff(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(config.backoff_max, Duration::from_secs(2));
    }
}
