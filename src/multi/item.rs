//! [`MultiEvent`]: one event of a multi-topic stream, as it goes on the wire.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;

/// One event of a [`MultiSubscription`](super::MultiSubscription): the hub's
/// shared encoded bytes (without their final blank line, and without the
/// `event:` and `id:` lines that this subscriber's own lines replace),
/// followed by this subscriber's `event: <topic>` and `id: <cursor>` lines.
///
/// Within one SSE event the last `event:` and `id:` lines win, so the browser
/// sees the topic as the event type and the cursor as `lastEventId`, and the
/// payload is never re-encoded. Each event is written once into the
/// subscription's own buffer; for a whole stream of them, put the
/// subscription into an [`EventStream`](crate::EventStream) with
/// `EventStream::from` instead, which writes runs of events straight into
/// frames (see [`MultiFrames`](super::MultiFrames)).
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
/// hub.publish("b", "hello").await?;
/// let event = stream.next().await.unwrap();
/// assert_eq!(event.topic(), Some("b"));
/// let wire = String::from_utf8(event.to_bytes().to_vec())?;
/// assert_eq!(wire, format!("data: hello\nevent: b\nid: {}\n\n", event.cursor()));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MultiEvent {
    /// The event's wire form.
    wire: Bytes,
    /// Where its own lines (`event:`, `id:`) start.
    lines: u32,
    /// Where its cursor is; empty without one.
    cursor: Range<u32>,
    topic: Topic,
}

/// What a [`MultiSubscription`](super::MultiSubscription) wrote for one event:
/// offsets from the event's start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Written {
    /// Where its own lines (`event:`, `id:`) start.
    pub(crate) lines: usize,
    /// Where its cursor starts and ends; `(0, 0)` without one.
    pub(crate) cursor: (usize, usize),
    pub(crate) named: Named,
}

/// Where the topic of a written event is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Named {
    /// The stream's own event: no topic.
    None,
    /// By its `event:` line.
    TypeLine,
    /// Apart from its type (a gap event): topic `i` of the subscription.
    Topic(usize),
}

#[derive(Clone)]
enum Topic {
    None,
    TypeLine,
    Named(Bytes),
}

/// `n` as a `u32` offset (events are far below 4 GiB; a larger one reports
/// no topic or cursor rather than a wrong one).
fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl MultiEvent {
    pub(crate) fn new(wire: Bytes, written: Written, from: &super::MultiSubscription) -> Self {
        let topic = match written.named {
            Named::None => Topic::None,
            Named::TypeLine => Topic::TypeLine,
            Named::Topic(i) => Topic::Named(Bytes::copy_from_slice(from.name(i))),
        };
        Self {
            wire,
            lines: offset(written.lines),
            cursor: offset(written.cursor.0)..offset(written.cursor.1),
            topic,
        }
    }

    /// The topic this event belongs to; `None` for the stream's own events
    /// (the priming event, an expiry).
    #[must_use]
    pub fn topic(&self) -> Option<&str> {
        let name = match &self.topic {
            Topic::None => return None,
            Topic::Named(name) => &name[..],
            Topic::TypeLine => self
                .wire
                .get(self.lines as usize..)?
                .strip_prefix(b"event: ")
                .and_then(|rest| rest.split(|&b| b == b'\n').next())?,
        };
        std::str::from_utf8(name).ok()
    }

    /// The cursor: the event's SSE id, where every topic stands after it
    /// (empty for an event without an id).
    #[must_use]
    pub fn cursor(&self) -> String {
        let id = self
            .wire
            .get(self.cursor.start as usize..self.cursor.end as usize)
            .unwrap_or_default();
        String::from_utf8_lossy(id).into_owned()
    }

    /// The wire form (no copy).
    #[must_use]
    pub fn to_bytes(&self) -> Bytes {
        self.wire.clone()
    }

    pub(crate) fn into_bytes(self) -> Bytes {
        self.wire
    }
}

impl fmt::Debug for MultiEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiEvent")
            .field("topic", &self.topic())
            .field("cursor", &self.cursor())
            .field("bytes", &self.wire.len())
            .finish()
    }
}
