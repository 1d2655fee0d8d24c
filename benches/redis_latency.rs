//! Publish-to-receive latency through Redis, with 1,000 subscribers on two servers.
//!
//! Run: `cargo bench --bench redis_latency --features redis` (needs
//! `redis-server`; `scripts/install-deps.sh` installs it). Options via env:
//! `EVENTS` (default 2000), `SUBSCRIBERS` (default 1000), `PACE_US` (default 1000).
//!
//! Two `RedisStreams` instances stand for two app servers on one Redis. Each
//! runs one topic reader (blocking `XREAD` on its own connection) and fans the
//! once-encoded events out locally through a `tokio::sync::broadcast` ring,
//! the same primitive the hub's local fan-out uses, to half of the
//! subscribers. Server A publishes paced events whose data is the publish
//! instant; every subscriber records `receive - publish` for every event.

#[path = "../tests/support/redis_server.rs"]
mod redis_server;

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tower_sse::redis::{Delivery, RedisConfig, RedisStreams, TopicReader};
use tower_sse::{EncodedEvent, Event};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The publish instant, as nanoseconds since `origin`, read back from `data: <n>`.
fn sent_at(event: &EncodedEvent) -> Option<u64> {
    std::str::from_utf8(event.as_bytes())
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("data: "))?
        .parse()
        .ok()
}

async fn server(
    url: &str,
    from: tower_sse::redis::StreamId,
) -> (RedisStreams, TopicReader, broadcast::Sender<EncodedEvent>) {
    let config = RedisConfig::new(url)
        .expect("redis url")
        .block_timeout(Duration::from_secs(1));
    let streams = RedisStreams::connect(config).await.expect("connect");
    let (tx, _) = broadcast::channel(4096);
    let fanout = tx.clone();
    let reader = streams.spawn_reader("bench", from, move |delivery| {
        if let Delivery::Events(events) = delivery {
            for event in events {
                let _ = fanout.send(event.into_parts().1);
            }
        }
        ControlFlow::Continue(())
    });
    (streams, reader, tx)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank] as f64 / 1_000.0
}

fn main() {
    let events = env("EVENTS", 2000);
    let subscribers = env("SUBSCRIBERS", 1000);
    let pace = Duration::from_micros(env("PACE_US", 1000));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let redis = redis_server::RedisServer::start();
    let url = redis.url();

    let (latencies, elapsed) = runtime.block_on(async move {
        let origin = Instant::now();
        let probe = RedisStreams::connect(RedisConfig::new(url.as_str()).unwrap())
            .await
            .unwrap();
        let from = probe.last_id("bench").await.unwrap();
        let (a, _reader_a, tx_a) = server(&url, from).await;
        let (_b, _reader_b, tx_b) = server(&url, from).await;

        let mut tasks = Vec::new();
        for i in 0..subscribers {
            let mut rx = if i % 2 == 0 {
                tx_a.subscribe()
            } else {
                tx_b.subscribe()
            };
            tasks.push(tokio::spawn(async move {
                let mut samples = Vec::with_capacity(events as usize);
                while (samples.len() as u64) < events {
                    match rx.recv().await {
                        Ok(event) => {
                            let now = origin.elapsed().as_nanos() as u64;
                            if let Some(sent) = sent_at(&event) {
                                samples.push(now.saturating_sub(sent));
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            panic!("a subscriber lagged by {n} events; raise the buffer")
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    }
                }
                samples
            }));
        }
        // Let the readers block in XREAD before the first publish.
        tokio::time::sleep(Duration::from_millis(200)).await;

        let started = Instant::now();
        let mut tick = tokio::time::interval(pace);
        for _ in 0..events {
            tick.tick().await;
            let now = origin.elapsed().as_nanos() as u64;
            a.publish("bench", &Event::new().data(now.to_string()))
                .await
                .expect("publish");
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
        "redis_latency: {events} events, {subscribers} subscribers on 2 servers, pace {pace:?}, {} samples in {elapsed:.2?}",
        sorted.len()
    );
    println!(
        "publish-to-receive latency: p50 {:.0} us, p99 {:.0} us, max {:.0} us",
        percentile(&sorted, 0.50),
        percentile(&sorted, 0.99),
        percentile(&sorted, 1.0)
    );
}
