//! `max_streams`: over-capacity answers, and slots released on disconnect.

mod layer_support;
#[path = "support/wait.rs"]
mod wait;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use layer_support::{collect, get_h1, get_h2, next_data, serve, sse_request};
use tower::ServiceBuilder;
use tower_sse::parse::{parse, Item};
use tower_sse::{EventStream, OverCapacity, SseLayer};

/// Counts the event streams the handler holds (dropped with the body).
struct Held(Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn service(
    layer: SseLayer,
    held: Arc<AtomicUsize>,
) -> impl tower::Service<
    Request<Incoming>,
    Response = http::Response<
        impl http_body::Body<
                Data = bytes::Bytes,
                Error = impl std::fmt::Debug + Into<tower_sse::BoxError>,
            > + Send,
    >,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    ServiceBuilder::new()
        .layer(layer)
        .service_fn(move |_req: Request<Incoming>| {
            held.fetch_add(1, Ordering::SeqCst);
            let guard = Held(held.clone());
            async move {
                // Never yields; holds `guard` until the body is dropped.
                let events = futures_util::stream::pending::<&'static str>();
                let events = futures_util::StreamExt::map(events, move |e| {
                    let _ = &guard;
                    e
                });
                Ok::<_, Infallible>(EventStream::new(events).into_http_response())
            }
        })
}

/// Waits (bounded) until `f` holds.
async fn eventually(what: &str, f: impl Fn() -> bool) {
    wait::until_true(what, f).await;
}

#[tokio::test]
async fn past_the_limit_streams_get_only_a_retry_hint_and_a_slot_frees_on_disconnect() {
    let held = Arc::new(AtomicUsize::new(0));
    let layer = SseLayer::new()
        .max_streams(2)
        .retry(Duration::from_secs(7))
        .try_initial_comment("open")
        .unwrap();
    let metrics = layer.metrics();
    let addr = serve(service(layer, held.clone())).await;

    let mut first = get_h1(addr, sse_request("/")).await.into_body();
    assert_eq!(
        next_data(&mut first).await.unwrap(),
        "retry: 7000\n\n: open\n"
    );
    let mut second = get_h2(addr, sse_request("/")).await.into_body();
    assert_eq!(
        next_data(&mut second).await.unwrap(),
        "retry: 7000\n\n: open\n"
    );
    assert_eq!(metrics.open_streams(), 2);

    let rejected = get_h1(addr, sse_request("/")).await;
    assert_eq!(rejected.status(), 200);
    assert_eq!(rejected.headers()["content-type"], "text/event-stream");
    let wire = collect(rejected.into_body()).await;
    assert_eq!(wire, "retry: 7000\n\n");
    assert_eq!(parse(&wire).unwrap(), [Item::Retry(Duration::from_secs(7))]);
    assert_eq!(metrics.rejected(), 1);
    // The rejected handler's body (and what it held) was released at once.
    eventually("the rejected body to be dropped", || {
        held.load(Ordering::SeqCst) == 2
    })
    .await;

    drop(first);
    eventually("the slot to be released", || metrics.open_streams() == 1).await;
    eventually("the handler's stream to be dropped", || {
        held.load(Ordering::SeqCst) == 1
    })
    .await;
    let mut third = get_h1(addr, sse_request("/")).await.into_body();
    assert_eq!(
        next_data(&mut third).await.unwrap(),
        "retry: 7000\n\n: open\n"
    );
    assert_eq!(metrics.open_streams(), 2);
    assert_eq!(metrics.opened(), 3);
}

#[tokio::test]
async fn the_default_over_capacity_retry_is_five_to_ten_seconds() {
    let held = Arc::new(AtomicUsize::new(0));
    let addr = serve(service(SseLayer::new().max_streams(0), held)).await;
    let body = collect(get_h1(addr, sse_request("/")).await.into_body()).await;
    let text = std::str::from_utf8(&body).unwrap();
    let ms: u64 = text
        .strip_prefix("retry: ")
        .and_then(|t| t.strip_suffix("\n\n"))
        .unwrap()
        .parse()
        .unwrap();
    assert!((5000..=10_000).contains(&ms), "{text:?}");
}

#[tokio::test]
async fn the_opt_in_mode_answers_503_with_retry_after() {
    let held = Arc::new(AtomicUsize::new(0));
    let layer = SseLayer::new()
        .max_streams(0)
        .retry(Duration::from_millis(2500))
        .over_capacity(OverCapacity::ServiceUnavailable);
    let metrics = layer.metrics();
    let addr = serve(service(layer, held)).await;
    let res = get_h1(addr, sse_request("/")).await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "3");
    assert_eq!(res.headers()["content-length"], "0");
    assert!(collect(res.into_body()).await.is_empty());
    assert_eq!(metrics.rejected(), 1);
}
