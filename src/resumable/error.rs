//! [`ResumeError`]: why a reader could not be opened, and the HTTP answer.

use std::fmt;

use http::StatusCode;

use crate::error::Error;

/// Why [`ResumableStreams::open`](super::ResumableStreams::open) refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResumeErrorKind {
    /// No such stream: never created, or gone after its TTL. `404 Not Found`.
    NotFound,
    /// The stream ended and `Last-Event-ID` is its terminal event: nothing
    /// more will come. `204 No Content`, which stops an `EventSource`.
    Ended,
    /// `Last-Event-ID` is not an id this crate hands out (too long, spaces,
    /// control characters). `400 Bad Request`.
    InvalidId,
    /// `Last-Event-ID` is not an event of this stream (another stream's id,
    /// or one that fell out of the history). `400 Bad Request`.
    UnknownId,
    /// The beginning of the stream fell out of the history, so a reader
    /// starting from scratch cannot get all of it. `410 Gone`.
    HistoryLost,
    /// The backend (Redis) failed. `503 Service Unavailable`.
    Backend,
}

/// Why a reader could not be opened; [`ResumeError::status_code`] is the
/// answer to send.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use tower_sse::resumable::{ResumableStreams, ResumeErrorKind};
///
/// let streams = ResumableStreams::new(tower_sse::Hub::new());
/// let err = streams.open("00000000000000000000000000000000", None).await.unwrap_err();
/// assert_eq!(err.kind(), ResumeErrorKind::NotFound);
/// assert_eq!(err.status_code(), http::StatusCode::NOT_FOUND);
/// assert_eq!(err.to_string(), "no such stream (unknown or expired)");
/// # }
/// ```
#[derive(Debug)]
pub struct ResumeError {
    kind: ResumeErrorKind,
    source: Option<Error>,
}

impl ResumeError {
    pub(crate) fn new(kind: ResumeErrorKind) -> Self {
        Self { kind, source: None }
    }

    pub(crate) fn backend(source: Error) -> Self {
        Self {
            kind: ResumeErrorKind::Backend,
            source: Some(source),
        }
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> ResumeErrorKind {
        self.kind
    }

    /// The HTTP status to answer with (see [`ResumeErrorKind`]).
    #[must_use]
    pub fn status_code(&self) -> StatusCode {
        match self.kind {
            ResumeErrorKind::NotFound => StatusCode::NOT_FOUND,
            ResumeErrorKind::Ended => StatusCode::NO_CONTENT,
            ResumeErrorKind::InvalidId | ResumeErrorKind::UnknownId => StatusCode::BAD_REQUEST,
            ResumeErrorKind::HistoryLost => StatusCode::GONE,
            ResumeErrorKind::Backend => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A complete response: the status and, except for `204`, the message as
    /// a `text/plain` body.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let streams = tower_sse::resumable::ResumableStreams::new(tower_sse::Hub::new());
    /// let err = streams.open("nope", None).await.unwrap_err();
    /// let response = err.into_http_response();
    /// assert_eq!(response.status(), 404);
    /// assert_eq!(response.body(), "no such stream (unknown or expired)");
    /// # }
    /// ```
    #[must_use]
    pub fn into_http_response(self) -> http::Response<String> {
        let status = self.status_code();
        let body = if status == StatusCode::NO_CONTENT {
            String::new()
        } else {
            self.to_string()
        };
        let mut response = http::Response::new(body);
        *response.status_mut() = status;
        if status != StatusCode::NO_CONTENT {
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
        }
        response
    }
}

impl fmt::Display for ResumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self.kind {
            ResumeErrorKind::NotFound => "no such stream (unknown or expired)",
            ResumeErrorKind::Ended => "the stream has ended",
            ResumeErrorKind::InvalidId => "malformed Last-Event-ID",
            ResumeErrorKind::UnknownId => "Last-Event-ID is not an event of this stream",
            ResumeErrorKind::HistoryLost => "the start of the stream is no longer stored",
            ResumeErrorKind::Backend => "the stream backend failed",
        };
        match &self.source {
            Some(source) => write!(f, "{msg}: {source}"),
            None => f.write_str(msg),
        }
    }
}

impl std::error::Error for ResumeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}
