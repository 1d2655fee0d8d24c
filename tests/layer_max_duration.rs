//! `max_duration`: streams end cleanly within the jitter window.

mod layer_support;

use std::convert::Infallible;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use layer_support::{duplex_h1, next_data_within, sse_request};
use tokio::time::Instant;
use tower::ServiceBuilder;
use tower_sse::{EventStream, SseLayer};

#[tokio::test(start_paused = true)]
async fn streams_end_cleanly_within_the_jittered_lifetime_and_not_all_at_once() {
    let layer = SseLayer::new()
        .keep_alive_interval(Duration::from_secs(15))
        .max_duration(Duration::from_secs(60))
        .max_duration_jitter(Duration::from_secs(20));
    let metrics = layer.metrics();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|_req: Request<Incoming>| async {
            let never = futures_util::stream::pending::<&'static str>();
            Ok::<_, Infallible>(EventStream::new(never).into_http_response())
        });
    let mut lifetimes = Vec::new();
    for _ in 0..5 {
        let mut send = duplex_h1(svc.clone()).await;
        let mut body = send
            .send_request(sse_request("/"))
            .await
            .unwrap()
            .into_body();
        let start = Instant::now();
        let mut wire = Vec::new();
        while let Some(data) = next_data_within(&mut body, Duration::from_secs(3600)).await {
            wire.extend_from_slice(&data);
        }
        let lifetime = start.elapsed();
        assert!(
            lifetime >= Duration::from_secs(40) && lifetime <= Duration::from_secs(60),
            "{lifetime:?}"
        );
        let keep_alives = usize::try_from(lifetime.as_secs() / 15).unwrap();
        assert_eq!(wire, b":\n".repeat(keep_alives));
        lifetimes.push(lifetime);
    }
    lifetimes.sort();
    lifetimes.dedup();
    assert!(
        lifetimes.len() > 1,
        "jitter spreads the lifetimes: {lifetimes:?}"
    );
    assert_eq!(metrics.open_streams(), 0);
    assert_eq!(metrics.opened(), 5);
}
