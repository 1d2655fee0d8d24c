//! A flood of distinct topic names over HTTP keeps the server's memory
//! bounded, and past its topic bound the server refuses with 429.
//!
//! A real axum server on 127.0.0.1 with a hub of the default configuration:
//! at most 100,000 topics, idle topics kept 15 minutes (so none expire during
//! the test). Clients
//! speak HTTP/2 (prior knowledge, many requests in flight per connection):
//!
//! 1. per-topic requests, the way browsers come: for `SAMPLE` topics, a
//!    `POST /t/{topic}` publishes one event and a `GET /t/{topic}/events`
//!    opens its event stream (headers read, then the stream is dropped, which
//!    hyper turns into a reset that frees the subscription);
//! 2. the flood, batched so that a debug build gets through a million names
//!    in well under a minute: `POST /batch/publish` and `POST /batch/subscribe`
//!    carry 1,000 topic names each, and the server publishes to (or subscribes
//!    to, reads the replayed event of, and drops) each one through the same
//!    hub calls as the per-topic routes. `TOPIC_FLOOD` (default 1,000,000)
//!    distinct names in all.
//!
//! The first `MAX_TOPICS` topics are served; every later publish and
//! subscribe is refused with `ErrorKind::TooManyTopics`, which the per-topic
//! routes answer with 429. The process RSS (server and clients share it) must
//! stay under `RSS_BOUND` above its starting point.
//!
//! Its own test binary, so that no other test's memory is measured.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower_sse::{ErrorKind, EventStream, Hub, HubConfig};

/// The hub's topic bound in this test: the default.
const MAX_TOPICS: usize = HubConfig::DEFAULT_MAX_TOPICS;

/// Topics driven by one request each (publish, then subscribe).
const SAMPLE: u64 = 1_000;

/// Topic names per batch request.
const BATCH: u64 = 1_000;

/// RSS growth allowed for the whole flood: the 100,000 topics the hub keeps
/// (about 0.5 KiB each with their one event) plus allocator and
/// connection slack. Without the bound every topic kept its history forever
/// and, while subscribed, a 256-slot ring (about 25 KiB): a million names
/// would take gigabytes.
const RSS_BOUND: u64 = 160 * 1024 * 1024;

const CONNECTIONS: usize = 4;
const IN_FLIGHT_PER_CONNECTION: usize = 64;

#[path = "support/rss.rs"]
mod rss;

use rss::rss_bytes;

fn refusal(err: &tower_sse::Error) -> Response {
    let status = match err.kind() {
        ErrorKind::TooManyTopics => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, err.to_string()).into_response()
}

async fn publish(State(hub): State<Hub>, Path(topic): Path<String>) -> Response {
    match hub.publish(&topic, "x").await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => refusal(&e),
    }
}

async fn subscribe(State(hub): State<Hub>, Path(topic): Path<String>) -> Response {
    match hub.subscribe_from(&topic, Some("0")) {
        Ok(sub) => EventStream::new(sub).into_response(),
        Err(e) => refusal(&e),
    }
}

