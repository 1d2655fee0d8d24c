//! The labels of the standard metrics, read from a real Prometheus recorder:
//!
//! - the stream-duration metric's `sse.end_reason`, one stream per reason:
//!   `ended`, `error`, `client_gone`, `max_duration`, `shutdown` and
//!   `slow_consumer`. The layered service is called in-process and its body
//!   polled directly, so the test decides when the client reads (paused time
//!   for the timers). This test installs the process-global recorder.
//! - the hub metrics' `sse.topic` with `HubConfig::topic_metrics`, on a
//!   recorder local to its thread (a current-thread runtime inside
//!   `metrics::with_local_recorder`).

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use http::Request;
use http_body_util::{BodyExt, Empty};
use metrics_exporter_prometheus::PrometheusBuilder;
use tower::{service_fn, Layer, ServiceExt};
use tower_sse::{Event, EventStream, HubConfig, Shutdown, SlowConsumer, SseLayer};

fn sse_request() -> Request<Empty<Bytes>> {
    Request::get("/events")
        .header("accept", "text/event-stream")
        .body(Empty::new())
        .unwrap()
}

/// Reads `body` to its end; returns the bytes and whether it failed.
async fn drain<B>(body: B) -> (Vec<u8>, bool)
where
    B: http_body::Body<Data = Bytes>,
{
    let mut body = std::pin::pin!(body);
    let mut wire = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => wire.extend_from_slice(frame.data_ref().map_or(&[][..], |d| &d[..])),
            Err(_) => return (wire, true),
        }
    }
    (wire, false)
}

