//! Reading the header lines of an already-encoded hub event, without copying:
//! where its id is, whether it is the hub's gap event, and its audience line.
//!
//! The encoder writes fields in a fixed order (comments, `event`, `id`,
//! `retry`, then `data` lines) and validates that no field holds a line break,
//! so the header is every line before the first `data:` line or blank line.

use std::ops::Range;

use crate::GAP_EVENT_TYPE;

/// The first comment of a [private](super::Multiplexer::private) event.
pub(crate) const AUDIENCE_PREFIX: &[u8] = b": tower-sse-for ";

/// What a subscription needs to know about one encoded event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    /// The value of the `id:` line.
    pub(crate) id: Option<Range<usize>>,
    /// The event is the hub's gap event.
    pub(crate) gap: bool,
    /// The value of the audience line, when the event is private.
    pub(crate) audience: Option<Range<usize>>,
    /// Where the event continues after the audience line (0 without one).
    pub(crate) body_start: usize,
    /// Where its final blank line starts.
    pub(crate) body_end: usize,
}

pub(crate) fn scan(bytes: &[u8]) -> Header {
    let mut header = Header {
        body_end: bytes.len().saturating_sub(1),
        ..Header::default()
    };
    let mut at = 0;
    while at < header.body_end {
        // The header ends at the first data line or blank line: stop before
        // searching for the end of a (long) data line.
        let rest = &bytes[at..];
        if rest.starts_with(b"data:") || rest.starts_with(b"\n") {
            break;
        }
        let end = memchr::memchr(b'\n', rest).map_or(bytes.len(), |n| at + n);
        let line = &bytes[at..end];
        if at == 0 && line.starts_with(AUDIENCE_PREFIX) {
            header.audience = Some(AUDIENCE_PREFIX.len()..end);
            header.body_start = (end + 1).min(header.body_end);
        } else if let Some(id) = line.strip_prefix(b"id: ") {
            header.id = Some(end - id.len()..end);
        } else if let Some(kind) = line.strip_prefix(b"event: ") {
            header.gap = kind == GAP_EVENT_TYPE.as_str().as_bytes();
        }
        at = end + 1;
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    #[test]
    fn the_header_is_read_up_to_the_data_lines() {
        let event = Event::new()
            .try_comment("tower-sse-for 0011")
            .unwrap()
            .try_event("chat")
            .unwrap()
            .try_id("k.7")
            .unwrap()
            .data("id: fake\nevent: sse-gap")
            .encode();
        let bytes = event.as_bytes();
        let header = scan(bytes);
        assert_eq!(&bytes[header.id.clone().unwrap()], b"k.7");
        assert_eq!(&bytes[header.audience.clone().unwrap()], b"0011");
        assert!(!header.gap);
        assert_eq!(
            &bytes[header.body_start..header.body_end],
            b"event: chat\nid: k.7\ndata: id: fake\ndata: event: sse-gap\n"
        );
    }

    #[test]
    fn the_hubs_gap_event_is_recognised() {
        let gap = Event::new()
            .event(GAP_EVENT_TYPE)
            .id(4_u64)
            .data("unknown-id")
            .encode();
        let header = scan(gap.as_bytes());
        assert!(header.gap);
        assert_eq!(header.audience, None);
        assert_eq!(&gap.as_bytes()[header.id.unwrap()], b"4");
    }

    #[test]
    fn an_event_without_fields_has_an_empty_body() {
        let header = scan(Event::new().encode().as_bytes());
        assert_eq!((header.body_start, header.body_end), (0, 0));
        assert_eq!(header.id, None);
        assert_eq!(scan(b"").body_end, 0);
    }
}
