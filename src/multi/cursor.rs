//! The cursor codec: one SSE id that says where every topic of a
//! multi-topic subscription stands, in at most 128 bytes.
//!
//! # Format
//!
//! The id is URL-safe base64 (no padding) of at most 96 bytes:
//!
//! ```text
//! version (1) | checkpoint id (5, LE) | delta* | tag (6, LE)
//! delta = topic index (1) | lengths (1) | suffix                 when short
//!       | topic index (1) | 7 (1) | prefix (1) | suffix length (1) | suffix
//! lengths = shared prefix length << 3 | suffix length   (prefix <= 31, suffix <= 6)
//! ```
//!
//! The checkpoint id names a server-side snapshot of every topic's position
//! (see [`checkpoint`](super::checkpoint)): the low 40 bits of a keyed hash
//! of the snapshot. Each delta says that topic `index` of that snapshot has
//! since moved to the position that shares `prefix` bytes with its snapshot
//! position and continues with `suffix`. Positions are event ids
//! (`<epoch>.<offset>`, a Redis stream id, an app's own id), so consecutive
//! positions of one topic share a long prefix and a delta costs 3 to 8
//! bytes. When the next delta would not fit, the subscription writes a new
//! checkpoint and starts again with no deltas.
//!
//! The tag is the low 48 bits of SipHash-2-4 under the [`CursorKey`] over
//! the subscriber's identity tag, the header, the snapshot's whole 64-bit
//! hash and the deltas. An edited cursor, or one issued to another
//! subscriber, fails verification (a forgery succeeds with probability
//! 2^-48 per attempt, each a request) and counts as lost: every topic gets
//! a gap, never a different position. Because the whole hash is in the tag
//! and is computed again from the snapshot the store returns, two snapshots
//! whose ids collide in 40 bits (one saved over the other) also fail
//! verification, so a cursor is only ever applied to the snapshot it was
//! made from.

use bytes::BytesMut;

use super::base64;
use super::mac::{CursorKey, TagState};

/// The longest cursor this codec writes: 128 bytes, the limit under which a
/// `Last-Event-ID` may be CORS-safelisted.
pub(crate) const MAX_CURSOR_LEN: usize = 128;
/// The most bytes a cursor is (before base64).
pub(crate) const MAX_RAW: usize = 96;
/// 3: a 40-bit checkpoint id, one byte of lengths per short delta and a
/// 48-bit tag (version 2 cursors count as lost).
const VERSION: u8 = 3;
/// The bytes of the checkpoint id.
const ID: usize = 5;
/// Version and checkpoint id: two whole groups of base64.
const HEADER: usize = 1 + ID;
const TAG: usize = 6;
/// Bytes left for deltas.
pub(crate) const DELTA_BUDGET: usize = MAX_RAW - HEADER - TAG;
/// The low bits of a delta's lengths byte that say it is written long.
const LONG: u8 = 7;
/// The longest shared prefix and suffix of a short delta.
const SHORT_PREFIX: usize = 31;
const SHORT_SUFFIX: usize = 6;

/// Zeros after the subscriber, the header and the snapshot's hash in the
/// tag's input, so that the deltas start on a word of the hash
/// (8 + 6 + 8 + 2 = 24 bytes).
const TAG_PAD: [u8; 2] = [0; 2];

/// The longest line an event's cursor follows: `event: ` and a topic name
/// of at most 255 bytes and its line end.
const MAX_LINE: usize = 7 + 255 + 1;
/// Where the cursor's text starts in [`Cursor::text`]: after room for a
/// line and `id: `.
const TEXT: usize = MAX_LINE + 4;

/// The keyed hash of a checkpoint's snapshot: its id is the low 40 bits
/// ([`checkpoint_id`]), and a cursor's tag covers all 64.
pub(crate) fn checkpoint_hash(key: &CursorKey, snapshot: &[u8]) -> u64 {
    key.tag(&[b"checkpoint\0", snapshot])
}

/// The id a checkpoint with `hash` is saved under: its low 40 bits, never 0
/// (the id of no checkpoint yet).
pub(crate) fn checkpoint_id(hash: u64) -> u64 {
    (hash & ((1 << (8 * ID)) - 1)).max(1)
}