/// `POST /batch/publish`: one event to each topic named in the body (one
/// per line); answers `<served> <refused>`.
async fn publish_batch(State(hub): State<Hub>, body: String) -> String {
    let (mut served, mut refused) = (0, 0);
    for topic in body.lines() {
        match hub.publish(topic, "x").await {
            Ok(_) => served += 1,
            Err(e) if e.kind() == ErrorKind::TooManyTopics => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    format!("{served} {refused}")
}

/// `POST /batch/subscribe`: subscribes to each topic named in the body,
/// reads its replayed event, drops the subscription; answers
/// `<served> <refused>`.
async fn subscribe_batch(State(hub): State<Hub>, body: String) -> String {
    let (mut served, mut refused) = (0, 0);
    for topic in body.lines() {
        match hub.subscribe_from(topic, Some("0")) {
            Ok(mut sub) => {
                let first = futures_util::StreamExt::next(&mut sub).await;
                assert!(first.is_some_and(|e| e.as_bytes().ends_with(b"data: x\n\n")));
                served += 1;
            }
            Err(e) if e.kind() == ErrorKind::TooManyTopics => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    format!("{served} {refused}")
}

async fn serve(hub: Hub) -> SocketAddr {
    let app = Router::new()
        .route("/t/{topic}", post(publish))
        .route("/t/{topic}/events", get(subscribe))
        .route("/batch/publish", post(publish_batch))
        .route("/batch/subscribe", post(subscribe_batch))
        .with_state(hub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

type Sender = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Sender {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .max_concurrent_reset_streams(usize::MAX)
        .handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    refused: AtomicU64,
}

impl Counts {
    fn count(&self, status: StatusCode) {
        match status {
            StatusCode::OK => self.ok.fetch_add(1, Ordering::Relaxed),
            StatusCode::TOO_MANY_REQUESTS => self.refused.fetch_add(1, Ordering::Relaxed),
            other => panic!("unexpected status {other}"),
        };
    }
}

fn build(method: &str, path: &str, body: String) -> http::Request<Full<Bytes>> {
    http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1{path}"))
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

async fn request(sender: &mut Sender, method: &str, path: &str) -> StatusCode {
    sender.ready().await.unwrap();
    // The response (and for a subscription its stream) is dropped here: the
    // client resets the stream and the server drops the subscription.
    let request = build(method, path, String::new());
    sender.send_request(request).await.unwrap().status()
}

/// Sends a batch of names; returns the server's `(served, refused)`.
async fn batch(sender: &mut Sender, path: &str, names: String) -> (u64, u64) {
    sender.ready().await.unwrap();
    let response = sender
        .send_request(build("POST", path, names))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = std::str::from_utf8(&body).unwrap();
    let (served, refused) = text.split_once(' ').unwrap();
    (served.parse().unwrap(), refused.parse().unwrap())
}

/// Runs `job` for the items `range` hands out one `step` at a time, on
/// `IN_FLIGHT_PER_CONNECTION` tasks per connection.
async fn in_parallel<F, Fut>(senders: &[Sender], range: std::ops::Range<u64>, step: u64, job: F)
where
    F: Fn(Sender, std::ops::Range<u64>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicU64::new(range.start));
    let job = Arc::new(job);
    let mut tasks = Vec::new();
    for sender in senders {
        for _ in 0..IN_FLIGHT_PER_CONNECTION {
            let (sender, next, job, end) = (
                sender.clone(),
                Arc::clone(&next),
                Arc::clone(&job),
                range.end,
            );
            tasks.push(tokio::spawn(async move {
                loop {
                    let first = next.fetch_add(step, Ordering::Relaxed);
                    if first >= end {
                        return;
                    }
                    job(sender.clone(), first..(first + step).min(end)).await;
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_topic_names_keep_rss_bounded_and_are_refused_past_the_bound() {
    let total: u64 = std::env::var("TOPIC_FLOOD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let bound = MAX_TOPICS as u64;
    assert!(total >= bound + SAMPLE);
    let hub = HubConfig::new().build();
    assert_eq!(hub.config().max_topics_limit(), MAX_TOPICS);
    let addr = serve(hub.clone()).await;
    let mut senders = Vec::new();
    for _ in 0..CONNECTIONS {
        senders.push(connect(addr).await);
    }
    let before = rss_bytes();
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let peak = Arc::clone(&peak);
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_bytes().saturating_sub(before), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let started = Instant::now();
    let published = Arc::new(Counts::default());
    let subscribed = Arc::new(Counts::default());

    // One request per name: the first SAMPLE names (served) ...
    let one_by_one = {
        let (published, subscribed) = (Arc::clone(&published), Arc::clone(&subscribed));
        move |mut sender: Sender, names: std::ops::Range<u64>| {
            let (published, subscribed) = (Arc::clone(&published), Arc::clone(&subscribed));
            async move {
                for n in names {
                    let path = format!("/t/flood-{n}");
                    published.count(request(&mut sender, "POST", &path).await);
                    let events = format!("{path}/events");
                    subscribed.count(request(&mut sender, "GET", &events).await);
                }
            }
        }
    };
    in_parallel(&senders, 0..SAMPLE, 1, one_by_one.clone()).await;
    let sampled = started.elapsed();
    // ... then the rest of the flood in batches ...
    let batches = {
        let (published, subscribed) = (Arc::clone(&published), Arc::clone(&subscribed));
        move |mut sender: Sender, names: std::ops::Range<u64>| {
            let (published, subscribed) = (Arc::clone(&published), Arc::clone(&subscribed));
            async move {
                let names: String = names.map(|n| format!("flood-{n}\n")).collect();
                let (ok, refused) = batch(&mut sender, "/batch/publish", names.clone()).await;
                published.ok.fetch_add(ok, Ordering::Relaxed);
                published.refused.fetch_add(refused, Ordering::Relaxed);
                let (ok, refused) = batch(&mut sender, "/batch/subscribe", names).await;
                subscribed.ok.fetch_add(ok, Ordering::Relaxed);
                subscribed.refused.fetch_add(refused, Ordering::Relaxed);
            }
        }
    };
    in_parallel(&senders, SAMPLE..total - SAMPLE, BATCH, batches).await;
    // ... and the last SAMPLE names one request each again, past the bound:
    // these must be answered 429.
    let refused_before = published.refused.load(Ordering::Relaxed);
    in_parallel(&senders, total - SAMPLE..total, 1, one_by_one).await;
    let took = started.elapsed();
    sampler.abort();
    let peak = peak
        .load(Ordering::Relaxed)
        .max(rss_bytes().saturating_sub(before));

    let (ok, refused) = (
        published.ok.load(Ordering::Relaxed),
        published.refused.load(Ordering::Relaxed),
    );
    println!(
        "{total} topic names in {took:.1?} (first {SAMPLE} one request each in {sampled:.1?}): \
         publish {ok} ok / {refused} refused, subscribe {} ok / {} refused, \
         peak RSS growth {} MiB (bound {} MiB)",
        subscribed.ok.load(Ordering::Relaxed),
        subscribed.refused.load(Ordering::Relaxed),
        peak >> 20,
        RSS_BOUND >> 20,
    );
    assert_eq!((ok, refused), (bound, total - bound));
    assert_eq!(refused - refused_before, SAMPLE, "the last names got 429");
    assert_eq!(subscribed.ok.load(Ordering::Relaxed), bound);
    assert_eq!(subscribed.refused.load(Ordering::Relaxed), total - bound);
    assert!(
        peak < RSS_BOUND,
        "RSS grew by {peak} bytes, bound {RSS_BOUND}"
    );
    // Every subscription was released with its stream.
    assert!(hub.topics().len() <= CONNECTIONS * IN_FLIGHT_PER_CONNECTION);
}
