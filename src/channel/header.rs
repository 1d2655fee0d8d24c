//! Reading the header lines of an already-encoded hub event, without copying:
//! where its id is, whether it is the hub's gap event, and its audience line
//! (the first comment of a multi-topic private event).
//!
//! The hub reads it once per published event and hands it to every live
//! subscriber with the event, so that a multi-topic subscription does not
//! read it again for each subscriber.
//!
//! The encoder writes fields in a fixed order (comments, `event`, `id`,
//! `retry`, then `data` lines) and validates that no field holds a line break,
//! so the header is every line before the first `data:` line or blank line.

use std::ops::Range;

use super::GAP_EVENT_TYPE;

/// The first comment of a [private](crate::multi::Multiplexer::private) event.
pub(crate) const AUDIENCE_PREFIX: &[u8] = b": tower-sse-for ";

/// What a subscription needs to know about one encoded event: offsets into
/// it (events are far below 4 GiB; a larger one reads as having no header).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    id: Option<(u32, u32)>,
    /// The event is the hub's gap event.
    pub(crate) gap: bool,
    audience: Option<(u32, u32)>,
    body_start: u32,
    body_end: u32,
    /// Where the data lines (or the final blank line) start.
    data_start: u32,
    /// Every line before the data, but the audience line, is an `event:` or
    /// an `id:` line.
    bare: bool,
    /// The count the id ends in (see [`Header::id_count`]).
    id_count: u32,
}

impl Header {
    /// Where the value of the `id:` line is.
    #[inline]
    pub(crate) fn id(&self) -> Option<Range<usize>> {
        self.id.map(|(start, end)| start as usize..end as usize)
    }

    /// The count the id ends in: the value of its last digits (at most 12
    /// bytes are read; a Redis id's sequence, then its milliseconds from the
    /// thousands on), so that consecutive ids of a topic have consecutive
    /// counts; 0 without an id. A multi-topic subscription places the cursor
    /// step it shares for this event by it.
    #[inline]
    pub(crate) fn id_count(&self) -> u32 {
        self.id_count
    }

    /// Where the value of the audience line is, when the event is private.
    #[inline]
    pub(crate) fn audience(&self) -> Option<Range<usize>> {
        self.audience
            .map(|(start, end)| start as usize..end as usize)
    }

    /// The event after the audience line, without its final blank line.
    #[inline]
    pub(crate) fn body(&self) -> Range<usize> {
        self.body_start as usize..self.body_end as usize
    }

    /// What a subscriber that writes its own `event:` and `id:` lines after
    /// it must send of the event: the [body](Self::body) without its `event:`
    /// and `id:` lines when those are all it has before the data (the later
    /// lines would replace them anyway), otherwise the whole body.
    #[inline]
    pub(crate) fn payload(&self) -> Range<usize> {
        if self.bare {
            self.data_start as usize..self.body_end as usize
        } else {
            self.body()
        }
    }
}

#[inline]
pub(crate) fn scan(bytes: &[u8]) -> Header {
    let mut header = Header::default();
    let Ok(body_end) = u32::try_from(bytes.len().saturating_sub(1)) else {
        return header;
    };
    header.body_end = body_end;
    header.bare = true;
    let body_end = body_end as usize;
    let mut at = 0;
    while at < body_end {
        // The header ends at the first data line or blank line: stop before
        // searching for the end of a (long) data line.
        let rest = &bytes[at..];
        if rest[0] == b'\n' || rest.starts_with(b"data:") {
            break;
        }
        let end = memchr::memchr(b'\n', rest).map_or(bytes.len(), |n| at + n);
        let line = &bytes[at..end];
        // Offsets fit: `end` is at most `bytes.len()`, checked above.
        #[allow(clippy::cast_possible_truncation)]
        let span = |start: usize| Some((start as u32, end as u32));
        if let Some(id) = line.strip_prefix(b"id: ") {
            header.id = span(end - id.len());
            header.id_count = count(id);
        } else if let Some(kind) = line.strip_prefix(b"event: ") {
            header.gap = kind == GAP_EVENT_TYPE.as_str().as_bytes();
        } else if at == 0 && line.starts_with(AUDIENCE_PREFIX) {
            header.audience = span(AUDIENCE_PREFIX.len());
            #[allow(clippy::cast_possible_truncation)]
            {
                header.body_start = (end + 1).min(body_end) as u32;
            }
        } else {
            // A comment or a `retry:` line: sent as it is.
            header.bare = false;
        }
        at = end + 1;
    }
    #[allow(clippy::cast_possible_truncation)]
    {
        header.data_start = at.min(body_end) as u32;
    }
    header
}

