//! An HTTP client for the examples' event streams: opens a stream with hyper,
//! checks the headers `SseLayer` sets, and reads the body as parsed items
//! with the crate's own `EventReader`.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower_sse::parse::{EventReader, Item, MessageEvent};

use super::TestResult;

/// How long a test waits for the next item of a stream.
pub const ITEM_TIMEOUT: Duration = Duration::from_secs(5);

/// The retry hint every example sends first: one second.
pub const RETRY: Duration = Duration::from_secs(1);

/// An open event stream: its response headers and its parsed body.
pub struct Stream {
    pub headers: HeaderMap,
    pub reader: EventReader<Incoming>,
}

/// `GET url`, optionally with `Last-Event-ID`; fails unless the answer is a
/// `200 text/event-stream`.
pub async fn open(url: &str, last_event_id: Option<&str>) -> TestResult<Stream> {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut request = Request::get(url);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = client.request(request.body(Empty::new())?).await?;
    if response.status() != 200 {
        return Err(format!("GET {url}: status {}", response.status()).into());
    }
    let (parts, body) = response.into_parts();
    Ok(Stream {
        headers: parts.headers,
        reader: EventReader::new(body),
    })
}

impl Stream {
    /// Asserts the headers the layer sets on every event stream.
    pub fn assert_layer_headers(&self) {
        let header = |name: &str| {
            self.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("<missing>")
                .to_owned()
        };
        assert_eq!(header("content-type"), "text/event-stream");
        assert_eq!(header("cache-control"), "no-cache");
        assert_eq!(header("x-accel-buffering"), "no");
        assert!(
            !self.headers.contains_key("content-length"),
            "an event stream has no content-length"
        );
    }

    /// The next item, failing after [`ITEM_TIMEOUT`]; `None` at the end.
    pub async fn next(&mut self) -> TestResult<Option<Item>> {
        match tokio::time::timeout(ITEM_TIMEOUT, self.reader.next()).await {
            Ok(Some(item)) => Ok(Some(item?)),
            Ok(None) => Ok(None),
            Err(_) => Err(format!("no item within {ITEM_TIMEOUT:?}").into()),
        }
    }

    /// The next item, which must exist.
    pub async fn item(&mut self) -> TestResult<Item> {
        self.next().await?.ok_or_else(|| "the stream ended".into())
    }

    /// The next event, skipping keep-alive comments; fails on anything else.
    pub async fn event(&mut self) -> TestResult<MessageEvent> {
        loop {
            match self.item().await? {
                Item::Event(event) => return Ok(event),
                Item::Comment(text) if text.is_empty() => {}
                other => return Err(format!("expected an event, got {other:?}").into()),
            }
        }
    }

    /// Asserts what the layer sends first: the retry hint, then the opening
    /// comment `comment`.
    pub async fn assert_prelude(&mut self, comment: &str) -> TestResult {
        assert_eq!(
            self.item().await?,
            Item::Retry(RETRY),
            "the retry hint first"
        );
        assert_eq!(
            self.item().await?,
            Item::Comment(comment.to_owned()),
            "then the opening comment"
        );
        Ok(())
    }

    /// Reads to the end of the stream, which must end cleanly with nothing
    /// but keep-alives left.
    pub async fn assert_ends(&mut self) -> TestResult {
        while let Some(item) = self.next().await? {
            if item != Item::Comment(String::new()) {
                return Err(format!("expected the end of the stream, got {item:?}").into());
            }
        }
        Ok(())
    }
}

/// Sends `method url` with `body` of `content_type`; returns status and text.
pub async fn send(
    method: &str,
    url: &str,
    content_type: &str,
    body: &str,
) -> TestResult<(u16, String)> {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let request = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body.to_owned())))?;
    let response = client.request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8(body.to_vec())?))
}
