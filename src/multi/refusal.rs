//! [`Refusal`]: why a multi-topic subscription was not opened, as an HTTP answer.

use std::fmt;
use std::time::Duration;

use http::{header, HeaderValue, StatusCode};

/// Why a [`Multiplexer`](super::Multiplexer) refused a subscription: the
/// answer to send instead of a stream, chosen by [`Refusal::status`].
///
/// A native `EventSource` stops for good on any answer other than 200 (its
/// `onerror` fires with `readyState === CLOSED`), so the statuses say whether
/// retrying can help:
///
/// | kind | status | meaning for the page |
/// |---|---|---|
/// | [`Forbidden`](RefusalKind::Forbidden) | 403 | this subscriber may not read the topic: stop |
/// | [`Unauthenticated`](RefusalKind::Unauthenticated), [`Expired`](RefusalKind::Expired) | 401 | sign in (again), then open a new `EventSource` |
/// | [`NoTopics`](RefusalKind::NoTopics), [`TooManyTopics`](RefusalKind::TooManyTopics), [`InvalidTopic`](RefusalKind::InvalidTopic), [`DuplicateTopic`](RefusalKind::DuplicateTopic), [`CursorTooLong`](RefusalKind::CursorTooLong) | 400 | a bug in the page (or a hostile client): stop |
/// | [`Unavailable`](RefusalKind::Unavailable) | 200 | a `text/event-stream` body with only a `retry:` hint: the browser reconnects by itself |
///
/// The body is one line of plain text (or the retry hint), safe to show.
///
/// ```
/// use tower_sse::multi::{Refusal, RefusalKind};
///
/// let refusal = Refusal::forbidden("user-7/notifications");
/// assert_eq!(refusal.kind(), RefusalKind::Forbidden);
/// assert_eq!(refusal.status(), http::StatusCode::FORBIDDEN);
/// let response = refusal.into_http_response();
/// assert_eq!(response.body(), "topic `user-7/notifications` is forbidden\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    kind: RefusalKind,
    topic: Option<String>,
}

/// The kind of a [`Refusal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalKind {
    /// The authorizer refused a topic (403).
    Forbidden,
    /// The request carries no (valid) credentials the authorizer needs (401).
    Unauthenticated,
    /// The subscriber's credentials expired before the stream opened (401).
    Expired,
    /// The request names no topic (400).
    NoTopics,
    /// More topics than [`Multiplexer::max_topics`](super::Multiplexer::max_topics) (400).
    TooManyTopics,
    /// A topic name is empty, longer than 255 bytes, holds CR, LF or NUL, or
    /// starts with the reserved `sse-` (400).
    InvalidTopic,
    /// A topic is named twice (400).
    DuplicateTopic,
    /// `Last-Event-ID` is longer than
    /// [`Multiplexer::max_cursor_len`](super::Multiplexer::max_cursor_len) (400).
    CursorTooLong,
    /// The checkpoint store could not be read, the hub is closed or cannot
    /// take a topic (its topic bound, an engine failure): 200 with a retry
    /// hint, so the browser tries again.
    Unavailable,
}

/// The retry hint of an [`RefusalKind::Unavailable`] answer.
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(2);

impl Refusal {
    /// A refusal of the given kind.
    #[must_use]
    pub fn new(kind: RefusalKind) -> Self {
        Self { kind, topic: None }
    }

    /// The authorizer's "no" for `topic`.
    #[must_use]
    pub fn forbidden(topic: impl Into<String>) -> Self {
        Self::new(RefusalKind::Forbidden).with_topic(topic)
    }

    /// The authorizer's "who are you?".
    #[must_use]
    pub fn unauthenticated() -> Self {
        Self::new(RefusalKind::Unauthenticated)
    }

    pub(crate) fn with_topic(mut self, topic: impl Into<String>) -> Self {
        let mut topic: String = topic.into();
        // Keep the message short and on one line whatever the client sent.
        topic.retain(|c| !c.is_control());
        if topic.len() > 64 {
            let mut end = 64;
            while !topic.is_char_boundary(end) {
                end -= 1;
            }
            topic.truncate(end);
            topic.push('…');
        }
        self.topic = Some(topic);
        self
    }

    /// What was refused.
    #[must_use]
    pub fn kind(&self) -> RefusalKind {
        self.kind
    }

    /// The topic the refusal is about, when there is one.
    #[must_use]
    pub fn topic(&self) -> Option<&str> {
        self.topic.as_deref()
    }

    /// The HTTP status to answer with (see the table above).
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self.kind {
            RefusalKind::Forbidden => StatusCode::FORBIDDEN,
            RefusalKind::Unauthenticated | RefusalKind::Expired => StatusCode::UNAUTHORIZED,
            RefusalKind::Unavailable => StatusCode::OK,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The complete answer: status, `Content-Type` and a one-line body.
    ///
    /// ```
    /// use tower_sse::multi::{Refusal, RefusalKind};
    ///
    /// let response = Refusal::new(RefusalKind::Unavailable).into_http_response();
    /// assert_eq!(response.status(), 200);
    /// assert_eq!(response.headers()["content-type"], "text/event-stream");
    /// assert_eq!(response.body(), "retry: 2000\n\n");
    /// ```
    #[must_use]
    pub fn into_http_response(self) -> http::Response<String> {
        let (content_type, body) = if self.kind == RefusalKind::Unavailable {
            let retry = UNAVAILABLE_RETRY.as_millis();
            ("text/event-stream", format!("retry: {retry}\n\n"))
        } else {
            ("text/plain; charset=utf-8", format!("{self}\n"))
        };
        let mut response = http::Response::new(body);
        *response.status_mut() = self.status();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let topic = self.topic.as_deref().unwrap_or("");
        match self.kind {
            RefusalKind::Forbidden => write!(f, "topic `{topic}` is forbidden"),
            RefusalKind::Unauthenticated => f.write_str("authentication required"),
            RefusalKind::Expired => f.write_str("credentials expired"),
            RefusalKind::NoTopics => f.write_str("no topic requested"),
            RefusalKind::TooManyTopics => f.write_str("too many topics requested"),
            RefusalKind::InvalidTopic => write!(f, "invalid topic name `{topic}`"),
            RefusalKind::DuplicateTopic => write!(f, "topic `{topic}` requested twice"),
            RefusalKind::CursorTooLong => f.write_str("last event id too long"),
            RefusalKind::Unavailable => f.write_str("temporarily unavailable, retry"),
        }
    }
}

impl std::error::Error for Refusal {}

#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for Refusal {
    fn into_response(self) -> axum_core::response::Response {
        self.into_http_response().map(axum_core::body::Body::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_documented_table() {
        assert_eq!(Refusal::unauthenticated().status(), 401);
        assert_eq!(Refusal::new(RefusalKind::Expired).status(), 401);
        assert_eq!(Refusal::new(RefusalKind::TooManyTopics).status(), 400);
        assert_eq!(Refusal::new(RefusalKind::CursorTooLong).status(), 400);
    }

    #[test]
    fn a_hostile_topic_name_is_shortened_and_kept_on_one_line() {
        let refusal = Refusal::forbidden(format!("a\r\nb{}", "x".repeat(500)));
        let body = refusal.into_http_response().into_body();
        assert_eq!(body.lines().count(), 1);
        assert!(body.len() < 100, "{body}");
    }
}
