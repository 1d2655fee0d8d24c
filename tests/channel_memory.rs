//! Memory stays bounded with stuck subscribers, measured as the growth of
//! the process's resident set (Linux; this file holds a single test).

#![cfg(target_os = "linux")]

use futures_util::StreamExt;
use tower_sse::{HubConfig, SlowConsumer};

#[path = "support/rss.rs"]
mod rss_support;

/// Resident set size in bytes (signed, for differences).
fn rss() -> isize {
    isize::try_from(rss_support::rss_bytes()).unwrap()
}

const EVENT_BYTES: usize = 64 * 1024;
const BUFFER: usize = 16;
const HISTORY: usize = 16;
const STUCK: usize = 500;
const EVENTS: usize = 2000;

#[tokio::test]
async fn stuck_subscribers_hold_at_most_the_buffer_and_the_policy_applies() {
    for policy in [SlowConsumer::Disconnect, SlowConsumer::SkipWithGap] {
        let hub = HubConfig::new()
            .history(HISTORY)
            .buffer(BUFFER)
            .slow_consumer(policy)
            .build();
        let mut stuck: Vec<_> = (0..STUCK).map(|_| hub.subscribe("t").unwrap()).collect();
        let mut reader = hub.subscribe("t").unwrap();
        let payload = "x".repeat(EVENT_BYTES);
        let before = rss();
        let mut peak = 0;
        let mut read = 0;
        let mut ids = Vec::new();
        for _ in 0..EVENTS {
            ids.push(hub.publish("t", payload.clone()).await.unwrap());
            // Awaited, not polled once: tokio's cooperative budget may make
            // a ready receive yield once in a long-running task.
            if reader.next().await.is_some() {
                read += 1;
            }
            peak = peak.max(rss() - before);
        }
        assert_eq!(read, EVENTS, "the reading subscriber is unaffected");
        assert!(stuck.iter().all(|s| s.backlog() <= BUFFER));
        // 2000 events of 64 KiB is 125 MiB; the ring and the history pin at
        // most BUFFER + HISTORY of them (2 MiB) whatever the number of stuck
        // clients. The bound leaves room for allocator slack.
        let bound = 16 * 1024 * 1024;
        assert!(peak < bound, "{policy:?}: peak {peak} bytes, bound {bound}");

        let first = stuck[0].next().await;
        match policy {
            SlowConsumer::Disconnect => assert!(first.is_none()),
            _ => {
                let gap = first.unwrap();
                assert!(gap.as_bytes().starts_with(b"event: sse-gap\n"));
                // Then the BUFFER newest events, and then live ones.
                for id in &ids[EVENTS - BUFFER..] {
                    let event = stuck[0].next().await.unwrap();
                    assert!(event
                        .as_bytes()
                        .starts_with(format!("id: {id}\n").as_bytes()));
                }
                hub.publish("t", "live").await.unwrap();
                let event = stuck[0].next().await.unwrap();
                assert!(event.as_bytes().ends_with(b"data: live\n\n"));
            }
        }
        drop(stuck);
        assert_eq!(hub.subscribers("t"), 1);
    }
}
