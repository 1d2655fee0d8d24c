//! The hub's public behaviour: replay, gaps, ids, epochs, release, close, policies.

use std::sync::Arc;

use futures_util::{FutureExt, StreamExt};
use http_body_util::BodyExt;
use tower_sse::engine::MemoryEngine;
use tower_sse::{
    Event, EventId, EventStream, Hub, HubConfig, SlowConsumer, Subscription, GAP_EVENT_TYPE,
};

fn wire(event: &tower_sse::EncodedEvent) -> String {
    String::from_utf8(event.as_bytes().to_vec()).unwrap()
}

fn ev(id: &EventId, data: &str) -> String {
    format!("id: {id}\ndata: {data}\n\n")
}

fn gap(id: &str, reason: &str) -> String {
    format!("event: sse-gap\nid: {id}\ndata: {reason}\n\n")
}

/// Everything the subscription yields without waiting.
fn drain(sub: &mut Subscription) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(Some(event)) = sub.next().now_or_never() {
        out.push(wire(&event));
    }
    out
}

/// The epoch part of a hub-assigned id.
fn epoch(id: &EventId) -> &str {
    id.as_str()
        .split_once('.')
        .expect("an <epoch>.<offset> id")
        .0
}

#[tokio::test]
async fn every_subscriber_shares_the_one_encoding_of_an_event() {
    let hub = Hub::new();
    let mut subs: Vec<_> = (0..3).map(|_| hub.subscribe("t").unwrap()).collect();
    let id = hub.publish("t", "hello").await.unwrap();
    let mut ptrs = Vec::new();
    for sub in &mut subs {
        let event = sub.next().await.unwrap();
        assert_eq!(wire(&event), ev(&id, "hello"));
        ptrs.push(event.as_bytes().as_ptr());
    }
    assert!(ptrs.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn ids_name_the_topic_epoch_count_per_topic_and_app_ids_are_replayable() {
    let hub = Hub::new();
    let a1 = hub.publish("a", "1").await.unwrap();
    let b1 = hub.publish("b", "2").await.unwrap();
    let a2 = hub.publish("a", "3").await.unwrap();
    assert_eq!(a1.as_str(), format!("{}.1", epoch(&a1)));
    assert_eq!(a2.as_str(), format!("{}.2", epoch(&a1)));
    assert_eq!(b1.as_str(), format!("{}.1", epoch(&b1)));
    assert_ne!(
        epoch(&a1),
        epoch(&b1),
        "each topic history has its own epoch"
    );
    assert!(a1.as_str().len() < 128);

    let own = Event::new().try_id("msg-x").unwrap().data("mine");
    assert_eq!(hub.publish("a", own).await.unwrap(), "msg-x");
    let after = hub.publish("a", "after").await.unwrap();
    let mut sub = hub.subscribe_from("a", Some("msg-x")).unwrap();
    assert_eq!(drain(&mut sub), [ev(&after, "after")]);
    let mut sub = hub.subscribe_from("a", Some(a1.as_str())).unwrap();
    assert_eq!(
        drain(&mut sub),
        [
            ev(&a2, "3"),
            "id: msg-x\ndata: mine\n\n".to_owned(),
            ev(&after, "after")
        ]
    );
}

#[tokio::test]
async fn replay_continues_live_without_a_duplicate() {
    let hub = Hub::new();
    let mut ids = Vec::new();
    for word in ["a", "b", "c"] {
        ids.push(hub.publish("t", word).await.unwrap());
    }
    let mut sub = hub.subscribe_from("t", Some(ids[1].as_str())).unwrap();
    let d = hub.publish("t", "d").await.unwrap();
    assert_eq!(drain(&mut sub), [ev(&ids[2], "c"), ev(&d, "d")]);
}

#[tokio::test]
async fn zero_replays_the_whole_history_of_a_young_topic() {
    let hub = Hub::new();
    let a = hub.publish("t", "a").await.unwrap();
    let b = hub.publish("t", "b").await.unwrap();
    let mut sub = hub.subscribe_from("t", Some("0")).unwrap();
    assert_eq!(drain(&mut sub), [ev(&a, "a"), ev(&b, "b")]);
}

#[tokio::test]
async fn an_id_from_before_a_restart_gets_a_reset_gap_that_resumes_correctly() {
    // Reproduction 1 in process: ids 1..5 on one hub, a restart (a new
    // hub), 6 new events with the same offsets: the old id 5 must not
    // silently skip the new 1..5.
    let before = Hub::new();
    let mut old = Vec::new();
    for n in 1..=5 {
        old.push(before.publish("r1", n.to_string()).await.unwrap());
    }
    drop(before);
    let hub = Hub::new();
    let mut new = Vec::new();
    for n in 1..=6 {
        new.push(hub.publish("r1", format!("new {n}")).await.unwrap());
    }
    assert_ne!(epoch(&old[4]), epoch(&new[4]));
    let mut sub = hub.subscribe_from("r1", Some(old[4].as_str())).unwrap();
    assert_eq!(drain(&mut sub), [gap(new[5].as_str(), "reset")]);
    let live = hub.publish("r1", "live").await.unwrap();
    assert_eq!(drain(&mut sub), [ev(&live, "live")]);
    // Reconnecting with the gap's id misses nothing.
    let mut again = hub.subscribe_from("r1", Some(new[5].as_str())).unwrap();
    assert_eq!(drain(&mut again), [ev(&live, "live")]);
    assert_eq!(GAP_EVENT_TYPE, "sse-gap");
}

#[tokio::test]
async fn a_future_offset_or_garbage_gets_an_unknown_id_gap() {
    let hub = Hub::new();
    let one = hub.publish("t", "a").await.unwrap();
    let future = format!("{}.99", epoch(&one));
    for id in [future.as_str(), "57", "garbage", "x.y.z", "é"] {
        let mut sub = hub.subscribe_from("t", Some(id)).unwrap();
        assert_eq!(drain(&mut sub), [gap(one.as_str(), "unknown-id")], "{id}");
    }
}

#[tokio::test]
async fn an_expired_id_gets_a_gap_then_only_new_events() {
    let hub = HubConfig::new().history(2).build();
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(hub.publish("t", format!("{n}")).await.unwrap());
    }
    let mut sub = hub.subscribe_from("t", Some(ids[1].as_str())).unwrap();
    let six = hub.publish("t", "6").await.unwrap();
    assert_eq!(
        drain(&mut sub),
        [gap(ids[4].as_str(), "unknown-id"), ev(&six, "6")]
    );
}

#[tokio::test(start_paused = true)]
async fn history_older_than_max_age_is_not_replayed() {
    let hub = HubConfig::new()
        .max_age(std::time::Duration::from_secs(30))
        .build();
    let old = hub.publish("t", "old").await.unwrap();
    tokio::time::advance(std::time::Duration::from_secs(20)).await;
    let new = hub.publish("t", "new").await.unwrap();
    tokio::time::advance(std::time::Duration::from_secs(20)).await;
    let mut first = hub.subscribe_from("t", Some("0")).unwrap();
    assert_eq!(drain(&mut first), [gap(new.as_str(), "unknown-id")]);
    let mut second = hub.subscribe_from("t", Some(old.as_str())).unwrap();
    assert_eq!(drain(&mut second), [ev(&new, "new")]);
}

#[tokio::test(start_paused = true)]
async fn idle_topics_expire_with_their_history() {
    let engine = Arc::new(
        MemoryEngine::new()
            .idle_timeout(std::time::Duration::from_secs(60))
            .max_topics(10),
    );
    let hub = HubConfig::new().engine(Arc::clone(&engine)).build();
    hub.publish("t", "x").await.unwrap();
    let sub = hub.subscribe("followed").unwrap();
    tokio::time::advance(std::time::Duration::from_secs(61)).await;
    engine.reclaim();
    assert_eq!(
        engine.topics(),
        ["followed"],
        "a followed topic never expires"
    );
    drop(sub);
    tokio::time::advance(std::time::Duration::from_secs(61)).await;
    engine.reclaim();
    assert!(engine.topics().is_empty());
}

#[tokio::test]
async fn dropping_a_subscription_releases_it_and_its_ring() {
    let hub = HubConfig::new().history(0).build();
    let a = hub.subscribe("room").unwrap();
    let b = hub.subscribe("room").unwrap();
    assert_eq!(hub.subscribers("room"), 2);
    assert_eq!(hub.topics(), ["room"]);
    drop(a);
    assert_eq!(hub.subscribers("room"), 1);
    drop(b);
    assert_eq!(hub.subscribers("room"), 0);
    assert!(hub.topics().is_empty());

    // The history stays with the engine.
    let engine = Arc::new(MemoryEngine::new().history(4));
    let hub = HubConfig::new().engine(Arc::clone(&engine)).build();
    drop(hub.subscribe("kept").unwrap());
    hub.publish("kept", "x").await.unwrap();
    assert!(hub.topics().is_empty());
    assert_eq!(engine.topics(), ["kept"]);
    assert_eq!(engine.history_len("kept"), 1);
}

#[tokio::test]
async fn past_max_topics_publish_and_subscribe_fail_with_their_own_error() {
    let hub = HubConfig::new().max_topics(3).build();
    for topic in ["a", "b", "c"] {
        hub.publish(topic, "x").await.unwrap();
    }
    let err = hub.publish("d", "x").await.unwrap_err();
    assert_eq!(err.kind(), tower_sse::ErrorKind::TooManyTopics);
    assert_eq!(
        err.to_string(),
        "too many topics: the hub is at its topic limit"
    );
    let err = hub.subscribe("d").unwrap_err();
    assert_eq!(err.kind(), tower_sse::ErrorKind::TooManyTopics);
    // Known topics keep working.
    let mut sub = hub.subscribe("a").unwrap();
    let id = hub.publish("a", "y").await.unwrap();
    assert_eq!(drain(&mut sub), [ev(&id, "y")]);
}

#[tokio::test]
async fn close_ends_every_stream_after_buffered_events() {
    let hub = Hub::new();
    let mut a = hub.subscribe("a").unwrap();
    let mut b = hub.subscribe("b").unwrap();
    let last = hub.publish("a", "last").await.unwrap();
    hub.close();
    assert_eq!(wire(&a.next().await.unwrap()), ev(&last, "last"));
    assert!(a.next().await.is_none());
    assert!(b.next().await.is_none());
    let mut after = hub.subscribe_from("a", Some("0")).unwrap();
    assert!(after.next().await.is_none());
    assert!(hub.publish("a", "x").await.is_err());
}

#[tokio::test]
async fn close_topic_ends_only_that_topic_and_starts_a_new_history() {
    let hub = Hub::new();
    let first = hub.publish("a", "first").await.unwrap();
    let mut a = hub.subscribe("a").unwrap();
    let mut b = hub.subscribe("b").unwrap();
    hub.close_topic("a");
    assert!(a.next().await.is_none());
    hub.publish("b", "still here").await.unwrap();
    assert!(b.next().await.is_some());
    // Publishing again opens a fresh history under a new epoch.
    let again = hub.publish("a", "again").await.unwrap();
    assert_ne!(epoch(&again), epoch(&first));
    let mut resumed = hub.subscribe_from("a", Some(first.as_str())).unwrap();
    assert_eq!(drain(&mut resumed), [gap(again.as_str(), "reset")]);
}

#[tokio::test]
async fn a_subscription_is_an_event_stream_body() {
    let hub = Hub::new();
    let a = hub.publish("t", "a").await.unwrap();
    let b = hub.publish("t", "b").await.unwrap();
    let sub = hub.subscribe_from("t", Some("0")).unwrap();
    let response = EventStream::new(sub).into_http_response();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    hub.close();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        String::from_utf8(body.to_vec()).unwrap(),
        ev(&a, "a") + &ev(&b, "b")
    );
}

