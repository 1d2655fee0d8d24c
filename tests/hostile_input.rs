//! Hostile input at a real server: an axum app with [`SseLayer`] in front of a
//! [`Hub`], attacked with bad `Last-Event-ID` values, odd methods and HTTP
//! versions, oversized and repeated headers, a flood past `max_streams`, and
//! clients that stop reading. Every case asserts one clear outcome and that the
//! server still serves a well-behaved client afterwards.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_sse::parse::{EventReader, MessageEvent};
use tower_sse::{
    EventStream, Hub, HubConfig, LastEventId, SlowConsumer, SseLayer, SseMetrics, Subscription,
};

/// How long a test waits for something that should be prompt.
const PROMPT: Duration = Duration::from_secs(10);

async fn events(
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
struct Server {
    addr: SocketAddr,
    hub: Hub,
    metrics: SseMetrics,
}

async fn serve_with(layer: SseLayer, hub: Hub) -> Server {
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

async fn serve() -> Server {
    let hub = HubConfig::new().history(16).build();
    serve_with(SseLayer::new().last_event_id_query(true), hub).await
}

async fn publish(hub: &Hub, topic: &str, data: impl Into<String>) -> String {
    hub.publish(topic, data.into()).await.unwrap().to_string()
}

/// Opens a stream with hyper's client; `headers` values may be any bytes hyper
/// accepts.
async fn open(addr: SocketAddr, path: &str, headers: &[(&str, &[u8])]) -> http::Response<Incoming> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut request = http::Request::get(path).header("host", "localhost");
    for (name, value) in headers {
        request = request.header(*name, http::HeaderValue::from_bytes(value).unwrap());
    }
    tokio::time::timeout(
        PROMPT,
        sender.send_request(request.body(Empty::<Bytes>::new()).unwrap()),
    )
    .await
    .expect("no response head")
    .unwrap()
}

/// An open event stream, read as events.
struct Stream(EventReader<Incoming>);

impl Stream {
    async fn open(addr: SocketAddr, path: &str, headers: &[(&str, &[u8])]) -> Self {
        let response = open(addr, path, headers).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self(EventReader::new(response.into_body()))
    }

    async fn next(&mut self) -> Option<MessageEvent> {
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
async fn assert_still_serves(server: &Server) {
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
async fn wait_for(mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PROMPT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met in time"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Sends raw bytes on a new connection and returns everything the server
/// answers until it closes the connection or `until` appears (bounded).
async fn raw(addr: SocketAddr, request: &[u8], until: &[u8]) -> (Vec<u8>, TcpStream) {
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
async fn assert_refused(server: &Server, request: &[u8], status: &str) {
    let (response, _conn) = raw(server.addr, request, b"\r\n\r\n").await;
    assert_eq!(status_line(&response), status);
    assert_eq!(server.metrics.opened(), 0);
    assert_eq!(server.hub.subscribers("t"), 0);
    assert_still_serves(server).await;
}

fn status_line(response: &[u8]) -> String {
    let end = response
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(response.len());
    String::from_utf8_lossy(&response[..end]).into_owned()
}

/// Opens `path` with `headers` on the seeded topic `t` and asserts that the
/// stream is live with nothing replayed: its first event is the one published
/// after it opened.
async fn assert_live_without_replay(server: &Server, path: &str, headers: &[(&str, &[u8])]) {
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
async fn seed(hub: &Hub, topic: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for data in ["a", "b", "c"] {
        ids.push(publish(hub, topic, data).await);
    }
    ids
}

#[tokio::test]
async fn a_non_utf8_last_event_id_counts_as_absent_and_the_stream_is_live() {
    let server = serve().await;
    seed(&server.hub, "t").await;
    assert_live_without_replay(&server, "/events/t", &[("last-event-id", b"1\xff\xfe")]).await;
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn a_nul_in_last_event_id_is_rejected_by_the_http_parser_with_400() {
    let server = serve().await;
    assert_refused(
        &server,
        b"GET /events/t HTTP/1.1\r\nhost: x\r\nlast-event-id: 1\0 2\r\n\r\n",
        "HTTP/1.1 400 Bad Request",
    )
    .await;
}

#[tokio::test]
async fn a_nul_in_the_lasteventid_query_counts_as_absent() {
    let server = serve().await;
    seed(&server.hub, "t").await;
    assert_live_without_replay(&server, "/events/t?lastEventId=1%00", &[]).await;
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn a_64_kib_last_event_id_is_over_the_cap_and_counts_as_absent() {
    let server = serve().await;
    seed(&server.hub, "t").await;
    let long = "9".repeat(64 * 1024);
    assert_live_without_replay(&server, "/events/t", &[("last-event-id", long.as_bytes())]).await;
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn a_lasteventid_query_over_the_cap_counts_as_absent() {
    let server = serve().await;
    seed(&server.hub, "t").await;
    let path = format!("/events/t?lastEventId={}", "7".repeat(2 * 1024));
    assert_live_without_replay(&server, &path, &[]).await;
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn a_64_kib_lasteventid_query_gets_414_from_hyper() {
    let server = serve().await;
    // Too long for the `http` crate's `Uri` (64 KiB - 2): raw bytes.
    let request = format!(
        "GET /events/t?lastEventId={} HTTP/1.1\r\nhost: x\r\n\r\n",
        "7".repeat(64 * 1024)
    );
    assert_refused(&server, request.as_bytes(), "HTTP/1.1 414 URI Too Long").await;
}

#[tokio::test]
async fn a_header_section_over_hypers_limit_gets_431_and_no_stream() {
    let server = serve().await;
    let mut request = b"GET /events/t HTTP/1.1\r\nhost: x\r\nlast-event-id: ".to_vec();
    request.extend(std::iter::repeat(b'5').take(1024 * 1024));
    request.extend_from_slice(b"\r\n\r\n");
    assert_refused(
        &server,
        &request,
        "HTTP/1.1 431 Request Header Fields Too Large",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_last_event_id_gets_the_gap_event_first() {
    let server = serve().await;
    let ids = seed(&server.hub, "t").await;
    let mut stream = Stream::open(
        server.addr,
        "/events/t",
        &[("last-event-id", b"no-such-id")],
    )
    .await;
    let gap = stream.next().await.unwrap();
    assert_eq!(gap.event_type, tower_sse::GAP_EVENT_TYPE.as_str());
    assert_eq!(
        (gap.data.as_str(), gap.last_event_id.as_str()),
        ("unknown-id", ids[2].as_str())
    );
    let id = publish(&server.hub, "t", "live").await;
    let event = stream.next().await.unwrap();
    assert_eq!(
        (event.data.as_str(), event.last_event_id.as_str()),
        ("live", id.as_str())
    );
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn an_id_from_the_future_gets_the_gap_event_not_a_silent_skip() {
    let server = serve().await;
    let ids = seed(&server.hub, "t").await;
    let epoch = ids[2].split_once('.').unwrap().0;
    let futures = [
        format!("{epoch}.4"),
        format!("{epoch}.18446744073709551615"),
        format!("{epoch}.1-0"),
        format!("{epoch}.99999999999999999999999"),
        "4".to_owned(),
        "18446744073709551615".to_owned(),
        "99999999999999999999999".to_owned(),
    ];
    for future in &futures {
        let mut stream = Stream::open(
            server.addr,
            "/events/t",
            &[("last-event-id", future.as_bytes())],
        )
        .await;
        let gap = stream.next().await.unwrap();
        assert_eq!(
            (
                gap.event_type.as_str(),
                gap.data.as_str(),
                gap.last_event_id.as_str()
            ),
            ("sse-gap", "unknown-id", ids[2].as_str()),
            "Last-Event-ID: {future}"
        );
    }
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn an_id_from_the_query_replays_like_the_header() {
    let server = serve().await;
    let ids = seed(&server.hub, "t").await;
    let mut stream = Stream::open(
        server.addr,
        &format!("/events/t?lastEventId={}", ids[0]),
        &[],
    )
    .await;
    assert_eq!(stream.next().await.unwrap().data, "b");
    assert_eq!(stream.next().await.unwrap().data, "c");
}

#[tokio::test]
async fn malformed_lasteventid_queries_count_as_absent() {
    let server = serve().await;
    seed(&server.hub, "t").await;
    for query in [
        "lastEventId=%zz",
        "lastEventId=%4",
        "lastEventId=%ff%fe",
        "lastEventId=a%0Ab",
        "lastEventId=%0D",
        "lastEventId",
        "lastEventId=",
        "&&=&lastEventId==%",
    ] {
        let mut stream = Stream::open(server.addr, &format!("/events/t?{query}"), &[]).await;
        let topic_subs = server.hub.subscribers("t");
        assert!(topic_subs >= 1, "{query}");
        let id = publish(&server.hub, "t", query).await;
        let event = stream.next().await.unwrap();
        assert_eq!(
            (
                event.event_type.as_str(),
                event.data.as_str(),
                event.last_event_id.as_str()
            ),
            ("message", query, id.as_str()),
            "?{query}: expected a live stream"
        );
    }
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn a_repeated_lasteventid_query_parameter_uses_the_first() {
    let server = serve().await;
    let ids = seed(&server.hub, "t").await;
    let path = format!("/events/t?lastEventId={}&lastEventId=junk%zz", ids[1]);
    let mut stream = Stream::open(server.addr, &path, &[]).await;
    assert_eq!(stream.next().await.unwrap().data, "c");
}

#[tokio::test]
async fn a_repeated_last_event_id_header_counts_as_absent() {
    let server = serve().await;
    let ids = seed(&server.hub, "t").await;
    let mut request = b"GET /events/t HTTP/1.1\r\nhost: x\r\n".to_vec();
    for _ in 0..50 {
        request.extend_from_slice(format!("last-event-id: {}\r\n", ids[0]).as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    let (head, _conn) = raw(server.addr, &request, b"\r\n\r\n").await;
    assert_eq!(status_line(&head), "HTTP/1.1 200 OK");
    wait_for(|| server.hub.subscribers("t") == 1).await;
    // Nothing was replayed (b and c would be): the first bytes after the head
    // are the live event.
    let (_, mut conn) = (head, _conn);
    publish(&server.hub, "t", "live").await;
    let mut buf = vec![0_u8; 4096];
    let n = tokio::time::timeout(PROMPT, conn.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let body = String::from_utf8_lossy(&buf[..n]);
    assert!(
        body.contains("data: live\n\n") && !body.contains("data: b"),
        "{body:?}"
    );
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn more_headers_than_hyper_allows_get_431() {
    let server = serve().await;
    let mut request = b"GET /events/t HTTP/1.1\r\nhost: x\r\n".to_vec();
    for _ in 0..1000 {
        request.extend_from_slice(b"last-event-id: 1\r\n");
    }
    request.extend_from_slice(b"\r\n");
    assert_refused(
        &server,
        &request,
        "HTTP/1.1 431 Request Header Fields Too Large",
    )
    .await;
}

#[tokio::test]
async fn head_gets_the_stream_headers_without_a_body_and_holds_nothing() {
    let server = serve().await;
    let (response, _conn) = raw(
        server.addr,
        b"HEAD /events/t HTTP/1.1\r\nhost: x\r\n\r\n",
        b"\r\n\r\n",
    )
    .await;
    let head = String::from_utf8_lossy(&response).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(
        head.contains("content-type: text/event-stream\r\n"),
        "{head}"
    );
    assert!(
        head.ends_with("\r\n\r\n"),
        "HEAD must not send a body: {head}"
    );
    wait_for(|| server.metrics.open_streams() == 0 && server.hub.subscribers("t") == 0).await;
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn post_to_the_stream_route_gets_405_and_opens_nothing() {
    let server = serve().await;
    assert_refused(
        &server,
        b"POST /events/t HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello",
        "HTTP/1.1 405 Method Not Allowed",
    )
    .await;
}

#[tokio::test]
async fn a_get_with_a_body_still_streams() {
    let server = serve().await;
    let ids = seed(&server.hub, "t").await;
    let request = format!(
        "GET /events/t HTTP/1.1\r\nhost: x\r\nlast-event-id: {}\r\ncontent-length: 11\r\n\r\nignored!!!!",
        ids[1]
    );
    let (response, _conn) = raw(server.addr, request.as_bytes(), b"data: c\n\n").await;
    assert_eq!(status_line(&response), "HTTP/1.1 200 OK");
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn an_http_1_0_client_gets_an_unframed_stream_ended_by_close() {
    let server = serve().await;
    let ids = seed(&server.hub, "t").await;
    let request = format!(
        "GET /events/t HTTP/1.0\r\nlast-event-id: {}\r\n\r\n",
        ids[0]
    );
    let (response, conn) = raw(server.addr, request.as_bytes(), b"data: c\n\n").await;
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.0 200 OK\r\n"), "{text}");
    assert!(
        !text.to_ascii_lowercase().contains("transfer-encoding"),
        "{text}"
    );
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(
        body,
        format!("id: {}\ndata: b\n\nid: {}\ndata: c\n\n", ids[1], ids[2])
    );
    drop(conn);
    wait_for(|| server.metrics.open_streams() == 0 && server.hub.subscribers("t") == 0).await;
    assert_still_serves(&server).await;
}

#[tokio::test]
async fn a_flood_past_max_streams_gets_retry_only_streams_and_the_admitted_keep_working() {
    let hub = HubConfig::new().history(16).build();
    let layer = SseLayer::new()
        .max_streams(5)
        .retry(Duration::from_millis(1500));
    let server = serve_with(layer, hub).await;
    let mut admitted = Vec::new();
    for _ in 0..5 {
        admitted.push(Stream::open(server.addr, "/events/t", &[]).await);
    }
    wait_for(|| server.hub.subscribers("t") == 5).await;
    let flood = (0..200).map(|_| {
        let addr = server.addr;
        tokio::spawn(async move {
            let (response, _) = raw(
                addr,
                b"GET /events/t HTTP/1.1\r\nhost: x\r\n\r\n",
                b"retry: 1500\n\n",
            )
            .await;
            String::from_utf8(response).unwrap()
        })
    });
    for response in futures_util::future::join_all(flood).await {
        let response = response.unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        let lower = response.to_ascii_lowercase();
        assert!(
            lower.contains("content-type: text/event-stream\r\n"),
            "{response}"
        );
        assert!(lower.contains("content-length: 13\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\nretry: 1500\n\n"), "{response}");
    }
    assert_eq!(server.metrics.rejected(), 200);
    assert_eq!(server.metrics.open_streams(), 5);
    assert_eq!(server.hub.subscribers("t"), 5);
    let id = publish(&server.hub, "t", "still here").await;
    for stream in &mut admitted {
        let mut event = stream.next().await.unwrap();
        while event.data != "still here" {
            event = stream.next().await.unwrap();
        }
        assert_eq!(event.last_event_id, id);
    }
    drop(admitted);
    wait_for(|| server.metrics.open_streams() == 0 && server.hub.subscribers("t") == 0).await;
    // Room again: a new client is admitted.
    assert_still_serves(&server).await;
}

/// Resident set size of this process, from /proc/self/status.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Opens a stream with raw TCP and never reads from it.
async fn stalled_client(addr: SocketAddr, topic: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /events/{topic} HTTP/1.1\r\nhost: x\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    tcp
}

/// Publishes `count` events of `size` bytes to `topic` while a normal client
/// reads them all; returns the RSS growth of the process meanwhile.
async fn flood_past_a_stalled_client(server: &Server, count: usize, size: usize) -> u64 {
    let mut reader = Stream::open(server.addr, "/events/t", &[]).await;
    wait_for(|| server.hub.subscribers("t") == 2).await;
    let before = rss_bytes();
    let mut peak = before;
    let payload = "x".repeat(size);
    let hub = server.hub.clone();
    let read = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let progress = read.clone();
    let publisher = tokio::spawn(async move {
        for n in 0..count {
            // Paced by the normal reader, which must never lag (the stalled
            // client is far behind after the first few events).
            while n - progress.load(std::sync::atomic::Ordering::Acquire) >= 8 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            hub.publish("t", format!("{n} {payload}")).await.unwrap();
        }
    });
    for n in 0..count {
        let event = reader
            .next()
            .await
            .expect("the normal client's stream ended");
        assert!(
            event.data.starts_with(&format!("{n} ")),
            "expected event {n}"
        );
        read.store(n + 1, std::sync::atomic::Ordering::Release);
        if n % 64 == 0 {
            peak = peak.max(rss_bytes());
        }
    }
    publisher.await.unwrap();
    let growth = peak.max(rss_bytes()).saturating_sub(before);
    eprintln!(
        "{count} events of {size} bytes past a stalled client: RSS grew by {} KiB",
        growth / 1024
    );
    growth
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_costs_bounded_memory_and_is_disconnected_when_it_lags() {
    const COUNT: usize = 2000;
    const SIZE: usize = 64 * 1024;
    let hub = HubConfig::new().history(16).buffer(16).build();
    let server = serve_with(SseLayer::new(), hub).await;
    let mut stalled = stalled_client(server.addr, "t").await;
    wait_for(|| server.hub.subscribers("t") == 1).await;
    let growth = flood_past_a_stalled_client(&server, COUNT, SIZE).await;
    // 125 MiB went through; the stalled client pins at most the shared ring
    // (16 events) plus socket and hyper buffers.
    assert!(growth < 48 * 1024 * 1024, "RSS grew by {growth} bytes");
    // When it reads again it gets what was buffered for it, in order, and
    // then the Disconnect policy ends its stream: its browser would reconnect
    // with Last-Event-ID and replay from history.
    let mut got = Vec::new();
    let mut buf = vec![0_u8; 1 << 16];
    loop {
        let n = tokio::time::timeout(PROMPT, stalled.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        got.extend_from_slice(&buf[..n]);
        if n == 0 || got.ends_with(b"\r\n0\r\n\r\n") {
            break;
        }
    }
    assert!(
        got.ends_with(b"\r\n0\r\n\r\n"),
        "the lagging stream must end cleanly"
    );
    assert!(got.len() < 32 * 1024 * 1024, "{} bytes buffered", got.len());
    wait_for(|| server.hub.subscribers("t") == 0 && server.metrics.open_streams() == 0).await;
    assert_still_serves(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_gets_a_gap_event_under_skip_with_gap() {
    const COUNT: usize = 1000;
    const SIZE: usize = 64 * 1024;
    let hub = HubConfig::new()
        .history(16)
        .buffer(16)
        .slow_consumer(SlowConsumer::SkipWithGap)
        .build();
    let server = serve_with(SseLayer::new(), hub).await;
    let stalled = stalled_client(server.addr, "t").await;
    wait_for(|| server.hub.subscribers("t") == 1).await;
    let growth = flood_past_a_stalled_client(&server, COUNT, SIZE).await;
    assert!(growth < 48 * 1024 * 1024, "RSS grew by {growth} bytes");
    // Reading again: the events buffered for it, a gap event, then the ring's
    // newest events through the last one published, all in order.
    let (mut read, _write) = stalled.into_split();
    let mut parser = tower_sse::parse::Parser::new();
    let mut buf = vec![0_u8; 1 << 16];
    let mut head_done = false;
    let mut pending = Vec::new();
    let mut seen = Vec::new();
    let last = format!("{} ", COUNT - 1);
    'read: loop {
        let n = tokio::time::timeout(PROMPT, read.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the stream ended early");
        pending.extend_from_slice(&buf[..n]);
        if !head_done {
            let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            pending.drain(..end + 4);
            head_done = true;
        }
        // De-chunk what is complete.
        while let Some(line_end) = pending.windows(2).position(|w| w == b"\r\n") {
            let size =
                usize::from_str_radix(std::str::from_utf8(&pending[..line_end]).unwrap(), 16)
                    .unwrap();
            if pending.len() < line_end + 2 + size + 2 {
                break;
            }
            parser
                .feed(&pending[line_end + 2..line_end + 2 + size])
                .unwrap();
            pending.drain(..line_end + 2 + size + 2);
        }
        while let Some(item) = parser.next_item() {
            if let Some(event) = item.into_event() {
                let done = event.data.starts_with(&last);
                seen.push(event);
                if done {
                    break 'read;
                }
            }
        }
    }
    let gaps: Vec<usize> = (0..seen.len())
        .filter(|&i| seen[i].event_type == "sse-gap")
        .collect();
    assert_eq!(gaps.len(), 1, "exactly one gap event");
    let numbers: Vec<usize> = seen
        .iter()
        .filter(|e| e.event_type == "message")
        .map(|e| e.data.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "in order, no repeats"
    );
    let after_gap = seen[gaps[0] + 1].data.split(' ').next().unwrap().to_owned();
    assert_eq!(seen[gaps[0]].data, "lagged");
    assert!(seen.len() < COUNT, "events were skipped, not buffered");
    assert_eq!(
        seen[gaps[0]].last_event_id,
        seen[gaps[0] + 1].last_event_id,
        "the gap names the first event after it ({after_gap})"
    );
    assert_still_serves(&server).await;
}
