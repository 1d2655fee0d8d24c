//! [`Terminal`]: the last event of every resumable stream.

use crate::event::{EncodedEvent, Event};
use crate::field::EventType;

/// Event type of the terminal event of a stream that completed: `sse-done`.
pub const DONE_EVENT_TYPE: EventType = EventType::from_static("sse-done");
/// Event type of the terminal event of a stream that failed: `sse-error`.
pub const ERROR_EVENT_TYPE: EventType = EventType::from_static("sse-error");
/// Event type of the terminal event of a cancelled stream: `sse-cancelled`.
pub const CANCELLED_EVENT_TYPE: EventType = EventType::from_static("sse-cancelled");

/// How a resumable stream ended; written as its last event, after which every
/// reader's response ends cleanly.
///
/// | variant | event type | data |
/// |---|---|---|
/// | `Done(data)` | `sse-done` | `data` (may be empty) |
/// | `Error(message)` | `sse-error` | `message` |
/// | `Cancelled` | `sse-cancelled` | `cancelled` |
///
/// A resume after a stream's terminal event is refused with
/// [`ResumeErrorKind::Ended`](super::ResumeErrorKind::Ended) (`204 No Content`,
/// which stops an `EventSource` for good).
///
/// ```
/// use tower_sse::resumable::Terminal;
///
/// assert_eq!(
///     Terminal::Done("42 tokens".into()).encode().as_bytes(),
///     &b"event: sse-done\ndata: 42 tokens\n\n"[..],
/// );
/// assert_eq!(
///     Terminal::Cancelled.encode().as_bytes(),
///     &b"event: sse-cancelled\ndata: cancelled\n\n"[..],
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Terminal {
    /// The work completed; the data is the app's summary (may be empty).
    Done(String),
    /// The work failed; the data is a message for the client.
    Error(String),
    /// The work was cancelled (explicitly, or by the idle policy).
    Cancelled,
}

impl Terminal {
    /// The terminal event, without an id (the hub gives it one).
    pub(crate) fn to_event(&self) -> Event {
        match self {
            Self::Done(data) => Event::new().event(DONE_EVENT_TYPE).data(data.clone()),
            Self::Error(message) => Event::new().event(ERROR_EVENT_TYPE).data(message.clone()),
            Self::Cancelled => Event::new().event(CANCELLED_EVENT_TYPE).data("cancelled"),
        }
    }

    /// The encoded terminal event, without an id.
    ///
    /// ```
    /// use tower_sse::resumable::Terminal;
    /// let bytes = Terminal::Error("upstream timed out".into()).encode();
    /// assert_eq!(bytes.as_bytes(), &b"event: sse-error\ndata: upstream timed out\n\n"[..]);
    /// ```
    #[must_use]
    pub fn encode(&self) -> EncodedEvent {
        self.to_event().encode()
    }

    /// The state a stream ending with this event is in.
    pub(crate) fn state(&self) -> super::StreamState {
        match self {
            Self::Done(_) => super::StreamState::Done,
            Self::Error(_) => super::StreamState::Failed,
            Self::Cancelled => super::StreamState::Cancelled,
        }
    }
}

/// Whether an encoded event is a terminal event (its type line comes first).
pub(crate) fn is_terminal(event: &EncodedEvent) -> bool {
    [DONE_EVENT_TYPE, ERROR_EVENT_TYPE, CANCELLED_EVENT_TYPE]
        .iter()
        .any(|t| has_type(event, t.as_str()))
}

/// Whether an encoded event has the given type.
pub(crate) fn has_type(event: &EncodedEvent, event_type: &str) -> bool {
    let bytes = event.as_bytes();
    bytes
        .strip_prefix(b"event: ")
        .and_then(|rest| rest.strip_prefix(event_type.as_bytes()))
        .is_some_and(|rest| rest.first() == Some(&b'\n'))
}

/// Whether an app's event uses a type reserved for the stream's own events.
pub(crate) fn is_reserved(event: &Event) -> bool {
    event
        .event_type()
        .is_some_and(|t| t.as_str().starts_with("sse-"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::EventId;

    #[test]
    fn terminal_events_are_recognised_with_an_id() {
        for terminal in [
            Terminal::Done(String::new()),
            Terminal::Error("x".into()),
            Terminal::Cancelled,
        ] {
            let event = terminal.to_event().id(EventId::from(7_u64)).encode();
            assert!(is_terminal(&event), "{terminal:?}");
        }
    }

    #[test]
    fn app_events_with_similar_names_are_not_terminal() {
        let event = Event::new()
            .event(EventType::from_static("sse-doneish"))
            .encode();
        assert!(!is_terminal(&event));
        assert!(!is_terminal(&Event::new().data("event: sse-done").encode()));
    }
}
