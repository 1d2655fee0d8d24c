//! The hub's public behaviour: replay, gaps, ids, reclamation, close, policies.

use futures_util::{FutureExt, StreamExt};
use http_body_util::BodyExt;
use tower_sse::{Event, EventStream, Hub, HubConfig, SlowConsumer, Subscription, GAP_EVENT_TYPE};

fn wire(event: &tower_sse::EncodedEvent) -> String {
    String::from_utf8(event.as_bytes().to_vec()).unwrap()
}

/// Everything the subscription yields without waiting.
fn drain(sub: &mut Subscription) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(Some(event)) = sub.next().now_or_never() {
        out.push(wire(&event));
    }
    out
}

#[tokio::test]
async fn every_subscriber_shares_the_one_encoding_of_an_event() {
    let hub = Hub::new();
    let mut subs: Vec<_> = (0..3).map(|_| hub.subscribe("t")).collect();
    hub.publish("t", "hello").await.unwrap();
    let mut ptrs = Vec::new();
    for sub in &mut subs {
        let event = sub.next().await.unwrap();
        assert_eq!(event.as_bytes(), &b"id: 1\ndata: hello\n\n"[..]);
        ptrs.push(event.as_bytes().as_ptr());
    }
    assert!(ptrs.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn ids_increase_per_topic_and_app_ids_are_replayable() {
    let hub = Hub::new();
    assert_eq!(hub.publish("a", "1").await.unwrap(), "1");
    assert_eq!(hub.publish("b", "2").await.unwrap(), "2");
    assert_eq!(hub.publish("a", "3").await.unwrap(), "3");
    let own = Event::new().try_id("msg-x").unwrap().data("mine");
    assert_eq!(hub.publish("a", own).await.unwrap(), "msg-x");
    hub.publish("a", "after").await.unwrap();
    let mut sub = hub.subscribe_from("a", Some("msg-x"));
    assert_eq!(drain(&mut sub), ["id: 5\ndata: after\n\n"]);
    let mut sub = hub.subscribe_from("a", Some("1"));
    assert_eq!(
        drain(&mut sub),
        [
            "id: 3\ndata: 3\n\n",
            "id: msg-x\ndata: mine\n\n",
            "id: 5\ndata: after\n\n"
        ]
    );
}

#[tokio::test]
async fn replay_continues_live_without_a_duplicate() {
    let hub = Hub::new();
    for word in ["a", "b", "c"] {
        hub.publish("t", word).await.unwrap();
    }
    let mut sub = hub.subscribe_from("t", Some("2"));
    hub.publish("t", "d").await.unwrap();
    assert_eq!(
        drain(&mut sub),
        ["id: 3\ndata: c\n\n", "id: 4\ndata: d\n\n"]
    );
}

#[tokio::test]
async fn zero_replays_the_whole_history_of_a_young_topic() {
    let hub = Hub::new();
    hub.publish("t", "a").await.unwrap();
    hub.publish("t", "b").await.unwrap();
    let mut sub = hub.subscribe_from("t", Some("0"));
    assert_eq!(
        drain(&mut sub),
        ["id: 1\ndata: a\n\n", "id: 2\ndata: b\n\n"]
    );
}

#[tokio::test]
async fn an_id_from_before_a_restart_gets_a_gap_that_resumes_correctly() {
    let hub = Hub::new();
    let mut sub = hub.subscribe_from("t", Some("57"));
    assert_eq!(
        drain(&mut sub),
        ["event: sse-gap\nid: 0\ndata: unknown-id\n\n"]
    );
    hub.publish("t", "a").await.unwrap();
    assert_eq!(drain(&mut sub), ["id: 1\ndata: a\n\n"]);
    // Reconnecting with the gap's id misses nothing.
    let mut again = hub.subscribe_from("t", Some("0"));
    assert_eq!(drain(&mut again), ["id: 1\ndata: a\n\n"]);
    assert_eq!(GAP_EVENT_TYPE, "sse-gap");
}

#[tokio::test]
async fn an_expired_id_gets_a_gap_then_only_new_events() {
    let hub = HubConfig::new().history(2).build();
    for n in 1..=5 {
        hub.publish("t", format!("{n}")).await.unwrap();
    }
    let mut sub = hub.subscribe_from("t", Some("2"));
    hub.publish("t", "6").await.unwrap();
    assert_eq!(
        drain(&mut sub),
        [
            "event: sse-gap\nid: 5\ndata: unknown-id\n\n",
            "id: 6\ndata: 6\n\n"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn history_older_than_max_age_is_not_replayed() {
    let hub = HubConfig::new()
        .max_age(std::time::Duration::from_secs(30))
        .build();
    hub.publish("t", "old").await.unwrap();
    tokio::time::advance(std::time::Duration::from_secs(20)).await;
    hub.publish("t", "new").await.unwrap();
    tokio::time::advance(std::time::Duration::from_secs(20)).await;
    let mut first = hub.subscribe_from("t", Some("0"));
    assert_eq!(
        drain(&mut first),
        ["event: sse-gap\nid: 2\ndata: unknown-id\n\n"]
    );
    let mut second = hub.subscribe_from("t", Some("1"));
    assert_eq!(drain(&mut second), ["id: 2\ndata: new\n\n"]);
    drop((first, second));
    tokio::time::advance(std::time::Duration::from_secs(20)).await;
    hub.reclaim();
    assert!(hub.topics().is_empty());
}

#[tokio::test]
async fn dropping_a_subscription_releases_it_and_reclaims_an_idle_topic() {
    let hub = HubConfig::new().history(0).build();
    let a = hub.subscribe("room");
    let b = hub.subscribe("room");
    assert_eq!(hub.subscribers("room"), 2);
    assert_eq!(hub.topics(), ["room"]);
    drop(a);
    assert_eq!(hub.subscribers("room"), 1);
    drop(b);
    assert_eq!(hub.subscribers("room"), 0);
    assert!(hub.topics().is_empty());

    // A topic with history stays until the history is gone.
    let hub = HubConfig::new().history(4).build();
    drop(hub.subscribe("kept"));
    assert!(hub.topics().is_empty());
    hub.publish("kept", "x").await.unwrap();
    assert_eq!(hub.topics(), ["kept"]);
    assert_eq!(hub.history_len("kept"), 1);
}

#[tokio::test]
async fn close_ends_every_stream_after_buffered_events() {
    let hub = Hub::new();
    let mut a = hub.subscribe("a");
    let mut b = hub.subscribe("b");
    hub.publish("a", "last").await.unwrap();
    hub.close();
    assert_eq!(
        a.next().await.unwrap().as_bytes(),
        &b"id: 1\ndata: last\n\n"[..]
    );
    assert!(a.next().await.is_none());
    assert!(b.next().await.is_none());
    assert!(hub.subscribe_from("a", Some("0")).next().await.is_none());
    assert!(hub.publish("a", "x").await.is_err());
}

#[tokio::test]
async fn close_topic_ends_only_that_topic() {
    let hub = Hub::new();
    let mut a = hub.subscribe("a");
    let mut b = hub.subscribe("b");
    hub.close_topic("a");
    assert!(a.next().await.is_none());
    hub.publish("b", "still here").await.unwrap();
    assert!(b.next().await.is_some());
    // Publishing again opens a fresh topic; ids keep increasing.
    assert_eq!(hub.publish("a", "again").await.unwrap(), "2");
}

#[tokio::test]
async fn a_subscription_is_an_event_stream_body() {
    let hub = Hub::new();
    hub.publish("t", "a").await.unwrap();
    hub.publish("t", "b").await.unwrap();
    let response = EventStream::new(hub.subscribe_from("t", Some("0"))).into_http_response();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    hub.close();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"id: 1\ndata: a\n\nid: 2\ndata: b\n\n");
}

#[tokio::test]
async fn a_stuck_subscriber_is_disconnected_and_others_get_everything() {
    let hub = HubConfig::new().buffer(8).build();
    let stuck = hub.subscribe("t");
    let mut reader = hub.subscribe("t");
    let mut seen = 0;
    for n in 0..100 {
        hub.publish("t", format!("{n}")).await.unwrap();
        assert!(stuck.backlog() <= 8);
        reader.next().await.unwrap();
        seen += 1;
    }
    assert_eq!(seen, 100);
    let mut stuck = stuck;
    assert!(stuck.next().await.is_none(), "lagging subscriber must end");
    // The browser then reconnects with its last id and replays from history.
    let mut back = hub.subscribe_from("t", Some("0"));
    assert_eq!(drain(&mut back).len(), 100);
}

#[tokio::test]
async fn a_stuck_subscriber_skips_with_a_gap_and_others_get_everything() {
    let hub = HubConfig::new()
        .buffer(8)
        .slow_consumer(SlowConsumer::SkipWithGap)
        .build();
    let mut stuck = hub.subscribe("t");
    let mut reader = hub.subscribe("t");
    let mut seen = 0;
    for n in 1..=100 {
        hub.publish("t", format!("{n}")).await.unwrap();
        assert!(stuck.backlog() <= 8);
        reader.next().await.unwrap();
        seen += 1;
    }
    assert_eq!(seen, 100);
    let events = drain(&mut stuck);
    assert_eq!(events[0], "event: sse-gap\nid: 93\ndata: lagged\n\n");
    let ids: Vec<_> = events[1..]
        .iter()
        .map(|e| e.lines().next().unwrap().to_owned())
        .collect();
    let expected: Vec<_> = (93..=100).map(|n| format!("id: {n}")).collect();
    assert_eq!(ids, expected);
}
