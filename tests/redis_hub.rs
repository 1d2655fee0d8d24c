//! `Hub` with the Redis backend against a real `redis-server`: two hubs
//! stand for two app servers sharing one Redis.
#![cfg(feature = "redis")]

#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/tcp_proxy.rs"]
mod tcp_proxy;
#[path = "support/wait.rs"]
mod wait;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis_server::RedisServer;
use tower_sse::redis::RedisConfig;
use tower_sse::{ErrorKind, EventId, Hub, HubConfig, PublishOptions, Subscription};

/// Upper bound for anything that should happen "soon"; never reached when
/// the tests pass.
const SOON: Duration = Duration::from_secs(10);

fn redis(server: &RedisServer) -> RedisConfig {
    RedisConfig::new(server.url())
        .unwrap()
        .key_prefix("hub-test:")
        .block_timeout(Duration::from_millis(500))
        .backoff(Duration::from_millis(20), Duration::from_millis(200))
        .connect_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_millis(500))
}

fn hub(server: &RedisServer) -> Hub {
    HubConfig::new().redis(redis(server)).build()
}

async fn next(sub: &mut Subscription) -> String {
    let event = tokio::time::timeout(SOON, sub.next())
        .await
        .expect("no event within 10 s")
        .expect("the subscription ended");
    String::from_utf8(event.as_bytes().to_vec()).unwrap()
}

fn wire(id: &EventId, data: &str) -> String {
    format!("id: {id}\ndata: {data}\n\n")
}

/// Polls `condition` (never a fixed sleep standing in for it) for up to 10 s.
async fn until(what: &str, condition: impl FnMut() -> bool) {
    wait::until_true(what, condition).await;
}

#[tokio::test]
async fn an_event_published_on_server_a_reaches_subscribers_on_a_and_b_with_one_id() {
    let server = RedisServer::start();
    let (a, b) = (hub(&server), hub(&server));
    let mut on_a = a.subscribe("room").unwrap();
    // B joins from a known event, so it cannot miss anything after it
    // however long its reader takes to start.
    let start = a.publish("room", "start").await.unwrap();
    assert_eq!(next(&mut on_a).await, wire(&start, "start"));
    let mut on_b = b.subscribe_from("room", Some(start.as_str())).unwrap();

    let mut ids = Vec::new();
    for data in ["one", "two", "three"] {
        ids.push(a.publish("room", data).await.unwrap());
    }
    assert!(
        ids[0].as_str().contains('-'),
        "a Redis stream id: {}",
        ids[0]
    );
    for (id, data) in ids.iter().zip(["one", "two", "three"]) {
        assert_eq!(next(&mut on_a).await, wire(id, data));
        assert_eq!(next(&mut on_b).await, wire(id, data));
    }
    // B publishes too, A receives it: the topic is shared both ways.
    let from_b = b.publish("room", "from b").await.unwrap();
    assert_eq!(next(&mut on_a).await, wire(&from_b, "from b"));
    assert_eq!(next(&mut on_b).await, wire(&from_b, "from b"));
    assert_eq!((a.subscribers("room"), b.subscribers("room")), (1, 1));
}

#[tokio::test]
async fn subscribe_then_publish_on_one_server_never_misses_the_first_event() {
    let server = RedisServer::start();
    for round in 0..20 {
        let hub = hub(&server);
        let topic = format!("fresh-{round}");
        // No reader runs for the topic yet: publishing waits for it to start.
        let mut sub = hub.subscribe(&topic).unwrap();
        let id = hub.publish(&topic, "first").await.unwrap();
        assert_eq!(next(&mut sub).await, wire(&id, "first"));
    }
}

#[tokio::test]
async fn a_last_event_id_from_server_a_replays_exactly_the_missed_events_on_server_b() {
    let server = RedisServer::start();
    let (a, b) = (hub(&server), hub(&server));
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(a.publish("feed", format!("m{n}")).await.unwrap());
    }
    let mut sub = b.subscribe_from("feed", Some(ids[1].as_str())).unwrap();
    for (n, id) in ids.iter().enumerate().skip(2) {
        assert_eq!(next(&mut sub).await, wire(id, &format!("m{n}")));
    }
    let live = a.publish("feed", "live").await.unwrap();
    assert_eq!(next(&mut sub).await, wire(&live, "live"));
    // "0" replays the whole retained stream.
    let mut all = b.subscribe_from("feed", Some("0")).unwrap();
    assert_eq!(next(&mut all).await, wire(&ids[0], "m0"));
}

