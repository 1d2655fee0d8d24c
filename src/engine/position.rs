//! Where an event sits in its topic's history: [`Epoch`], [`Offset`] and
//! [`Position`], whose text form is the event id a [`Hub`](crate::Hub) sends.
//!
//! The id format is documented on [`Position`].

use std::cmp::Ordering;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use crate::error::{Error, ErrorKind};
use crate::field::EventId;

/// The longest [`Epoch`], in bytes.
const MAX_EPOCH_LEN: usize = 16;
/// The length of a minted [`Epoch`]: 8 base-36 characters, about 41 bits.
const MINTED_LEN: usize = 8;

/// The name of one history of a topic: a short token, `[A-Za-z0-9_]{1,16}`.
///
/// When a topic's history is lost and recreated (a restart of an in-memory
/// hub, a Redis stream that disappeared) it gets a new epoch, so a
/// `Last-Event-ID` from the old history is recognised as such and answered
/// with a gap event instead of being matched against unrelated new events.
/// Copying an epoch is cheap (it is stored inline).
///
/// ```
/// use tower_sse::engine::Epoch;
///
/// let epoch = Epoch::new("k3x9q2ab")?;
/// assert_eq!(epoch.as_str(), "k3x9q2ab");
/// assert_ne!(Epoch::mint(), Epoch::mint());
/// assert!(Epoch::new("has.dot").is_err());
/// assert!(Epoch::new("").is_err());
/// # Ok::<(), tower_sse::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Epoch {
    bytes: [u8; MAX_EPOCH_LEN],
    len: u8,
}

impl Epoch {
    /// Validates an epoch token.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidEventId`] when `token` is empty, longer than 16
    /// bytes, or holds anything but ASCII letters, digits and `_`.
    ///
    /// ```
    /// use tower_sse::{engine::Epoch, ErrorKind};
    ///
    /// assert!(Epoch::new("A_9").is_ok());
    /// let err = Epoch::new("x".repeat(17)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidEventId);
    /// ```
    pub fn new(token: impl AsRef<str>) -> Result<Self, Error> {
        let token = token.as_ref().as_bytes();
        let valid = !token.is_empty()
            && token.len() <= MAX_EPOCH_LEN
            && token
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'_');
        if !valid {
            return Err(Error::new(ErrorKind::InvalidEventId));
        }
        let mut bytes = [0; MAX_EPOCH_LEN];
        bytes[..token.len()].copy_from_slice(token);
        // At most 16: fits.
        let len = u8::try_from(token.len()).unwrap_or(u8::MAX);
        Ok(Self { bytes, len })
    }

    /// A fresh random epoch of 8 lowercase letters and digits.
    ///
    /// Randomness comes from the standard library's per-process random hash
    /// keys mixed with a counter and the clock: unpredictable enough that two
    /// histories (two process starts) do not share an epoch, not a secret.
    ///
    /// ```
    /// let epoch = tower_sse::engine::Epoch::mint();
    /// assert_eq!(epoch.as_str().len(), 8);
    /// ```
    #[must_use]
    pub fn mint() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, AtomicOrdering::Relaxed));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        hasher.write_u128(nanos);
        let mut value = hasher.finish();
        const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut bytes = [0; MAX_EPOCH_LEN];
        for byte in &mut bytes[..MINTED_LEN] {
            // Always < 36.
            *byte = DIGITS[usize::try_from(value % 36).unwrap_or(0)];
            value /= 36;
        }
        Self {
            bytes,
            len: 8, // MINTED_LEN
        }
    }

    /// The token.
    ///
    /// ```
    /// assert_eq!(tower_sse::engine::Epoch::new("e1")?.as_str(), "e1");
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Debug for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Epoch({})", self.as_str())
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Epoch {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

/// The place of an event within one [`Epoch`] of its topic: strictly
/// increasing in publish order. Subscriptions de-duplicate the seam between
/// replay and live delivery with it.
///
/// Two `u64`s, compared as a pair, so every engine's order fits: the
/// in-memory engine counts `0-1`, `0-2`, … (written `1`, `2`, …), Redis stream
/// ids `<ms>-<seq>` map one to one.
///
/// ```
/// use tower_sse::engine::Offset;
///
/// let a: Offset = "7".parse()?;
/// assert_eq!(a, Offset::new(0, 7));
/// let b: Offset = "1700000000000-3".parse()?;
/// assert!(a < b);
/// assert_eq!(b.to_string(), "1700000000000-3");
/// assert_eq!(Offset::from(7).to_string(), "7");
/// assert!("-1".parse::<Offset>().is_err());
/// assert!("1-2-3".parse::<Offset>().is_err());
/// # Ok::<(), tower_sse::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Offset {
    major: u64,
    minor: u64,
}