/// The value of the sample line that starts with `series`.
fn value(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

fn ended(scrape: &str, reason: &str) -> Option<f64> {
    value(
        scrape,
        &format!(r#"sse_server_stream_duration_count{{sse_end_reason="{reason}"}}"#),
    )
}

#[tokio::test(start_paused = true)]
async fn every_way_a_stream_ends_is_labelled_with_its_reason() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let prometheus = recorder.handle();
    metrics::set_global_recorder(recorder).unwrap();

    // `ended`: a finite stream runs out.
    let svc = SseLayer::new().layer(service_fn(|_req: Request<Empty<Bytes>>| async {
        Ok::<_, Infallible>(EventStream::new(stream::iter(["a", "b"])).into_http_response())
    }));
    let body = svc.oneshot(sse_request()).await.unwrap().into_body();
    let (wire, failed) = drain(body).await;
    assert_eq!((&wire[..], failed), (&b"data: a\n\ndata: b\n\n"[..], false));

    // `error`: an `Err` item fails the body.
    let svc = SseLayer::new().layer(service_fn(|_req: Request<Empty<Bytes>>| async {
        let items = stream::iter([Ok("a"), Err(std::io::Error::other("upstream broke"))]);
        Ok::<_, Infallible>(EventStream::new(items).into_http_response())
    }));
    let body = svc.oneshot(sse_request()).await.unwrap().into_body();
    let (wire, failed) = drain(body).await;
    assert_eq!((&wire[..], failed), (&b"data: a\n\n"[..], true));

    // `client_gone`: the body is dropped while the stream is open.
    let pending = || async {
        Ok::<_, Infallible>(EventStream::new(stream::pending::<Event>()).into_http_response())
    };
    let svc = SseLayer::new().layer(service_fn(move |_req: Request<Empty<Bytes>>| pending()));
    let body = svc.oneshot(sse_request()).await.unwrap().into_body();
    drop(body);

    // `max_duration`: the lifetime (no jitter) runs out.
    let svc = SseLayer::new()
        .no_keep_alive()
        .max_duration(Duration::from_secs(60))
        .max_duration_jitter(Duration::ZERO)
        .layer(service_fn(move |_req: Request<Empty<Bytes>>| pending()));
    let body = svc.oneshot(sse_request()).await.unwrap().into_body();
    let started = tokio::time::Instant::now();
    let (wire, failed) = drain(body).await;
    assert_eq!((wire.len(), failed), (0, false));
    assert_eq!(started.elapsed(), Duration::from_secs(60));

    // `shutdown`: the signal ends an open stream.
    let shutdown = Shutdown::new();
    let svc = SseLayer::new()
        .no_keep_alive()
        .shutdown(shutdown.clone())
        .layer(service_fn(move |_req: Request<Empty<Bytes>>| pending()));
    let body = svc.oneshot(sse_request()).await.unwrap().into_body();
    let drained = tokio::spawn(drain(body));
    tokio::time::sleep(Duration::from_secs(1)).await;
    shutdown.trigger();
    let (wire, failed) = drained.await.unwrap();
    assert_eq!((wire.len(), failed), (0, false));

    // `slow_consumer`: the hub drops a subscriber that fell a buffer behind.
    let hub = HubConfig::new()
        .buffer(2)
        .slow_consumer(SlowConsumer::Disconnect)
        .build();
    let subscriptions = hub.clone();
    let svc =
        SseLayer::new()
            .no_keep_alive()
            .layer(service_fn(move |_req: Request<Empty<Bytes>>| {
                let subscription = subscriptions.subscribe("room");
                async move {
                    Ok::<_, Infallible>(
                        EventStream::new(subscription.unwrap()).into_http_response(),
                    )
                }
            }));
    let body = svc.oneshot(sse_request()).await.unwrap().into_body();
    assert_eq!(hub.subscribers("room"), 1);
    for n in 0..8 {
        hub.publish("room", Event::new().data(format!("m{n}")))
            .await
            .unwrap();
    }
    // The client never read while the hub published: the subscription ends.
    let (_, failed) = tokio::time::timeout(Duration::from_secs(5), drain(body))
        .await
        .expect("a slow consumer's stream ends");
    assert!(!failed);
    assert_eq!(hub.subscribers("room"), 0);

    let scrape = prometheus.render();
    println!("{scrape}");
    for reason in [
        "ended",
        "error",
        "client_gone",
        "max_duration",
        "shutdown",
        "slow_consumer",
    ] {
        assert_eq!(ended(&scrape, reason), Some(1.0), "reason {reason}");
    }
    assert_eq!(value(&scrape, "sse_server_active_streams"), Some(0.0));
    // Without `topic_metrics` the hub's series have no topic label.
    assert_eq!(value(&scrape, "sse_hub_subscribers"), Some(0.0));
    assert!(!scrape.contains("sse_topic"), "{scrape}");
}

#[test]
fn hub_metrics_carry_the_topic_when_asked() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let prometheus = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let hub = HubConfig::new().topic_metrics(true).build();
            let first = hub.publish("room-a", "one").await.unwrap();
            hub.publish("room-a", "two").await.unwrap();
            hub.publish("room-a", "three").await.unwrap();

            let live = hub.subscribe("room-a").unwrap();
            let mut resumed = hub.subscribe_from("room-a", Some(first.as_str())).unwrap();
            let mut lost = hub.subscribe_from("room-b", Some("no-such-id")).unwrap();
            let replayed: Vec<_> = [resumed.next().await, resumed.next().await]
                .into_iter()
                .map(|e| e.unwrap())
                .collect();
            assert!(replayed[1].as_bytes().ends_with(b"data: three\n\n"));
            let gap = lost.next().await.unwrap();
            assert!(gap.as_bytes().starts_with(b"event: sse-gap\n"), "{gap:?}");

            let open = prometheus.render();
            println!("{open}");
            let series = |name: &str, topic: &str| {
                value(&open, &format!(r#"{name}{{sse_topic="{topic}"}}"#))
            };
            assert_eq!(series("sse_hub_subscribers", "room-a"), Some(2.0));
            assert_eq!(series("sse_hub_subscribers", "room-b"), Some(1.0));
            assert_eq!(series("sse_hub_replayed_events", "room-a"), Some(2.0));
            let gaps: Vec<_> = open
                .lines()
                .filter(|l| l.starts_with("sse_hub_gaps{"))
                .collect();
            assert_eq!(gaps.len(), 1, "{gaps:?}");
            assert!(
                gaps[0].contains(r#"sse_topic="room-b""#)
                    && gaps[0].contains(r#"sse_gap_reason="unknown-id""#)
                    && gaps[0].ends_with(" 1"),
                "{gaps:?}"
            );

            drop((live, resumed, lost));
            let closed = prometheus.render();
            for topic in ["room-a", "room-b"] {
                let series = format!(r#"sse_hub_subscribers{{sse_topic="{topic}"}}"#);
                assert_eq!(value(&closed, &series), Some(0.0), "{closed}");
            }
        });
    });
}
