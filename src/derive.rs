//! Support code for `#[derive(IntoEvent)]`. Not a public API: the derive's
//! expansion names these items, and they may change in any release.

use std::borrow::Cow;
use std::time::Duration;

pub use serde::Serialize;

use crate::error::{Error, ErrorKind};
use crate::event::Event;
use crate::field::EventId;

fn serialize_error(e: serde_json::Error) -> Error {
    Error::with_source(ErrorKind::Serialize, e)
}

/// `value` as compact JSON (the data of a newtype variant).
///
/// # Errors
///
/// When serialization fails.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(serialize_error)
}

/// A JSON object written field by field, in declaration order.
#[derive(Debug)]
pub struct JsonObject {
    buf: Vec<u8>,
}

impl Default for JsonObject {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonObject {
    /// An empty object.
    #[must_use]
    pub fn new() -> Self {
        Self { buf: vec![b'{'] }
    }

    /// Adds a field; `key` is already a JSON string followed by `:`.
    ///
    /// # Errors
    ///
    /// When serialization fails.
    pub fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        if self.buf.len() > 1 {
            self.buf.push(b',');
        }
        self.buf.extend_from_slice(key.as_bytes());
        serde_json::to_writer(&mut self.buf, value).map_err(serialize_error)
    }

    /// The finished object.
    ///
    /// # Errors
    ///
    /// Never in practice: `serde_json` writes UTF-8.
    pub fn finish(mut self) -> Result<String, Error> {
        self.buf.push(b'}');
        String::from_utf8(self.buf).map_err(|e| Error::with_source(ErrorKind::Serialize, e))
    }
}

/// A field type that `#[sse(id)]` accepts.
#[diagnostic::on_unimplemented(
    message = "`#[sse(id)]` needs an integer, a string, an `EventId` or an `Option` of one, not `{Self}`",
    label = "this field is the event id"
)]
pub trait IdField {
    /// Sets the event's id from the field.
    ///
    /// # Errors
    ///
    /// When a string id holds a carriage return, a line feed or a NUL.
    fn set_id(self, event: Event) -> Result<Event, Error>;
}

macro_rules! integer_ids {
    ($($ty:ty),*) => {$(
        impl IdField for $ty {
            fn set_id(self, event: Event) -> Result<Event, Error> {
                Ok(event.id(u64::from(self)))
            }
        }
    )*};
}
integer_ids!(u8, u16, u32, u64);

impl IdField for usize {
    fn set_id(self, event: Event) -> Result<Event, Error> {
        // usize is at most 64 bits on every supported target.
        Ok(event.id(u64::try_from(self).unwrap_or(u64::MAX)))
    }
}

impl IdField for EventId {
    fn set_id(self, event: Event) -> Result<Event, Error> {
        Ok(event.id(self))
    }
}

impl IdField for String {
    fn set_id(self, event: Event) -> Result<Event, Error> {
        event.try_id(self)
    }
}

impl IdField for &str {
    fn set_id(self, event: Event) -> Result<Event, Error> {
        event.try_id(self)
    }
}

impl IdField for Cow<'_, str> {
    fn set_id(self, event: Event) -> Result<Event, Error> {
        event.try_id(self.as_ref())
    }
}

impl<T: IdField> IdField for Option<T> {
    fn set_id(self, event: Event) -> Result<Event, Error> {
        match self {
            Some(id) => id.set_id(event),
            None => Ok(event),
        }
    }
}

/// A field type that `#[sse(retry)]` accepts.
#[diagnostic::on_unimplemented(
    message = "`#[sse(retry)]` needs a `std::time::Duration` or an `Option<Duration>`, not `{Self}`",
    label = "this field is the retry time"
)]
pub trait RetryField {
    /// Sets the event's retry time from the field.
    fn set_retry(self, event: Event) -> Event;
}

impl RetryField for Duration {
    fn set_retry(self, event: Event) -> Event {
        event.retry(self)
    }
}

impl RetryField for Option<Duration> {
    fn set_retry(self, event: Event) -> Event {
        match self {
            Some(retry) => event.retry(retry),
            None => event,
        }
    }
}
