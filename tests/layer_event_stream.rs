//! `SseLayer` over tower-sse's own `EventStream` (no byte scan: the body's
//! frames end at event boundaries and it counts its own events), huge
//! durations, and an `EventStream` that ends with an error event or a `done`
//! event over real HTTP.

mod layer_support;

use std::convert::Infallible;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use layer_support::{collect, duplex_h1, get_h1, next_data, next_data_within, serve, sse_request};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tower::ServiceBuilder;
use tower_sse::{Event, EventStream, EventType, Shutdown, SseLayer};

type Items = UnboundedReceiverStream<Result<Event, std::io::Error>>;

/// A layered service whose every request streams what `rx` gets (one
/// receiver, taken by the first request).
fn service(
    layer: SseLayer,
    rx: mpsc::UnboundedReceiver<Result<Event, std::io::Error>>,
) -> impl tower::Service<
    Request<Incoming>,
    Response = Response<tower_sse::layer::SseBody<EventStream<Items>>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send
       + 'static {
    let rx = std::sync::Arc::new(std::sync::Mutex::new(Some(rx)));
    ServiceBuilder::new()
        .layer(layer)
        .service_fn(move |_req: Request<Incoming>| {
            let rx = rx.lock().unwrap().take().expect("one request");
            async move {
                let body = EventStream::new(UnboundedReceiverStream::new(rx))
                    .on_error(|e| {
                        Event::new()
                            .event(EventType::from_static("error"))
                            .data(e.to_string())
                    })
                    .end_with(Event::new().event(EventType::from_static("done")).data(""));
                Ok::<_, Infallible>(body.into_http_response())
            }
        })
}

#[tokio::test(start_paused = true)]
async fn event_stream_frames_are_counted_without_a_scan_and_keep_alives_follow_them() {
    let layer = SseLayer::new().keep_alive_interval(Duration::from_secs(10));
    let metrics = layer.metrics();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut send = duplex_h1(service(layer, rx)).await;
    let res = send.send_request(sse_request("/")).await.unwrap();
    let mut body = res.into_body();
    tx.send(Ok(Event::new().data("a"))).unwrap();
    tx.send(Ok(Event::new().data("b\nc"))).unwrap();
    let limit = Duration::from_secs(3600);
    let first = next_data_within(&mut body, limit).await.unwrap();
    let mut wire = first.to_vec();
    while wire != b"data: a\n\ndata: b\ndata: c\n\n" {
        wire.extend_from_slice(&next_data_within(&mut body, limit).await.unwrap());
    }
    assert_eq!(
        metrics.events(),
        2,
        "two events counted from the body itself"
    );
    // Idle: a keep-alive after one interval.
    let ka = next_data_within(&mut body, limit).await.unwrap();
    assert_eq!(ka, ":\n");
    assert_eq!(metrics.keep_alives(), 1);
    drop(tx);
    assert_eq!(
        next_data_within(&mut body, limit).await.unwrap(),
        "event: done\ndata: \n\n"
    );
    assert_eq!(next_data_within(&mut body, limit).await, None);
    assert_eq!(metrics.events(), 3);
}

#[tokio::test]
async fn an_err_item_becomes_an_error_event_and_a_clean_end_over_http() {
    let (tx, rx) = mpsc::unbounded_channel();
    let addr = serve(service(SseLayer::new(), rx)).await;
    tx.send(Ok(Event::new().data("partial"))).unwrap();
    tx.send(Err(std::io::Error::other("upstream timed out")))
        .unwrap();
    let res = get_h1(addr, sse_request("/")).await;
    // `collect` fails the test on a body error: the body must end cleanly.
    let wire = collect(res.into_body()).await;
    let events = tower_sse::parse::parse_events(&wire).unwrap();
    assert_eq!(events.len(), 2, "{wire:?}");
    assert_eq!(events[0].data, "partial");
    assert_eq!(events[1].event_type, "error");
    assert_eq!(events[1].data, "event stream failed: upstream timed out");
    drop(tx);
}

