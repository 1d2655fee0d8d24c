//! [`UpstreamError`]: why a relay could not go on reading its upstream.

use std::fmt;

use http::StatusCode;

use crate::error::BoxError;

/// Why a [`Relay`](super::Relay) gave up on its upstream.
///
/// It is logged at `WARN` with its source and turned into the relay's
/// terminal event (see [`Relay::on_error`](super::Relay::on_error)).
pub struct UpstreamError {
    kind: UpstreamErrorKind,
    source: Option<BoxError>,
}

/// What went wrong with the upstream, as returned by [`UpstreamError::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UpstreamErrorKind {
    /// The request could not be made (the connect closure's future failed).
    Connect,
    /// The upstream answered with a status other than 200 or 204.
    Status(StatusCode),
    /// The upstream answered 200 without `Content-Type: text/event-stream`.
    NotEventStream,
    /// The upstream body failed while it was being read.
    Body,
    /// The upstream sent a line or event larger than the relay's buffer limit.
    BufferFull,
}

impl UpstreamError {
    pub(crate) fn new(kind: UpstreamErrorKind) -> Self {
        Self { kind, source: None }
    }

    pub(crate) fn with_source(kind: UpstreamErrorKind, source: impl Into<BoxError>) -> Self {
        Self {
            kind,
            source: Some(source.into()),
        }
    }

    /// What went wrong.
    ///
    /// ```
    /// use tower_sse::relay::{UpstreamError, UpstreamErrorKind};
    ///
    /// fn retried(err: &UpstreamError) -> bool {
    ///     matches!(err.kind(), UpstreamErrorKind::Connect | UpstreamErrorKind::Body)
    /// }
    /// # let _ = retried;
    /// ```
    #[must_use]
    pub fn kind(&self) -> UpstreamErrorKind {
        self.kind
    }

    /// Whether the relay retries after this error (while reconnect attempts
    /// are left): connection and body failures, 429 and 5xx statuses.
    pub(crate) fn is_retryable(&self) -> bool {
        match self.kind {
            UpstreamErrorKind::Connect | UpstreamErrorKind::Body => true,
            UpstreamErrorKind::Status(status) => {
                status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
            }
            UpstreamErrorKind::NotEventStream | UpstreamErrorKind::BufferFull => false,
        }
    }
}

impl fmt::Debug for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UpstreamError");
        d.field("kind", &self.kind);
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            UpstreamErrorKind::Connect => f.write_str("upstream request failed"),
            UpstreamErrorKind::Status(status) => write!(f, "upstream answered {}", status.as_u16()),
            UpstreamErrorKind::NotEventStream => f.write_str("upstream is not an event stream"),
            UpstreamErrorKind::Body => f.write_str("upstream body failed"),
            UpstreamErrorKind::BufferFull => f.write_str("upstream sent too large an event"),
        }
    }
}

impl std::error::Error for UpstreamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