impl Offset {
    /// `0`: before every event. Reading after it reads the whole history.
    pub const ZERO: Self = Self::new(0, 0);

    /// An offset from its two parts.
    ///
    /// ```
    /// assert_eq!(tower_sse::engine::Offset::new(5, 1).to_string(), "5-1");
    /// ```
    #[must_use]
    pub const fn new(major: u64, minor: u64) -> Self {
        Self { major, minor }
    }

    /// The major part (`0` for a plain counter; Redis' milliseconds).
    ///
    /// ```
    /// assert_eq!(tower_sse::engine::Offset::new(5, 1).major(), 5);
    /// ```
    #[must_use]
    pub const fn major(self) -> u64 {
        self.major
    }

    /// The minor part (the counter; Redis' sequence).
    ///
    /// ```
    /// assert_eq!(tower_sse::engine::Offset::new(5, 1).minor(), 1);
    /// ```
    #[must_use]
    pub const fn minor(self) -> u64 {
        self.minor
    }

    /// The next offset of a plain counter, saturating at the largest offset.
    ///
    /// ```
    /// use tower_sse::engine::Offset;
    /// assert_eq!(Offset::ZERO.next(), Offset::from(1));
    /// assert_eq!(Offset::new(0, u64::MAX).next(), Offset::new(1, 0));
    /// ```
    #[must_use]
    pub const fn next(self) -> Self {
        match self.minor.checked_add(1) {
            Some(minor) => Self::new(self.major, minor),
            None => match self.major.checked_add(1) {
                Some(major) => Self::new(major, 0),
                None => self,
            },
        }
    }
}

impl From<u64> for Offset {
    fn from(minor: u64) -> Self {
        Self::new(0, minor)
    }
}

impl PartialOrd for Offset {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Offset {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor).cmp(&(other.major, other.minor))
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.major == 0 {
            write!(f, "{}", self.minor)
        } else {
            write!(f, "{}-{}", self.major, self.minor)
        }
    }
}

fn parse_u64(part: &str) -> Option<u64> {
    if part.is_empty() || part.len() > 20 || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

impl FromStr for Offset {
    type Err = Error;

    /// Parses `<n>` or `<major>-<minor>`; anything else is an
    /// [`ErrorKind::InvalidEventId`] error.
    fn from_str(s: &str) -> Result<Self, Error> {
        let parsed = match s.split_once('-') {
            Some((major, minor)) => parse_u64(major).zip(parse_u64(minor)),
            None => parse_u64(s).map(|minor| (0, minor)),
        };
        parsed
            .map(|(major, minor)| Self::new(major, minor))
            .ok_or_else(|| Error::new(ErrorKind::InvalidEventId))
    }
}

/// An [`Epoch`] and an [`Offset`]: the full name of an event in its topic.
/// Its text form `<epoch>.<offset>` is the event id.
///
/// # The id format
///
/// An id the hub assigns is `<epoch>.<offset>`, for example `k3x9q2ab.42`
/// (in memory) or `k3x9q2ab.1700000000000-3` (Redis Streams):
///
/// - the **epoch** names one history of a topic: a short random token minted
///   when that history is created (for the in-memory engine: when the topic is
///   created in this process; for Redis: stored next to the stream and
///   re-minted when the stream is recreated). 1 to 16 characters of
///   `[A-Za-z0-9_]`.
/// - the **offset** orders events within an epoch: `<n>` or `<major>-<minor>`
///   (decimal `u64`s, no sign, no spaces); `<n>` is `0-<n>`. Offsets compare
///   as the pair `(major, minor)`.
///
/// So an id is at most 16 + 1 + 41 = 58 bytes, well under the 128 bytes a
/// CORS-safelisted `Last-Event-ID` may have, and ids of one epoch order like
/// their events. Parsing is strict and never panics: a `Last-Event-ID` is
/// whatever a client sent.
///
/// ```
/// use tower_sse::engine::{Epoch, Offset, Position};
///
/// let position = Position::new(Epoch::new("k3x9q2ab")?, Offset::from(42));
/// assert_eq!(position.to_string(), "k3x9q2ab.42");
/// assert_eq!("k3x9q2ab.42".parse::<Position>()?, position);
/// assert!("42".parse::<Position>().is_err());
/// assert!("k3x9q2ab.".parse::<Position>().is_err());
/// # Ok::<(), tower_sse::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    epoch: Epoch,
    offset: Offset,
}

