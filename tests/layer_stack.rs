//! `SseLayer` inside a `ServiceBuilder` with tower-http's CORS, trace,
//! compression and timeout layers: events still arrive one by one.

mod layer_support;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, StatusCode};
use http_body_util::Empty;
use hyper::body::Incoming;
use layer_support::{get_h1, get_h2, next_data, serve, PROMPT};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tower_sse::parse::{EventReader, Item, MessageEvent};
use tower_sse::{Event, EventStream, SseLayer};

type Feed = Arc<Mutex<Option<mpsc::UnboundedReceiver<Event>>>>;

async fn app(
    feed: Feed,
    req: Request<Incoming>,
) -> Result<http::Response<axum::body::Body>, Infallible> {
    if req.uri().path() == "/big" {
        return Ok(http::Response::builder()
            .header("content-type", "text/plain")
            .body(axum::body::Body::from("compress me ".repeat(200)))
            .unwrap());
    }
    let rx = feed.lock().unwrap().take().expect("one stream");
    let body = EventStream::new(UnboundedReceiverStream::new(rx));
    Ok(body.into_http_response().map(axum::body::Body::new))
}

fn request(path: &str) -> Request<Empty<Bytes>> {
    Request::get(format!("http://localhost{path}"))
        .header("accept", "text/event-stream")
        .header("accept-encoding", "gzip, br")
        .header("origin", "https://example.com")
        .body(Empty::new())
        .unwrap()
}

#[tokio::test]
async fn events_arrive_one_by_one_through_cors_trace_compression_and_timeout() {
    let (tx, rx) = mpsc::unbounded_channel();
    let feed: Feed = Arc::new(Mutex::new(Some(rx)));
    let svc = ServiceBuilder::new()
        .layer(TraceLayer::new_for_http())
        .layer(CorsLayer::permissive())
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(1),
        ))
        .layer(SseLayer::new().retry(Duration::from_secs(2)))
        .service_fn(move |req| app(feed.clone(), req));
    let addr = serve(svc).await;

    for h2 in [false, true] {
        let big = if h2 {
            get_h2(addr, request("/big")).await
        } else {
            get_h1(addr, request("/big")).await
        };
        assert!(
            big.headers().get("content-encoding").is_some(),
            "compression is active"
        );
    }

    let res = get_h2(addr, request("/sse")).await;
    let h = res.headers();
    assert_eq!(h["content-type"], "text/event-stream");
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["x-accel-buffering"], "no");
    assert!(
        h.get("content-encoding").is_none(),
        "event streams are not compressed"
    );
    let mut body = res.into_body();
    assert_eq!(next_data(&mut body).await.unwrap(), "retry: 2000\n\n");
    let mut reader = EventReader::new(body);
    // Each event arrives before the next is sent, and the response outlives the
    // 1 s request timeout (it only bounds the handler).
    for n in 0..3u64 {
        tx.send(Event::new().id(n).data(format!("event {n}")))
            .unwrap();
        let item = tokio::time::timeout(PROMPT, reader.next())
            .await
            .expect("in time");
        let expected = MessageEvent::new(format!("event {n}")).with_last_event_id(n.to_string());
        assert_eq!(item.unwrap().unwrap(), Item::Event(expected));
    }
    drop(tx);
    assert!(tokio::time::timeout(PROMPT, reader.next())
        .await
        .unwrap()
        .is_none());
}
