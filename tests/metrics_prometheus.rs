//! The `metrics` feature end to end: the metrics example's app on
//! 127.0.0.1:0 with a real Prometheus recorder, scraped over HTTP while
//! streams are open and after they close. One test per binary: the recorder
//! is process-global.

#[path = "../examples/metrics/app.rs"]
mod app;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use metrics_exporter_prometheus::PrometheusBuilder;
use tower_sse::parse::{Item, Parser};

fn client() -> Client<HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Opens `url`, reads until `events` events have arrived; returns the open
/// body and the bytes read.
async fn open(url: &str, events: usize) -> (Incoming, usize) {
    let response = client().get(url.parse().unwrap()).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let (mut parser, mut seen, mut bytes) = (Parser::new(), 0, 0);
    while seen < events {
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("a frame in time")
            .expect("the stream stays open")
            .unwrap();
        let data = frame.into_data().unwrap();
        bytes += data.len();
        parser.feed(&data).unwrap();
        while let Some(item) = parser.next_item() {
            seen += usize::from(matches!(item, Item::Event(_)));
        }
    }
    (body, bytes)
}

async fn scrape(base: &str) -> String {
    let response = client()
        .get(format!("{base}/metrics").parse().unwrap())
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// The value of the sample line that starts with `series` (name and labels).
fn value(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sees_open_streams_their_events_and_their_end() {
    let prometheus = PrometheusBuilder::new().install_recorder().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app::router(prometheus)).await });

    // Two streams, 3 and 2 events; a third is over the limit of 2.
    let (a, a_bytes) = open(&format!("{base}/events?count=3"), 3).await;
    let (b, b_bytes) = open(&format!("{base}/events?count=2"), 2).await;
    let rejected = client()
        .get(format!("{base}/events?count=1").parse().unwrap())
        .await
        .unwrap();
    let _ = rejected.into_body().collect().await.unwrap();

    let open_scrape = scrape(&base).await;
    println!("{open_scrape}");
    assert_eq!(value(&open_scrape, "sse_server_active_streams"), Some(2.0));
    assert_eq!(value(&open_scrape, "sse_server_events"), Some(5.0));
    assert_eq!(
        value(&open_scrape, "sse_server_rejected_streams"),
        Some(1.0)
    );
    assert_eq!(
        value(&open_scrape, "sse_server_bytes"),
        Some((a_bytes + b_bytes) as f64)
    );
    assert_eq!(value(&open_scrape, "sse_server_keep_alives"), None);
    assert!(
        !open_scrape.contains("sse_server_stream_duration"),
        "no stream has ended yet"
    );

    // The clients leave; the gauge goes back to zero and each stream's
    // duration is recorded as `client_gone`.
    drop((a, b));
    let deadline = Instant::now() + Duration::from_secs(10);
    let closed = loop {
        let s = scrape(&base).await;
        if value(&s, "sse_server_active_streams") == Some(0.0) {
            break s;
        }
        assert!(Instant::now() < deadline, "streams still open:\n{s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!("{closed}");
    let ended = r#"sse_server_stream_duration_count{sse_end_reason="client_gone"}"#;
    assert_eq!(value(&closed, ended), Some(2.0));
    assert_eq!(value(&closed, "sse_server_events"), Some(5.0));
    assert_eq!(value(&closed, "sse_server_rejected_streams"), Some(1.0));
}