#[tokio::test]
async fn a_trimmed_or_foreign_last_event_id_starts_with_a_gap_event_then_continues() {
    let server = RedisServer::start();
    let hub = HubConfig::new().history(10).redis(redis(&server)).build();
    let first = hub.publish("news", "0").await.unwrap();
    let mut newest = first.clone();
    for n in 1..400 {
        newest = hub.publish("news", n.to_string()).await.unwrap();
    }
    let gap = format!("event: sse-gap\nid: {newest}\ndata: unknown-id\n\n");
    let mut sub = hub.subscribe_from("news", Some(first.as_str())).unwrap();
    assert_eq!(next(&mut sub).await, gap);
    // An id that is not a stream id (say, from an in-memory hub) is unknown too.
    let mut foreign = hub.subscribe_from("news", Some("42")).unwrap();
    assert_eq!(next(&mut foreign).await, gap);

    let after = hub.publish("news", "after").await.unwrap();
    assert_eq!(next(&mut sub).await, wire(&after, "after"));
    assert_eq!(next(&mut foreign).await, wire(&after, "after"));
}

#[tokio::test]
async fn subscribers_continue_across_a_redis_restart_without_losing_an_event() {
    let mut server = RedisServer::start();
    let (a, b) = (hub(&server), hub(&server));
    let mut on_a = a.subscribe("live").unwrap();
    let before = a.publish("live", "before").await.unwrap();
    let mut on_b = b.subscribe_from("live", Some("0")).unwrap();
    for sub in [&mut on_a, &mut on_b] {
        assert_eq!(next(sub).await, wire(&before, "before"));
    }

    server.kill();
    let err = a.publish("live", "lost").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend);
    server.restart();

    // Publishing resumes at once (the readers may still be backing off) and
    // both subscribers, never resubscribed, receive every event, in order.
    let mut after = Vec::new();
    for n in 0..5 {
        let publisher = if n % 2 == 0 { &a } else { &b };
        after.push(
            publisher
                .publish("live", format!("after {n}"))
                .await
                .unwrap(),
        );
    }
    for sub in [&mut on_a, &mut on_b] {
        for (n, id) in after.iter().enumerate() {
            assert_eq!(next(sub).await, wire(id, &format!("after {n}")));
        }
    }
    // What Redis acknowledged before the kill survived it.
    let mut replay = a.subscribe_from("live", Some("0")).unwrap();
    assert_eq!(next(&mut replay).await, wire(&before, "before"));
    assert_eq!(next(&mut replay).await, wire(&after[0], "after 0"));
}

#[tokio::test]
async fn publishing_while_redis_is_down_fails_promptly_with_a_backend_error() {
    let mut server = RedisServer::start();
    let connected = hub(&server);
    connected.publish("t", "up").await.unwrap();
    server.kill();
    // A hub that has never reached Redis fails the same way.
    let fresh = hub(&server);
    for hub in [&connected, &fresh] {
        for _ in 0..3 {
            let started = Instant::now();
            let err = hub.publish("t", "down").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Backend);
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{:?}",
                started.elapsed()
            );
        }
    }
    // A resuming subscription cannot be replayed: it ends (the browser
    // retries later) instead of skipping events.
    let mut resuming = fresh.subscribe_from("t", Some("1-0")).unwrap();
    let ended = tokio::time::timeout(SOON, resuming.next()).await.unwrap();
    assert!(ended.is_none());

    server.restart();
    let back = fresh.publish("t", "back").await.unwrap();
    let mut sub = fresh.subscribe_from("t", Some("0")).unwrap();
    assert_eq!(next(&mut sub).await.lines().nth(1), Some("data: up"));
    assert_eq!(next(&mut sub).await, wire(&back, "back"));
}

#[tokio::test]
async fn a_server_whose_reader_missed_trimmed_events_sends_a_lagged_gap_then_continues() {
    let mut server = RedisServer::start();
    // B's reader waits 3 s before reconnecting, long enough for the stream
    // to be trimmed past its last id.
    let slow = redis(&server).backoff(Duration::from_secs(3), Duration::from_secs(3));
    let b = HubConfig::new().history(10).redis(slow).build();
    let a = HubConfig::new().history(10).redis(redis(&server)).build();
    let first = a.publish("g", "first").await.unwrap();
    let mut sub = b.subscribe_from("g", Some("0")).unwrap();
    assert_eq!(next(&mut sub).await, wire(&first, "first"));

    server.restart();
    // The restart was instant: A's first publish may still meet its dropped
    // connection and fail (clearly); it is the app's to retry.
    let deadline = Instant::now() + SOON;
    while let Err(err) = a.publish("g", "-1").await {
        assert_eq!(err.kind(), ErrorKind::Backend);
        assert!(
            Instant::now() < deadline,
            "publishing did not resume: {err}"
        );
    }
    for n in 0..400 {
        a.publish("g", n.to_string()).await.unwrap();
    }
    let gap = next(&mut sub).await;
    let resume = gap
        .strip_prefix("event: sse-gap\nid: ")
        .and_then(|rest| rest.strip_suffix("\ndata: lagged\n\n"))
        .unwrap_or_else(|| panic!("not a lagged gap: {gap:?}"))
        .to_owned();
    // The gap's id is the first event after it, which follows.
    let following = next(&mut sub).await;
    assert!(
        following.starts_with(&format!("id: {resume}\n")),
        "{following}"
    );
    let last = a.publish("g", "last").await.unwrap();
    while let Some(event) = tokio::time::timeout(SOON, sub.next()).await.unwrap() {
        if event.as_bytes() == wire(&last, "last").as_bytes() {
            return;
        }
    }
    panic!("the subscription ended before the last event");
}