/// A delta's head at `at` in `raw` (topic index, shared prefix length,
/// suffix length, the head's own length); `None` when it runs past `end`.
#[inline]
fn head(raw: &[u8], at: usize, end: usize) -> Option<(u8, usize, usize, usize)> {
    if at + 2 > end {
        return None;
    }
    let (index, lengths) = (raw[at], raw[at + 1]);
    if lengths & LONG != LONG {
        return Some((
            index,
            usize::from(lengths >> 3),
            usize::from(lengths & LONG),
            2,
        ));
    }
    if at + 4 > end {
        return None;
    }
    Some((index, usize::from(raw[at + 2]), usize::from(raw[at + 3]), 4))
}

/// The length of the head of a delta with this prefix and suffix.
#[inline]
const fn head_len(prefix: usize, suffix: usize) -> usize {
    if prefix <= SHORT_PREFIX && suffix <= SHORT_SUFFIX {
        2
    } else {
        4
    }
}

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
    let prefix = common_prefix(base, position);
    let suffix = position.len() - prefix;
    (suffix <= 255).then_some(head_len(prefix, suffix) + suffix)
}

/// The cursor of one subscription, kept current as its topics move.
///
/// It holds the cursor's bytes (deltas in the order the topics last moved:
/// the topic that moved last is the last delta), their base64 text, and the
/// tag's state over everything before the last delta. The usual event (the
/// topic that moved last moves again) then costs the tag over its own delta,
/// and the text of its delta and the tag: the rest is copied as it stands.
// `repr(C)` keeps the fields in this order: what a step reads and writes
// (the tag, the bounds, the bytes, the tag state after the deltas) first,
// in a few cache lines of the ~660 bytes.
#[derive(Clone)]
#[repr(C)]
pub(crate) struct Cursor {
    /// The whole 64-bit tag as of the last write (the cursor carries 48).
    tag: u64,
    /// The first byte of `raw` changed since the cursor was last written:
    /// [`MAX_RAW`] when nothing was, and the tag after the deltas is the
    /// tag of the cursor as it stands.
    changed: usize,
    /// Where the deltas end.
    end: usize,
    /// Where the last delta starts (`end` when there are none).
    last: usize,
    /// How many bytes of `raw` (whole groups of three) the text holds current.
    valid: usize,
    /// The first byte of `raw` its last move changed, as of its last write.
    last_changed: usize,
    /// Header, deltas, and room for the tag.
    raw: [u8; MAX_RAW],
    /// `base` after the deltas before the last one (`raw[HEADER..last]`).
    stable: TagState,
    /// The tag's state after the subscriber and the header.
    base: TagState,
    /// Where the line before `id: ` starts in `text`.
    line: usize,
    /// The topic whose type line that is; `None` when it is none or not a
    /// topic's.
    line_topic: Option<u8>,
    /// The lines the cursor follows in an event (a type line and `id: `),
    /// the cursor's base64 text from [`TEXT`] on, and room for the blank
    /// line after it: the tail of an event, written with one copy.
    text: [u8; TEXT + MAX_CURSOR_LEN + 2],
}

/// What a cursor is, without its text and bytes (kept beside it): enough
/// for another subscription in the same state to take the same step (see
/// [`steps`](super::steps)). `Default` is a placeholder for
/// [`Cursor::save`] to overwrite.
#[derive(Default)]
pub(crate) struct Moved {
    tag: u64,
    stable: TagState,
    // All three below `MAX_RAW`.
    end: u8,
    last: u8,
    /// The first byte the step changed.
    changed: u8,
}

/// `at` rounded down to a whole group of three bytes.
const fn group(at: usize) -> usize {
    at - at % 3
}

