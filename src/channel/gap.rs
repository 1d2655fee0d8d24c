//! The gap event: what a subscriber receives instead of a silent skip.

use crate::event::{EncodedEvent, Event};
use crate::field::{EventId, EventType};

/// The event type of the gap event a [`Hub`](crate::Hub) sends when a
/// subscriber cannot receive every event of its topic: `sse-gap`.
///
/// A gap event means "events are missing here; reload your state". Its data
/// says why:
///
/// - `reset`, first: `Last-Event-ID` names an event of another history of the
///   topic (another [epoch](crate::engine::Epoch): the server restarted
///   without persistence, the Redis stream was lost and recreated, the topic
///   expired). Event ids are `<epoch>.<offset>` (see
///   [`engine::Position`](crate::engine::Position)), so the hub can tell.
/// - `unknown-id`, first: the id names an event of the current history that
///   is no longer kept (trimmed, expired), an offset the history never issued
///   (a "future" id), or nothing the hub understands (garbage, or an app id
///   that is not in the history);
/// - `lagged`, mid-stream: the subscriber fell more than the buffer behind
///   under [`SlowConsumer::SkipWithGap`](crate::SlowConsumer::SkipWithGap), or
///   the engine could not deliver some events to this server (a Redis reader
///   that reconnected after they were trimmed).
///
/// Its `id` is the newest event that state reloaded after receiving it is
/// guaranteed to include (the newest event at subscribe time, or the first event
/// after the skipped ones, which is also delivered next). So if the browser
/// reconnects right after the gap, it resumes at the right place.
///
/// ```js
/// const source = new EventSource("/events");
/// source.addEventListener("sse-gap", () => reloadState());
/// ```
///
/// ```
/// assert_eq!(tower_sse::GAP_EVENT_TYPE.as_str(), "sse-gap");
/// ```
pub const GAP_EVENT_TYPE: EventType = EventType::from_static("sse-gap");

/// Why events are missing; the gap event's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GapReason {
    /// `Last-Event-ID` belongs to another epoch: that history is gone.
    Reset,
    /// `Last-Event-ID` is not in the history.
    UnknownId,
    /// The subscriber fell behind its buffer.
    Lagged,
}

impl GapReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Reset => "reset",
            Self::UnknownId => "unknown-id",
            Self::Lagged => "lagged",
        }
    }
}

/// Encodes a gap event with the given resume id.
pub(crate) fn gap_event(reason: GapReason, resume: &EventId) -> EncodedEvent {
    Event::new()
        .event(GAP_EVENT_TYPE)
        .id(resume.clone())
        .data(reason.as_str())
        .encode()
}

/// The `id:` field of an encoded event, read back from its wire bytes.
///
/// Every field line of an encoded event is validated to hold no line break and
/// data lines start with `data:`, so a line starting with `id: ` is the id.
pub(crate) fn encoded_id(event: &EncodedEvent) -> Option<EventId> {
    event
        .as_bytes()
        .split(|&b| b == b'\n')
        .take_while(|line| !line.is_empty())
        .find_map(|line| line.strip_prefix(b"id: "))
        .and_then(|id| std::str::from_utf8(id).ok())
        .and_then(|id| EventId::new(id).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_event_wire_form_is_documented_form() {
        let event = gap_event(GapReason::UnknownId, &EventId::from(41_u64));
        assert_eq!(
            event.as_bytes(),
            &b"event: sse-gap\nid: 41\ndata: unknown-id\n\n"[..]
        );
        let event = gap_event(GapReason::Reset, &EventId::new("e.0").unwrap());
        assert_eq!(
            event.as_bytes(),
            &b"event: sse-gap\nid: e.0\ndata: reset\n\n"[..]
        );
        let event = gap_event(GapReason::Lagged, &EventId::from(7_u64));
        assert_eq!(
            event.as_bytes(),
            &b"event: sse-gap\nid: 7\ndata: lagged\n\n"[..]
        );
    }

    #[test]
    fn encoded_id_finds_the_id_but_not_data_that_looks_like_one() {
        let event = Event::new()
            .try_comment("id: nope")
            .unwrap()
            .try_event("id: nope")
            .unwrap()
            .try_id("a-1")
            .unwrap()
            .data("id: nope")
            .encode();
        assert_eq!(encoded_id(&event).unwrap(), "a-1");
        assert!(encoded_id(&Event::new().data("id: 3").encode()).is_none());
    }
}
