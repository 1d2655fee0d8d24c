//! [`MultiEvent`]: one event of a multi-topic stream, as it goes on the wire.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

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
    pub(crate) body: Bytes,
    /// `event: <topic>\n`, or empty.
    pub(crate) type_line: Bytes,
    pub(crate) topic: Option<Bytes>,
    pub(crate) cursor: CursorText,
}

impl MultiEvent {
    /// The topic this event belongs to; `None` for the stream's own events
    /// (the priming event, an expiry).
    #[must_use]
    pub fn topic(&self) -> Option<&str> {
        self.topic
            .as_deref()
            .and_then(|t| std::str::from_utf8(t).ok())
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

    pub(crate) fn write(&self, buf: &mut BytesMut) {
        buf.reserve(self.body.len() + self.type_line.len() + 128 + 6);
        buf.put_slice(&self.body);
        buf.put_slice(&self.type_line);
        if !self.cursor.is_empty() {
            buf.put_slice(b"id: ");
            self.cursor.write_to(buf);
            buf.put_u8(b'\n');
        }
        buf.put_u8(b'\n');
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
