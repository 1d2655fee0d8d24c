//! What the parser yields: events, comments and reconnection times.

use std::time::Duration;

/// One thing read from an event stream, in the order it appeared.
///
/// Browsers only surface [`Item::Event`]; comments and `retry` fields are
/// reported too so that clients can see keep-alives and honour the server's
/// reconnection hint.
///
/// ```
/// use std::time::Duration;
/// use tower_sse::parse::{parse, Item, MessageEvent};
///
/// let items = parse(b": hi\nretry: 500\ndata: x\n\n").unwrap();
/// assert_eq!(
///     items,
///     [
///         Item::Comment("hi".into()),
///         Item::Retry(Duration::from_millis(500)),
///         Item::Event(MessageEvent::new("x")),
///     ]
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Item {
    /// A dispatched event, as a browser's `EventSource` would fire it.
    Event(MessageEvent),
    /// A comment line (one starting with `:`), without the colon and with
    /// one leading space removed if there was one. Browsers ignore comments;
    /// servers send them as keep-alives.
    Comment(String),
    /// A valid `retry` field (ASCII digits only, in milliseconds), reported
    /// when the field is read rather than when the event is dispatched.
    /// A value too large for a `u64` of milliseconds is ignored, like any
    /// other invalid one.
    Retry(Duration),
}

impl Item {
    /// Returns the event, or `None` for a comment or a `retry` field.
    ///
    /// ```
    /// use tower_sse::parse::{Item, MessageEvent};
    ///
    /// let event = Item::Event(MessageEvent::new("x")).into_event().unwrap();
    /// assert_eq!(event.data, "x");
    /// assert!(Item::Comment("keep-alive".into()).into_event().is_none());
    /// ```
    #[must_use]
    pub fn into_event(self) -> Option<MessageEvent> {
        match self {
            Item::Event(event) => Some(event),
            Item::Comment(_) | Item::Retry(_) => None,
        }
    }

    /// Borrows the event, or returns `None` for a comment or a `retry` field.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_sse::parse::{Item, MessageEvent};
    ///
    /// let item = Item::Event(MessageEvent::new("x"));
    /// assert_eq!(item.as_event().map(|e| e.data.as_str()), Some("x"));
    /// assert!(Item::Retry(Duration::from_secs(1)).as_event().is_none());
    /// ```
    #[must_use]
    pub fn as_event(&self) -> Option<&MessageEvent> {
        match self {
            Item::Event(event) => Some(event),
            Item::Comment(_) | Item::Retry(_) => None,
        }
    }
}

/// An event as a browser's `EventSource` would dispatch it.
///
/// The default value has an empty type; events produced by the parser always
/// have a non-empty one (`message` unless the stream named another).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageEvent {
    /// The event type: the last `event` field of the block, or `message`
    /// when there was none or it was empty.
    pub event_type: String,
    /// The `data` lines joined with LF (the final LF removed).
    pub data: String,
    /// The stream's last event ID when the event was dispatched: the most
    /// recent valid `id` field, not necessarily one from this block.
    pub last_event_id: String,
}

impl MessageEvent {
    /// The type an event gets when the stream names none.
    pub const DEFAULT_TYPE: &'static str = "message";

    /// An event of type `message` with the given data and no last event ID.
    ///
    /// ```
    /// use tower_sse::parse::MessageEvent;
    ///
    /// let event = MessageEvent::new("hello");
    /// assert_eq!(event.event_type, "message");
    /// assert_eq!(event.data, "hello");
    /// assert_eq!(event.last_event_id, "");
    /// ```
    #[must_use]
    pub fn new(data: impl Into<String>) -> Self {
        Self {
            event_type: Self::DEFAULT_TYPE.to_owned(),
            data: data.into(),
            last_event_id: String::new(),
        }
    }

    /// Sets the event type.
    ///
    /// ```
    /// use tower_sse::parse::MessageEvent;
    ///
    /// let event = MessageEvent::new("1").with_event_type("tick");
    /// assert_eq!(event.event_type, "tick");
    /// ```
    #[must_use]
    pub fn with_event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = event_type.into();
        self
    }

    /// Sets the last event ID.
    ///
    /// ```
    /// use tower_sse::parse::MessageEvent;
    ///
    /// let event = MessageEvent::new("1").with_last_event_id("42");
    /// assert_eq!(event.last_event_id, "42");
    /// ```
    #[must_use]
    pub fn with_last_event_id(mut self, last_event_id: impl Into<String>) -> Self {
        self.last_event_id = last_event_id.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_event_has_the_default_type_and_no_id() {
        let event = MessageEvent::new("d");
        assert_eq!(event.event_type, MessageEvent::DEFAULT_TYPE);
        assert_eq!(event.data, "d");
        assert!(event.last_event_id.is_empty());
    }

    #[test]
    fn builders_set_type_and_id_without_touching_data() {
        let event = MessageEvent::new("d")
            .with_event_type("t")
            .with_last_event_id("i");
        assert_eq!(
            event,
            MessageEvent {
                event_type: "t".into(),
                data: "d".into(),
                last_event_id: "i".into(),
            }
        );
    }

    #[test]
    fn only_event_items_convert_to_events() {
        let event = MessageEvent::new("d");
        let items = [
            Item::Event(event.clone()),
            Item::Comment("c".into()),
            Item::Retry(Duration::from_millis(1)),
        ];
        let borrowed: Vec<_> = items.iter().map(Item::as_event).collect();
        assert_eq!(borrowed, [Some(&event), None, None]);
        let owned: Vec<_> = items.into_iter().map(Item::into_event).collect();
        assert_eq!(owned, [Some(event), None, None]);
    }
}
