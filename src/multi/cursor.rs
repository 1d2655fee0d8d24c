//! The cursor codec: one SSE id that says where every topic of a
//! multi-topic subscription stands, in at most 128 bytes.
//!
//! # Format
//!
//! The id is URL-safe base64 (no padding) of at most 96 bytes:
//!
//! ```text
//! version (1) | checkpoint id (8, LE) | delta* | tag (8, LE)
//! delta = topic index (1) | shared prefix length (1) | suffix length (1) | suffix
//! ```
//!
//! The checkpoint id names a server-side snapshot of every topic's position
//! (see [`checkpoint`](super::checkpoint)); each delta says that topic `index`
//! of that snapshot has since moved to the position that shares `prefix` bytes
//! with its snapshot position and continues with `suffix`. Positions are event
//! ids (`<epoch>.<offset>`, a Redis stream id, an app's own id), so consecutive
//! positions of one topic share a long prefix and a delta costs 4 to 8 bytes.
//! When the next delta would not fit, the subscription writes a new checkpoint
//! and starts again with no deltas.
//!
//! The tag is SipHash-2-4 under the [`CursorKey`] over the subscriber's
//! identity tag and every byte before it: an edited cursor, or one issued to
//! another subscriber, fails verification and counts as lost (every topic gets
//! a gap), never as a different position.

use bytes::BytesMut;

use super::base64;
use super::mac::{CursorKey, TagState};

/// The longest cursor this codec writes: 128 bytes, the limit under which a
/// `Last-Event-ID` may be CORS-safelisted.
pub(crate) const MAX_CURSOR_LEN: usize = 128;
const MAX_RAW: usize = 96;
/// 2: the tag pads the header to a word (version 1 cursors count as lost).
const VERSION: u8 = 2;
const HEADER: usize = 9;
const TAG: usize = 8;
/// Bytes left for deltas.
pub(crate) const DELTA_BUDGET: usize = MAX_RAW - HEADER - TAG;

/// The base64 length of the header: 9 bytes, three whole groups.
const HEADER_TEXT: usize = HEADER / 3 * 4;
const TAIL: usize = MAX_RAW - HEADER;
/// Zeros after the subscriber and the header in the tag's input, so that the
/// deltas start on a word of the hash (8 + 9 + 7 = 24 bytes).
const TAG_PAD: [u8; 7] = [0; 7];

