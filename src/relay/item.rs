//! [`Relayed`]: one item a relay sends downstream, and the conversion from
//! what the parser read.

use std::time::Duration;

use bytes::{BufMut, BytesMut};

use crate::error::Error;
use crate::event::Event;
use crate::into_event::IntoEvent;
use crate::parse::MessageEvent;

/// One item a [`RelayStream`](super::RelayStream) yields: an upstream event,
/// comment or retry hint re-encoded, or the terminal error event. Put the
/// stream in an [`EventStream`](crate::EventStream) to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relayed(Inner);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Inner {
    Event {
        /// `None` for `message`.
        event_type: Option<String>,
        /// `Some` when the last event id changed since the previous event.
        id: Option<String>,
        data: String,
    },
    Comment(String),
    Retry(Duration),
    Custom(Event),
}

impl Relayed {
    pub(crate) fn comment(text: String) -> Self {
        Self(Inner::Comment(text))
    }

    pub(crate) fn retry(retry: Duration) -> Self {
        Self(Inner::Retry(retry))
    }

    pub(crate) fn custom(event: Event) -> Self {
        Self(Inner::Custom(event))
    }

    /// `event` as the client should see it; `sent_id` is the last event id
    /// the client has been given, updated here.
    pub(crate) fn event(event: MessageEvent, sent_id: &mut String) -> Self {
        let id = (event.last_event_id != *sent_id).then(|| {
            sent_id.clone_from(&event.last_event_id);
            event.last_event_id
        });
        let event_type =
            (event.event_type != MessageEvent::DEFAULT_TYPE).then_some(event.event_type);
        Self(Inner::Event {
            event_type,
            id,
            data: event.data,
        })
    }
}

fn field(buf: &mut BytesMut, name: &[u8], value: &str) {
    buf.put_slice(name);
    buf.put_slice(b": ");
    buf.put_slice(value.as_bytes());
    buf.put_u8(b'\n');
}

impl IntoEvent for Relayed {
    fn into_event(self) -> Result<Event, Error> {
        Ok(match self.0 {
            Inner::Event {
                event_type,
                id,
                data,
            } => {
                let mut event = Event::new();
                if let Some(event_type) = event_type {
                    event = event.try_event(event_type)?;
                }
                if let Some(id) = id {
                    event = event.try_id(id)?;
                }
                event.data(data)
            }
            Inner::Comment(text) => Event::new().try_comment(text)?,
            Inner::Retry(retry) => Event::new().retry(retry),
            Inner::Custom(event) => event,
        })
    }

    fn encode_into(self, buf: &mut BytesMut) -> Result<(), Error> {
        // The parser split the upstream on every CR and LF, so no value here
        // holds one, and data lines are joined with LF only.
        match self.0 {
            Inner::Event {
                event_type,
                id,
                data,
            } => {
                buf.reserve(data.len() + 16);
                if let Some(event_type) = &event_type {
                    field(buf, b"event", event_type);
                }
                if let Some(id) = &id {
                    field(buf, b"id", id);
                }
                for line in data.split('\n') {
                    field(buf, b"data", line);
                }
                buf.put_u8(b'\n');
            }
            Inner::Comment(text) => {
                buf.put_slice(b": ");
                buf.put_slice(text.as_bytes());
                buf.put_slice(b"\n\n");
            }
            other => Event::encode_into(&Relayed(other).into_event()?, buf),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(item: Relayed) -> (Vec<u8>, Vec<u8>) {
        let slow = item
            .clone()
            .into_event()
            .unwrap()
            .encode()
            .as_bytes()
            .to_vec();
        let mut buf = BytesMut::new();
        item.encode_into(&mut buf).unwrap();
        (buf.to_vec(), slow)
    }

    #[test]
    fn the_fast_encoding_matches_the_event_encoding() {
        let mut sent = String::new();
        let event = MessageEvent::new(" a\n\nb ")
            .with_event_type("tick")
            .with_last_event_id("7");
        let items = [
            Relayed::event(event, &mut sent),
            Relayed::event(MessageEvent::new(""), &mut sent),
            Relayed::comment(" keep".into()),
            Relayed::retry(Duration::from_millis(1500)),
        ];
        for item in items {
            let (fast, slow) = encode(item);
            assert_eq!(fast, slow, "{}", String::from_utf8_lossy(&fast));
        }
    }

    #[test]
    fn an_id_is_sent_only_when_it_changes_and_an_empty_one_resets() {
        let mut sent = String::new();
        let with = |id: &str| MessageEvent::new("x").with_last_event_id(id);
        let a = Relayed::event(with("1"), &mut sent);
        let b = Relayed::event(with("1"), &mut sent);
        let c = Relayed::event(with(""), &mut sent);
        assert_eq!(encode(a).0, b"id: 1\ndata: x\n\n");
        assert_eq!(encode(b).0, b"data: x\n\n");
        assert_eq!(encode(c).0, b"id: \ndata: x\n\n");
    }
}
