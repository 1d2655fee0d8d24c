//! Resumable streams: N concurrent streams of 500 tokens each, one producer
//! and one reader per stream (reading through an `EventStream` body), next
//! to a plain `EventStream` of the same tokens; in memory and on a real
//! `redis-server` (started by the benchmark). Reports tokens/s and the
//! memory each finished stream keeps while it is readable (its TTL), from
//! the process's resident set.
//!
//! On Redis it also runs, interleaved over `RESUMABLE_ROUNDS` rounds
//! (default 3), resumable streams next to plain `Hub::publish` to one
//! subscriber per topic on the same Redis (without fsync), and prints the
//! median tokens/s of each and their paired ratio; and it counts the Redis
//! commands each costs per event when nobody reads (the `INFO
//! commandstats` of the benchmark's own `redis-server`, diffed around the
//! run): client round trips (what the process sends: `EVALSHA`, `XREAD`,
//! `HSET`, ...) apart from the calls the publish script makes inside Redis.
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

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::stream;
use http_body_util::BodyExt;
use redis_server::RedisServer;
use support::{paired_ratio, per_sec, print_table, si, Mode, Series};
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

/// Plain hub topics on the same hub: one subscriber per topic (through an
/// `EventStream` body) and one producer publishing the same tokens.
async fn hub_publish(hub: &Hub, streams: usize, count: usize, round: usize) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..streams {
        let topic = format!("plain:{round}:{i}");
        let subscription = hub.subscribe(&topic).expect("subscribe");
        let hub = hub.clone();
        tasks.push(tokio::spawn(async move {
            for token in tokens(count) {
                hub.publish(&topic, token).await.expect("publish");
            }
        }));
        tasks.push(tokio::spawn(async move {
            use futures_util::StreamExt;
            drain(EventStream::new(subscription.take(count))).await;
        }));
    }
    for task in tasks {
        task.await.expect("hub stream");
    }
    started.elapsed()
}

/// Commands a `redis-server` ran so far, by name (`INFO commandstats`).
fn commandstats(redis: &RedisServer) -> BTreeMap<String, u64> {
    let output = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port().to_string(), "INFO", "commandstats"])
        .output()
        .expect("redis-cli (installed with redis-server)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

/// The commands the publish script calls inside Redis (counted by
/// `commandstats` too, but no round trip).
const IN_SCRIPT: &[&str] = &["exists", "get", "incr", "set", "xadd", "xinfo", "xrange"];

/// Commands run between two `commandstats`, without the `INFO` calls:
/// (client round trips, calls inside scripts, the round trips by name).
fn diff(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> (u64, u64, BTreeMap<String, u64>) {
    let (mut trips, mut inside, mut by_name) = (0, 0, BTreeMap::new());
    for (name, calls) in after {
        let n = calls - before.get(name).copied().unwrap_or(0);
        if n == 0 || name == "info" {
            continue;
        }
        if IN_SCRIPT.contains(&name.as_str()) {
            inside += n;
        } else {
            trips += n;
            by_name.insert(name.clone(), n);
        }
    }
    (trips, inside, by_name)
}

/// Redis commands per event for `Hub::publish` and for a resumable stream
/// nobody reads; prints both and the difference.
async fn cost(redis: &RedisServer, config: &RedisConfig, count: usize) {
    let hub = HubConfig::new()
        .redis(config.clone().key_prefix("cost:"))
        .build();
    // Warm up: connect and load the script.
    hub.publish("warm-up", "x").await.expect("publish");
    let before = commandstats(redis);
    for token in tokens(count) {
        hub.publish("plain", token).await.expect("publish");
    }
    let (plain, plain_inside, plain_names) = diff(&before, &commandstats(redis));

    let registry = ResumableStreams::new(hub);
    let warm = registry.create().await.expect("create");
    warm.finish(Terminal::Done(String::new()))
        .await
        .expect("finish");
    let before = commandstats(redis);
    let empty = registry.create().await.expect("create");
    empty
        .finish(Terminal::Done(String::new()))
        .await
        .expect("finish");
    let middle = commandstats(redis);
    let answer = registry.create().await.expect("create");
    for token in tokens(count) {
        answer.send(token).await.expect("send");
    }
    answer
        .finish(Terminal::Done(String::new()))
        .await
        .expect("finish");
    let (fixed, _, fixed_names) = diff(&before, &middle);
    let (total, inside, names) = diff(&middle, &commandstats(redis));
    let per = |n: u64| n as f64 / count as f64;
    let resumable = total.saturating_sub(fixed);
    println!("Redis commands the process sends per event, nobody reading ({count} events; a pipelined command counts one):");
    println!(
        "  Hub::publish            {:.3} per event   {plain_names:?} (+{:.1} calls inside the script)",
        per(plain),
        per(plain_inside)
    );
    println!(
        "  resumable stream        {:.3} per event   (all, fixed cost included: {names:?}; +{:.1} inside)",
        per(resumable),
        per(inside)
    );
    println!(
        "  extra per event         {:.3}   (fixed per stream, create + finish: {fixed} {fixed_names:?})",
        per(resumable) - per(plain)
    );
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
    report("resumable, Redis fsync", streams, count, elapsed, before);
    println!("(Redis keeps the events in redis-server, not in this process; this server fsyncs every write)");
    drop(on_redis);
    drop(redis);

    // Resumable next to plain publish on one Redis without fsync, interleaved.
    let redis = RedisServer::start_without_persistence();
    let config = RedisConfig::new(redis.url())
        .expect("redis url")
        .key_prefix("bench:")
        .block_timeout(Duration::from_secs(1));
    let hub = HubConfig::new().redis(config.clone()).build();
    let on_redis = ResumableStreams::new(hub.clone());
    let rounds = mode.size("RESUMABLE_ROUNDS", 3, 1);
    let mut plain_series = Series::new("Hub::publish, Redis");
    let mut resumable_series = Series::new("resumable, Redis");
    for round in 0..rounds {
        let elapsed = hub_publish(&hub, streams, count, round).await;
        plain_series.samples.push(per_sec(streams * count, elapsed));
        let elapsed = resumable(&on_redis, streams, count).await;
        resumable_series
            .samples
            .push(per_sec(streams * count, elapsed));
    }
    println!("Redis without fsync, {rounds} rounds interleaved (tokens/s):");
    print_table("tokens/s", &[&plain_series, &resumable_series]);
    println!(
        "  resumable / Hub::publish: {:.2}x (median of paired rounds)",
        paired_ratio(&resumable_series, &plain_series)
    );

    cost(&redis, &config, count).await;
}
