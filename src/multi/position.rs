//! [`Position`]: where one topic of a multi-topic subscription stands (an
//! event id), kept inline when short.
//!
//! Every subscriber of a topic reads its position out of the same shared hub
//! event. Copying the few bytes of an id costs less than taking a reference
//! count on those shared bytes, whose counter all the subscribers (on all
//! worker threads) would write.

use std::fmt;

use bytes::Bytes;

/// Ids up to this long are kept inline: a hub id (`<epoch>.<offset>`) or a
/// Redis one (`<epoch>.<ms>-<seq>`) fits.
const INLINE: usize = 38;

#[derive(Clone)]
pub(crate) enum Position {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Bytes),
}

impl Position {
    /// No position: unknown (or the topic has never had an event).
    pub(crate) const fn empty() -> Self {
        Self::Inline {
            len: 0,
            bytes: [0; INLINE],
        }
    }

    /// The position `id`, a part of `bytes`: copied when short, a slice of
    /// `bytes` otherwise.
    pub(crate) fn within(bytes: &Bytes, id: std::ops::Range<usize>) -> Self {
        match bytes.get(id.clone()) {
            Some(slice) if slice.len() <= INLINE => Self::copy(slice),
            Some(_) => Self::Shared(bytes.slice(id)),
            None => Self::empty(),
        }
    }

    /// A copy of `id`.
    pub(crate) fn copy(id: &[u8]) -> Self {
        if id.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..id.len()].copy_from_slice(id);
            #[allow(clippy::cast_possible_truncation)]
            let len = id.len() as u8;
            Self::Inline { len, bytes }
        } else {
            Self::Shared(Bytes::copy_from_slice(id))
        }
    }

    pub(crate) fn from_bytes(id: Bytes) -> Self {
        if id.len() <= INLINE {
            Self::copy(&id)
        } else {
            Self::Shared(id)
        }
    }

    /// Moves to `id`: copied in place when it is short; a longer one is a
    /// slice of `within` when it lies in it (no allocation per event), a copy
    /// otherwise.
    #[inline]
    pub(crate) fn set(&mut self, id: &[u8], within: Option<&Bytes>) {
        match self {
            Self::Inline { len, bytes } if id.len() <= INLINE => {
                bytes[..id.len()].copy_from_slice(id);
                #[allow(clippy::cast_possible_truncation)]
                {
                    *len = id.len() as u8;
                }
            }
            _ => {
                *self = within
                    .and_then(|b| slice_of(b, id))
                    .unwrap_or_else(|| Self::copy(id));
            }
        }
    }

    /// The shared bytes a long position is a slice of.
    pub(crate) fn shared(&self) -> Option<&Bytes> {
        match self {
            Self::Inline { .. } => None,
            Self::Shared(bytes) => Some(bytes),
        }
    }

    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Shared(bytes) => bytes,
        }
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

/// `id` as a slice of `bytes` (without a copy), when it lies in them and is
/// too long to keep inline.
fn slice_of(bytes: &Bytes, id: &[u8]) -> Option<Position> {
    let start = (id.as_ptr() as usize).checked_sub(bytes.as_ptr() as usize)?;
    let end = start.checked_add(id.len())?;
    (id.len() > INLINE && end <= bytes.len()).then(|| Position::Shared(bytes.slice(start..end)))
}

impl PartialEq for Position {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Position {}

impl fmt::Debug for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&String::from_utf8_lossy(self.as_slice()), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_copied_and_long_ones_shared() {
        let bytes = Bytes::from(format!("id: k3j2h1.42\nid: {}\n", "x".repeat(60)));
        let short = Position::within(&bytes, 4..13);
        assert!(matches!(short, Position::Inline { .. }));
        assert_eq!(short.as_slice(), b"k3j2h1.42");
        let long = Position::within(&bytes, 18..78);
        assert!(matches!(long, Position::Shared(_)));
        assert_eq!(long.as_slice(), "x".repeat(60).as_bytes());
        assert_eq!(Position::copy(long.as_slice()), long);
        assert_eq!(
            Position::from_bytes(Bytes::from_static(b"k3j2h1.42")),
            short
        );
        assert!(Position::within(&bytes, 70..90).is_empty());

        // Moving to a long id found in the shared bytes slices them.
        let mut position = Position::copy(b"k3j2h1.41");
        position.set(&bytes[18..78], Some(&bytes));
        assert_eq!(
            position.shared().map(|b| b.as_ptr()),
            Some(bytes[18..].as_ptr())
        );
        assert_eq!(position, long);
        // Not found in them: copied.
        let other = Bytes::from_static(b"elsewhere");
        position.set(&bytes[18..78], Some(&other));
        assert_ne!(
            position.shared().map(|b| b.as_ptr()),
            Some(bytes[18..].as_ptr())
        );
        assert_eq!(position, long);
        position.set(b"k3j2h1.42", None);
        assert_eq!(position, short);
        assert!(Position::empty().is_empty());
    }
}
