//! The hostile-input tests' server and clients, shared by `hostile_input.rs`
//! and `hostile_memory.rs` (the RSS-measuring cases, in a binary of their
//! own so that no other test skews the process's memory).
#![allow(dead_code, unreachable_pub)]

#[path = "../support/client.rs"]
mod client;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;
use hyper::body::Incoming;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_sse::parse::{EventReader, MessageEvent};
use tower_sse::{EventStream, Hub, HubConfig, LastEventId, SseLayer, SseMetrics, Subscription};

/// How long a test waits for something that should be prompt.
pub const PROMPT: Duration = Duration::from_secs(10);

pub async fn events(
    State(hub): State<Hub>,
    Path(topic): Path<String>,
    last_id: Option<LastEventId>,
) -> Result<EventStream<Subscription>, (http::StatusCode, String)> {
    match hub.subscribe_from(&topic, last_id) {
        Ok(subscription) => Ok(EventStream::new(subscription)),
        Err(e) => Err((http::StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

/// A running server and its handles.
pub struct Server {
    pub addr: SocketAddr,
    pub hub: Hub,
    pub metrics: SseMetrics,
}

pub async fn serve_with(layer: SseLayer, hub: Hub) -> Server {
    let metrics = layer.metrics();
    let app = Router::new()
        .route("/events/{topic}", get(events))
        .layer(layer)
        .with_state(hub.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { addr, hub, metrics }
}

pub async fn serve() -> Server {
    let hub = HubConfig::new().history(16).build();
    serve_with(SseLayer::new().last_event_id_query(true), hub).await
}

pub async fn publish(hub: &Hub, topic: &str, data: impl Into<String>) -> String {
    hub.publish(topic, data.into()).await.unwrap().to_string()
}

/// Opens a stream with hyper's client; `headers` values may be any bytes hyper
/// accepts.
pub async fn open(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &[u8])],
) -> http::Response<Incoming> {
    client::send_h1(addr, client::get(path, headers)).await.0
}

/// An open event stream, read as events.
pub struct Stream(pub EventReader<Incoming>);

impl Stream {
    pub async fn open(addr: SocketAddr, path: &str, headers: &[(&str, &[u8])]) -> Self {
        let response = open(addr, path, headers).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self(EventReader::new(response.into_body()))
    }

    pub async fn next(&mut self) -> Option<MessageEvent> {
        loop {
            let item = tokio::time::timeout(PROMPT, self.0.next())
                .await
                .expect("nothing within the timeout")?;
            if let Some(event) = item.unwrap().into_event() {
                return Some(event);
            }
        }
    }
}

/// A fresh well-behaved client on a fresh topic receives a fresh event.
pub async fn assert_still_serves(server: &Server) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let topic = format!(
        "canary-{}",
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut stream = Stream::open(server.addr, &format!("/events/{topic}"), &[]).await;
    wait_for(|| server.hub.subscribers(&topic) == 1).await;
    let id = publish(&server.hub, &topic, "alive").await;
    let event = stream.next().await.expect("the canary stream ended");
    assert_eq!(
        (event.data.as_str(), event.last_event_id.as_str()),
        ("alive", id.as_str())
    );
}

/// Polls `cond` until it holds (bounded).
pub async fn wait_for(cond: impl FnMut() -> bool) {
    crate::wait::until_true("the condition", cond).await;
}

/// Sends raw bytes on a new connection and returns everything the server
/// answers until it closes the connection or `until` appears (bounded).
pub async fn raw(addr: SocketAddr, request: &[u8], until: &[u8]) -> (Vec<u8>, TcpStream) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0_u8; 8192];
    let deadline = tokio::time::Instant::now() + PROMPT;
    loop {
        if !until.is_empty() && got.windows(until.len()).any(|w| w == until) {
            break;
        }
        let n = match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) => 0,
            Err(_) => panic!(
                "no {:?} within the timeout; got {:?}",
                String::from_utf8_lossy(until),
                String::from_utf8_lossy(&got)
            ),
        };
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    (got, tcp)
}

/// Sends `request` as raw bytes and asserts that the server refused it with
/// `status`, opened no stream, and still serves other clients.
pub async fn assert_refused(server: &Server, request: &[u8], status: &str) {
    let (response, _conn) = raw(server.addr, request, b"\r\n\r\n").await;
    assert_eq!(status_line(&response), status);
    assert_eq!(server.metrics.opened(), 0);
    assert_eq!(server.hub.subscribers("t"), 0);
    assert_still_serves(server).await;
}

pub fn status_line(response: &[u8]) -> String {
    let end = response
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(response.len());
    String::from_utf8_lossy(&response[..end]).into_owned()
}

/// Opens `path` with `headers` on the seeded topic `t` and asserts that the
/// stream is live with nothing replayed: its first event is the one published
/// after it opened.
pub async fn assert_live_without_replay(server: &Server, path: &str, headers: &[(&str, &[u8])]) {
    let mut stream = Stream::open(server.addr, path, headers).await;
    wait_for(|| server.hub.subscribers("t") == 1).await;
    let id = publish(&server.hub, "t", "live").await;
    let event = stream.next().await.unwrap();
    assert_eq!(
        (
            event.event_type.as_str(),
            event.data.as_str(),
            event.last_event_id.as_str()
        ),
        ("message", "live", id.as_str()),
        "{path}: expected a live stream, nothing replayed"
    );
}

/// Publishes a, b, c to `topic`; returns their ids.
pub async fn seed(hub: &Hub, topic: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for data in ["a", "b", "c"] {
        ids.push(publish(hub, topic, data).await);
    }
    ids
}