impl Cursor {
    /// The cursor with no deltas of the checkpoint whose snapshot has
    /// `hash` ([`checkpoint_hash`]).
    pub(crate) fn new(key: &CursorKey, subscriber: u64, hash: u64) -> Self {
        let mut raw = [0; MAX_RAW];
        raw[0] = VERSION;
        raw[1..HEADER].copy_from_slice(&checkpoint_id(hash).to_le_bytes()[..ID]);
        let mut base = key.start();
        base.write(&subscriber.to_le_bytes());
        base.write(&raw[..HEADER]);
        base.write(&hash.to_le_bytes());
        base.write(&TAG_PAD);
        let mut text = [0; TEXT + MAX_CURSOR_LEN + 2];
        text[TEXT - 4..TEXT].copy_from_slice(b"id: ");
        base64::encode(&raw[..HEADER], &mut text[TEXT..]);
        Self {
            stable: base.clone(),
            base,
            raw,
            end: HEADER,
            last: HEADER,
            text,
            valid: HEADER,
            line: TEXT - 4,
            line_topic: None,
            changed: 0,
            last_changed: 0,
            tag: 0,
        }
    }

    /// The cursor's tag, which names it (under its key and subscriber), if
    /// it was written since the cursor last moved: `None` otherwise.
    #[inline]
    pub(crate) fn tag(&self) -> Option<u64> {
        (self.changed == MAX_RAW).then_some(self.tag)
    }

    /// The checkpoint id in the header.
    #[inline]
    pub(crate) fn checkpoint(&self) -> u64 {
        read_id(&self.raw)
    }

    /// Copies what the cursor is into `moved` and its bytes into `raw` (at
    /// least [`MAX_RAW`] long), once its text is written; returns how many
    /// bytes.
    #[inline]
    pub(crate) fn save(&self, moved: &mut Moved, raw: &mut [u8]) -> usize {
        debug_assert_eq!(self.changed, MAX_RAW);
        let end = self.end + TAG;
        raw[..end].copy_from_slice(&self.raw[..end]);
        moved.stable = self.stable.clone();
        #[allow(clippy::cast_possible_truncation)]
        {
            moved.end = self.end as u8;
            moved.last = self.last as u8;
            moved.changed = self.last_changed as u8;
        }
        moved.tag = self.tag;
        end
    }

    /// Becomes what `moved` and `raw` (what [`Cursor::save`] wrote) are:
    /// another subscription's cursor in the same state, after the same step.
    /// Its text is written again from where the two differ, when it is next
    /// written here.
    ///
    /// `raw` is whole (what lies past the cursor's bytes is never read): a
    /// copy of a fixed size costs no call.
    #[inline]
    pub(crate) fn adopt(&mut self, moved: &Moved, raw: &[u8; MAX_RAW]) {
        self.raw = *raw;
        self.stable = moved.stable.clone();
        self.end = moved.end.into();
        self.last = moved.last.into();
        // The same cursor before the step: only what the step changed.
        self.valid = self.valid.min(group(moved.changed.into()));
        self.changed = MAX_RAW;
        self.tag = moved.tag;
    }

    /// Where topic `index`'s delta is: its start and its length.
    #[inline]
    fn find(&self, index: u8) -> Option<(usize, usize)> {
        if self.last < self.end && self.raw[self.last] == index {
            return Some((self.last, self.end - self.last));
        }
        let mut at = HEADER;
        while let Some((at_index, _, suffix, head)) = head(&self.raw, at, self.last) {
            let len = head + suffix;
            if at_index == index {
                return Some((at, len));
            }
            at += len;
        }
        None
    }

    /// Takes out the delta at `at`, `len` bytes long, that is not the last.
    fn cut(&mut self, at: usize, len: usize) {
        self.changed = self.changed.min(at);
        self.raw.copy_within(at + len..self.end, at);
        self.end -= len;
        self.last -= len;
        self.valid = self.valid.min(group(at));
    }

    /// The tag's state over the deltas before the last, again.
    fn restate(&mut self) {
        self.stable = self.base.clone();
        self.stable.write(&self.raw[HEADER..self.last]);
    }

