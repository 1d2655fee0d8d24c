//! [`IntoEvent`]: typed values that become events, and [`EventItem`]: what an
//! [`EventStream`](crate::EventStream) accepts.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};

use crate::error::{BoxError, Error, ErrorKind};
use crate::event::{EncodedEvent, Event};

/// A value that can be sent as a server-sent event.
///
/// Implemented for [`Event`], for strings (sent as data-only events) and for
/// [`Json`]. Implement it for your own types to put them straight into an
/// [`EventStream`](crate::EventStream):
///
/// ```
/// use tower_sse::{Error, Event, EventType, IntoEvent};
///
/// #[derive(serde::Serialize)]
/// struct ChatMessage {
///     #[serde(skip)]
///     seq: u64,
///     user: String,
///     message: String,
/// }
///
/// impl IntoEvent for ChatMessage {
///     fn into_event(self) -> Result<Event, Error> {
///         const CHAT: EventType = EventType::from_static("chat");
///         Event::new().event(CHAT).id(self.seq).json_data(&self)
///     }
/// }
///
/// let msg = ChatMessage { seq: 9, user: "ann".into(), message: "hi".into() };
/// let event = msg.into_event()?;
/// assert_eq!(
///     event.encode().as_bytes(),
///     &b"event: chat\nid: 9\ndata: {\"user\":\"ann\",\"message\":\"hi\"}\n\n"[..],
/// );
/// # Ok::<(), tower_sse::Error>(())
/// ```
pub trait IntoEvent {
    /// Converts the value into an event.
    ///
    /// # Errors
    ///
    /// When the value cannot be represented, for example when serialization fails.
    fn into_event(self) -> Result<Event, Error>;

    /// Appends the wire form of the value to `buf`.
    ///
    /// The default encodes [`IntoEvent::into_event`]. Override it to write
    /// straight into the buffer; an implementation must leave `buf` as it found
    /// it when it returns an error.
    ///
    /// # Errors
    ///
    /// As [`IntoEvent::into_event`].
    fn encode_into(self, buf: &mut BytesMut) -> Result<(), Error>
    where
        Self: Sized,
    {
        Event::encode_into(&self.into_event()?, buf);
        Ok(())
    }
}

impl IntoEvent for Event {
    fn into_event(self) -> Result<Event, Error> {
        Ok(self)
    }

    fn encode_into(self, buf: &mut BytesMut) -> Result<(), Error> {
        Event::encode_into(&self, buf);
        Ok(())
    }
}

impl IntoEvent for String {
    fn into_event(self) -> Result<Event, Error> {
        Ok(Event::new().data(self))
    }
}

impl IntoEvent for &'static str {
    fn into_event(self) -> Result<Event, Error> {
        Ok(Event::new().data(self))
    }
}

impl IntoEvent for Cow<'static, str> {
    fn into_event(self) -> Result<Event, Error> {
        Ok(Event::new().data(self))
    }
}

/// A data-only event whose data is the JSON form of `T`.
///
/// ```
/// use tower_sse::{IntoEvent, Json};
///
/// let event = Json(serde_json::json!({"yes": 3, "no": 1})).into_event()?;
/// assert_eq!(event.data_str(), Some(r#"{"no":1,"yes":3}"#));
/// # Ok::<(), tower_sse::Error>(())
/// ```
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

#[cfg(feature = "json")]
impl<T> IntoEvent for Json<T>
where
    T: serde::Serialize,
{
    fn into_event(self) -> Result<Event, Error> {
        Event::new().json_data(&self.0)
    }

    fn encode_into(self, buf: &mut BytesMut) -> Result<(), Error> {
        // Serialized straight into the frame buffer. Compact JSON escapes every
        // control character inside strings, so it is one line, except for a
        // raw value (`serde_json::value::RawValue`) holding line breaks: the
        // one scan below catches those and splits the data into lines.
        let start = buf.len();
        buf.extend_from_slice(b"data: ");
        match serde_json::to_writer(crate::event::FrameWriter(buf), &self.0) {
            Ok(()) => {
                let json_at = start + b"data: ".len();
                if memchr::memchr2(b'\r', b'\n', &buf[json_at..]).is_some() {
                    let json = buf.split_off(json_at);
                    buf.truncate(start);
                    crate::event::write_data(buf, &json);
                    buf.extend_from_slice(b"\n");
                } else {
                    buf.extend_from_slice(b"\n\n");
                }
                Ok(())
            }
            Err(e) => {
                buf.truncate(start);
                Err(Error::with_source(ErrorKind::Serialize, e))
            }
        }
    }
}