#[tokio::test]
async fn a_stuck_subscriber_is_disconnected_and_others_get_everything() {
    let hub = HubConfig::new().buffer(8).build();
    let stuck = hub.subscribe("t").unwrap();
    let mut reader = hub.subscribe("t").unwrap();
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
    let mut back = hub.subscribe_from("t", Some("0")).unwrap();
    assert_eq!(drain(&mut back).len(), 100);
}

#[tokio::test]
async fn a_stuck_subscriber_skips_with_a_gap_and_others_get_everything() {
    let hub = HubConfig::new()
        .buffer(8)
        .slow_consumer(SlowConsumer::SkipWithGap)
        .build();
    let mut stuck = hub.subscribe("t").unwrap();
    let mut reader = hub.subscribe("t").unwrap();
    let mut ids = Vec::new();
    for n in 1..=100 {
        ids.push(hub.publish("t", format!("{n}")).await.unwrap());
        assert!(stuck.backlog() <= 8);
        reader.next().await.unwrap();
    }
    let events = drain(&mut stuck);
    assert_eq!(events[0], gap(ids[92].as_str(), "lagged"));
    let got: Vec<_> = events[1..]
        .iter()
        .map(|e| e.lines().next().unwrap().to_owned())
        .collect();
    let expected: Vec<_> = ids[92..].iter().map(|id| format!("id: {id}")).collect();
    assert_eq!(got, expected);
}
