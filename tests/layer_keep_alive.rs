//! Keep-alive timing (paused time), the mid-event pause, and the retry hint.

mod layer_support;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, Response};
use http_body_util::StreamBody;
use hyper::body::{Frame, Incoming};
use layer_support::{duplex_h1, get_h1, serve, sse_request};

/// Paused time: waiting costs nothing, so allow an hour.
async fn next_data<B>(body: &mut B) -> Option<Bytes>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    layer_support::next_data_within(body, Duration::from_secs(3600)).await
}
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tower::ServiceBuilder;
use tower_sse::parse::{parse, EventReader, Item, MessageEvent};
use tower_sse::{Event, EventStream, SseLayer};

type Frames = StreamBody<
    futures_util::stream::Map<
        UnboundedReceiverStream<&'static [u8]>,
        fn(&'static [u8]) -> Result<Frame<Bytes>, Infallible>,
    >,
>;

type Svc = tower::util::BoxCloneService<
    Request<Incoming>,
    Response<tower_sse::layer::SseBody<Frames>>,
    Infallible,
>;

/// A service whose single response is a foreign event stream fed by the test.
fn foreign_stream(layer: SseLayer) -> (mpsc::UnboundedSender<&'static [u8]>, Svc) {
    let (tx, rx) = mpsc::unbounded_channel::<&'static [u8]>();
    let rx = std::sync::Arc::new(std::sync::Mutex::new(Some(rx)));
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(move |_req: Request<Incoming>| {
            let rx = rx.lock().unwrap().take().expect("one request");
            async move {
                let to_frame: fn(&'static [u8]) -> Result<Frame<Bytes>, Infallible> =
                    |b| Ok(Frame::data(Bytes::from_static(b)));
                let body = StreamBody::new(UnboundedReceiverStream::new(rx).map(to_frame));
                let res = Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(body)
                    .unwrap();
                Ok::<_, Infallible>(res)
            }
        });
    (tx, Svc::new(svc))
}

#[tokio::test(start_paused = true)]
async fn keep_alives_arrive_after_each_idle_interval_measured_in_paused_time() {
    let layer = SseLayer::new().keep_alive_interval(Duration::from_secs(15));
    let (tx, svc) = foreign_stream(layer);
    let mut send = duplex_h1(svc).await;
    let res = send.send_request(sse_request("/")).await.unwrap();
    let mut body = res.into_body();
    let start = Instant::now();
    tx.send(b"data: 1\n\n").unwrap();
    assert_eq!(next_data(&mut body).await.unwrap(), "data: 1\n\n");
    assert_eq!(start.elapsed(), Duration::ZERO);
    // Nothing else is scheduled, so paused time jumps exactly to each keep-alive.
    for n in 1..=3 {
        assert_eq!(next_data(&mut body).await.unwrap(), ":\n");
        assert_eq!(start.elapsed(), Duration::from_secs(15 * n));
    }
    // A frame restarts the interval.
    tokio::time::advance(Duration::from_secs(10)).await;
    tx.send(b"data: 2\n\n").unwrap();
    assert_eq!(next_data(&mut body).await.unwrap(), "data: 2\n\n");
    let sent = Instant::now();
    assert_eq!(next_data(&mut body).await.unwrap(), ":\n");
    assert_eq!(sent.elapsed(), Duration::from_secs(15));
}

#[tokio::test(start_paused = true)]
async fn a_body_pausing_mid_event_still_delivers_exactly_one_event() {
    let layer = SseLayer::new().try_keep_alive_text("ping").unwrap();
    let (tx, svc) = foreign_stream(layer);
    let mut send = duplex_h1(svc).await;
    let res = send.send_request(sse_request("/")).await.unwrap();
    let mut body = res.into_body();
    let mut wire = Vec::new();
    tx.send(b"data: a\n").unwrap();
    wire.extend_from_slice(&next_data(&mut body).await.unwrap());
    // The pause: a keep-alive goes out, as a comment line inside the event.
    wire.extend_from_slice(&next_data(&mut body).await.unwrap());
    tx.send(b"data: b\n\n").unwrap();
    wire.extend_from_slice(&next_data(&mut body).await.unwrap());
    assert_eq!(wire, b"data: a\n: ping\ndata: b\n\n");
    // A client's parser sees the comment and exactly one event.
    assert_eq!(
        parse(&wire).unwrap(),
        [
            Item::Comment("ping".into()),
            Item::Event(MessageEvent::new("a\nb"))
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn no_keep_alive_is_written_while_a_line_or_a_crlf_is_unfinished() {
    let (tx, svc) = foreign_stream(SseLayer::new());
    let mut send = duplex_h1(svc).await;
    let mut body = send
        .send_request(sse_request("/"))
        .await
        .unwrap()
        .into_body();
    tx.send(b"data: a\r").unwrap();
    assert_eq!(next_data(&mut body).await.unwrap(), "data: a\r");
    let start = Instant::now();
    tokio::time::advance(Duration::from_secs(100)).await;
    tx.send(b"\n\r\n").unwrap();
    assert_eq!(next_data(&mut body).await.unwrap(), "\n\r\n");
    assert_eq!(start.elapsed(), Duration::from_secs(100));
    assert_eq!(next_data(&mut body).await.unwrap(), ":\n");
}

async fn next_data_forever<B>(body: &mut B) -> Option<Bytes>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    layer_support::next_data_within(body, Duration::from_secs(100_000)).await
}

#[tokio::test(start_paused = true)]
async fn keep_alives_can_be_disabled() {
    let (tx, svc) = foreign_stream(SseLayer::new().no_keep_alive());
    let mut send = duplex_h1(svc).await;
    let mut body = send
        .send_request(sse_request("/"))
        .await
        .unwrap()
        .into_body();
    let start = Instant::now();
    let reader = tokio::spawn(async move { next_data_forever(&mut body).await });
    tokio::time::advance(Duration::from_secs(3600)).await;
    tx.send(b"data: late\n\n").unwrap();
    assert_eq!(reader.await.unwrap().unwrap(), "data: late\n\n");
    assert!(start.elapsed() >= Duration::from_secs(3600));
}

#[tokio::test]
async fn the_retry_hint_and_initial_comment_come_first_on_a_real_server() {
    let svc = ServiceBuilder::new()
        .layer(
            SseLayer::new()
                .retry(Duration::from_millis(2500))
                .try_initial_comment("welcome")
                .unwrap(),
        )
        .service_fn(|_req: Request<Incoming>| async {
            // An event stream that produces nothing for an hour.
            let events = futures_util::stream::once(async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Event::new().data("never")
            });
            Ok::<_, Infallible>(EventStream::new(events).into_http_response())
        });
    let addr = serve(svc).await;
    let body = get_h1(addr, sse_request("/")).await.into_body();
    let mut reader = EventReader::new(body);
    let mut items = Vec::new();
    for _ in 0..2 {
        let item = tokio::time::timeout(layer_support::PROMPT, reader.next()).await;
        items.push(item.expect("in time").unwrap().unwrap());
    }
    assert_eq!(
        items,
        [
            Item::Retry(Duration::from_millis(2500)),
            Item::Comment("welcome".into())
        ]
    );
}