/// What an [`EventStream`](crate::EventStream) accepts as stream items.
///
/// Implemented for every [`IntoEvent`], for [`EncodedEvent`] (sent without a
/// copy), and for `Result<T, E>` of those, so fallible streams need no mapping:
/// an `Err` ends the body with an error of kind
/// [`ErrorKind::Stream`](crate::ErrorKind::Stream).
///
/// This trait is sealed; implement [`IntoEvent`] instead.
pub trait EventItem: sealed::Sealed {
    #[doc(hidden)]
    fn encode_item(self, buf: &mut BytesMut) -> Result<Option<Bytes>, Error>;

    /// How many events the item holds (a relay batch holds several).
    #[doc(hidden)]
    fn event_count(&self) -> u64 {
        1
    }

    /// Whether the stream had nothing more ready when it made this item and
    /// registered the task to be woken when it has: the body sends the
    /// frame without polling it again first.
    #[doc(hidden)]
    fn ran_dry(&self) -> bool {
        false
    }
}

pub(crate) mod sealed {
    pub trait Sealed {}
}

impl<T: IntoEvent> sealed::Sealed for T {}

impl<T: IntoEvent> EventItem for T {
    fn encode_item(self, buf: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        self.encode_into(buf).map(|()| None)
    }
}

impl sealed::Sealed for crate::multi::MultiEvent {}

impl EventItem for crate::multi::MultiEvent {
    fn encode_item(self, _buf: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        Ok(Some(self.into_bytes()))
    }
}

impl sealed::Sealed for EncodedEvent {}

impl EventItem for EncodedEvent {
    fn encode_item(self, _buf: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        Ok(Some(self.into_bytes()))
    }
}

impl<T, E> sealed::Sealed for Result<T, E>
where
    T: EventItem,
    E: Into<BoxError>,
{
}

impl<T, E> EventItem for Result<T, E>
where
    T: EventItem,
    E: Into<BoxError>,
{
    fn encode_item(self, buf: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        match self {
            Ok(item) => item.encode_item(buf),
            Err(e) => Err(Error::with_source(ErrorKind::Stream, e)),
        }
    }

    fn event_count(&self) -> u64 {
        self.as_ref().map_or(1, EventItem::event_count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(item: impl EventItem) -> Result<Vec<u8>, Error> {
        let mut buf = BytesMut::new();
        match item.encode_item(&mut buf)? {
            Some(bytes) => Ok(bytes.to_vec()),
            None => Ok(buf.to_vec()),
        }
    }

    #[test]
    fn strings_are_data_only_events() {
        assert_eq!(encode("a\nb").unwrap(), b"data: a\ndata: b\n\n");
        assert_eq!(encode(String::from("x")).unwrap(), b"data: x\n\n");
    }

    #[test]
    fn encoded_events_are_passed_through_without_a_copy() {
        let encoded = Event::new().data("x").encode();
        let mut buf = BytesMut::new();
        let out = encoded.clone().encode_item(&mut buf).unwrap().unwrap();
        assert!(buf.is_empty());
        assert_eq!(out.as_ptr(), encoded.as_bytes().as_ptr());
    }

    #[test]
    fn errors_in_results_become_stream_errors() {
        let item: Result<Event, std::io::Error> = Err(std::io::Error::other("gone"));
        let err = encode(item).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Stream);
        assert_eq!(err.to_string(), "event stream failed: gone");
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_fast_path_matches_the_event_path() {
        let value = serde_json::json!({"a": [1, "two\n"], "b": null});
        let fast = encode(Json(&value)).unwrap();
        let slow = Json(&value).into_event().unwrap().encode();
        assert_eq!(&fast[..], &slow.as_bytes()[..]);
    }

    #[cfg(feature = "json")]
    #[test]
    fn raw_json_with_line_breaks_is_split_into_data_lines() {
        let raw = serde_json::value::RawValue::from_string("{\"a\":\r\n\n1}".into()).unwrap();
        let fast = encode(Json(&raw)).unwrap();
        assert_eq!(&fast[..], b"data: {\"a\":\ndata: \ndata: 1}\n\n");
        let slow = Json(&raw).into_event().unwrap().encode();
        assert_eq!(&fast[..], &slow.as_bytes()[..]);
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_failure_leaves_the_buffer_untouched() {
        let mut map = std::collections::BTreeMap::new();
        map.insert((1, 2), 3);
        let mut buf = BytesMut::from(&b"data: before\n\n"[..]);
        let err = Json(&map).encode_into(&mut buf).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Serialize);
        assert_eq!(&buf[..], b"data: before\n\n");
    }
}