#[tokio::test]
async fn without_on_error_an_err_item_cuts_the_body_after_the_events_before_it() {
    let (tx, rx) = mpsc::unbounded_channel::<Result<Event, std::io::Error>>();
    let rx = std::sync::Arc::new(std::sync::Mutex::new(Some(rx)));
    let svc =
        ServiceBuilder::new()
            .layer(SseLayer::new())
            .service_fn(move |_req: Request<Incoming>| {
                let rx = rx.lock().unwrap().take().expect("one request");
                let body = EventStream::new(UnboundedReceiverStream::new(rx));
                async move { Ok::<_, Infallible>(body.into_http_response()) }
            });
    let addr = serve(svc).await;
    tx.send(Ok(Event::new().data("a"))).unwrap();
    let res = get_h1(addr, sse_request("/")).await;
    let mut body = res.into_body();
    assert_eq!(next_data(&mut body).await.unwrap(), "data: a\n\n");
    tx.send(Err(std::io::Error::other("boom"))).unwrap();
    let end = tokio::time::timeout(layer_support::PROMPT, body.frame())
        .await
        .expect("the body ends in time");
    assert!(
        matches!(end, Some(Err(_))),
        "the client sees a cut body: {end:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_jitter_of_duration_max_is_capped_at_the_lifetime() {
    let layer = SseLayer::new()
        .no_keep_alive()
        .max_duration(Duration::from_secs(3600))
        .max_duration_jitter(Duration::MAX);
    let (_tx, rx) = mpsc::unbounded_channel();
    let mut send = duplex_h1(service(layer, rx)).await;
    let res = send.send_request(sse_request("/")).await.unwrap();
    let start = tokio::time::Instant::now();
    let mut body = res.into_body();
    let end = tokio::time::timeout(Duration::from_secs(3601), body.frame()).await;
    assert!(
        matches!(end, Ok(None)),
        "the stream ends cleanly within its hour: {end:?}"
    );
    assert!(start.elapsed() <= Duration::from_secs(3600));
}

#[tokio::test(start_paused = true)]
async fn duration_max_settings_neither_panic_nor_fire() {
    // No jitter: a jitter as long as the lifetime may end the stream at any
    // point of it (the next test), which would make "nothing fired" a coin
    // toss.
    let layer = SseLayer::new()
        .keep_alive_interval(Duration::MAX)
        .max_duration(Duration::MAX)
        .max_duration_jitter(Duration::ZERO)
        .retry(Duration::MAX);
    let (tx, rx) = mpsc::unbounded_channel();
    let mut send = duplex_h1(service(layer, rx)).await;
    let res = send.send_request(sse_request("/")).await.unwrap();
    assert_eq!(res.status(), 200);
    let mut body = res.into_body();
    let limit = Duration::from_secs(10 * 365 * 24 * 3600);
    assert_eq!(
        next_data_within(&mut body, limit).await.unwrap(),
        "retry: 18446744073709551615\n\n"
    );
    // Ten years pass: no keep-alive, no end.
    let waited =
        tokio::time::timeout(Duration::from_secs(10 * 365 * 24 * 3600), body.frame()).await;
    assert!(waited.is_err(), "nothing fired: {waited:?}");
    tx.send(Ok(Event::new().data("still open"))).unwrap();
    assert_eq!(
        next_data_within(&mut body, limit).await.unwrap(),
        "data: still open\n\n"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_sends_the_final_event_after_whole_event_stream_frames() {
    let shutdown = Shutdown::new();
    let layer = SseLayer::new()
        .shutdown(shutdown.clone())
        .final_event(&Event::new().event(EventType::from_static("bye")).data(""));
    let (tx, rx) = mpsc::unbounded_channel();
    let mut send = duplex_h1(service(layer, rx)).await;
    let res = send.send_request(sse_request("/")).await.unwrap();
    let mut body = res.into_body();
    tx.send(Ok(Event::new().data("x"))).unwrap();
    let limit = Duration::from_secs(3600);
    assert_eq!(
        next_data_within(&mut body, limit).await.unwrap(),
        "data: x\n\n"
    );
    shutdown.trigger();
    assert_eq!(
        next_data_within(&mut body, limit).await.unwrap(),
        "event: bye\ndata: \n\n"
    );
    assert_eq!(next_data_within(&mut body, limit).await, None);
}
