//! [`StreamId`]: a Redis stream entry id, which is also the SSE event id.

use std::fmt;
use std::str::FromStr;

use crate::engine::Offset;
use crate::error::{Error, ErrorKind};
use crate::field::EventId;

/// The id of a Redis stream entry, `<milliseconds>-<sequence>`.
///
/// With the Redis backend every event's SSE `id` is the id Redis gave its
/// entry, so a `Last-Event-ID` issued by one server means the same on every
/// other. Ids order like the stream does. Parsing is strict (both parts
/// decimal, no sign, no spaces) and never panics, because a `Last-Event-ID`
/// is whatever the client sent.
///
/// ```
/// use tower_sse::redis::StreamId;
///
/// let id: StreamId = "1700000000000-3".parse()?;
/// assert_eq!((id.millis(), id.seq()), (1_700_000_000_000, 3));
/// assert_eq!(id.to_string(), "1700000000000-3");
/// assert!(id < "1700000000001-0".parse()?);
///
/// assert!("12".parse::<StreamId>().is_err());
/// assert!("1-2-3".parse::<StreamId>().is_err());
/// assert!("-1-0".parse::<StreamId>().is_err());
/// # Ok::<(), tower_sse::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    millis: u64,
    seq: u64,
}

impl StreamId {
    /// `0-0`, the id before every entry: reading after it reads everything.
    pub const ZERO: Self = Self { millis: 0, seq: 0 };

    /// The largest id, after every entry.
    pub const MAX: Self = Self {
        millis: u64::MAX,
        seq: u64::MAX,
    };

    /// An id from its two parts.
    ///
    /// ```
    /// use tower_sse::redis::StreamId;
    /// assert_eq!(StreamId::new(5, 1).to_string(), "5-1");
    /// ```
    #[must_use]
    pub const fn new(millis: u64, seq: u64) -> Self {
        Self { millis, seq }
    }

    /// The millisecond part (Redis' clock when the entry was added).
    ///
    /// ```
    /// use tower_sse::redis::StreamId;
    /// assert_eq!(StreamId::new(5, 1).millis(), 5);
    /// ```
    #[must_use]
    pub const fn millis(self) -> u64 {
        self.millis
    }

    /// The sequence number within the millisecond.
    ///
    /// ```
    /// use tower_sse::redis::StreamId;
    /// assert_eq!(StreamId::new(5, 1).seq(), 1);
    /// ```
    #[must_use]
    pub const fn seq(self) -> u64 {
        self.seq
    }

    /// This id as an SSE [`EventId`].
    ///
    /// ```
    /// use tower_sse::redis::StreamId;
    /// assert_eq!(StreamId::new(5, 1).to_event_id().as_str(), "5-1");
    /// ```
    #[must_use]
    pub fn to_event_id(self) -> EventId {
        // Digits and one dash: always a valid event id.
        EventId::new(self.to_string()).unwrap_or_else(|_| EventId::from(0_u64))
    }
}

fn parse_part(part: &str) -> Option<u64> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

impl FromStr for StreamId {
    type Err = Error;

    /// Parses `<ms>-<seq>`; anything else is an [`ErrorKind::InvalidEventId`] error.
    fn from_str(s: &str) -> Result<Self, Error> {
        let invalid = || Error::new(ErrorKind::InvalidEventId);
        let (millis, seq) = s.split_once('-').ok_or_else(invalid)?;
        Ok(Self {
            millis: parse_part(millis).ok_or_else(invalid)?,
            seq: parse_part(seq).ok_or_else(invalid)?,
        })
    }
}

impl TryFrom<&EventId> for StreamId {
    type Error = Error;

    fn try_from(id: &EventId) -> Result<Self, Error> {
        id.as_str().parse()
    }
}

/// A stream id is the offset of its entry: `<ms>-<seq>` as `(major, minor)`.
impl From<StreamId> for Offset {
    fn from(id: StreamId) -> Self {
        Offset::new(id.millis, id.seq)
    }
}

impl From<Offset> for StreamId {
    fn from(offset: Offset) -> Self {
        StreamId::new(offset.major(), offset.minor())
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.millis, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_last_event_ids_are_rejected_without_panicking() {
        for bad in [
            "",
            "-",
            "1-",
            "-1",
            "1",
            "a-1",
            "1-b",
            "+1-0",
            "1-+0",
            " 1-0",
            "1-0 ",
            "1-2-3",
            "18446744073709551616-0",
            "1-18446744073709551616",
            "١-٠",
        ] {
            let err = bad.parse::<StreamId>().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidEventId, "{bad:?}");
        }
    }

    #[test]
    fn extreme_ids_round_trip() {
        let max = StreamId::new(u64::MAX, u64::MAX);
        assert_eq!(max.to_string().parse::<StreamId>().unwrap(), max);
        assert_eq!("0-0".parse::<StreamId>().unwrap(), StreamId::ZERO);
    }

    #[test]
    fn ids_order_by_millis_then_sequence() {
        assert!(StreamId::new(1, 9) < StreamId::new(2, 0));
        assert!(StreamId::new(2, 0) < StreamId::new(2, 1));
    }

    proptest::proptest! {
        #[test]
        fn display_then_parse_is_identity(ms: u64, seq: u64) {
            let id = StreamId::new(ms, seq);
            proptest::prop_assert_eq!(id.to_string().parse::<StreamId>().unwrap(), id);
        }

        #[test]
        fn parsing_any_string_never_panics(s in "\\PC*") {
            let _ = s.parse::<StreamId>();
        }
    }
}
