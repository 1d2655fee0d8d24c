//! [`Relayed`]: what a relay sends downstream, and the re-encoding of what
//! the parser read.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::Error;
use crate::event::{write_comment, write_retry, Event};
use crate::into_event::{sealed, EventItem};
use crate::parse::MessageEvent;

/// One item a [`RelayStream`](super::RelayStream) yields: a run of upstream
/// events, comments and retry hints, re-encoded spec-exact, or the terminal
/// error event. Put the stream in an [`EventStream`](crate::EventStream) to
/// send it: a run goes out as one frame, without another copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relayed(Inner);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Inner {
    /// Upstream items, re-encoded; `events` of them are events.
    Wire { wire: Bytes, events: u64 },
    /// The terminal error event.
    Custom(Event),
}

impl Relayed {
    pub(crate) fn custom(event: Event) -> Self {
        Self(Inner::Custom(event))
    }

    /// The items re-encoded into `wire`, `events` of which are events.
    pub(crate) fn wire(wire: Bytes, events: u64) -> Self {
        Self(Inner::Wire { wire, events })
    }

    /// The wire bytes of this item.
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use tower_sse::{relay::Relay, LastEventId};
    /// # use http_body_util::Full;
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let body = Full::new(bytes::Bytes::from_static(b"id: 1\r\ndata: a\r\n\r\n: hi\n\n"));
    /// let upstream = move |_: Option<&LastEventId>| {
    ///     let response = http::Response::builder()
    ///         .header("content-type", "text/event-stream")
    ///         .body(body.clone())
    ///         .unwrap();
    ///     std::future::ready(Ok::<_, std::io::Error>(response))
    /// };
    /// let mut relayed = std::pin::pin!(Relay::new(upstream).stream(None));
    /// // The comment is dropped (the default); the event is re-encoded.
    /// let first = relayed.next().await.unwrap();
    /// assert_eq!(first.to_bytes(), &b"id: 1\ndata: a\n\n"[..]);
    /// # });
    /// ```
    #[must_use]
    pub fn to_bytes(&self) -> Bytes {
        match &self.0 {
            Inner::Wire { wire, .. } => wire.clone(),
            Inner::Custom(event) => event.encode().into_bytes(),
        }
    }
}

impl sealed::Sealed for Relayed {}

impl EventItem for Relayed {
    fn encode_item(self, buf: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        match self.0 {
            Inner::Wire { wire, .. } => Ok(Some(wire)),
            Inner::Custom(event) => {
                event.encode_into(buf);
                Ok(None)
            }
        }
    }

    fn event_count(&self) -> u64 {
        match &self.0 {
            Inner::Wire { events, .. } => *events,
            Inner::Custom(_) => 1,
        }
    }
}

/// Writes `event` as the client should see it: its type unless `message`,
/// its id only when it differs from `sent_id` (the last id the client has
/// been given, updated here). The parser split the upstream on every CR and
/// LF, so no value holds one, and data lines are joined with LF only.
pub(crate) fn write_event(out: &mut BytesMut, event: &MessageEvent, sent_id: &mut String) {
    out.reserve(event.data.len() + 16);
    if event.event_type != MessageEvent::DEFAULT_TYPE {
        field(out, b"event", &event.event_type);
    }
    if event.last_event_id != *sent_id {
        sent_id.clone_from(&event.last_event_id);
        field(out, b"id", sent_id);
    }
    for line in event.data.split('\n') {
        field(out, b"data", line);
    }
    out.put_u8(b'\n');
}

/// Writes a comment as its own block (`: text\n\n`), as [`Event`] does.
pub(crate) fn write_comment_block(out: &mut BytesMut, text: &str) {
    write_comment(out, text);
    out.put_u8(b'\n');
}

/// Writes a retry hint as its own block, as [`Event`] does.
pub(crate) fn write_retry_block(out: &mut BytesMut, retry: Duration) {
    write_retry(out, retry);
    out.put_u8(b'\n');
}

fn field(buf: &mut BytesMut, name: &[u8], value: &str) {
    buf.put_slice(name);
    buf.put_slice(b": ");
    buf.put_slice(value.as_bytes());
    buf.put_u8(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event: &MessageEvent, sent: &mut String) -> Vec<u8> {
        let mut out = BytesMut::new();
        write_event(&mut out, event, sent);
        out.to_vec()
    }

    #[test]
    fn the_blocks_match_the_event_encoding() {
        let mut sent = String::new();
        let typed = MessageEvent::new(" a\n\nb ")
            .with_event_type("tick")
            .with_last_event_id("7");
        let slow = Event::new()
            .try_event("tick")
            .unwrap()
            .try_id("7")
            .unwrap()
            .data(" a\n\nb ");
        assert_eq!(event(&typed, &mut sent), slow.encode().as_bytes().to_vec());
        for text in ["", " keep"] {
            let mut out = BytesMut::new();
            write_comment_block(&mut out, text);
            let slow = Event::new().try_comment(text).unwrap().encode();
            assert_eq!(&out[..], &slow.as_bytes()[..], "{text:?}");
        }
        let mut out = BytesMut::new();
        write_retry_block(&mut out, Duration::from_millis(1500));
        let slow = Event::new().retry(Duration::from_millis(1500)).encode();
        assert_eq!(&out[..], &slow.as_bytes()[..]);
    }

    #[test]
    fn an_id_is_sent_only_when_it_changes_and_an_empty_one_resets() {
        let mut sent = String::new();
        let with = |id: &str| MessageEvent::new("x").with_last_event_id(id);
        assert_eq!(event(&with("1"), &mut sent), b"id: 1\ndata: x\n\n");
        assert_eq!(event(&with("1"), &mut sent), b"data: x\n\n");
        assert_eq!(event(&with(""), &mut sent), b"id: \ndata: x\n\n");
    }
}
