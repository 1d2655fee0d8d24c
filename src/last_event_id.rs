//! [`LastEventId`]: the id a reconnecting client resumes from.

use std::fmt;

use http::request::Parts;
use http::{Extensions, HeaderMap, Request, Uri};

use crate::error::{Error, ErrorKind};

#[cfg(feature = "axum")]
mod axum;
#[cfg(feature = "axum")]
pub use self::axum::MissingLastEventId;

/// The `Last-Event-ID` a client sent: any UTF-8 text without NUL, CR or LF.
///
/// Browsers send it as a request header when `EventSource` reconnects; since the
/// first connection cannot carry a header, clients may also put it in a
/// `lastEventId` query parameter. [`SseLayer`](crate::SseLayer) validates both
/// (the header wins) and stores the result in the request extensions; the
/// `from_*` constructors read that, and parse the request themselves when no
/// layer is in front. Empty values count as absent.
///
/// With the `axum` feature it is an extractor: `LastEventId` rejects requests
/// without one (400), `Option<LastEventId>` never rejects.
///
/// ```
/// use http::Request;
/// use tower_sse::LastEventId;
///
/// let req = Request::get("/events").header("last-event-id", "42").body(()).unwrap();
/// let id = LastEventId::from_request(&req).unwrap();
/// assert_eq!(id.as_str(), "42");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LastEventId(String);

/// Marks a request whose last event id was already checked by the layer, so that
/// an invalid value is not parsed again further down the stack.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Checked;

/// Marks a request whose last event id the layer refused, with why: a
/// handler that resumes from it (a multi-topic subscription) must not take
/// it for a fresh start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// Longer than the cap.
    TooLong,
    /// Not an id: a NUL, CR or LF, not UTF-8, or several headers.
    Invalid,
}

/// The request header browsers send.
pub(crate) const LAST_EVENT_ID: &str = "last-event-id";
/// The query parameter accepted when `SseLayer::last_event_id_query` is on.
pub(crate) const QUERY_PARAM: &str = "lastEventId";

impl LastEventId {
    /// The default cap on the length of an accepted id: 1 KiB (of UTF-8).
    pub const DEFAULT_MAX_LEN: usize = 1024;

    /// Validates an id: it must be non-empty and hold no NUL, CR or LF.
    ///
    /// ```
    /// use tower_sse::{ErrorKind, LastEventId};
    ///
    /// assert_eq!(LastEventId::new("été-7").unwrap().as_str(), "été-7");
    /// assert_eq!(LastEventId::new("a\nb").unwrap_err().kind(), ErrorKind::InvalidEventId);
    /// assert!(LastEventId::new("").is_err());
    /// ```
    pub fn new(id: impl Into<String>) -> Result<Self, Error> {
        let id = id.into();
        if id.is_empty() || id.bytes().any(|b| matches!(b, b'\0' | b'\r' | b'\n')) {
            return Err(Error::new(ErrorKind::InvalidEventId));
        }
        Ok(Self(id))
    }

    /// The id as text.
    ///
    /// ```
    /// assert_eq!(tower_sse::LastEventId::new("7").unwrap().as_str(), "7");
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as a `Last-Event-ID` header value, for a request to an upstream
    /// server (see [`relay`](crate::relay)). Non-ASCII text is sent as its
    /// UTF-8 bytes, as browsers do; `None` when the id holds a control
    /// character that a header cannot carry.
    ///
    /// ```
    /// use tower_sse::LastEventId;
    ///
    /// let id = LastEventId::new("été-7").unwrap();
    /// assert_eq!(id.to_header_value().unwrap().as_bytes(), "été-7".as_bytes());
    /// assert!(LastEventId::new("a\u{1}b").unwrap().to_header_value().is_none());
    /// ```
    #[must_use]
    pub fn to_header_value(&self) -> Option<http::HeaderValue> {
        http::HeaderValue::from_bytes(self.0.as_bytes()).ok()
    }

