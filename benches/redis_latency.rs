//! Publish-to-receive latency through Redis, with 1,000 subscribers on two
//! servers, end to end over loopback HTTP.
//!
//! Run: `cargo bench --bench redis_latency --features redis` (needs
//! `redis-server`; `scripts/install-deps.sh` installs it). Options via env:
//! `EVENTS` (default 500), `SUBSCRIBERS` (default 1000), `PACE_US` (default
//! 20000), `DIRECT=1` (subscribers read their `Subscription` in-process
//! instead of over HTTP: the Redis and hub part of the latency alone).
//! Without `--bench` (as `cargo test --all-targets` runs it) it smoke-runs 20
//! events to 20 subscribers.
//!
//! Two axum servers on `127.0.0.1:0`, each with its own `Hub` in Redis mode,
//! stand for two app servers on one Redis (both in this process). Each
//! subscriber is an HTTP/1.1 client connection to one of them (split evenly)
//! reading `text/event-stream` with `tower_sse::parse::EventReader`. Server
//! A's hub publishes paced events whose data is the publish instant; every
//! client records `parsed - publish` for every event. Each server follows the
//! topic with one reader and encodes each event once for all its clients.
//!
//! A second part measures the publish round trip alone, on one connection,
//! sequentially (`PUBLISHES`, default 2000; 50 in the smoke run): a raw
//! `XADD` (what publishing cost before the publish script), a publish
//! without an idempotency key, and an idempotent publish (a fresh key each
//! time: the check, the `XADD` and the remembered key).

#[path = "../tests/support/redis_server.rs"]
mod redis_server;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tower_sse::engine::IdempotencyKey;
use tower_sse::parse::{EventReader, Item};
use tower_sse::redis::{RedisConfig, RedisStreams};
use tower_sse::{EventStream, Hub, HubConfig, Subscription};

const TOPIC: &str = "bench";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn events(
    State(hub): State<Hub>,
    headers: HeaderMap,
) -> http::Response<EventStream<Subscription>> {
    let last_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    EventStream::new(hub.subscribe_from(TOPIC, last_id).expect("subscribe")).into_http_response()
}

