//! The crate's error type.

use std::fmt;

/// A type-erased error, as `hyper` and `tower` pass them around.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Errors from building, encoding, streaming or parsing events.
///
/// The type is opaque; [`Error::kind`] tells what went wrong and
/// [`std::error::Error::source`] gives the underlying error where there is one.
pub struct Error {
    kind: ErrorKind,
    source: Option<BoxError>,
}

/// What went wrong, as returned by [`Error::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An event type held a carriage return or a line feed.
    InvalidEventType,
    /// An event id held a carriage return, a line feed or a NUL.
    InvalidEventId,
    /// A comment held a carriage return or a line feed.
    InvalidComment,
    /// A value could not be serialized as event data.
    Serialize,
    /// The stream of events yielded an error.
    Stream,
    /// The body being read yielded an error.
    Body,
    /// The parser would have had to buffer more than its limit.
    BufferFull,
    /// The [`Hub`](crate::Hub) was closed.
    Closed,
    /// A configuration value was rejected (for example a malformed Redis URL).
    InvalidConfig,
    /// The event backend (Redis) failed or could not be reached; the source
    /// holds the backend's own error.
    Backend,
    /// A new topic would pass the hub's bound on live topics
    /// ([`HubConfig::max_topics`](crate::HubConfig::max_topics)): servers
    /// answer it like any over-capacity condition (429 or 503), not as a
    /// client error.
    TooManyTopics,
    /// An idempotency key was empty, too long, or held something but visible
    /// ASCII.
    InvalidIdempotencyKey,
    /// A [`ResumableStreams`](crate::resumable::ResumableStreams) registry
    /// holds as many streams as its configuration allows.
    TooManyStreams,
    /// An event type starting with `sse-` was sent on a resumable stream;
    /// those name the stream's own events.
    ReservedEventType,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self { kind, source: None }
    }

    pub(crate) fn with_source(kind: ErrorKind, source: impl Into<BoxError>) -> Self {
        Self {
            kind,
            source: Some(source.into()),
        }
    }

    /// What went wrong.
    ///
    /// ```
    /// use tower_sse::{ErrorKind, EventId};
    ///
    /// let err = EventId::new("a\nb").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidEventId);
    /// ```
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Consumes the error and returns its source, if any.
    #[must_use]
    pub fn into_source(self) -> Option<BoxError> {
        self.source
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind);
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self.kind {
            ErrorKind::InvalidEventType => {
                "event type must not contain a carriage return or line feed"
            }
            ErrorKind::InvalidEventId => {
                "event id must not contain a carriage return, line feed or NUL"
            }
            ErrorKind::InvalidComment => "comment must not contain a carriage return or line feed",
            ErrorKind::Serialize => "failed to serialize event data",
            ErrorKind::Stream => "event stream failed",
            ErrorKind::Body => "failed to read the response body",
            ErrorKind::BufferFull => "event stream parser exceeded its buffer limit",
            ErrorKind::Closed => "the hub is closed",
            ErrorKind::InvalidConfig => "invalid configuration",
            ErrorKind::Backend => "event backend failed",
            ErrorKind::TooManyTopics => "too many topics: the hub is at its topic limit",
            ErrorKind::InvalidIdempotencyKey => {
                "idempotency key must be 1 to 128 bytes of visible ascii"
            }
            ErrorKind::TooManyStreams => "too many resumable streams",
            ErrorKind::ReservedEventType => "event types starting with `sse-` are reserved",
        };
        match &self.source {
            Some(source) => write!(f, "{msg}: {source}"),
            None => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_lowercase_and_names_the_source() {
        let err = Error::with_source(ErrorKind::Stream, "boom");
        assert_eq!(err.to_string(), "event stream failed: boom");
        assert!(std::error::Error::source(&err).is_some());
        let err = Error::new(ErrorKind::BufferFull);
        assert_eq!(
            err.to_string(),
            "event stream parser exceeded its buffer limit"
        );
    }

    #[test]
    fn error_is_send_sync_static() {
        fn assert<T: Send + Sync + 'static + std::error::Error>() {}
        assert::<Error>();
    }
}
