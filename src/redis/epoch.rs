//! [`Epoch`]: the token naming one history of a Redis topic.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// The epoch of a topic's Redis stream: a random token (lowercase letters
/// and digits, at most 32) stored next to the stream, minted by the script
/// of the publish that creates the stream, and minted again when the stream
/// is recreated (Redis lost it) or found rewound (a failover to a replica
/// that lacked its tail). An id remembered from another epoch belongs to a
/// history that is gone: resuming with it must report a gap, never skip.
///
/// ```no_run
/// # async fn run(streams: tower_sse::redis::RedisStreams) -> Result<(), tower_sse::Error> {
/// let published = streams.append("news", &tower_sse::Event::new().data("hi"), None).await?;
/// assert_eq!(streams.epoch("news").await?.as_ref(), Some(published.epoch()));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Epoch(Box<str>);

/// The longest epoch token accepted from Redis.
const MAX_LEN: usize = 32;

impl Epoch {
    /// The token.
    ///
    /// ```
    /// let epoch = tower_sse::redis::Epoch::parse("k3x9").unwrap();
    /// assert_eq!(epoch.as_str(), "k3x9");
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses a token: 1 to 32 lowercase ASCII letters or digits.
    ///
    /// ```
    /// use tower_sse::redis::Epoch;
    /// assert!(Epoch::parse("0a9z").is_some());
    /// assert!(Epoch::parse("").is_none());
    /// assert!(Epoch::parse("A-1").is_none());
    /// ```
    #[must_use]
    pub fn parse(token: &str) -> Option<Self> {
        let valid = (1..=MAX_LEN).contains(&token.len())
            && token
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        valid.then(|| Self(token.into()))
    }

    /// A fresh random token of 12 base-36 characters (about 62 bits).
    pub(crate) fn mint() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        // `RandomState` is seeded from the OS per process and per instance.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            hasher.write_u128(now.as_nanos());
        }
        hasher.write_u32(std::process::id());
        let mut n = hasher.finish();
        let mut token = String::with_capacity(12);
        for _ in 0..12 {
            let digit = u32::try_from(n % 36).unwrap_or(0);
            token.push(char::from_digit(digit, 36).unwrap_or('0'));
            n /= 36;
        }
        Self(token.into())
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_epochs_are_valid_and_distinct() {
        let epochs: std::collections::HashSet<_> = (0..1000).map(|_| Epoch::mint()).collect();
        assert_eq!(epochs.len(), 1000);
        for epoch in &epochs {
            assert_eq!(Epoch::parse(epoch.as_str()).as_ref(), Some(epoch));
            assert_eq!(epoch.as_str().len(), 12);
        }
    }

    #[test]
    fn foreign_tokens_are_refused() {
        for bad in ["", "x".repeat(33).as_str(), "a b", "é", "a\n", "ABC"] {
            assert!(Epoch::parse(bad).is_none(), "{bad:?}");
        }
    }
}