async fn server(url: &str, buffer: usize) -> (Hub, SocketAddr) {
    let config = RedisConfig::new(url)
        .expect("redis url")
        .key_prefix("bench:")
        .block_timeout(Duration::from_secs(1));
    let hub = HubConfig::new().buffer(buffer).redis(config).build();
    let app = Router::new()
        .route("/events", get(events))
        .with_state(hub.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (hub, addr)
}

/// One subscriber: connects with `Last-Event-ID`, then records the latency
/// of `events` events.
async fn client(addr: SocketAddr, last_id: String, events: u64, origin: Instant) -> Vec<u64> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let request = http::Request::get("/events")
        .header("host", "localhost")
        .header("last-event-id", last_id)
        .body(Empty::<Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    let mut reader = EventReader::new(response.into_body());
    let mut samples = Vec::with_capacity(events as usize);
    while (samples.len() as u64) < events {
        match reader.next().await {
            Some(Ok(Item::Event(event))) => {
                let now = origin.elapsed().as_nanos() as u64;
                let sent: u64 = event.data.parse().expect("a timestamp");
                samples.push(now.saturating_sub(sent));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("stream error: {e}"),
            None => panic!("a stream ended early (a client lagged? raise the buffer)"),
        }
    }
    samples
}

/// One subscriber reading its `Subscription` directly (no HTTP).
async fn direct(hub: Hub, last_id: String, events: u64, origin: Instant) -> Vec<u64> {
    let mut sub = hub
        .subscribe_from(TOPIC, Some(&last_id))
        .expect("subscribe");
    let mut samples = Vec::with_capacity(events as usize);
    while (samples.len() as u64) < events {
        let event = sub.next().await.expect("a stream ended early (lagged?)");
        let now = origin.elapsed().as_nanos() as u64;
        let data = tower_sse::parse::parse_events(event.as_bytes()).expect("an event");
        let sent: u64 = data[0].data.parse().expect("a timestamp");
        samples.push(now.saturating_sub(sent));
    }
    samples
}

/// Round trips of `n` sequential publishes of one kind, in ns, sorted.
async fn publish_costs(url: &str, n: u64) -> [(&'static str, Vec<u64>); 3] {
    let config = RedisConfig::new(url)
        .expect("redis url")
        .key_prefix("cost:");
    let streams = RedisStreams::connect(config).await.expect("connect");
    let mut raw = redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let event = tower_sse::Event::new().data("x".repeat(100));
    // Warm up: load the script, create the streams.
    for topic in ["plain", "idempotent"] {
        let _warm_up = streams.append(topic, &event, None).await.expect("publish");
    }
    let mut plain = Vec::new();
    let mut idempotent = Vec::new();
    let mut xadd = Vec::new();
    for i in 0..n {
        let started = Instant::now();
        let _: String = redis::cmd("XADD")
            .arg("cost:raw")
            .arg("MAXLEN")
            .arg("~")
            .arg(1000)
            .arg("*")
            .arg("v")
            .arg("1")
            .arg("d")
            .arg("x".repeat(100))
            .query_async(&mut raw)
            .await
            .expect("xadd");
        xadd.push(started.elapsed().as_nanos() as u64);
        let started = Instant::now();
        let _plain = streams
            .append("plain", &event, None)
            .await
            .expect("publish");
        plain.push(started.elapsed().as_nanos() as u64);
        let key = IdempotencyKey::new(format!("key-{i}")).expect("key");
        let started = Instant::now();
        let _idempotent = streams
            .append("idempotent", &event, Some(&key))
            .await
            .expect("publish");
        idempotent.push(started.elapsed().as_nanos() as u64);
    }
    for samples in [&mut xadd, &mut plain, &mut idempotent] {
        samples.sort_unstable();
    }
    [
        ("raw XADD", xadd),
        ("publish (script, no key)", plain),
        ("idempotent publish", idempotent),
    ]
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank] as f64 / 1_000.0
}

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --all-targets` the
    // binary runs without it and only smoke-runs a small size.
    let full = std::env::args().any(|a| a == "--bench");
    let events = env("EVENTS", if full { 500 } else { 20 });
    let subscribers = env("SUBSCRIBERS", if full { 1000 } else { 20 });
    let pace = Duration::from_micros(env("PACE_US", 20_000));
    let http = env("DIRECT", 0) == 0;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let publishes = env("PUBLISHES", if full { 2000 } else { 50 });
    let redis = redis_server::RedisServer::start();
    let url = redis.url();
    let costs = runtime.block_on(publish_costs(&url, publishes));

    let (latencies, elapsed) = runtime.block_on(async move {
        let origin = Instant::now();
        let (a, addr_a) = server(&url, 4096).await;
        let (b, addr_b) = server(&url, 4096).await;
        // Every client resumes after this event, so none misses the first
        // measured one however long its server's reader takes to start.
        let start = a.publish(TOPIC, "0").await.expect("publish").to_string();

        let mut tasks = Vec::new();
        for i in 0..subscribers {
            let (hub, addr) = if i % 2 == 0 {
                (&a, addr_a)
            } else {
                (&b, addr_b)
            };
            tasks.push(if http {
                tokio::spawn(client(addr, start.clone(), events, origin))
            } else {
                tokio::spawn(direct(hub.clone(), start.clone(), events, origin))
            });
        }
        let (half_a, half_b) = (subscribers.div_ceil(2), subscribers / 2);
        while a.subscribers(TOPIC) as u64 != half_a || b.subscribers(TOPIC) as u64 != half_b {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        let started = Instant::now();
        let mut tick = tokio::time::interval(pace);
        for _ in 0..events {
            tick.tick().await;
            let now = origin.elapsed().as_nanos() as u64;
            a.publish(TOPIC, now.to_string()).await.expect("publish");
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.expect("subscriber"));
        }
        (all, started.elapsed())
    });

    let mut sorted = latencies;
    sorted.sort_unstable();
    println!(
        "redis_latency: {events} events, {subscribers} {} subscribers on 2 servers, pace {pace:?}, {} samples in {elapsed:.2?}",
        if http { "HTTP" } else { "in-process" },
        sorted.len()
    );
    println!(
        "publish-to-receive latency: p50 {:.0} us, p99 {:.0} us, max {:.0} us",
        percentile(&sorted, 0.50),
        percentile(&sorted, 0.99),
        percentile(&sorted, 1.0)
    );
    println!("publish round trip, {publishes} sequential publishes each:");
    let plain_p50 = percentile(&costs[1].1, 0.50);
    for (name, sorted) in &costs {
        println!(
            "  {name:<26} p50 {:>5.0} us, p99 {:>5.0} us ({:.2}x the keyless publish at p50)",
            percentile(sorted, 0.50),
            percentile(sorted, 0.99),
            percentile(sorted, 0.50) / plain_p50
        );
    }
}