    /// Says that topic `index` stands `suffix` past the first `prefix` bytes
    /// of its checkpointed position. `false` (and nothing changed) when that
    /// does not fit in [`DELTA_BUDGET`].
    #[inline]
    pub(crate) fn set(&mut self, index: u8, prefix: usize, suffix: &[u8]) -> bool {
        let (Ok(prefix), Ok(suffix_len)) = (u8::try_from(prefix), u8::try_from(suffix.len()))
        else {
            return false;
        };
        let head = head_len(prefix.into(), suffix.len());
        let len = head + suffix.len();
        let found = self.find(index);
        let others = self.end - HEADER - found.map_or(0, |(_, len)| len);
        if others + len > DELTA_BUDGET {
            return false;
        }
        match found {
            // The usual case: the last topic to move moves again.
            Some((at, _)) if at == self.last => {}
            Some((at, old)) => {
                self.cut(at, old);
                self.last = self.end;
                self.restate();
            }
            None => {
                // The last delta becomes one of those before it.
                self.stable.write(&self.raw[self.last..self.end]);
                self.last = self.end;
            }
        }
        let at = self.last;
        self.changed = self.changed.min(at);
        if head == 2 {
            self.raw[at..at + 2].copy_from_slice(&[index, (prefix << 3) | suffix_len]);
        } else {
            self.raw[at..at + 4].copy_from_slice(&[index, LONG, prefix, suffix_len]);
        }
        self.raw[at + head..at + len].copy_from_slice(suffix);
        self.end = at + len;
        self.valid = self.valid.min(group(at));
        true
    }

    /// Takes out topic `index`'s delta (it is back at its checkpointed
    /// position).
    pub(crate) fn remove(&mut self, index: u8) {
        let Some((at, len)) = self.find(index) else {
            return;
        };
        if at == self.last {
            // The delta before it becomes the last.
            let mut before = HEADER;
            let mut next = HEADER;
            while let Some((_, _, suffix, head)) = head(&self.raw, next, at) {
                before = next;
                next += head + suffix;
            }
            self.end = at;
            self.last = before;
            self.valid = self.valid.min(group(at));
            self.changed = self.changed.min(at);
        } else {
            self.cut(at, len);
        }
        self.restate();
    }

    /// Brings the base64 text up to date and returns its length.
    #[inline]
    fn render(&mut self) -> usize {
        let mut tag = self.stable.clone();
        tag.write(&self.raw[self.last..self.end]);
        let end = self.end + TAG;
        self.tag = tag.finish();
        self.raw[self.end..end].copy_from_slice(&self.tag.to_le_bytes()[..TAG]);
        let from = self.valid;
        let text = &mut self.text[TEXT + from / 3 * 4..];
        let len = from / 3 * 4 + base64::encode(&self.raw[from..end], text);
        self.valid = group(self.end);
        self.last_changed = std::mem::replace(&mut self.changed, MAX_RAW);
        len
    }

    /// Appends the base64 text of the cursor to `out` and returns its length.
    #[cfg(test)]
    pub(crate) fn write(&mut self, out: &mut BytesMut) -> usize {
        let len = self.render();
        out.extend_from_slice(&self.text[TEXT..TEXT + len]);
        len
    }

    /// Appends the tail of an event to `out`: `line` (the type line of
    /// topic `topic`, or another line when `None`), `id: ` and the cursor,
    /// and the blank line. Returns where the cursor starts in what it
    /// appended, and its length.
    ///
    /// The tail is kept whole, so the usual event (the topic that moved
    /// last moves again) is one copy: the line stays in place while the
    /// same topic's events follow each other.
    #[inline]
    pub(crate) fn write_tail(
        &mut self,
        topic: Option<u8>,
        line: &[u8],
        out: &mut BytesMut,
    ) -> (usize, usize) {
        if topic.is_none() || topic != self.line_topic {
            let Some(at) = (TEXT - 4).checked_sub(line.len()) else {
                // Longer than any type line: written apart.
                out.extend_from_slice(line);
                let len = self.render();
                out.extend_from_slice(&self.text[TEXT - 4..TEXT + len]);
                out.extend_from_slice(b"\n\n");
                return (line.len() + 4, len);
            };
            self.text[at..TEXT - 4].copy_from_slice(line);
            self.line = at;
            self.line_topic = topic;
        }
        let len = self.render();
        self.text[TEXT + len..TEXT + len + 2].copy_from_slice(b"\n\n");
        out.extend_from_slice(&self.text[self.line..TEXT + len + 2]);
        (TEXT - self.line, len)
    }

    /// The number of deltas.
    pub(crate) fn deltas(&self) -> usize {
        let mut at = HEADER;
        let mut n = 0;
        while let Some((_, _, suffix, head)) = head(&self.raw, at, self.end) {
            at += head + suffix;
            n += 1;
        }
        n
    }
}

