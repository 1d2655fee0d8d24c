//! A real axum server around a `ResumableStreams` registry, and a client
//! that reads its streams over real HTTP, for the resumable-stream tests.
//! Include it with `#[path = "support/resumable_app.rs"] mod resumable_app;`.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing;
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tower_sse::parse::{EventReader, Item, MessageEvent};
use tower_sse::resumable::ResumableStreams;
use tower_sse::EventStream;

/// How long the client waits for the next item.
pub const ITEM_TIMEOUT: Duration = Duration::from_secs(5);

async fn read(
    State(streams): State<ResumableStreams>,
    Path(token): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    match streams.open(&token, last).await {
        Ok(reader) => {
            let reader = match query.get("poll_ms").and_then(|ms| ms.parse().ok()) {
                Some(ms) => reader.end_after(Duration::from_millis(ms)),
                None => reader,
            };
            EventStream::new(reader).into_response()
        }
        Err(refused) => refused.into_http_response().into_response(),
    }
}

async fn cancel(State(streams): State<ResumableStreams>, Path(token): Path<String>) -> Response {
    match streams.cancel(&token).await {
        Ok(true) => "cancelled".into_response(),
        Ok(false) => (http::StatusCode::NOT_FOUND, "not running").into_response(),
        Err(e) => (http::StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// Serves `GET /streams/{token}` (`Last-Event-ID`, `?poll_ms=` ends the
/// response after that long) and `POST /streams/{token}/cancel` on
/// 127.0.0.1:0.
pub async fn serve(streams: ResumableStreams) -> SocketAddr {
    let app = Router::new()
        .route("/streams/{token}", routing::get(read))
        .route("/streams/{token}/cancel", routing::post(cancel))
        .with_state(streams);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The answer to a `GET`: a status, and the body as a stream or as text.
pub enum Answer {
    Stream(Box<Reader>),
    Refused(u16, String),
}

impl Answer {
    pub fn stream(self) -> Reader {
        match self {
            Self::Stream(reader) => *reader,
            Self::Refused(status, body) => panic!("expected a stream, got {status}: {body}"),
        }
    }

    pub fn refused(self) -> (u16, String) {
        match self {
            Self::Stream(_) => panic!("expected a refusal, got a stream"),
            Self::Refused(status, body) => (status, body),
        }
    }
}

/// `GET http://addr/path` with an optional `Last-Event-ID`.
pub async fn get(addr: SocketAddr, path: &str, last_event_id: Option<&str>) -> Answer {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut request = http::Request::get(format!("http://{addr}{path}"));
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = client
        .request(request.body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    if status == 200 {
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        return Answer::Stream(Box::new(Reader {
            events: EventReader::new(response.into_body()),
        }));
    }
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer::Refused(status, String::from_utf8_lossy(&body).into_owned())
}

/// `POST http://addr/path`; the status.
pub async fn post(addr: SocketAddr, path: &str) -> u16 {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let request = http::Request::post(format!("http://{addr}{path}"))
        .body(Empty::new())
        .unwrap();
    client.request(request).await.unwrap().status().as_u16()
}

/// A stream being read with the crate's parser.
pub struct Reader {
    events: EventReader<Incoming>,
}

impl Reader {
    /// The next item; `None` at the end of the response.
    pub async fn next(&mut self) -> Option<Item> {
        tokio::time::timeout(ITEM_TIMEOUT, self.events.next())
            .await
            .expect("an item within the timeout")
            .map(|item| item.expect("a well-formed stream"))
    }

    /// Asserts the retry hint, then returns the next event.
    pub async fn after_retry(&mut self) -> MessageEvent {
        match self.next().await {
            Some(Item::Retry(_)) => {}
            other => panic!("expected the retry hint first, got {other:?}"),
        }
        self.event().await
    }

    /// The next event, which must exist.
    pub async fn event(&mut self) -> MessageEvent {
        match self.next().await {
            Some(Item::Event(event)) => event,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// Every event up to the end of the response.
    pub async fn rest(&mut self) -> Vec<MessageEvent> {
        let mut events = Vec::new();
        while let Some(item) = self.next().await {
            if let Item::Event(event) = item {
                events.push(event);
            }
        }
        events
    }
}

/// The data of `events`, for comparing with what the producer sent.
pub fn data(events: &[MessageEvent]) -> Vec<&str> {
    events.iter().map(|e| e.data.as_str()).collect()
}