    /// The id as an owned `String`.
    ///
    /// ```
    /// assert_eq!(tower_sse::LastEventId::new("7").unwrap().into_string(), "7");
    /// ```
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }

    /// The id stored by [`SseLayer`](crate::SseLayer) in these extensions, if any.
    /// Does not look at the request itself.
    ///
    /// ```
    /// let ext = http::Extensions::new();
    /// assert!(tower_sse::LastEventId::from_extensions(&ext).is_none());
    /// ```
    #[must_use]
    pub fn from_extensions(extensions: &Extensions) -> Option<Self> {
        extensions.get::<Self>().cloned()
    }

    /// The `Last-Event-ID` header, validated with [`LastEventId::DEFAULT_MAX_LEN`].
    /// Absent, repeated, non-UTF-8, oversized or otherwise invalid values give `None`.
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue};
    /// use tower_sse::LastEventId;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("last-event-id", HeaderValue::from_bytes("né".as_bytes()).unwrap());
    /// assert_eq!(LastEventId::from_headers(&headers).unwrap().as_str(), "né");
    /// headers.insert("last-event-id", HeaderValue::from_bytes(&[0xff]).unwrap());
    /// assert!(LastEventId::from_headers(&headers).is_none());
    /// ```
    #[must_use]
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        Self::parse_header(headers, Self::DEFAULT_MAX_LEN)?.ok()
    }

    /// The id of a request, as the extractor sees it: the value stored by the
    /// layer when one ran, else the header, else the `lastEventId` query
    /// parameter, each validated with [`LastEventId::DEFAULT_MAX_LEN`].
    ///
    /// ```
    /// use tower_sse::LastEventId;
    ///
    /// let (parts, ()) = http::Request::get("/events?lastEventId=%C3%A9t%C3%A9")
    ///     .body(())
    ///     .unwrap()
    ///     .into_parts();
    /// assert_eq!(LastEventId::from_parts(&parts).unwrap().as_str(), "été");
    /// ```
    #[must_use]
    pub fn from_parts(parts: &Parts) -> Option<Self> {
        Self::lookup(&parts.extensions, &parts.headers, &parts.uri)
    }

    /// Like [`LastEventId::from_parts`], for a whole request (plain hyper services).
    ///
    /// ```
    /// let req = http::Request::get("/events?lastEventId=1")
    ///     .header("last-event-id", "2")
    ///     .body(())
    ///     .unwrap();
    /// // The header wins over the query parameter.
    /// assert_eq!(tower_sse::LastEventId::from_request(&req).unwrap().as_str(), "2");
    /// ```
    #[must_use]
    pub fn from_request<B>(request: &Request<B>) -> Option<Self> {
        Self::lookup(request.extensions(), request.headers(), request.uri())
    }

    /// Like [`LastEventId::from_parts`], but says when an id was sent and
    /// refused (by the layer, or here under the default cap).
    pub(crate) fn checked_from_parts(parts: &Parts) -> Result<Option<Self>, Rejected> {
        Self::checked(&parts.extensions, &parts.headers, &parts.uri)
    }

    /// Why [`LastEventId::parse`] refused what the request sent.
    pub(crate) fn rejection(
        headers: &HeaderMap,
        uri: &Uri,
        max_len: usize,
        query: bool,
    ) -> Rejected {
        let mut values = headers.get_all(LAST_EVENT_ID).iter();
        let len = match (values.next(), values.next()) {
            (Some(_), Some(_)) => return Rejected::Invalid,
            (Some(value), None) => value.len(),
            (None, _) if query => uri
                .query()
                .and_then(|q| find_param(q, QUERY_PARAM))
                .and_then(|raw| percent_decode(raw).ok())
                .map_or(0, |id| id.len()),
            (None, _) => 0,
        };
        if len > max_len {
            Rejected::TooLong
        } else {
            Rejected::Invalid
        }
    }

    fn lookup(extensions: &Extensions, headers: &HeaderMap, uri: &Uri) -> Option<Self> {
        Self::checked(extensions, headers, uri).ok().flatten()
    }

    /// The id the layer stored, or why it refused one; without the layer, the
    /// request's own, under the default cap.
    fn checked(
        extensions: &Extensions,
        headers: &HeaderMap,
        uri: &Uri,
    ) -> Result<Option<Self>, Rejected> {
        if let Some(id) = extensions.get::<Self>() {
            return Ok(Some(id.clone()));
        }
        if let Some(rejected) = extensions.get::<Rejected>() {
            return Err(*rejected);
        }
        if extensions.get::<Checked>().is_some() {
            return Ok(None);
        }
        Self::parse(headers, uri, Self::DEFAULT_MAX_LEN, true)
            .map_err(|_| Self::rejection(headers, uri, Self::DEFAULT_MAX_LEN, true))
    }

    /// Reads the header and, when `query` is set and no header was sent, the query
    /// parameter. `Ok(None)`: nothing sent; `Err`: something was sent but is invalid.
    pub(crate) fn parse(
        headers: &HeaderMap,
        uri: &Uri,
        max_len: usize,
        query: bool,
    ) -> Result<Option<Self>, Error> {
        if let Some(header) = Self::parse_header(headers, max_len) {
            return header.map(Some);
        }
        if !query {
            return Ok(None);
        }
        match uri.query().and_then(|q| find_param(q, QUERY_PARAM)) {
            None => Ok(None),
            Some(raw) => Self::validate(&percent_decode(raw)?, max_len).map(Some),
        }
    }

    fn parse_header(headers: &HeaderMap, max_len: usize) -> Option<Result<Self, Error>> {
        let mut values = headers.get_all(LAST_EVENT_ID).iter();
        let first = values.next()?;
        if values.next().is_some() {
            return Some(Err(Error::new(ErrorKind::InvalidEventId)));
        }
        Some(Self::validate(first.as_bytes(), max_len))
    }

    fn validate(bytes: &[u8], max_len: usize) -> Result<Self, Error> {
        if bytes.len() > max_len {
            return Err(Error::new(ErrorKind::InvalidEventId));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|e| Error::with_source(ErrorKind::InvalidEventId, e))?;
        Self::new(text)
    }
}