/// The count `id` ends in (see [`Header::id_count`]).
fn count(id: &[u8]) -> u32 {
    let mut count = 0_u32;
    let mut scale = 1_u32;
    let mut dash = false;
    for &b in id.iter().rev().take(12) {
        match b {
            b'0'..=b'9' => {
                count = count.wrapping_add(u32::from(b - b'0').wrapping_mul(scale));
                scale = scale.wrapping_mul(10);
            }
            b'-' if !dash => {
                dash = true;
                scale = scale.max(1000);
            }
            _ => break,
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    #[test]
    fn the_id_count_is_the_value_of_the_ids_last_digits() {
        let count = |id: Option<&str>| {
            let event = Event::new().data("x");
            let event = match id {
                Some(id) => event.try_id(id).unwrap(),
                None => event,
            };
            scan(event.encode().as_bytes()).id_count()
        };
        assert_eq!(count(Some("k3j2h1ab.1042")), 1042);
        assert_eq!(count(Some("k3j2h1ab.0")), 0);
        // A Redis id: the sequence, then the milliseconds from 1,000 on (of
        // the last 12 bytes, modulo 2^32).
        let redis = (7 + 3_050_000_456_u64 * 1000) % (1 << 32);
        assert_eq!(u64::from(count(Some("e.1733050000456-7"))), redis);
        assert_eq!(
            count(Some("e.1733050000457-0")) - count(Some("e.1733050000456-0")),
            1000
        );
        assert_eq!(count(Some("app-id")), 0);
        assert_eq!(count(None), 0);
    }

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
        assert_eq!(&bytes[header.id().unwrap()], b"k.7");
        assert_eq!(&bytes[header.audience().unwrap()], b"0011");
        assert!(!header.gap);
        assert_eq!(
            &bytes[header.body()],
            b"event: chat\nid: k.7\ndata: id: fake\ndata: event: sse-gap\n"
        );
        assert_eq!(
            &bytes[header.payload()],
            b"data: id: fake\ndata: event: sse-gap\n"
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
        assert_eq!(header.audience(), None);
        assert_eq!(&gap.as_bytes()[header.id().unwrap()], b"4");
    }

    #[test]
    fn a_retry_or_a_comment_keeps_the_whole_body_as_payload() {
        let retry = Event::new()
            .try_id("1")
            .unwrap()
            .retry(std::time::Duration::from_secs(2))
            .data("x")
            .encode();
        let header = scan(retry.as_bytes());
        assert_eq!(header.payload(), header.body());
        let comment = Event::new().try_comment("hi").unwrap().data("x").encode();
        let header = scan(comment.as_bytes());
        assert_eq!(header.payload(), header.body());
        let bare = Event::new().try_id("1").unwrap().encode();
        let header = scan(bare.as_bytes());
        assert_eq!(&bare.as_bytes()[header.id().unwrap()], b"1");
        assert!(header.payload().is_empty());
    }

    #[test]
    fn an_event_without_fields_has_an_empty_body() {
        let header = scan(Event::new().encode().as_bytes());
        assert_eq!(header.body(), 0..0);
        assert_eq!(header.id(), None);
        assert_eq!(scan(b"").body(), 0..0);
    }
}