/// The text of a cursor. The deltas (topic index, snapshot position,
/// current position) must fit in [`DELTA_BUDGET`]; extra deltas are left out
/// rather than overflow.
#[cfg(test)]
pub(crate) fn encode<'a, I>(key: &CursorKey, subscriber: u64, hash: u64, deltas: I) -> String
where
    I: IntoIterator<Item = (u8, &'a [u8], &'a [u8])>,
{
    let mut cursor = Cursor::new(key, subscriber, hash);
    for (index, base, position) in deltas {
        let prefix = common_prefix(base, position);
        cursor.set(index, prefix, &position[prefix..]);
    }
    let mut text = BytesMut::new();
    cursor.write(&mut text);
    String::from_utf8(text.to_vec()).unwrap_or_default()
}

/// The checkpoint id in the header of `raw`.
#[inline]
fn read_id(raw: &[u8]) -> u64 {
    let mut id = [0; 8];
    id[..ID].copy_from_slice(&raw[1..HEADER]);
    u64::from_le_bytes(id)
}

/// A cursor that parses, not yet verified: its tag covers the hash of the
/// snapshot it names, so it is verified once that is loaded.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    raw: [u8; MAX_RAW],
    /// Where the deltas end (the tag starts).
    end: usize,
}

/// A verified cursor.
#[derive(Debug, Clone)]
pub(crate) struct Decoded(Parsed);

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

impl Parsed {
    /// The id of the checkpoint it names.
    pub(crate) fn checkpoint(&self) -> u64 {
        read_id(&self.raw)
    }

    /// Verifies the cursor for `subscriber`, given the hash of the snapshot
    /// its checkpoint id names ([`checkpoint_hash`]); `None` for anything
    /// this key did not write for this subscriber from that snapshot.
    pub(crate) fn verify(self, key: &CursorKey, subscriber: u64, hash: u64) -> Option<Decoded> {
        let end = self.end;
        let expected = key.tag(&[
            &subscriber.to_le_bytes(),
            &self.raw[..HEADER],
            &hash.to_le_bytes(),
            &TAG_PAD,
            &self.raw[HEADER..end],
        ]);
        let mut tag = [0; 8];
        tag[..TAG].copy_from_slice(&self.raw[end..end + TAG]);
        // Compare without an early exit.
        let differ = (u64::from_le_bytes(tag) ^ expected) & ((1 << (8 * TAG)) - 1);
        (differ == 0).then_some(Decoded(self))
    }
}

impl Decoded {
    #[cfg(test)]
    pub(crate) fn checkpoint(&self) -> u64 {
        self.0.checkpoint()
    }

    pub(crate) fn deltas(&self) -> impl Iterator<Item = Delta<'_>> {
        let Parsed { raw, end } = &self.0;
        let mut at = HEADER;
        std::iter::from_fn(move || {
            let (index, prefix, suffix, head) = head(raw, at, *end)?;
            let from = at + head;
            at = from + suffix;
            Some(Delta {
                index,
                prefix,
                suffix: &raw[from..at],
            })
        })
    }
}

/// Parses a cursor: `None` for anything this codec cannot have written.
/// Costs at most one pass over 128 bytes.
pub(crate) fn parse(text: &[u8]) -> Option<Parsed> {
    if text.len() > MAX_CURSOR_LEN {
        return None;
    }
    let mut raw = [0_u8; MAX_RAW];
    let n = base64::decode(text, &mut raw)?;
    if n < HEADER + TAG || raw[0] != VERSION {
        return None;
    }
    let end = n - TAG;
    // The deltas must tile the space exactly.
    let mut at = HEADER;
    while at < end {
        let (_, _, suffix, head) = head(&raw, at, end)?;
        at += head + suffix;
    }
    (at == end).then_some(Parsed { raw, end })
}