#[tokio::test]
async fn close_ends_streams_and_an_idle_topic_stops_being_followed_until_resubscribed() {
    let server = RedisServer::start();
    let hub = hub(&server);
    let sub = hub.subscribe("t").unwrap();
    assert_eq!(hub.topics(), ["t"]);
    drop(sub);
    assert!(
        hub.topics().is_empty(),
        "the topic and its reader are released"
    );

    // Following starts again for a new subscriber.
    let mut again = hub.subscribe("t").unwrap();
    let id = hub.publish("t", "again").await.unwrap();
    assert_eq!(next(&mut again).await, wire(&id, "again"));
    until("one subscriber is counted", || hub.subscribers("t") == 1).await;

    hub.close();
    assert!(tokio::time::timeout(SOON, again.next())
        .await
        .unwrap()
        .is_none());
    assert!(hub.subscribe("t").unwrap().next().await.is_none());
    let err = hub.publish("t", "closed").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed);
}

#[tokio::test]
async fn a_hub_publish_whose_reply_is_lost_is_retried_with_its_key_and_reaches_subscribers_once() {
    let server = RedisServer::start();
    let proxy = tcp_proxy::TcpProxy::start(([127, 0, 0, 1], server.port()).into()).await;
    // Server A publishes through the proxy; server B subscribes directly.
    let through_proxy = RedisConfig::new(proxy.redis_url())
        .unwrap()
        .key_prefix("hub-test:")
        .connect_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_millis(500));
    let a = HubConfig::new().redis(through_proxy).build();
    let b = hub(&server);
    let mut sub = b.subscribe("pay").unwrap();
    // A's first publish loads the script; its reply is let through.
    let warm_up = a.publish("warm-up", "x").await.unwrap();
    assert!(!warm_up.as_str().is_empty());
    until("B follows the topic", || {
        b.topics().iter().any(|t| t == "pay")
    })
    .await;
    let positioned = b.publish("pay", "positioned").await.unwrap();
    assert_eq!(next(&mut sub).await, wire(&positioned, "positioned"));

    let options = || {
        PublishOptions::new()
            .try_idempotency_key("order-17")
            .unwrap()
    };
    proxy.swallow_next_reply();
    let lost = a.publish_with("pay", "paid", options()).await;
    assert!(lost.is_err(), "the publish whose reply was lost fails");
    assert_eq!(proxy.swallowed(), 1);
    let mut retried = None;
    for _ in 0..20 {
        if let Ok(appended) = a.publish_with("pay", "paid", options()).await {
            retried = Some(appended);
            break;
        }
    }
    let retried = retried.expect("a retry succeeds once the proxy reconnected");
    assert!(retried.is_duplicate(), "Redis had stored the first attempt");
    assert_eq!(next(&mut sub).await, wire(retried.id(), "paid"));
    let marker = b.publish("pay", "marker").await.unwrap();
    assert_eq!(
        next(&mut sub).await,
        wire(&marker, "marker"),
        "exactly one copy reached the subscriber"
    );
}

#[tokio::test]
async fn a_live_subscriber_whose_unpersisted_redis_restarts_empty_is_told_and_resumes_with_reset() {
    let mut server = RedisServer::start_without_persistence();
    let a = hub(&server);
    let mut sub = a.subscribe("room").unwrap();
    until("A follows the topic", || !a.topics().is_empty()).await;
    let w1 = a.publish("room", "w1").await.unwrap();
    assert_eq!(next(&mut sub).await, wire(&w1, "w1"));

    server.restart(); // SIGKILL, then an empty server
    let deadline = Instant::now() + SOON;
    let w2 = loop {
        match a.publish("room", "w2").await {
            Ok(id) => break id,
            Err(e) => assert!(Instant::now() < deadline, "publish kept failing: {e}"),
        }
    };
    assert_ne!(
        w2.as_str().split('.').next(),
        w1.as_str().split('.').next(),
        "the recreated stream is a new epoch"
    );
    // The live stream ends (a new history: its offsets do not continue the
    // old ones) instead of carrying w2 on as if nothing happened.
    let ended = tokio::time::timeout(SOON, sub.next())
        .await
        .expect("in time");
    assert!(ended.is_none(), "got {ended:?}");
    // The browser reconnects with w1's id: the reset gap, then live events.
    let mut again = a.subscribe_from("room", Some(w1.as_str())).unwrap();
    assert_eq!(
        next(&mut again).await,
        format!("event: sse-gap\nid: {w2}\ndata: reset\n\n")
    );
    let w3 = a.publish("room", "w3").await.unwrap();
    assert_eq!(next(&mut again).await, wire(&w3, "w3"));
}
