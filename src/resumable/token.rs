//! [`StreamToken`]: the unguessable name of one resumable stream.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

/// The name of one resumable stream: 128 random bits, written as 32
/// lowercase hex digits.
///
/// The token is the capability to read (and cancel) its stream, so hand it
/// only to the client that started the unit of work. Tokens come from the
/// standard library's randomly keyed `SipHash` (its keys are drawn from the
/// operating system's random source) over a process-wide counter and the
/// time, so they are unpredictable and never repeat within a process.
///
/// ```
/// use tower_sse::resumable::StreamToken;
///
/// let token = StreamToken::generate();
/// let text = token.to_string();
/// assert_eq!(text.len(), 32);
/// assert_eq!(text.parse::<StreamToken>().unwrap(), token);
/// assert!("not-a-token".parse::<StreamToken>().is_err());
/// assert!("ABCDEF00000000000000000000000000".parse::<StreamToken>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamToken(u128);

/// A string that is not a [`StreamToken`]: not exactly 32 lowercase hex digits.
///
/// ```
/// let err = "xyz".parse::<tower_sse::resumable::StreamToken>().unwrap_err();
/// assert_eq!(err.to_string(), "not a stream token");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidToken(());

impl fmt::Display for InvalidToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a stream token")
    }
}

impl std::error::Error for InvalidToken {}

impl StreamToken {
    /// A fresh random token.
    ///
    /// ```
    /// use tower_sse::resumable::StreamToken;
    /// assert_ne!(StreamToken::generate(), StreamToken::generate());
    /// ```
    #[must_use]
    pub fn generate() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let half = |salt: u64| {
            // A fresh RandomState per half: independent secret keys.
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(salt);
            hasher.write_u64(count);
            hasher.write_u128(nanos);
            hasher.finish()
        };
        Self((u128::from(half(1)) << 64) | u128::from(half(2)))
    }
}

impl fmt::Display for StreamToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for StreamToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A token is a capability: never print it whole in logs.
        write!(f, "StreamToken({:08x}…)", self.0 >> 96)
    }
}

impl FromStr for StreamToken {
    type Err = InvalidToken;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if s.len() != 32 || !s.bytes().all(lower_hex) {
            return Err(InvalidToken(()));
        }
        u128::from_str_radix(s, 16)
            .map(Self)
            .map_err(|_| InvalidToken(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thousand_tokens_are_distinct_and_round_trip() {
        let tokens: std::collections::HashSet<_> =
            (0..1000).map(|_| StreamToken::generate()).collect();
        assert_eq!(tokens.len(), 1000);
        for token in tokens {
            assert_eq!(token.to_string().parse::<StreamToken>(), Ok(token));
        }
    }

    #[test]
    fn debug_does_not_print_the_whole_token() {
        let token = StreamToken::generate();
        assert!(!format!("{token:?}").contains(&token.to_string()));
    }

    #[test]
    fn signs_and_wrong_lengths_are_refused() {
        for bad in ["", "+0000000000000000000000000000000", &"0".repeat(33), "é"] {
            assert!(bad.parse::<StreamToken>().is_err(), "{bad:?}");
        }
    }
}