impl Position {
    /// A position from its parts.
    #[must_use]
    pub const fn new(epoch: Epoch, offset: Offset) -> Self {
        Self { epoch, offset }
    }

    /// The epoch.
    ///
    /// ```
    /// let p: tower_sse::engine::Position = "e.1".parse()?;
    /// assert_eq!(p.epoch().as_str(), "e");
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    #[must_use]
    pub const fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The offset.
    ///
    /// ```
    /// let p: tower_sse::engine::Position = "e.1".parse()?;
    /// assert_eq!(p.offset(), tower_sse::engine::Offset::from(1));
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    #[must_use]
    pub const fn offset(&self) -> Offset {
        self.offset
    }

    /// This position as an SSE [`EventId`].
    ///
    /// ```
    /// let p: tower_sse::engine::Position = "e.1-2".parse()?;
    /// assert_eq!(p.to_event_id(), "e.1-2");
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    #[must_use]
    pub fn to_event_id(&self) -> EventId {
        // Letters, digits, `_`, `.` and `-` only: always a valid id.
        EventId::new(self.to_string()).unwrap_or_else(|_| EventId::from(0_u64))
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.epoch, self.offset)
    }
}

impl FromStr for Position {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let (epoch, offset) = s
            .split_once('.')
            .ok_or_else(|| Error::new(ErrorKind::InvalidEventId))?;
        Ok(Self::new(epoch.parse()?, offset.parse()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_order_as_pairs() {
        let offsets = [
            Offset::ZERO,
            Offset::from(1),
            Offset::new(0, u64::MAX),
            Offset::new(1, 0),
            Offset::new(u64::MAX, u64::MAX),
        ];
        for pair in offsets.windows(2) {
            assert!(pair[0] < pair[1], "{pair:?}");
        }
        assert_eq!(
            Offset::new(u64::MAX, u64::MAX).next(),
            Offset::new(u64::MAX, u64::MAX)
        );
    }

    #[test]
    fn the_longest_id_is_well_under_128_bytes() {
        let epoch = Epoch::new("x".repeat(16)).unwrap();
        let id = Position::new(epoch, Offset::new(u64::MAX, u64::MAX)).to_string();
        assert_eq!(id.len(), 58);
        assert_eq!(id.parse::<Position>().unwrap().to_string(), id);
    }

    #[test]
    fn garbage_never_parses_and_never_panics() {
        for bad in [
            "",
            ".",
            "a.",
            ".1",
            "a.b",
            "a.1.2",
            "a.+1",
            "a. 1",
            "a.1-",
            "a.-1",
            "é.1",
            "a.99999999999999999999999",
            "a.1-99999999999999999999999",
        ] {
            assert!(bad.parse::<Position>().is_err(), "{bad}");
        }
    }

    #[test]
    fn minted_epochs_are_valid_and_distinct() {
        let epochs: std::collections::HashSet<_> = (0..1000).map(|_| Epoch::mint()).collect();
        assert_eq!(epochs.len(), 1000);
        for epoch in &epochs {
            assert_eq!(Epoch::new(epoch.as_str()).unwrap(), *epoch);
        }
    }
}
