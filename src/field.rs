//! Validated field values: [`EventType`] and [`EventId`].

use std::fmt;

use bytes::Bytes;

use crate::error::{Error, ErrorKind};

/// The `event:` field of an event: its type, as seen by `addEventListener`.
///
/// Holds any UTF-8 text without a carriage return or a line feed.
///
/// ```
/// use tower_sse::EventType;
///
/// const CHAT: EventType = EventType::from_static("chat");
/// assert_eq!(CHAT.as_str(), "chat");
///
/// let ty = EventType::new("vote")?;
/// assert_eq!(ty, "vote");
/// assert!(EventType::new("a\r\nb").is_err());
/// # Ok::<(), tower_sse::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EventType(Bytes);

/// The `id:` field of an event, which browsers send back as `Last-Event-ID`.
///
/// Holds any UTF-8 text without a carriage return, a line feed or a NUL.
/// An empty id is valid: it resets the browser's last event ID.
///
/// ```
/// use tower_sse::EventId;
///
/// let id = EventId::from(42_u64);
/// assert_eq!(id.as_str(), "42");
/// assert_eq!(EventId::new("1-0")?, "1-0");
/// assert!(EventId::new("a\0b").is_err());
/// # Ok::<(), tower_sse::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EventId(Bytes);

const fn is_line_safe(bytes: &[u8], reject_nul: bool) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\r' || b == b'\n' || (reject_nul && b == 0) {
            return false;
        }
        i += 1;
    }
    true
}

fn as_str(bytes: &Bytes) -> &str {
    // Every constructor takes a `str`, so this never fails.
    std::str::from_utf8(bytes).unwrap_or_default()
}

macro_rules! text_field {
    ($ty:ident, $reject_nul:expr, $kind:expr, $what:literal, $name:literal) => {
        impl $ty {
            #[doc = concat!("Validates `value` as ", $what, ".")]
            ///
            /// # Errors
            ///
            /// When the value holds a forbidden character.
            pub fn new(value: impl Into<String>) -> Result<Self, Error> {
                let value = value.into();
                if is_line_safe(value.as_bytes(), $reject_nul) {
                    Ok(Self(Bytes::from(value)))
                } else {
                    Err(Error::new($kind))
                }
            }

            #[doc = concat!("Makes ", $what, " from a literal, in `const` context too.")]
            ///
            /// # Panics
            ///
            /// When the literal holds a forbidden character; in a `const` this is a
            /// compile error. Use [`Self::new`] for runtime values.
            #[must_use]
            pub const fn from_static(value: &'static str) -> Self {
                assert!(
                    is_line_safe(value.as_bytes(), $reject_nul),
                    concat!("invalid ", $name, " literal")
                );
                Self(Bytes::from_static(value.as_bytes()))
            }

            /// The value as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                as_str(&self.0)
            }

            pub(crate) fn as_bytes(&self) -> &[u8] {
                &self.0
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = Error;

            fn try_from(value: &str) -> Result<Self, Error> {
                Self::new(value)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = Error;

            fn try_from(value: String) -> Result<Self, Error> {
                Self::new(value)
            }
        }

        impl std::str::FromStr for $ty {
            type Err = Error;

            fn from_str(value: &str) -> Result<Self, Error> {
                Self::new(value)
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

text_field!(
    EventType,
    false,
    ErrorKind::InvalidEventType,
    "an event type",
    "event type"
);
text_field!(
    EventId,
    true,
    ErrorKind::InvalidEventId,
    "an event id",
    "event id"
);

impl From<u64> for EventId {
    fn from(value: u64) -> Self {
        let mut digits = [0_u8; 20];
        let mut n = value;
        let mut start = digits.len();
        loop {
            start -= 1;
            // `n % 10` is below 10, so the cast cannot truncate.
            #[allow(clippy::cast_possible_truncation)]
            let digit = (n % 10) as u8;
            digits[start] = b'0' + digit;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Self(Bytes::copy_from_slice(&digits[start..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_rejects_line_breaks_but_allows_nul() {
        assert_eq!(
            EventType::new("a\rb").unwrap_err().kind(),
            ErrorKind::InvalidEventType
        );
        assert!(EventType::new("a\nb").is_err());
        assert!(EventType::new("a\0b").is_ok());
        assert_eq!(EventType::new("çhat ✓").unwrap(), "çhat ✓");
    }

    #[test]
    fn event_id_rejects_line_breaks_and_nul() {
        for bad in ["\r", "\n", "a\0", "x\r\ny"] {
            let err = EventId::new(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidEventId, "{bad:?}");
        }
        assert_eq!(EventId::new("").unwrap(), "");
    }

    #[test]
    fn event_id_from_integers_is_decimal() {
        assert_eq!(EventId::from(0_u64), "0");
        assert_eq!(EventId::from(7_u64), "7");
        assert_eq!(EventId::from(u64::MAX), "18446744073709551615");
    }

    #[test]
    #[should_panic(expected = "invalid event id literal")]
    fn from_static_panics_on_a_bad_literal() {
        let _ = EventId::from_static("a\nb");
    }

    #[test]
    fn parse_and_try_from_agree() {
        let a: EventType = "x".parse().unwrap();
        let b = EventType::try_from(String::from("x")).unwrap();
        assert_eq!(a, b);
        assert_eq!(format!("{a:?} {a}"), "\"x\" x");
    }
}