pub(crate) fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let len = a.len().min(b.len()).min(255);
    let (a, b) = (&a[..len], &b[..len]);
    // Eight bytes at a time, then the byte where they differ.
    let mut at = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        if x != y {
            break;
        }
        at += 8;
    }
    at + a[at..]
        .iter()
        .zip(&b[at..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// The bytes the delta from `base` to `position` takes, or `None` when it
/// cannot be written as a delta at all (suffix over 255 bytes).
#[cfg(test)]
pub(crate) fn delta_len(base: &[u8], position: &[u8]) -> Option<usize> {
    delta_parts(base, position).map(|(len, _)| len)
}

/// The bytes the delta from `base` to `position` takes and the length of
/// the prefix they share, or `None` when it cannot be written as a delta at
/// all (suffix over 255 bytes).
pub(crate) fn delta_parts(base: &[u8], position: &[u8]) -> Option<(usize, usize)> {
    let prefix = common_prefix(base, position);
    let suffix = position.len() - prefix;
    (suffix <= 255).then_some((3 + suffix, prefix))
}

/// What every cursor of one checkpoint shares, computed once per
/// checkpoint: the tag's state after the subscriber and the header, and the
/// header's base64 text. A cursor then costs its deltas only.
#[derive(Clone)]
pub(crate) struct CursorBase {
    tag: TagState,
    header: [u8; HEADER_TEXT],
}

impl CursorBase {
    pub(crate) fn new(key: &CursorKey, subscriber: u64, checkpoint: u64) -> Self {
        let mut raw = [0; HEADER];
        raw[0] = VERSION;
        raw[1..HEADER].copy_from_slice(&checkpoint.to_le_bytes());
        let mut tag = key.start();
        tag.write(&subscriber.to_le_bytes());
        tag.write(&raw);
        tag.write(&TAG_PAD);
        let mut header = [0; HEADER_TEXT];
        base64::encode(&raw, &mut header);
        Self { tag, header }
    }

    /// Appends the base64 text of the cursor with deltas given as (topic
    /// index, shared prefix length, suffix) to `out` and returns its length.
    /// The deltas must fit in [`DELTA_BUDGET`] (checked by the caller with
    /// [`delta_parts`]); extra deltas are left out rather than overflow.
    ///
    #[inline]
    pub(crate) fn write<'a, I>(&self, deltas: I, out: &mut BytesMut) -> usize
    where
        I: IntoIterator<Item = (u8, usize, &'a [u8])>,
    {
        let mut raw = [0; TAIL];
        let mut n = 0;
        for (index, prefix, suffix) in deltas {
            let (Ok(prefix), Ok(suffix_len)) = (u8::try_from(prefix), u8::try_from(suffix.len()))
            else {
                continue;
            };
            if n + 3 + suffix.len() > TAIL - TAG {
                continue;
            }
            raw[n..n + 3].copy_from_slice(&[index, prefix, suffix_len]);
            raw[n + 3..n + 3 + suffix.len()].copy_from_slice(suffix);
            n += 3 + suffix.len();
        }
        let mut tag = self.tag.clone();
        tag.write(&raw[..n]);
        raw[n..n + TAG].copy_from_slice(&tag.finish().to_le_bytes());
        n += TAG;
        let mut text = [0; MAX_CURSOR_LEN];
        text[..HEADER_TEXT].copy_from_slice(&self.header);
        let len = HEADER_TEXT + base64::encode(&raw[..n], &mut text[HEADER_TEXT..]);
        out.extend_from_slice(&text[..len]);
        len
    }
}

/// The text of a cursor. The deltas (topic index, snapshot position,
/// current position) must fit in [`DELTA_BUDGET`]; extra deltas are left out
/// rather than overflow.
#[cfg(test)]
pub(crate) fn encode<'a, I>(key: &CursorKey, subscriber: u64, checkpoint: u64, deltas: I) -> String
where
    I: IntoIterator<Item = (u8, &'a [u8], &'a [u8])>,
{
    let mut text = BytesMut::new();
    CursorBase::new(key, subscriber, checkpoint).write(
        deltas.into_iter().map(|(index, base, position)| {
            let prefix = common_prefix(base, position);
            (index, prefix, &position[prefix..])
        }),
        &mut text,
    );
    String::from_utf8(text.to_vec()).unwrap_or_default()
}

/// A verified cursor.
#[derive(Debug, Clone)]
pub(crate) struct Decoded {
    raw: [u8; MAX_RAW],
    /// Where the deltas end (the tag starts).
    end: usize,
}

/// One delta of a verified cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Delta<'a> {
    pub(crate) index: u8,
    pub(crate) prefix: usize,
    pub(crate) suffix: &'a [u8],
}

impl Delta<'_> {
    /// The position this delta names, from the snapshot position `base`;
    /// `None` when the prefix is longer than `base`.
    pub(crate) fn apply(&self, base: &[u8]) -> Option<Vec<u8>> {
        let mut position = base.get(..self.prefix)?.to_vec();
        position.extend_from_slice(self.suffix);
        Some(position)
    }
}

impl Decoded {
    pub(crate) fn checkpoint(&self) -> u64 {
        let mut id = [0; 8];
        id.copy_from_slice(&self.raw[1..HEADER]);
        u64::from_le_bytes(id)
    }

    pub(crate) fn deltas(&self) -> impl Iterator<Item = Delta<'_>> {
        let mut at = HEADER;
        std::iter::from_fn(move || {
            if at >= self.end {
                return None;
            }
            let [index, prefix, len] = [self.raw[at], self.raw[at + 1], self.raw[at + 2]];
            let suffix = &self.raw[at + 3..at + 3 + usize::from(len)];
            at += 3 + usize::from(len);
            Some(Delta {
                index,
                prefix: usize::from(prefix),
                suffix,
            })
        })
    }
}

