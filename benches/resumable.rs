//! Resumable streams: N concurrent streams of 500 tokens each, one producer
//! and one reader per stream (reading through an `EventStream` body), next
//! to a plain `EventStream` of the same tokens; in memory and on a real
//! `redis-server` (started by the benchmark). Reports tokens/s and the
//! memory each finished stream keeps while it is readable (its TTL), from
//! the process's resident set.
//!
//! ```sh
//! cargo bench --bench resumable --features axum,redis     # N = 200
//! RESUMABLE_STREAMS=50 cargo bench --bench resumable --features axum,redis
//! ```
//!
//! Without `--bench` (under `cargo test --all-targets`) it smoke-runs tiny sizes.

#[path = "../tests/support/redis_server.rs"]
mod redis_server;
mod support;

use std::time::{Duration, Instant};

use futures_util::stream;
use http_body_util::BodyExt;
use redis_server::RedisServer;
use support::{per_sec, si, Mode};
use tower_sse::redis::RedisConfig;
use tower_sse::resumable::{ResumableStreams, Terminal};
use tower_sse::{EventStream, Hub, HubConfig};

fn tokens(count: usize) -> Vec<String> {
    (0..count).map(|i| format!(" tok{i}")).collect()
}

/// Resident set size in bytes (Linux), or 0.
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Bytes of the whole body of an `EventStream`, frame by frame.
async fn drain<S>(body: EventStream<S>) -> usize
where
    EventStream<S>: http_body::Body,
    <EventStream<S> as http_body::Body>::Error: std::fmt::Debug,
{
    let mut body = std::pin::pin!(body);
    let mut bytes = 0;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame.expect("frame").data_ref() {
            bytes += bytes::Buf::remaining(data);
        }
    }
    bytes
}

async fn plain(streams: usize, count: usize) -> Duration {
    let started = Instant::now();
    let tasks: Vec<_> = (0..streams)
        .map(|_| {
            tokio::spawn(async move { drain(EventStream::new(stream::iter(tokens(count)))).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("plain stream");
    }
    started.elapsed()
}

async fn resumable(registry: &ResumableStreams, streams: usize, count: usize) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..streams {
        let answer = registry.create().await.expect("create");
        let reader = registry
            .open(&answer.token().to_string(), None)
            .await
            .expect("open");
        tasks.push(tokio::spawn(async move {
            for token in tokens(count) {
                answer.send(token).await.expect("send");
            }
            answer
                .finish(Terminal::Done(String::new()))
                .await
                .expect("finish");
        }));
        tasks.push(tokio::spawn(async move {
            drain(EventStream::new(reader)).await;
        }));
    }
    for task in tasks {
        task.await.expect("resumable stream");
    }
    started.elapsed()
}

fn report(name: &str, streams: usize, count: usize, elapsed: Duration, rss_before: usize) {
    let per_stream = rss().saturating_sub(rss_before) / streams.max(1);
    println!(
        "{name:<22} {:>10} tokens/s   {:>8.1} ms   ~{:>6} KiB RSS per stream kept",
        si(per_sec(streams * count, elapsed)),
        elapsed.as_secs_f64() * 1e3,
        per_stream / 1024,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mode = Mode::from_args();
    let streams = mode.size("RESUMABLE_STREAMS", 200, 4);
    let count = mode.size("RESUMABLE_TOKENS", 500, 20);
    println!("{streams} concurrent streams x {count} tokens, one reader each");

    let before = rss();
    let elapsed = plain(streams, count).await;
    report("plain EventStream", streams, count, elapsed, before);

    let memory = ResumableStreams::new(Hub::new());
    let before = rss();
    let elapsed = resumable(&memory, streams, count).await;
    report("resumable, memory", streams, count, elapsed, before);

    let redis = RedisServer::start();
    let config = RedisConfig::new(redis.url())
        .expect("redis url")
        .key_prefix("bench:")
        .block_timeout(Duration::from_secs(1));
    let on_redis = ResumableStreams::new(HubConfig::new().redis(config).build());
    let before = rss();
    let elapsed = resumable(&on_redis, streams, count).await;
    report("resumable, Redis", streams, count, elapsed, before);
    println!("(Redis keeps the events in redis-server, not in this process)");
}
