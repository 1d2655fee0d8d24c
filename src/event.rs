//! The [`Event`] builder and its wire encoding.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::error::Error;
use crate::field::{decimal, Comment, EventId, EventType};

/// One server-sent event: data, an event type, an id, a retry hint and comments.
///
/// Every field is optional. Values that could break the wire format are validated
/// when they are set, so encoding never fails and never panics:
///
/// ```
/// use std::time::Duration;
/// use tower_sse::{Event, EventType};
///
/// let event = Event::new()
///     .event(EventType::from_static("chat"))
///     .id(7_u64)
///     .retry(Duration::from_secs(3))
///     .data("hello\nworld");
///
/// assert_eq!(
///     event.encode().as_bytes(),
///     &b"event: chat\nid: 7\nretry: 3000\ndata: hello\ndata: world\n\n"[..],
/// );
///
/// // Runtime values go through a fallible path.
/// let err = Event::new().try_event("evil\ndata: injected").unwrap_err();
/// assert_eq!(err.to_string(), "event type must not contain a carriage return or line feed");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Event {
    comments: Vec<String>,
    event: Option<EventType>,
    id: Option<EventId>,
    retry: Option<Duration>,
    data: Option<String>,
}

impl Event {
    /// An event with no fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the data. Line breaks (CRLF, CR or LF) split it over several `data:`
    /// lines; browsers join them back with LF.
    ///
    /// ```
    /// use tower_sse::Event;
    ///
    /// let bytes = Event::new().data("a\r\nb\n").encode();
    /// assert_eq!(bytes.as_bytes(), &b"data: a\ndata: b\ndata: \n\n"[..]);
    /// ```
    pub fn data(mut self, data: impl Into<String>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// Sets the data to `value` serialized as JSON.
    ///
    /// # Errors
    ///
    /// When serialization fails; the error has kind
    /// [`ErrorKind::Serialize`](crate::ErrorKind::Serialize) and no event is produced.
    ///
    /// ```
    /// use tower_sse::Event;
    ///
    /// let event = Event::new().json_data(&serde_json::json!({"n": 1}))?;
    /// assert_eq!(event.encode().as_bytes(), &b"data: {\"n\":1}\n\n"[..]);
    ///
    /// let mut map = std::collections::HashMap::new();
    /// map.insert(vec![1u8], 2); // JSON object keys must be strings
    /// assert!(Event::new().json_data(&map).is_err());
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    #[cfg(feature = "json")]
    pub fn json_data<T>(self, value: &T) -> Result<Self, Error>
    where
        T: serde::Serialize + ?Sized,
    {
        let json = serde_json::to_string(value)
            .map_err(|e| Error::with_source(crate::error::ErrorKind::Serialize, e))?;
        Ok(self.data(json))
    }

    /// Sets the event type.
    pub fn event(mut self, event: EventType) -> Self {
        self.event = Some(event);
        self
    }

    /// Validates and sets the event type.
    ///
    /// # Errors
    ///
    /// When `event` holds a carriage return or a line feed.
    ///
    /// ```
    /// use tower_sse::{ErrorKind, Event};
    ///
    /// assert!(Event::new().try_event("chat").is_ok());
    /// let err = Event::new().try_event("a\nb").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidEventType);
    /// ```
    pub fn try_event<T>(self, event: T) -> Result<Self, Error>
    where
        T: TryInto<EventType, Error = Error>,
    {
        Ok(self.event(event.try_into()?))
    }

    /// Sets the id; integers convert without validation.
    pub fn id(mut self, id: impl Into<EventId>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Validates and sets the id.
    ///
    /// # Errors
    ///
    /// When `id` holds a carriage return, a line feed or a NUL.
    ///
    /// ```
    /// use tower_sse::{ErrorKind, Event};
    ///
    /// assert!(Event::new().try_id("1-0").is_ok());
    /// let err = Event::new().try_id("1\0").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidEventId);
    /// ```
    pub fn try_id<T>(self, id: T) -> Result<Self, Error>
    where
        T: TryInto<EventId, Error = Error>,
    {
        Ok(self.id(id.try_into()?))
    }

    /// Sets the reconnection time the browser waits before reconnecting.
    /// It is sent as whole milliseconds (saturating at `u64::MAX`).
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Adds a comment line (`: text`, or `:` alone for an empty comment).
    /// Browsers ignore comments; they keep connections alive and help debugging.
    ///
    /// ```
    /// use tower_sse::{Comment, Event};
    ///
    /// let event = Event::new().comment(Comment::from_static("hi")).data("x");
    /// assert_eq!(event.encode().as_bytes(), &b": hi\ndata: x\n\n"[..]);
    /// ```
    pub fn comment(mut self, comment: Comment) -> Self {
        self.comments.push(comment.into_string());
        self
    }

    /// Validates and adds a comment line, see [`Event::comment`].
    ///
    /// # Errors
    ///
    /// When `comment` holds a carriage return or a line feed.
    ///
    /// ```
    /// use tower_sse::Event;
    ///
    /// let event = Event::new().try_comment("hi")?;
    /// assert_eq!(event.encode().as_bytes(), &b": hi\n\n"[..]);
    /// assert!(Event::new().try_comment("a\rb").is_err());
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    pub fn try_comment(self, comment: impl Into<String>) -> Result<Self, Error> {
        Ok(self.comment(Comment::new(comment)?))
    }

    /// The data, if set.
    #[must_use]
    pub fn data_str(&self) -> Option<&str> {
        self.data.as_deref()
    }

    /// The event type, if set.
    #[must_use]
    pub fn event_type(&self) -> Option<&EventType> {
        self.event.as_ref()
    }

    /// The id, if set.
    #[must_use]
    pub fn event_id(&self) -> Option<&EventId> {
        self.id.as_ref()
    }

    /// The retry hint, if set.
    #[must_use]
    pub fn retry_duration(&self) -> Option<Duration> {
        self.retry
    }

    /// The comments, in order.
    #[must_use]
    pub fn comments(&self) -> &[String] {
        &self.comments
    }

    /// Appends the wire form of this event, ending with a blank line, to `buf`.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use tower_sse::Event;
    ///
    /// let mut buf = BytesMut::new();
    /// Event::new().data("a").encode_into(&mut buf);
    /// Event::new().data(" b").encode_into(&mut buf);
    /// assert_eq!(&buf[..], b"data: a\n\ndata:  b\n\n");
    /// ```
    pub fn encode_into(&self, buf: &mut BytesMut) {
        buf.reserve(self.encoded_len_hint());
        for comment in &self.comments {
            write_comment(buf, comment);
        }
        if let Some(event) = &self.event {
            write_line(buf, b"event: ", event.as_bytes());
        }
        if let Some(id) = &self.id {
            write_line(buf, b"id: ", id.as_bytes());
        }
        if let Some(retry) = self.retry {
            write_retry(buf, retry);
        }
        if let Some(data) = &self.data {
            write_data(buf, data.as_bytes());
        }
        buf.extend_from_slice(b"\n");
    }

    /// Encodes this event once into shared bytes that clone cheaply.
    pub fn encode(&self) -> EncodedEvent {
        let mut buf = BytesMut::new();
        self.encode_into(&mut buf);
        EncodedEvent(buf.freeze())
    }

    fn encoded_len_hint(&self) -> usize {
        let data = self.data.as_ref().map_or(0, |d| d.len() + 7);
        let event = self.event.as_ref().map_or(0, |e| e.as_bytes().len() + 8);
        let id = self.id.as_ref().map_or(0, |i| i.as_bytes().len() + 5);
        data + event + id + if self.retry.is_some() { 28 } else { 0 } + 1
    }
}

/// Writes the comment line `: text\n` (`:\n` when `text` is empty). `text`
/// must hold no CR or LF (a [`Comment`] or a validated `String`). The layer's
/// keep-alives and initial comment go through here too.
pub(crate) fn write_comment(buf: &mut BytesMut, text: &str) {
    if text.is_empty() {
        buf.extend_from_slice(b":\n");
    } else {
        write_line(buf, b": ", text.as_bytes());
    }
}

/// Writes the line `retry: <ms>\n` (whole milliseconds, saturating at
/// `u64::MAX`). The layer's retry hint goes through here too.
pub(crate) fn write_retry(buf: &mut BytesMut, retry: Duration) {
    let millis = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
    let mut digits = [0_u8; 20];
    let start = decimal(millis, &mut digits);
    write_line(buf, b"retry: ", &digits[start..]);
}

/// Writes `prefix value\n`; `prefix` is the field name with its colon and
/// one space (`b"data: "`), so a value starting with a space keeps it.
/// (`extend_from_slice` is inlined, `BufMut::put_slice` is not: this runs
/// several times per event.)
#[inline]
fn write_line(buf: &mut BytesMut, prefix: &[u8], value: &[u8]) {
    buf.reserve(prefix.len() + value.len() + 1);
    buf.extend_from_slice(prefix);
    buf.extend_from_slice(value);
    buf.extend_from_slice(b"\n");
}

/// An `io::Write` into a frame buffer whose writes are inlined (`serde_json`
/// writes many small pieces per value; `BufMut::writer` calls the
/// out-of-line `put_slice` for each).
#[cfg(feature = "json")]
pub(crate) struct FrameWriter<'a>(pub(crate) &'a mut BytesMut);

#[cfg(feature = "json")]
impl std::io::Write for FrameWriter<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes one `data:` line per line of `data`; CRLF, CR and LF are each one break.
pub(crate) fn write_data(buf: &mut BytesMut, mut data: &[u8]) {
    while let Some(at) = memchr::memchr2(b'\r', b'\n', data) {
        write_line(buf, b"data: ", &data[..at]);
        let crlf = data[at] == b'\r' && data.get(at + 1) == Some(&b'\n');
        data = &data[at + if crlf { 2 } else { 1 }..];
    }
    write_line(buf, b"data: ", data);
}

/// An event already in wire form, shared by reference count.
///
/// Cloning is a reference-count bump, so one encoded event can go to any number
/// of streams without being encoded or copied again.
///
/// ```
/// use tower_sse::Event;
///
/// let encoded = Event::new().data("tick").encode();
/// let copy = encoded.clone();
/// assert_eq!(copy.as_bytes().as_ptr(), encoded.as_bytes().as_ptr());
/// assert_eq!(encoded.len(), b"data: tick\n\n".len());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EncodedEvent(Bytes);

impl EncodedEvent {
    /// The wire bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Consumes the event and returns its wire bytes.
    #[must_use]
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The number of wire bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no wire bytes (never true for an encoded [`Event`]).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&Event> for EncodedEvent {
    fn from(event: &Event) -> Self {
        event.encode()
    }
}

impl From<Event> for EncodedEvent {
    fn from(event: Event) -> Self {
        event.encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(event: &Event) -> String {
        String::from_utf8(event.encode().into_bytes().to_vec()).unwrap()
    }

    #[test]
    fn crlf_in_data_is_one_line_break_not_two() {
        assert_eq!(wire(&Event::new().data("a\r\nb")), "data: a\ndata: b\n\n");
    }

    #[test]
    fn lone_cr_and_lone_lf_each_break_a_line() {
        assert_eq!(
            wire(&Event::new().data("a\rb\nc\r\rd")),
            "data: a\ndata: b\ndata: c\ndata: \ndata: d\n\n"
        );
    }

    #[test]
    fn trailing_line_break_survives() {
        assert_eq!(wire(&Event::new().data("x\n")), "data: x\ndata: \n\n");
        assert_eq!(wire(&Event::new().data("x\r\n")), "data: x\ndata: \n\n");
    }

    #[test]
    fn leading_space_is_doubled() {
        assert_eq!(wire(&Event::new().data(" lead")), "data:  lead\n\n");
    }

    #[test]
    fn empty_data_still_writes_a_data_line() {
        assert_eq!(wire(&Event::new().data("")), "data: \n\n");
    }

    #[test]
    fn event_without_fields_is_a_blank_line() {
        assert_eq!(wire(&Event::new()), "\n");
    }

    #[test]
    fn unicode_passes_through() {
        assert_eq!(
            wire(&Event::new().data("héllo ✓ 🎉\u{2028}x")),
            "data: héllo ✓ 🎉\u{2028}x\n\n"
        );
    }

    #[test]
    fn all_fields_are_written_in_a_fixed_order() {
        let event = Event::new()
            .data("d")
            .retry(Duration::from_millis(1500))
            .id(3_u64)
            .event(EventType::from_static("chat"))
            .try_comment("c1")
            .unwrap()
            .try_comment("")
            .unwrap();
        assert_eq!(
            wire(&event),
            ": c1\n:\nevent: chat\nid: 3\nretry: 1500\ndata: d\n\n"
        );
    }

    #[test]
    fn empty_id_is_written_to_reset_the_last_event_id() {
        assert_eq!(
            wire(&Event::new().try_id("").unwrap().data("x")),
            "id: \ndata: x\n\n"
        );
    }

    #[test]
    fn huge_retry_saturates_instead_of_panicking() {
        assert_eq!(
            wire(&Event::new().retry(Duration::MAX)),
            "retry: 18446744073709551615\n\n"
        );
    }

    #[test]
    fn accessors_return_what_was_set() {
        let event = Event::new()
            .data("d")
            .id(1_u64)
            .retry(Duration::from_secs(1));
        assert_eq!(event.data_str(), Some("d"));
        assert_eq!(event.event_id().map(EventId::as_str), Some("1"));
        assert_eq!(event.retry_duration(), Some(Duration::from_secs(1)));
        assert!(event.event_type().is_none());
        assert!(event.comments().is_empty());
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_with_newlines_in_strings_stays_on_one_line() {
        let event = Event::new()
            .json_data(&serde_json::json!({"m": "a\nb\r"}))
            .unwrap();
        assert_eq!(wire(&event), "data: {\"m\":\"a\\nb\\r\"}\n\n");
    }
}
