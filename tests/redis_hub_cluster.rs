//! The Redis backend on a real Redis Cluster (three masters with one
//! replica each, started by the test on loopback): publishing, idempotent
//! retries, paged replay and readers on every shard, and a failover of the
//! shard that owns a topic without a silent skip.
#![cfg(feature = "redis")]

#[path = "support/redis_cluster.rs"]
mod redis_cluster;

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use redis_cluster::RedisCluster;
use tokio::sync::mpsc;
use tower_sse::engine::IdempotencyKey;
use tower_sse::redis::{Delivery, RedisConfig, RedisStreams, StreamId, TopicReader};
use tower_sse::Event;

const SOON: Duration = Duration::from_secs(15);

fn config(cluster: &RedisCluster) -> RedisConfig {
    cluster.config("cl:")
}

fn follow(
    streams: &RedisStreams,
    topic: &str,
    from: StreamId,
) -> (TopicReader, mpsc::UnboundedReceiver<Delivery>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let reader = streams.spawn_reader(topic, from, move |delivery| {
        if tx.send(delivery).is_ok() {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    });
    (reader, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Delivery>) -> Delivery {
    tokio::time::timeout(SOON, rx.recv())
        .await
        .expect("a delivery in time")
        .expect("the reader runs")
}

/// Publishes, retrying through a failover (bounded).
async fn publish(streams: &RedisStreams, topic: &str, data: &str) -> StreamId {
    let deadline = Instant::now() + SOON;
    let key = IdempotencyKey::new(format!("{topic}:{data}")).unwrap();
    loop {
        match streams
            .append(topic, &Event::new().data(data), Some(&key))
            .await
        {
            Ok(appended) => return appended.position().offset().into(),
            Err(e) => {
                assert!(Instant::now() < deadline, "publish kept failing: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_on_every_shard_publish_dedupe_replay_and_follow() {
    let cluster = RedisCluster::start();
    let streams = RedisStreams::connect(config(&cluster)).await.unwrap();
    // Enough topics to land on all three masters.
    let topics: Vec<String> = (0..6).map(|n| format!("t{n}")).collect();
    let masters: std::collections::HashSet<u16> = topics
        .iter()
        .map(|t| cluster.master_of(&streams.config().stream_key(t)))
        .collect();
    assert_eq!(masters.len(), 3, "the topics spread over every shard");

    for topic in &topics {
        let (_reader, mut rx) = follow(&streams, topic, StreamId::ZERO);
        let key = IdempotencyKey::new("k").unwrap();
        let event = Event::new().data(topic.as_str());
        let first = streams.append(topic, &event, Some(&key)).await.unwrap();
        let again = streams.append(topic, &event, Some(&key)).await.unwrap();
        assert!(again.is_duplicate());
        assert_eq!(again.position(), first.position());
        assert_eq!(
            streams.epoch(topic).await.unwrap(),
            Some(first.position().epoch())
        );
        let replay = streams.replay(topic, StreamId::ZERO).await.unwrap();
        assert!(replay.is_complete());
        assert_eq!(replay.events().len(), 1);
        match next(&mut rx).await {
            Delivery::Events(events) => {
                assert_eq!(events.len(), 1);
                assert_eq!(StreamId::from(first.position().offset()), events[0].id());
            }
            other => panic!("expected the event, got {other:?}"),
        }
    }
}

/// Collects deliveries until `last` arrives: the ids delivered, and whether
/// a gap came first.
async fn until_id(
    rx: &mut mpsc::UnboundedReceiver<Delivery>,
    last: StreamId,
) -> (bool, Vec<StreamId>) {
    let (mut gap, mut ids) = (false, Vec::new());
    while ids.last() != Some(&last) {
        match next(rx).await {
            Delivery::Gap { .. } => gap = true,
            Delivery::Events(events) => ids.extend(events.iter().map(|e| e.id())),
            other => panic!("unexpected {other:?}"),
        }
    }
    (gap, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_of_the_shard_owning_a_topic_resumes_exactly_or_reports_a_gap() {
    failover(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_to_a_caught_up_replica_loses_nothing_and_resumes_exactly() {
    let (reader_gap, resume_complete) = failover(true).await;
    assert!(!reader_gap, "the replica had every entry");
    assert!(resume_complete, "the replica had every entry");
}

/// Publishes b0..b4, fails over the topic's shard (after the replica caught
/// up, or at once), publishes a0..a4; checks the live reader and a resume
/// after b2. Returns (the reader reported a gap, the resume was complete).
async fn failover(caught_up: bool) -> (bool, bool) {
    let mut cluster = RedisCluster::start();
    let streams = RedisStreams::connect(config(&cluster)).await.unwrap();
    let topic = "failing";
    let key = streams.config().stream_key(topic);
    let (_reader, mut rx) = follow(&streams, topic, StreamId::ZERO);
    let mut before = Vec::new();
    for n in 0..5 {
        before.push(publish(&streams, topic, &format!("b{n}")).await);
    }
    let (gap, seen) = until_id(&mut rx, before[4]).await;
    assert!(!gap);
    assert_eq!(seen, before);

    if caught_up {
        cluster.wait_for_replication(&key);
    }
    let old = cluster.master_of(&key);
    let new = cluster.fail_over(&key);
    assert_ne!(old, new);
    let mut after = Vec::new();
    for n in 0..5 {
        after.push(publish(&streams, topic, &format!("a{n}")).await);
    }

    // The live reader: every event published after the failover exactly
    // once, in order, or a gap first; never a silent hole.
    let (gap, delivered) = until_id(&mut rx, after[4]).await;
    assert!(delivered.windows(2).all(|w| w[0] < w[1]), "{delivered:?}");
    if !gap {
        assert_eq!(
            delivered, after,
            "no gap reported, so nothing may be missing"
        );
    }
    // A client that last saw b2 resumes exactly or is told about a gap.
    let resumed = streams.replay(topic, before[2]).await.unwrap();
    if resumed.is_complete() {
        let ids: Vec<_> = resumed.events().iter().map(|e| e.id()).collect();
        let expected: Vec<_> = before[3..].iter().chain(&after).copied().collect();
        assert_eq!(ids, expected);
    }
    eprintln!(
        "failover {old} -> {new}: reader gap {gap}, resume complete {}",
        resumed.is_complete()
    );
    (gap, resumed.is_complete())
}
