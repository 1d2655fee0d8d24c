//! Graceful shutdown with 200 open idle streams: the server exits promptly with
//! the layer, and hangs without it (axum's plain `Sse`).
#![cfg(feature = "axum")]

mod layer_support;

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::response::sse::{Event as AxumEvent, KeepAlive, Sse as AxumSse};
use axum::routing::get;
use http::Request;
use hyper::body::Incoming;
use layer_support::{get_h2, next_data, open_raw, serve, sse_request};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceBuilder;
use tower_sse::{Event, EventStream, Shutdown, SseLayer};

const STREAMS: usize = 200;

fn axum_sse() -> AxumSse<impl futures_util::Stream<Item = Result<AxumEvent, Infallible>>> {
    AxumSse::new(futures_util::stream::pending()).keep_alive(KeepAlive::default())
}

/// Serves `router` with axum's graceful shutdown on `shutdown`, opens
/// [`STREAMS`] idle streams, triggers, and returns how long the server took to
/// exit (`None`: still running after `limit`) and the client sockets.
async fn shut_down(
    router: axum::Router,
    shutdown: Shutdown,
    limit: Duration,
) -> (Option<Duration>, Vec<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let signal = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { signal.triggered().await })
            .await
            .unwrap();
    });
    let mut clients = Vec::new();
    for _ in 0..STREAMS {
        let (tcp, head) = open_raw(addr, "/sse").await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        clients.push(tcp);
    }
    let start = Instant::now();
    shutdown.trigger();
    let exited = tokio::time::timeout(limit, server).await.ok().map(|r| {
        r.unwrap();
        start.elapsed()
    });
    (exited, clients)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_layer_200_idle_streams_end_and_the_server_exits_within_a_second() {
    let shutdown = Shutdown::new();
    let layer = SseLayer::new().shutdown(shutdown.clone()).final_event(
        &Event::new()
            .event(tower_sse::EventType::from_static("bye"))
            .data(""),
    );
    let metrics = layer.metrics();
    let router = axum::Router::new()
        .route("/sse", get(|| async { axum_sse() }))
        .layer(layer);
    let (exited, clients) = shut_down(router, shutdown, Duration::from_secs(1)).await;
    let took = exited.expect("the server exited within 1 s of the signal");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(metrics.open_streams(), 0);
    assert_eq!(metrics.opened(), STREAMS as u64);
    // Each client got the final event and a clean end of the chunked body.
    for mut tcp in clients {
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rest, b"13\r\nevent: bye\ndata: \n\n\r\n0\r\n\r\n");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_layer_axum_sse_streams_keep_the_server_from_exiting() {
    let shutdown = Shutdown::new();
    let router = axum::Router::new().route("/sse", get(|| async { axum_sse() }));
    let (exited, clients) = shut_down(router, shutdown, Duration::from_secs(1)).await;
    assert_eq!(
        exited, None,
        "axum's Sse alone keeps graceful shutdown waiting"
    );
    drop(clients);
}

#[tokio::test]
async fn streams_on_hyper_end_on_the_signal_and_new_ones_end_at_once() {
    let shutdown = Shutdown::new();
    let svc = ServiceBuilder::new()
        .layer(
            SseLayer::new()
                .retry(Duration::from_secs(1))
                .shutdown(shutdown.clone()),
        )
        .service_fn(|_req: Request<Incoming>| async {
            let never = futures_util::stream::pending::<&'static str>();
            Ok::<_, Infallible>(EventStream::new(never).into_http_response())
        });
    let addr = serve(svc).await;
    let mut open = get_h2(addr, sse_request("/")).await.into_body();
    assert_eq!(next_data(&mut open).await.unwrap(), "retry: 1000\n\n");
    shutdown.trigger();
    assert_eq!(next_data(&mut open).await, None);
    let mut late = get_h2(addr, sse_request("/")).await.into_body();
    assert_eq!(next_data(&mut late).await.unwrap(), "retry: 1000\n\n");
    assert_eq!(next_data(&mut late).await, None);
}
