//! The setup `SseLayer`'s docs recommend for many idle streams (hyper's
//! HTTP/1 builder with `max_buf_size(8192)`, a current-thread runtime) serves
//! event streams and ordinary responses correctly.

mod layer_support;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use layer_support::{open_raw, PROMPT};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_sse::{Event, EventStream, SseLayer};

type Body = Either<EventStream<futures_util::stream::Iter<std::vec::IntoIter<Event>>>, Full<Bytes>>;

async fn serve_recommended(layer: SseLayer) -> std::net::SocketAddr {
    let service =
        ServiceBuilder::new()
            .layer(layer)
            .service_fn(|req: Request<Incoming>| async move {
                let res: Response<Body> = if req.uri().path() == "/sse" {
                    let events = futures_util::stream::iter(vec![Event::new().data("hello")]);
                    let (parts, body) = EventStream::new(events).into_http_response().into_parts();
                    Response::from_parts(parts, Either::Left(body))
                } else {
                    Response::new(Either::Right(Full::new(Bytes::from_static(b"plain"))))
                };
                Ok::<_, Infallible>(res)
            });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .max_buf_size(8192)
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "current_thread")]
async fn the_recommended_http1_setup_serves_streams_and_plain_routes() {
    let addr = serve_recommended(SseLayer::new().retry(Duration::from_millis(1500))).await;
    let (mut tcp, head) = open_raw(addr, "/sse").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let mut wire = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&wire).contains("data: hello") {
        let n = tokio::time::timeout(PROMPT, tcp.read(&mut buf))
            .await
            .expect("data in time")
            .unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&wire));
        wire.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&wire);
    assert!(text.contains("retry: 1500\n\n"), "{text}");

    let res = layer_support::get_h1(addr, layer_support::sse_request("/plain")).await;
    assert_eq!(res.status(), 200);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "plain");
}
