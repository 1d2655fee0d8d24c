//! Property test of multi-topic resume: random interleavings of publishes to
//! N topics, reads, disconnects and resumes with the last cursor seen deliver
//! every topic's events exactly once and in order, on the in-memory hub and
//! (feature `redis`) on two hubs sharing one real Redis, resuming on either
//! (topics start empty: a cursor taken before a topic's first publish
//! resumes it exactly too).

use std::time::Duration;

use futures_util::StreamExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tower_sse::multi::{MultiRequest, MultiSubscription, Multiplexer};
use tower_sse::parse::parse_events;
use tower_sse::Hub;

#[derive(Debug, Clone)]
enum Op {
    Publish {
        topic: usize,
    },
    Read {
        max: usize,
    },
    /// Drop the connection and resume on server `server` with the last cursor.
    Reconnect {
        server: usize,
    },
}

fn ops(topics: usize) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        6 => (0..topics).prop_map(|topic| Op::Publish { topic }),
        3 => (1..20_usize).prop_map(|max| Op::Read { max }),
        1 => (0..2_usize).prop_map(|server| Op::Reconnect { server }),
    ];
    proptest::collection::vec(op, 1..120)
}

/// One client: its connection, the last cursor it saw, what it received.
struct Client {
    stream: MultiSubscription,
    cursor: String,
    received: Vec<Vec<String>>,
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("topic-{i}")).collect()
}

async fn connect(multi: &Multiplexer, n: usize, cursor: Option<&str>) -> MultiSubscription {
    let request = MultiRequest::new(names(n)).last_event_id(cursor);
    multi.subscribe(request).await.expect("subscribe")
}

impl Client {
    /// Reads one event (waiting at most `patience`); `false` on timeout.
    async fn read_one(&mut self, patience: Duration) -> Result<bool, String> {
        let Ok(event) = tokio::time::timeout(patience, self.stream.next()).await else {
            return Ok(false);
        };
        let event = event.ok_or("the stream ended")?;
        self.cursor = event.cursor().to_owned();
        if event.cursor().len() > 128 {
            return Err(format!("cursor of {} bytes", event.cursor().len()));
        }
        let Some(topic) = event.topic() else {
            return Ok(true); // the priming event
        };
        let parsed = parse_events(&event.to_bytes()).map_err(|e| e.to_string())?;
        let [parsed] = &parsed[..] else {
            return Err(format!("not one event: {parsed:?}"));
        };
        if parsed.event_type != topic {
            return Err(format!("type {} for topic {topic}", parsed.event_type));
        }
        if parsed.last_event_id != event.cursor() {
            return Err("the id is not the cursor".into());
        }
        let index: usize = topic["topic-".len()..].parse().map_err(|_| "bad topic")?;
        self.received[index].push(parsed.data.clone());
        Ok(true)
    }
}

async fn scenario(
    servers: &[Multiplexer],
    n: usize,
    ops: Vec<Op>,
    patience: Duration,
) -> Result<(), String> {
    let publisher = servers[0].hub().clone();
    let mut published: Vec<Vec<String>> = vec![Vec::new(); n];
    let stream = connect(&servers[0], n, None).await;
    let mut client = Client {
        stream,
        cursor: String::new(),
        received: vec![Vec::new(); n],
    };
    // The priming event: every topic's start is known.
    if !client.read_one(patience).await? {
        return Err("no priming event".into());
    }
    let outstanding = |published: &[Vec<String>], client: &Client| {
        let p: usize = published.iter().map(Vec::len).sum();
        let r: usize = client.received.iter().map(Vec::len).sum();
        p.saturating_sub(r)
    };
    for op in ops {
        match op {
            Op::Publish { topic } => {
                let data = format!("{topic}:{}", published[topic].len());
                publisher
                    .publish(&format!("topic-{topic}"), data.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                published[topic].push(data);
            }
            Op::Read { max } => {
                for _ in 0..max.min(outstanding(&published, &client)) {
                    if !client.read_one(patience).await? {
                        return Err("an event did not arrive".into());
                    }
                }
            }
            Op::Reconnect { server } => {
                let multi = &servers[server % servers.len()];
                client.stream = connect(multi, n, Some(&client.cursor)).await;
                if !client.read_one(patience).await? {
                    return Err("no priming event after a reconnect".into());
                }
            }
        }
    }
    while outstanding(&published, &client) > 0 {
        if !client.read_one(patience).await? {
            return Err("an event did not arrive at the end".into());
        }
    }
    if client.read_one(Duration::from_millis(20)).await? {
        return Err("an extra event arrived".into());
    }
    if client.received != published {
        return Err(format!(
            "received {:?}\npublished {:?}",
            client.received, published
        ));
    }
    Ok(())
}

fn run(cases: u32, make: impl Fn() -> Vec<Multiplexer>, patience: Duration) {
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    let strategy = (1..=64_usize).prop_flat_map(|n| (Just(n), ops(n)));
    runner
        .run(&strategy, |(n, ops)| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let servers = rt.block_on(async { make() });
            let result = rt.block_on(scenario(&servers, n, ops, patience));
            for server in &servers {
                server.hub().close();
            }
            result.map_err(TestCaseError::fail)
        })
        .unwrap();
}

#[test]
fn every_topic_resumes_exactly_once_in_order_in_memory() {
    run(
        96,
        || vec![Multiplexer::new(Hub::new())],
        Duration::from_secs(2),
    );
}

#[test]
fn a_cursor_stays_within_128_bytes_with_64_busy_topics() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let hub = Hub::new();
        let multi = Multiplexer::new(hub.clone());
        let mut stream = connect(&multi, 64, None).await;
        stream.next().await.unwrap();
        let mut longest = 0;
        for round in 0..50 {
            for topic in 0..64 {
                hub.publish(&format!("topic-{topic}"), format!("{round}"))
                    .await
                    .unwrap();
                let event = stream.next().await.unwrap();
                longest = longest.max(event.cursor().len());
            }
        }
        assert!(longest <= 128, "{longest}");
        assert!(longest > 100, "the budget is used: {longest}");
    });
}

#[cfg(feature = "redis")]
#[path = "support/redis_server.rs"]
mod redis_server;

#[cfg(feature = "redis")]
#[test]
fn every_topic_resumes_exactly_once_in_order_across_two_servers_on_redis() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower_sse::multi::{CursorKey, RedisCheckpoints};
    use tower_sse::redis::RedisConfig;
    use tower_sse::HubConfig;

    let redis = redis_server::RedisServer::start();
    let case = AtomicUsize::new(0);
    run(
        12,
        || {
            // Each case its own keys; both servers share them and the cursor key.
            let prefix = format!("props{}:", case.fetch_add(1, Ordering::Relaxed));
            let key = CursorKey::new(*b"shared-by-both!!");
            (0..2)
                .map(|_| {
                    let config = RedisConfig::new(redis.url())
                        .unwrap()
                        .key_prefix(prefix.clone())
                        .block_timeout(Duration::from_millis(500));
                    let hub = HubConfig::new().redis(config).build();
                    let checkpoints = RedisCheckpoints::new(&redis.url())
                        .unwrap()
                        .key_prefix(format!("{prefix}cp:"));
                    Multiplexer::new(hub)
                        .key(key.clone())
                        .checkpoints(checkpoints)
                })
                .collect()
        },
        Duration::from_secs(5),
    );
}
