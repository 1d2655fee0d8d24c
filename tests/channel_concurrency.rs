//! Many publishers and subscribers on a multi-threaded runtime: every
//! subscriber sees every event of its topic exactly once, in order.

use std::collections::HashMap;

use futures_util::StreamExt;
use tower_sse::{Hub, HubConfig};

const TOPICS: usize = 4;
const PUBLISHERS: usize = 8;
const EVENTS_PER_PUBLISHER: usize = 1000;
const SUBSCRIBERS: usize = 50;
const PER_TOPIC: usize = PUBLISHERS / TOPICS * EVENTS_PER_PUBLISHER;

/// Parses `id: <epoch>.N\ndata: P:I\n\n` into (offset N, publisher, index).
fn parse(event: &tower_sse::EncodedEvent) -> (u64, usize, usize) {
    let text = std::str::from_utf8(event.as_bytes()).unwrap();
    let (id, data) = text.trim_end().split_once('\n').unwrap();
    let position: tower_sse::engine::Position = id.strip_prefix("id: ").unwrap().parse().unwrap();
    let id = position.offset().minor();
    let (p, i) = data
        .strip_prefix("data: ")
        .unwrap()
        .split_once(':')
        .unwrap();
    (id, p.parse().unwrap(), i.parse().unwrap())
}

async fn read_all(mut sub: tower_sse::Subscription) -> Vec<(u64, usize, usize)> {
    let mut seen = Vec::with_capacity(PER_TOPIC);
    while seen.len() < PER_TOPIC {
        let event = sub.next().await.expect("stream ended early");
        seen.push(parse(&event));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_subscriber_sees_every_event_of_its_topic_once_in_order() {
    // Buffer and history cover a whole topic, so no subscriber may lag.
    let hub: Hub = HubConfig::new()
        .history(PER_TOPIC)
        .buffer(PER_TOPIC)
        .build();
    let topic = |n: usize| format!("topic-{}", n % TOPICS);

    // Half subscribe before publishing starts, half join mid-stream from "0"
    // and rely on replay + live with de-duplication at the seam.
    let mut readers = Vec::new();
    for s in 0..SUBSCRIBERS / 2 {
        let sub = hub.subscribe(&topic(s)).unwrap();
        readers.push((s % TOPICS, tokio::spawn(read_all(sub))));
    }
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let hub = hub.clone();
            let name = topic(p);
            tokio::spawn(async move {
                for i in 0..EVENTS_PER_PUBLISHER {
                    hub.publish(&name, format!("{p}:{i}")).await.unwrap();
                    if i % 64 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for s in SUBSCRIBERS / 2..SUBSCRIBERS {
        tokio::task::yield_now().await;
        let sub = hub.subscribe_from(&topic(s), Some("0")).unwrap();
        readers.push((s % TOPICS, tokio::spawn(read_all(sub))));
    }
    for publisher in publishers {
        publisher.await.unwrap();
    }

    let mut per_topic: HashMap<usize, Vec<(u64, usize, usize)>> = HashMap::new();
    for (t, reader) in readers {
        let seen = reader.await.unwrap();
        assert_eq!(seen.len(), PER_TOPIC);
        // Ids strictly increase: no duplicate, no reordering.
        assert!(
            seen.windows(2).all(|w| w[0].0 < w[1].0),
            "topic {t} out of order"
        );
        // Each publisher's events arrive complete and in its order.
        let mut next = HashMap::new();
        for &(_, p, i) in &seen {
            assert_eq!(p % TOPICS, t, "event of another topic");
            let expected = next.entry(p).or_insert(0);
            assert_eq!(i, *expected, "publisher {p} skipped or repeated");
            *expected += 1;
        }
        // All subscribers of a topic see the same sequence.
        match per_topic.get(&t) {
            Some(first) => assert_eq!(first, &seen),
            None => {
                per_topic.insert(t, seen);
            }
        }
    }
    assert_eq!(per_topic.len(), TOPICS);
    hub.close();
}