/// Verifies and parses a cursor; `None` for anything this key did not write
/// for this subscriber. Costs at most one pass over 128 bytes.
pub(crate) fn decode(key: &CursorKey, subscriber: u64, text: &[u8]) -> Option<Decoded> {
    if text.len() > MAX_CURSOR_LEN {
        return None;
    }
    let mut raw = [0_u8; MAX_RAW];
    let n = base64::decode(text, &mut raw)?;
    if n < HEADER + TAG || raw[0] != VERSION {
        return None;
    }
    let end = n - TAG;
    let mut tag = [0; 8];
    tag.copy_from_slice(&raw[end..n]);
    let expected = key.tag(&[
        &subscriber.to_le_bytes(),
        &raw[..HEADER],
        &TAG_PAD,
        &raw[HEADER..end],
    ]);
    // Compare without an early exit.
    if (u64::from_le_bytes(tag) ^ expected) != 0 {
        return None;
    }
    // The deltas must tile the space exactly.
    let mut at = HEADER;
    while at < end {
        if at + 3 > end {
            return None;
        }
        at += 3 + usize::from(raw[at + 2]);
    }
    (at == end).then_some(Decoded { raw, end })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn key() -> CursorKey {
        CursorKey::new([7; 16])
    }

    proptest! {
        #[test]
        fn the_common_prefix_is_the_longest_shared_start(
            a in proptest::collection::vec(0_u8..3, 0..300),
            b in proptest::collection::vec(0_u8..3, 0..300),
        ) {
            let naive = a.iter().zip(&b).take_while(|(x, y)| x == y).count().min(255);
            prop_assert_eq!(common_prefix(&a, &b), naive);
        }
    }

    #[test]
    fn a_cursor_without_deltas_is_23_characters() {
        let text = encode(&key(), 0, 42, []);
        assert_eq!(text.len(), 23);
        let decoded = decode(&key(), 0, text.as_bytes()).unwrap();
        assert_eq!(decoded.checkpoint(), 42);
        assert_eq!(decoded.deltas().count(), 0);
    }

    #[test]
    fn deltas_keep_only_the_suffix_after_the_shared_prefix() {
        let base: &[u8] = b"k3j2h1.1000";
        let position: &[u8] = b"k3j2h1.1042";
        assert_eq!(delta_len(base, position), Some(5));
        let text = encode(&key(), 0, 1, [(3, base, position)]);
        let decoded = decode(&key(), 0, text.as_bytes()).unwrap();
        let delta = decoded.deltas().next().unwrap();
        assert_eq!(delta.index, 3);
        assert_eq!(delta.suffix, b"42");
        assert_eq!(delta.apply(base).unwrap(), position);
    }

    #[test]
    fn the_budget_holds_deltas_for_a_dozen_topics_and_never_exceeds_128() {
        let deltas: Vec<(u8, Vec<u8>, Vec<u8>)> = (0..40)
            .map(|i| (i, b"1733050000123-0".to_vec(), b"1733050000456-0".to_vec()))
            .collect();
        let text = encode(
            &key(),
            0,
            9,
            deltas.iter().map(|(i, b, p)| (*i, &b[..], &p[..])),
        );
        assert!(text.len() <= MAX_CURSOR_LEN);
        let decoded = decode(&key(), 0, text.as_bytes()).unwrap();
        assert_eq!(decoded.deltas().count(), DELTA_BUDGET / 8);
    }

    #[test]
    fn another_subscribers_or_keys_cursor_does_not_verify() {
        let text = encode(&key(), 1, 5, []);
        assert!(decode(&key(), 1, text.as_bytes()).is_some());
        assert!(decode(&key(), 2, text.as_bytes()).is_none());
        assert!(decode(&CursorKey::new([8; 16]), 1, text.as_bytes()).is_none());
        assert!(decode(&key(), 1, b"5").is_none());
        assert!(decode(&key(), 1, &[b'A'; 200]).is_none());
    }

    proptest! {
        #[test]
        fn positions_round_trip_through_a_cursor(
            checkpoint in any::<u64>(),
            subscriber in any::<u64>(),
            pairs in proptest::collection::vec(("[0-9a-z.-]{0,20}", "[0-9a-z.-]{0,20}"), 0..12),
        ) {
            let mut used = 0;
            let deltas: Vec<(u8, &[u8], &[u8])> = pairs
                .iter()
                .enumerate()
                .map(|(i, (b, p))| (u8::try_from(i).unwrap(), b.as_bytes(), p.as_bytes()))
                .take_while(|(_, b, p)| {
                    used += delta_len(b, p).unwrap();
                    used <= DELTA_BUDGET
                })
                .collect();
            let text = encode(&key(), subscriber, checkpoint, deltas.iter().copied());
            prop_assert!(text.len() <= MAX_CURSOR_LEN);
            let decoded = decode(&key(), subscriber, text.as_bytes()).unwrap();
            prop_assert_eq!(decoded.checkpoint(), checkpoint);
            let got: Vec<_> = decoded.deltas().collect();
            prop_assert_eq!(got.len(), deltas.len());
            for (delta, (index, base, position)) in got.iter().zip(&deltas) {
                prop_assert_eq!(delta.index, *index);
                prop_assert_eq!(&delta.apply(base).unwrap()[..], *position);
            }
        }

        #[test]
        fn every_single_byte_edit_fails_verification(at in 0_usize..23, to in any::<u8>()) {
            let text = encode(&key(), 0, 77, []);
            let mut edited = text.as_bytes().to_vec();
            prop_assume!(edited[at] != to);
            edited[at] = to;
            prop_assert!(decode(&key(), 0, &edited).is_none());
        }

        #[test]
        fn garbage_never_panics(text in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(&key(), 0, &text);
        }
    }
}
