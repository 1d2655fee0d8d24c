//! The engine contract suite (`tests/engine_contract/`) on the Redis Streams
//! engine over a real Redis Cluster (three masters, three replicas, started
//! by the test on loopback), unchanged; and a failover of the shard that
//! owns a topic, seen by a subscriber over the hub, without a silent skip.
#![cfg(feature = "redis")]

mod engine_contract;
#[path = "support/redis_cluster.rs"]
mod redis_cluster;

use std::time::{Duration, Instant};

use engine_contract::Hubs;
use futures_util::StreamExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use redis_cluster::RedisCluster;
use tower_sse::engine::Position;
use tower_sse::redis::RedisConfig;
use tower_sse::{EventId, Hub, HubConfig, PublishOptions};

const SOON: Duration = Duration::from_secs(15);

fn config(cluster: &RedisCluster) -> RedisConfig {
    cluster.config("contract:")
}

fn hubs(cluster: &RedisCluster, prefix: &str) -> impl Hubs {
    let config = config(cluster);
    (
        move || HubConfig::new().history(2000).redis(config.clone()).build(),
        prefix.to_owned(),
    )
}

fn resume() -> impl Strategy<Value = engine_contract::Resume> {
    use engine_contract::Resume;
    prop_oneof![
        any::<usize>().prop_map(Resume::Published),
        any::<u64>().prop_map(Resume::OtherEpoch),
        (0_u64..100).prop_map(Resume::Future),
        "[ -~]{1,40}".prop_map(Resume::Garbage),
    ]
}

#[test]
fn the_redis_engine_meets_the_engine_contract_on_a_three_master_cluster() {
    let cluster = RedisCluster::start();
    let hubs = hubs(&cluster, "cluster");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(engine_contract::run_all(&hubs));
    let mut runner = TestRunner::new(Config {
        cases: 16,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(1_usize..40, resume()), |(n, resume)| {
            runtime.block_on(engine_contract::epoch_rules(&hubs, n, resume));
            Ok(())
        })
        .unwrap();
}

/// Publishes with a key, retrying through a failover (bounded): the retry
/// of a publish whose reply was lost stores nothing new.
async fn publish(hub: &Hub, topic: &str, data: &str) -> EventId {
    let deadline = Instant::now() + SOON;
    loop {
        let options = PublishOptions::new().try_idempotency_key(data).unwrap();
        match hub.publish_with(topic, data.to_owned(), options).await {
            Ok(appended) => return appended.into_id(),
            Err(e) => {
                assert!(Instant::now() < deadline, "publish kept failing: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The data of the next event, or `None` when the stream ended; gap events
/// as `sse-gap:<reason>`.
async fn next(sub: &mut tower_sse::Subscription) -> Option<String> {
    let event = tokio::time::timeout(SOON, sub.next())
        .await
        .expect("an event in time")?;
    let parsed = tower_sse::parse::parse_events(event.as_bytes()).unwrap();
    let event = &parsed[0];
    Some(if event.event_type == "sse-gap" {
        format!("sse-gap:{}", event.data)
    } else {
        event.data.clone()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_of_the_shard_owning_a_topic_gives_subscribers_every_event_or_a_gap() {
    let mut cluster = RedisCluster::start();
    let config = config(&cluster);
    let topic = "failover";
    let key = config.stream_key(topic);
    let hub = HubConfig::new().redis(config).build();
    let mut live = hub.subscribe(topic).unwrap();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(publish(&hub, topic, &format!("b{n}")).await);
    }
    for n in 0..5 {
        assert_eq!(
            next(&mut live).await.as_deref(),
            Some(format!("b{n}").as_str())
        );
    }

    cluster.fail_over(&key);
    let mut after = Vec::new();
    for n in 0..5 {
        after.push(publish(&hub, topic, &format!("a{n}")).await);
    }

    // The live subscriber: every later event in order, or its stream ends
    // (a reset: the browser reconnects with its last id) or a gap comes
    // first. Never a hole without a word.
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("a4") {
        match next(&mut live).await {
            Some(data) => seen.push(data),
            None => break,
        }
    }
    let said_so = seen.is_empty()
        || seen.iter().any(|d| d.starts_with("sse-gap"))
        || seen.last().map(String::as_str) != Some("a4");
    if !said_so {
        assert_eq!(seen, ["a0", "a1", "a2", "a3", "a4"]);
    }

    // A client that last saw b2 reconnects: exactly b3.. a4, or a gap.
    let mut resumed = hub.subscribe_from(topic, Some(ids[2].as_str())).unwrap();
    let first = next(&mut resumed).await.unwrap();
    if !first.starts_with("sse-gap") {
        let mut got = vec![first];
        while got.last().map(String::as_str) != Some("a4") {
            got.push(next(&mut resumed).await.unwrap());
        }
        assert_eq!(got, ["b3", "b4", "a0", "a1", "a2", "a3", "a4"]);
    }
    let epoch_before: Position = ids[0].as_str().parse().unwrap();
    let epoch_after: Position = after[0].as_str().parse().unwrap();
    eprintln!(
        "failover: live saw {seen:?}; resume began with a gap: {}; epoch {} -> {}",
        first_is_gap(&hub, topic, &ids[2]).await,
        epoch_before.epoch(),
        epoch_after.epoch()
    );
}

async fn first_is_gap(hub: &Hub, topic: &str, id: &EventId) -> bool {
    let mut sub = hub.subscribe_from(topic, Some(id.as_str())).unwrap();
    next(&mut sub)
        .await
        .is_some_and(|d| d.starts_with("sse-gap"))
}