/// The raw value of the first `name=value` pair in a query string.
fn find_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// Decodes `application/x-www-form-urlencoded` text (`%XX` and `+`) to bytes.
fn percent_decode(raw: &str) -> Result<Vec<u8>, Error> {
    let invalid = || Error::new(ErrorKind::InvalidEventId);
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(invalid)?;
                let hex = std::str::from_utf8(hex).map_err(|_| invalid())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| invalid())?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Ok(out)
}

impl fmt::Debug for LastEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LastEventId").field(&self.0).finish()
    }
}

impl fmt::Display for LastEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for LastEventId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(uri: &str, header: Option<&[u8]>, max: usize) -> Result<Option<String>, Error> {
        let mut headers = HeaderMap::new();
        if let Some(h) = header {
            headers.insert(LAST_EVENT_ID, http::HeaderValue::from_bytes(h).unwrap());
        }
        let uri: Uri = uri.parse().unwrap();
        LastEventId::parse(&headers, &uri, max, true).map(|o| o.map(LastEventId::into_string))
    }

    #[test]
    fn the_header_wins_over_the_query_even_when_invalid() {
        assert_eq!(
            parse("/?lastEventId=q", Some(b"h"), 9).unwrap().unwrap(),
            "h"
        );
        assert!(parse("/?lastEventId=q", Some(&[0xc3]), 9).is_err());
    }

    #[test]
    fn query_values_are_percent_decoded_and_validated() {
        assert_eq!(
            parse("/?a=1&lastEventId=x+y%2F", None, 9).unwrap().unwrap(),
            "x y/"
        );
        assert!(parse("/?lastEventId=a%0Ab", None, 9).is_err());
        assert!(parse("/?lastEventId=a%00", None, 9).is_err());
        assert!(parse("/?lastEventId=%zz", None, 9).is_err());
        assert!(parse("/?lastEventId=%4", None, 9).is_err());
        assert!(parse("/?lastEventId=%ff", None, 9).is_err());
        assert_eq!(parse("/?other=1", None, 9).unwrap(), None);
    }

    #[test]
    fn the_length_cap_is_in_bytes_and_inclusive() {
        assert!(parse("/", Some("é".repeat(4).as_bytes()), 8)
            .unwrap()
            .is_some());
        assert!(parse("/", Some("é".repeat(5).as_bytes()), 8).is_err());
    }

    #[test]
    fn a_repeated_header_is_invalid() {
        let mut headers = HeaderMap::new();
        headers.append(LAST_EVENT_ID, "1".parse().unwrap());
        headers.append(LAST_EVENT_ID, "2".parse().unwrap());
        assert!(LastEventId::from_headers(&headers).is_none());
    }

    #[test]
    fn a_refused_id_says_whether_it_was_too_long() {
        let why = |uri: &str, header: Option<&[u8]>| {
            let mut headers = HeaderMap::new();
            if let Some(h) = header {
                headers.insert(LAST_EVENT_ID, http::HeaderValue::from_bytes(h).unwrap());
            }
            LastEventId::rejection(&headers, &uri.parse().unwrap(), 4, true)
        };
        assert_eq!(why("/", Some(b"12345")), Rejected::TooLong);
        assert_eq!(why("/", Some(b"\xff")), Rejected::Invalid);
        assert_eq!(
            why("/?lastEventId=%41%41%41%41%41", None),
            Rejected::TooLong
        );
        assert_eq!(why("/?lastEventId=a%00", None), Rejected::Invalid);
        let mut headers = HeaderMap::new();
        headers.append(LAST_EVENT_ID, "1".parse().unwrap());
        headers.append(LAST_EVENT_ID, "123456".parse().unwrap());
        let uri = "/".parse().unwrap();
        assert_eq!(
            LastEventId::rejection(&headers, &uri, 4, true),
            Rejected::Invalid
        );
    }

    #[test]
    fn a_request_checked_by_the_layer_is_not_parsed_again() {
        let mut req = Request::get("/")
            .header(LAST_EVENT_ID, "7")
            .body(())
            .unwrap();
        assert!(LastEventId::from_request(&req).is_some());
        req.extensions_mut().insert(Checked);
        assert!(LastEventId::from_request(&req).is_none());
        req.extensions_mut().insert(LastEventId::new("9").unwrap());
        assert_eq!(LastEventId::from_request(&req).unwrap().as_str(), "9");
    }
}