/// Parses and verifies a cursor against the snapshot hash it should name.
#[cfg(test)]
pub(crate) fn decode(key: &CursorKey, subscriber: u64, hash: u64, text: &[u8]) -> Option<Decoded> {
    parse(text)?.verify(key, subscriber, hash)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn key() -> CursorKey {
        CursorKey::new([7; 16])
    }

    /// What taking a step reads and writes (tag, bounds, bytes, the tag
    /// state after the deltas) is the first 200 bytes of the ~660.
    #[test]
    fn what_a_step_touches_comes_first() {
        use std::mem::offset_of;
        assert_eq!(offset_of!(Cursor, tag), 0);
        assert_eq!(offset_of!(Cursor, raw), 48);
        let stable = offset_of!(Cursor, stable);
        assert!(stable + std::mem::size_of::<TagState>() <= 200, "{stable}");
        assert!(offset_of!(Cursor, text) > stable);
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
    fn a_cursor_without_deltas_is_16_characters() {
        let text = encode(&key(), 0, 42, []);
        assert_eq!(text.len(), 16);
        let decoded = decode(&key(), 0, 42, text.as_bytes()).unwrap();
        assert_eq!(decoded.checkpoint(), 42);
        assert_eq!(decoded.deltas().count(), 0);
    }

    /// The usual hub id moves a few digits: a cursor of one such delta is
    /// 22 characters (it was 30 in version 2).
    #[test]
    fn a_cursor_with_one_short_delta_is_22_characters() {
        let text = encode(
            &key(),
            0,
            42,
            [(0, &b"k3j2h1ab.1000"[..], &b"k3j2h1ab.1042"[..])],
        );
        assert_eq!(text.len(), 22);
    }

    /// The id is the hash's low 40 bits: a snapshot whose id collides with
    /// another's (saved over it) fails verification, it is never read as
    /// the other.
    #[test]
    fn a_cursor_verifies_only_against_the_snapshot_it_was_made_from() {
        let hash = 0x0123_4567_89ab_cdef_u64;
        let colliding = hash ^ (1 << 50);
        assert_eq!(checkpoint_id(hash), checkpoint_id(colliding));
        let text = encode(&key(), 0, hash, [(1, &b"e.1"[..], &b"e.2"[..])]);
        let parsed = parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.checkpoint(), checkpoint_id(hash));
        assert!(parsed.clone().verify(&key(), 0, hash).is_some());
        assert!(parsed.verify(&key(), 0, colliding).is_none());
    }

    #[test]
    fn long_prefixes_and_suffixes_take_a_long_delta() {
        let base = [b'a'; 200];
        let mut position = base.to_vec();
        position.extend_from_slice(b"0123456789");
        let short_prefix = b"b123456789";
        for (base, position, head) in [
            (&base[..], &position[..], 4),
            (&b"x"[..], &short_prefix[..], 4),
            (&b"e.19"[..], &b"e.20"[..], 2),
        ] {
            let len = delta_len(base, position).unwrap();
            assert_eq!(len - (position.len() - common_prefix(base, position)), head);
            let text = encode(&key(), 0, 7, [(9, base, position)]);
            let decoded = decode(&key(), 0, 7, text.as_bytes()).unwrap();
            let delta = decoded.deltas().next().unwrap();
            assert_eq!(delta.index, 9);
            assert_eq!(delta.apply(base).unwrap(), position);
        }
    }

    #[test]
    fn deltas_keep_only_the_suffix_after_the_shared_prefix() {
        let base: &[u8] = b"k3j2h1.1000";
        let position: &[u8] = b"k3j2h1.1042";
        assert_eq!(delta_len(base, position), Some(4));
        let text = encode(&key(), 0, 1, [(3, base, position)]);
        let decoded = decode(&key(), 0, 1, text.as_bytes()).unwrap();
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
        let decoded = decode(&key(), 0, 9, text.as_bytes()).unwrap();
        // Each is short: an index, the lengths and a 5-byte suffix.
        assert_eq!(decoded.deltas().count(), DELTA_BUDGET / 7);
    }

    /// The tail is the line, `id: `, the cursor and a blank line, whichever
    /// line came before; a line too long to keep is written apart.
    #[test]
    fn an_event_tail_is_its_line_the_cursor_and_a_blank_line() {
        let mut cursor = Cursor::new(&key(), 3, 8);
        let long = [b"event: ".as_slice(), &[b'x'; 300], b"\n"].concat();
        let lines: [(Option<u8>, &[u8]); 6] = [
            (Some(1), b"event: a\n"),
            (Some(1), b"event: a\n"),
            (Some(2), b"event: bb\n"),
            (None, b"event: sse-gap\n"),
            (None, &long),
            (Some(1), b"event: a\n"),
        ];
        for (n, (topic, line)) in lines.into_iter().enumerate() {
            let position = format!("p.{n}");
            cursor.set(topic.unwrap_or(0), 0, position.as_bytes());
            let mut out = BytesMut::from(&b"data: x\n"[..]);
            let (from, len) = cursor.write_tail(topic, line, &mut out);
            let tail = &out[8..];
            let text = &tail[from..from + len];
            assert_eq!(tail, [line, b"id: ", text, b"\n\n"].concat());
            let mut alone = BytesMut::new();
            assert_eq!(cursor.write(&mut alone), len);
            assert_eq!(&alone[..], text);
            assert!(decode(&key(), 3, 8, text).is_some());
        }
    }

    #[test]
    fn another_subscribers_or_keys_cursor_does_not_verify() {
        let text = encode(&key(), 1, 5, []);
        assert!(decode(&key(), 1, 5, text.as_bytes()).is_some());
        assert!(decode(&key(), 2, 5, text.as_bytes()).is_none());
        assert!(decode(&CursorKey::new([8; 16]), 1, 5, text.as_bytes()).is_none());
        assert!(decode(&key(), 1, 5, b"5").is_none());
        assert!(decode(&key(), 1, 5, &[b'A'; 200]).is_none());
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
            let decoded = decode(&key(), subscriber, checkpoint, text.as_bytes()).unwrap();
            prop_assert_eq!(decoded.checkpoint(), checkpoint_id(checkpoint));
            let got: Vec<_> = decoded.deltas().collect();
            prop_assert_eq!(got.len(), deltas.len());
            for (delta, (index, base, position)) in got.iter().zip(&deltas) {
                prop_assert_eq!(delta.index, *index);
                prop_assert_eq!(&delta.apply(base).unwrap()[..], *position);
            }
        }

        #[test]
        fn every_single_byte_edit_fails_verification(at in 0_usize..22, to in any::<u8>()) {
            let text = encode(&key(), 0, 77, [(0, &b"k3j2h1ab.1000"[..], &b"k3j2h1ab.1042"[..])]);
            let mut edited = text.as_bytes().to_vec();
            prop_assume!(edited[at] != to);
            edited[at] = to;
            prop_assert!(decode(&key(), 0, 77, &edited).is_none());
        }

        /// Whatever the topics do, the kept cursor is the one written from
        /// scratch: it verifies and names every topic's current position.
        #[test]
        fn a_kept_cursor_always_says_where_every_topic_stands(
            moves in proptest::collection::vec((0_u8..6, proptest::option::of("[0-9a-z.]{0,14}")), 0..60),
        ) {
            let key = key();
            let base: &[u8] = b"k3.100";
            let mut cursor = Cursor::new(&key, 4, 11);
            let mut expected: std::collections::BTreeMap<u8, Vec<u8>> = Default::default();
            for (index, to) in moves {
                match to {
                    Some(to) => {
                        let prefix = common_prefix(base, to.as_bytes());
                        if cursor.set(index, prefix, &to.as_bytes()[prefix..]) {
                            expected.insert(index, to.into_bytes());
                        }
                    }
                    None => {
                        cursor.remove(index);
                        expected.remove(&index);
                    }
                }
                let mut text = BytesMut::new();
                let len = cursor.write(&mut text);
                prop_assert_eq!(len, text.len());
                prop_assert!(len <= MAX_CURSOR_LEN);
                let decoded = decode(&key, 4, 11, &text).unwrap();
                prop_assert_eq!(decoded.checkpoint(), 11);
                let got: std::collections::BTreeMap<u8, Vec<u8>> = decoded
                    .deltas()
                    .map(|d| (d.index, d.apply(base).unwrap()))
                    .collect();
                prop_assert_eq!(decoded.deltas().count(), got.len());
                prop_assert_eq!(cursor.deltas(), got.len());
                prop_assert_eq!(&got, &expected);
            }
        }

        #[test]
        fn garbage_never_panics(text in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(&key(), 0, 0, &text);
        }
    }
}
