//! [`MultiEvent`]: one event of a multi-topic stream, as it goes on the wire.

use std::fmt;

use std::ops::Range;

use bytes::{Bytes, BytesMut};

use super::cursor::CursorText;

/// One event of a [`MultiSubscription`](super::MultiSubscription): the hub's
/// shared encoded bytes (without their final blank line), followed by this
/// subscriber's own `event: <topic>` and `id: <cursor>` lines.
///
/// Within one SSE event the last `event:` and `id:` lines win, so the browser
/// sees the topic as the event type and the cursor as `lastEventId`, and the
/// payload is never re-encoded: [`EventStream`](crate::EventStream) writes the
/// shared bytes and the two lines into its frame.
///
/// ```
/// use futures_util::StreamExt;
/// use tower_sse::{multi::{MultiRequest, Multiplexer}, Hub};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let hub = Hub::new();
/// let multi = Multiplexer::new(hub.clone());
/// let mut stream = multi.subscribe(MultiRequest::new(["a", "b"])).await?;
/// let priming = stream.next().await.unwrap();
/// assert_eq!(priming.topic(), None);
/// let id = hub.publish("b", "hello").await?; // the hub's own id
/// let event = stream.next().await.unwrap();
/// assert_eq!(event.topic(), Some("b"));
/// let wire = String::from_utf8(event.to_bytes().to_vec())?;
/// assert_eq!(wire, format!("id: {id}\ndata: hello\nevent: b\nid: {}\n\n", event.cursor()));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MultiEvent {
    /// The bytes the body is a range of: the hub's shared event, moved in
    /// without a reference count of its own.
    pub(crate) bytes: Bytes,
    pub(crate) body: Range<u32>,
    /// `event: <topic>\n`, or empty.
    pub(crate) type_line: Bytes,
    pub(crate) topic: Label,
    pub(crate) cursor: CursorText,
}

/// `range` in the compact form a [`MultiEvent`] keeps (events are far below
/// 4 GiB; a larger one is sent empty rather than wrapped).
pub(crate) fn span(range: Range<usize>) -> Range<u32> {
    match (u32::try_from(range.start), u32::try_from(range.end)) {
        (Ok(start), Ok(end)) => start..end,
        _ => 0..0,
    }
}

/// Where [`MultiEvent::topic`] comes from.
#[derive(Clone)]
pub(crate) enum Label {
    /// The stream's own event: no topic.
    None,
    /// The topic named by the `event:` line (no copy of the name per event).
    TypeLine,
    /// A topic named apart from the event type (a gap event).
    Named(Bytes),
}

impl MultiEvent {
    /// The stream's own event (no topic): `body` then `type_line`.
    pub(crate) fn own(body: Bytes, type_line: Bytes, cursor: CursorText) -> Self {
        Self {
            body: span(0..body.len()),
            bytes: body,
            type_line,
            topic: Label::None,
            cursor,
        }
    }

    /// The topic this event belongs to; `None` for the stream's own events
    /// (the priming event, an expiry).
    #[must_use]
    pub fn topic(&self) -> Option<&str> {
        let name = match &self.topic {
            Label::None => return None,
            Label::Named(name) => &name[..],
            Label::TypeLine => self
                .type_line
                .strip_prefix(b"event: ")
                .and_then(|t| t.strip_suffix(b"\n"))?,
        };
        std::str::from_utf8(name).ok()
    }

    /// The cursor: the event's SSE id, where every topic stands after it
    /// (empty for an event without an id).
    #[must_use]
    pub fn cursor(&self) -> String {
        self.cursor.to_text()
    }

    /// The wire form (one copy; the stream itself writes it into its frame).
    #[must_use]
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::new();
        self.write(&mut buf);
        buf.freeze()
    }

    #[inline]
    pub(crate) fn write(&self, buf: &mut BytesMut) {
        let range = self.body.start as usize..self.body.end as usize;
        let body = self.bytes.get(range).unwrap_or_default();
        buf.reserve(body.len() + self.type_line.len() + 128 + 6);
        buf.extend_from_slice(body);
        buf.extend_from_slice(&self.type_line);
        if !self.cursor.is_empty() {
            buf.extend_from_slice(b"id: ");
            self.cursor.write_to(buf);
            buf.extend_from_slice(b"\n");
        }
        buf.extend_from_slice(b"\n");
    }
}

impl fmt::Debug for MultiEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiEvent")
            .field("topic", &self.topic())
            .field("cursor", &self.cursor())
            .field("bytes", &self.body.len())
            .finish()
    }
}
