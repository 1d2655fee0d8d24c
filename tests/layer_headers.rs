//! `SseLayer` headers over real servers: HTTP/1.1, HTTP/2, axum, and untouched
//! non-SSE responses.
#![cfg(feature = "axum")]

mod layer_support;

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event as AxumEvent, Sse as AxumSse};
use axum::routing::get;
use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response};
use http_body_util::{Full, StreamBody};
use hyper::body::Frame;
use layer_support::{collect, get_h1, get_h2, next_data, serve, serve_axum, sse_request};
use tower::ServiceBuilder;
use tower_sse::parse::{parse_events, MessageEvent};
use tower_sse::{Event, EventStream, SseLayer};

/// A handler whose body the crate did not produce: a "proxied" event stream.
async fn foreign(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let res = match req.uri().path() {
        "/sse" => Response::builder()
            .header("content-type", "Text/Event-Stream; charset=utf-8")
            .header("cache-control", "no-store")
            .header("connection", "keep-alive")
            .header("x-app", "kept")
            .body(Full::new(Bytes::from_static(b"data: hi\n\n"))),
        "/sse-204" => Response::builder()
            .status(204)
            .header("content-type", "text/event-stream")
            .body(Full::new(Bytes::new())),
        _ => Response::builder()
            .header("content-type", "application/json")
            .header("x-app", "kept")
            .body(Full::new(Bytes::from_static(br#"{"plain":true}"#))),
    };
    Ok(res.unwrap())
}

#[tokio::test]
async fn event_streams_get_the_sse_headers_on_http1_and_app_headers_are_kept() {
    let svc = ServiceBuilder::new()
        .layer(SseLayer::new())
        .service_fn(foreign);
    let addr = serve(svc).await;
    let res = get_h1(addr, sse_request("/sse")).await;
    let h = res.headers();
    assert_eq!(h["content-type"], "text/event-stream");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-accel-buffering"], "no");
    assert_eq!(h["x-app"], "kept");
    assert!(h.get("content-length").is_none());
    assert_eq!(h["transfer-encoding"], "chunked");
    assert_eq!(collect(res.into_body()).await, "data: hi\n\n");
}

#[tokio::test]
async fn event_streams_on_http2_carry_no_connection_headers() {
    let svc = ServiceBuilder::new()
        .layer(SseLayer::new())
        .service_fn(foreign);
    let addr = serve(svc).await;
    let res = get_h2(addr, sse_request("/sse")).await;
    assert_eq!(res.version(), http::Version::HTTP_2);
    let h = res.headers();
    assert_eq!(h["content-type"], "text/event-stream");
    assert_eq!(h["x-accel-buffering"], "no");
    for name in [
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
    ] {
        assert!(h.get(name).is_none(), "{name} on h2");
    }
    assert_eq!(collect(res.into_body()).await, "data: hi\n\n");
}

#[tokio::test]
async fn other_responses_are_byte_identical_with_and_without_the_layer() {
    let plain = serve(tower::service_fn(foreign)).await;
    let layered = serve(
        ServiceBuilder::new()
            .layer(SseLayer::new().retry(Duration::from_secs(1)))
            .service_fn(foreign),
    )
    .await;
    for path in ["/json", "/sse-204"] {
        for h2 in [false, true] {
            let get = |addr| async move {
                let req = sse_request(path);
                let mut res = if h2 {
                    get_h2(addr, req).await
                } else {
                    get_h1(addr, req).await
                };
                res.headers_mut().remove("date");
                let (parts, body) = res.into_parts();
                (parts.status, parts.headers, collect(body).await)
            };
            assert_eq!(get(plain).await, get(layered).await, "{path} h2={h2}");
        }
    }
}

#[tokio::test]
async fn trailers_and_frames_of_other_bodies_pass_through() {
    let svc = ServiceBuilder::new().layer(SseLayer::new()).service_fn(
        |_req: Request<hyper::body::Incoming>| async {
            let mut trailers = http::HeaderMap::new();
            trailers.insert("x-checksum", "abc".parse().unwrap());
            let frames = vec![
                Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"one,"))),
                Ok(Frame::data(Bytes::from_static(b"two"))),
                Ok(Frame::trailers(trailers)),
            ];
            Ok::<_, Infallible>(Response::new(StreamBody::new(stream::iter(frames))))
        },
    );
    let addr = serve(svc).await;
    let res = get_h2(addr, sse_request("/")).await;
    let collected = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap();
    assert_eq!(collected.trailers().unwrap()["x-checksum"], "abc");
    assert_eq!(collected.to_bytes(), "one,two");
}

#[tokio::test]
async fn axum_routers_get_the_layer_for_tower_sse_and_axum_sse_handlers() {
    let router = axum::Router::new()
        .route(
            "/ours",
            get(|| async { EventStream::new(stream::iter([Event::new().data("ours")])) }),
        )
        .route(
            "/axum",
            get(|| async {
                AxumSse::new(stream::iter([Ok::<_, Infallible>(
                    AxumEvent::default().data("theirs"),
                )]))
            }),
        )
        .route("/text", get(|| async { "not sse" }))
        .layer(SseLayer::new().retry(Duration::from_millis(1500)));
    let addr = serve_axum(router).await;
    for (path, event) in [("/ours", "data: ours\n\n"), ("/axum", "data: theirs\n\n")] {
        let res = get_h1(addr, sse_request(path)).await;
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        assert_eq!(res.headers()["x-accel-buffering"], "no");
        let mut body = res.into_body();
        assert_eq!(
            next_data(&mut body).await.unwrap(),
            "retry: 1500\n\n",
            "{path}"
        );
        let rest = collect(body).await;
        assert_eq!(rest, event, "{path}");
        let data = event.trim_start_matches("data: ").trim_end();
        assert_eq!(parse_events(&rest).unwrap(), [MessageEvent::new(data)]);
    }
    let res = get_h1(addr, sse_request("/text")).await;
    assert!(res.headers().get("x-accel-buffering").is_none());
    assert_eq!(collect(res.into_body()).await, "not sse");
}
