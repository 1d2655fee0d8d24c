//! Private events: an event marked, at publish, for a set of principals, and
//! the per-subscriber check that costs no copy and no allocation.
//!
//! [`Multiplexer::private`](super::Multiplexer::private) puts one comment line
//! first in the event: `: tower-sse-for <tag> <tag> ...`, where each tag is 16
//! hex digits of `SipHash` under the [`CursorKey`](super::CursorKey) of one
//! principal id. Recipients never learn the other recipients' ids (only their
//! keyed tags), and the line is cut off the shared bytes (a `Bytes` slice, one
//! reference-count bump) before the event is sent. A multi-topic subscription
//! compares its own precomputed tag with the line, in live delivery and replay
//! alike, because both read the same stored bytes.

use super::mac::CursorKey;

/// The most principals one private event may name.
pub(crate) const MAX_AUDIENCE: usize = 1024;

/// A principal's tag: 16 lowercase hex digits.
pub(crate) type Tag = [u8; 16];

pub(crate) fn tag(key: &CursorKey, principal: &str) -> Tag {
    let value = key.tag(&[b"audience\0", principal.as_bytes()]);
    let mut hex = [0; 16];
    for (i, out) in hex.iter_mut().enumerate() {
        let nibble = (value >> (60 - 4 * i)) & 0xf;
        *out = b"0123456789abcdef"[usize::try_from(nibble).unwrap_or(0)];
    }
    hex
}

/// Whether the audience line `line` (the tags, space-separated) names `tag`.
pub(crate) fn includes(line: &[u8], tag: Option<&Tag>) -> bool {
    let Some(tag) = tag else { return false };
    line.split(|&b| b == b' ').any(|t| t == tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_found_only_in_a_line_that_names_it() {
        let key = CursorKey::new([3; 16]);
        let (ann, bob) = (tag(&key, "ann"), tag(&key, "bob"));
        assert_ne!(ann, bob);
        let mut line = ann.to_vec();
        line.push(b' ');
        line.extend_from_slice(&tag(&key, "cy"));
        assert!(includes(&line, Some(&ann)));
        assert!(!includes(&line, Some(&bob)));
        assert!(!includes(&line, None));
        assert!(!includes(&ann[..8], Some(&ann)));
    }
}
