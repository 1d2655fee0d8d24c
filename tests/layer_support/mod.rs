//! Shared helpers of the `layer_*` integration tests: real hyper servers on
//! 127.0.0.1:0 (or over an in-memory duplex for paused-time tests) and clients.
#![allow(dead_code, unreachable_pub)]

#[path = "../support/client.rs"]
mod client;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long a test waits for something that should be prompt.
pub const PROMPT: Duration = Duration::from_secs(5);

/// Serves `svc` with hyper-util's auto builder (HTTP/1.1 and HTTP/2) on 127.0.0.1:0.
pub async fn serve<S, B>(svc: S) -> SocketAddr
where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let svc = TowerToHyperService::new(svc.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    addr
}

/// Serves an axum router on 127.0.0.1:0.
pub async fn serve_axum(router: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// Sends one request over a new HTTP/1.1 connection.
pub async fn get_h1(addr: SocketAddr, req: Request<Empty<Bytes>>) -> Response<Incoming> {
    client::send_h1(addr, req).await.0
}

/// Sends one request over a new HTTP/2 (prior knowledge) connection.
pub async fn get_h2(addr: SocketAddr, req: Request<Empty<Bytes>>) -> Response<Incoming> {
    client::send_h2(addr, req).await.0
}

/// `GET path` with `Accept: text/event-stream`.
pub fn sse_request(path: &str) -> Request<Empty<Bytes>> {
    Request::get(format!("http://localhost{path}"))
        .header("accept", "text/event-stream")
        .body(Empty::new())
        .unwrap()
}

/// The next data frame, or `None` at the end; fails the test after [`PROMPT`].
pub async fn next_data<B>(body: &mut B) -> Option<Bytes>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    next_data_within(body, PROMPT).await
}

/// The next data frame, or `None` at the end; fails the test after `limit`
/// (use a long limit with paused time, where waiting costs nothing).
pub async fn next_data_within<B>(body: &mut B, limit: Duration) -> Option<Bytes>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    loop {
        let frame = tokio::time::timeout(limit, body.frame())
            .await
            .expect("a frame in time")?;
        if let Ok(data) = frame.unwrap().into_data() {
            // hyper's HTTP/2 client may surface the END_STREAM frame as empty data.
            if data.is_empty() {
                continue;
            }
            return Some(data);
        }
    }
}

/// Reads the whole body (fails after [`PROMPT`]).
pub async fn collect<B>(body: B) -> Bytes
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    tokio::time::timeout(PROMPT, body.collect())
        .await
        .expect("the body ends in time")
        .unwrap()
        .to_bytes()
}

/// A raw HTTP/1.1 event-stream request; returns the socket once the response
/// head arrived, with the head.
pub async fn open_raw(addr: SocketAddr, path: &str) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let req =
        format!("GET {path} HTTP/1.1\r\nhost: localhost\r\naccept: text/event-stream\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(PROMPT, tcp.read(&mut byte))
            .await
            .expect("response head in time")
            .unwrap();
        assert_eq!(n, 1, "connection closed before the response head");
        head.push(byte[0]);
    }
    (tcp, String::from_utf8(head).unwrap())
}

/// Connects a hyper HTTP/1.1 client to `svc` served by hyper over an in-memory
/// duplex pipe: no real I/O, so paused-time tests are deterministic.
pub async fn duplex_h1<S, B>(svc: S) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>>
where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (client, server) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(server), TowerToHyperService::new(svc))
            .await;
    });
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(client))
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}
