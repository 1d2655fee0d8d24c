//! Validated field values: [`EventType`], [`EventId`] and [`Comment`].

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};

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
#[derive(Clone)]
pub struct EventType(Text);

/// The `id:` field of an event, which browsers send back as `Last-Event-ID`.
///
/// Holds any UTF-8 text without a carriage return, a line feed or a NUL.
/// An empty id is valid: it resets the browser's last event ID. Integer ids
/// and other short ids (up to 22 bytes) are stored inline, without a heap
/// allocation.
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
#[derive(Clone)]
pub struct EventId(Text);

/// A comment line (`: text`): ignored by browsers, used for keep-alives,
/// greetings and debugging. Used by [`Event::comment`](crate::Event::comment)
/// and by the layer's keep-alive and initial comment.
///
/// Holds any UTF-8 text without a carriage return or a line feed.
///
/// ```
/// use tower_sse::{Comment, Event};
///
/// const HELLO: Comment = Comment::from_static("hello");
/// assert_eq!(Event::new().comment(HELLO).encode().as_bytes(), &b": hello\n\n"[..]);
/// assert_eq!(Comment::new("ok")?, "ok");
/// assert!(Comment::new("a\nb").is_err());
/// # Ok::<(), tower_sse::Error>(())
/// ```
#[derive(Clone)]
pub struct Comment(Text);

/// How many bytes a value may have to be stored inline.
const INLINE: usize = 22;

/// The bytes of a validated text value: inline when short, else shared.
#[derive(Clone)]
enum Text {
    Inline { len: u8, buf: [u8; INLINE] },
    Shared(Bytes),
}

impl Text {
    fn copy_from(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > INLINE {
            return None;
        }
        let mut buf = [0; INLINE];
        buf[..bytes.len()].copy_from_slice(bytes);
        // At most `INLINE` bytes, so the length fits in a `u8`.
        #[allow(clippy::cast_possible_truncation)]
        let len = bytes.len() as u8;
        Some(Self::Inline { len, buf })
    }

    fn from_string(value: String) -> Self {
        Self::copy_from(value.as_bytes()).unwrap_or_else(|| Self::Shared(Bytes::from(value)))
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, buf } => &buf[..usize::from(*len)],
            Self::Shared(bytes) => bytes,
        }
    }

    fn as_str(&self) -> &str {
        // Every constructor takes a `str` (or ASCII digits), so this never fails.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

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
                    Ok(Self(Text::from_string(value)))
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
                Self(Text::Shared(Bytes::from_static(value.as_bytes())))
            }

            /// The value as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            pub(crate) fn as_bytes(&self) -> &[u8] {
                self.0.as_bytes()
            }

            #[allow(dead_code)] // not every field type needs it
            pub(crate) fn into_string(self) -> String {
                self.as_str().to_owned()
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

        impl PartialEq for $ty {
            fn eq(&self, other: &Self) -> bool {
                self.as_bytes() == other.as_bytes()
            }
        }

        impl Eq for $ty {}

        impl Hash for $ty {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.as_str().hash(state);
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl Borrow<str> for $ty {
            fn borrow(&self) -> &str {
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
text_field!(
    Comment,
    false,
    ErrorKind::InvalidComment,
    "a comment",
    "comment"
);

/// Two decimal digits for each of 0..100.
const PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Writes the decimal digits of `value` into the end of `digits`; returns
/// where they start (two digits per division, as `itoa` does).
pub(crate) fn decimal(value: u64, digits: &mut [u8; 20]) -> usize {
    let mut n = value;
    let mut start = digits.len();
    while n >= 100 {
        // Below 100, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let pair = usize::from((n % 100) as u8) * 2;
        n /= 100;
        start -= 2;
        digits[start..start + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    // Below 100 here.
    #[allow(clippy::cast_possible_truncation)]
    let last = n as u8;
    if last >= 10 {
        let pair = usize::from(last) * 2;
        start -= 2;
        digits[start..start + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        start -= 1;
        digits[start] = b'0' + last;
    }
    start
}

impl From<u64> for EventId {
    /// The decimal form of `value`, stored inline (no heap allocation).
    fn from(value: u64) -> Self {
        let mut digits = [0_u8; 20];
        let start = decimal(value, &mut digits);
        let mut buf = [0; INLINE];
        let len = digits.len() - start;
        buf[..len].copy_from_slice(&digits[start..]);
        // At most 20 digits.
        #[allow(clippy::cast_possible_truncation)]
        let len = len as u8;
        Self(Text::Inline { len, buf })
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
        for n in (0..100_000).chain([u64::MAX - 1, 1 << 40, 10_u64.pow(19)]) {
            assert_eq!(EventId::from(n), n.to_string().as_str());
        }
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
    fn short_ids_are_stored_inline_and_long_ones_shared() {
        assert!(matches!(EventId::from(u64::MAX).0, Text::Inline { .. }));
        assert!(matches!(
            EventId::new("x".repeat(INLINE)).unwrap().0,
            Text::Inline { .. }
        ));
        let long = EventId::new("y".repeat(INLINE + 1)).unwrap();
        assert!(matches!(long.0, Text::Shared(_)));
        assert_eq!(long, "y".repeat(INLINE + 1).as_str());
        assert_eq!(EventId::from(7_u64), EventId::from_static("7"));
        let mut set = std::collections::HashSet::new();
        set.insert(EventId::from(7_u64));
        assert!(set.contains("7"));
    }

    #[test]
    fn comments_reject_line_breaks_only() {
        assert_eq!(
            Comment::new("a\nb").unwrap_err().kind(),
            ErrorKind::InvalidComment
        );
        assert!(Comment::new("a\rb").is_err());
        assert_eq!(Comment::new("ok \0 ✓").unwrap(), "ok \0 ✓");
        const C: Comment = Comment::from_static("keep");
        assert_eq!(C.as_str(), "keep");
    }

    #[test]
    #[should_panic(expected = "invalid comment literal")]
    fn a_comment_literal_with_a_line_break_panics() {
        let _ = Comment::from_static("a\rb");
    }

    #[test]
    fn parse_and_try_from_agree() {
        let a: EventType = "x".parse().unwrap();
        let b = EventType::try_from(String::from("x")).unwrap();
        assert_eq!(a, b);
        assert_eq!(format!("{a:?} {a}"), "\"x\" x");
    }
}
