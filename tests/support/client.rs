//! The raw SSE client of the test suite: one request on a fresh HTTP/1.1 or
//! HTTP/2 connection with hyper's low-level client, so a test controls the
//! connection (drop it to disconnect, abort its task to cut it) and reads the
//! body frame by frame. Include it with `mod support;` or alone with
//! `#[path = "support/client.rs"] mod client;`.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// How long the response head may take.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET path` with a `host` header and `headers` (values may be any bytes
/// hyper accepts), ready to send.
pub fn get(path: &str, headers: &[(&str, &[u8])]) -> Request<Empty<Bytes>> {
    request("GET", path, headers)
}

/// A body-less `method path` request with a `host` header and `headers`.
pub fn request(method: &str, path: &str, headers: &[(&str, &[u8])]) -> Request<Empty<Bytes>> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (name, value) in headers {
        request = request.header(*name, http::HeaderValue::from_bytes(value).unwrap());
    }
    request.body(Empty::new()).unwrap()
}

/// Sends `request` on a new HTTP/1.1 connection to `addr`; returns the
/// response and the connection's task (abort it to cut the connection).
pub async fn send_h1(
    addr: SocketAddr,
    request: Request<Empty<Bytes>>,
) -> (Response<Incoming>, JoinHandle<()>) {
    try_send_h1(addr, request, HEAD_TIMEOUT).await.unwrap()
}

/// As [`send_h1`], for callers that expect failures (a server being
/// restarted, a storm of reconnects): every failure is an error message.
pub async fn try_send_h1(
    addr: SocketAddr,
    request: Request<Empty<Bytes>>,
    head_timeout: Duration,
) -> Result<(Response<Incoming>, JoinHandle<()>), String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    let response = match tokio::time::timeout(head_timeout, sender.send_request(request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err(format!("no response head within {head_timeout:?}")),
    };
    Ok((response, conn))
}

/// As [`send_h1`], over HTTP/2 with prior knowledge.
pub async fn send_h2(
    addr: SocketAddr,
    request: Request<Empty<Bytes>>,
) -> (Response<Incoming>, JoinHandle<()>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    let response = tokio::time::timeout(HEAD_TIMEOUT, sender.send_request(request))
        .await
        .expect("no response head in time")
        .unwrap();
    (response, conn)
}
