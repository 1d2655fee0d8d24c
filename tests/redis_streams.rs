//! The Redis Streams store and topic readers against a real `redis-server`.
#![cfg(feature = "redis")]

#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/tcp_proxy.rs"]
mod tcp_proxy;

use std::ops::ControlFlow;
use std::time::Duration;

use redis_server::RedisServer;
use tcp_proxy::TcpProxy;
use tokio::sync::mpsc;
use tower_sse::engine::{Appended, Epoch, IdempotencyKey};
use tower_sse::redis::{Delivery, RedisConfig, RedisStreams, StreamId, TopicReader};
use tower_sse::{ErrorKind, Event};

/// Upper bound for anything that should happen "soon"; never reached when
/// the tests pass.
const SOON: Duration = Duration::from_secs(10);

fn config(server: &RedisServer) -> RedisConfig {
    RedisConfig::new(server.url())
        .unwrap()
        .key_prefix("test:")
        .block_timeout(Duration::from_millis(500))
        .backoff(Duration::from_millis(20), Duration::from_millis(200))
        .connect_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_millis(500))
}

async fn connect(server: &RedisServer) -> RedisStreams {
    RedisStreams::connect(config(server)).await.unwrap()
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

/// The next events delivered, as `(id, bytes)`; panics on a gap.
async fn next_events(rx: &mut mpsc::UnboundedReceiver<Delivery>) -> Vec<(StreamId, Vec<u8>)> {
    match tokio::time::timeout(SOON, rx.recv()).await {
        Ok(Some(Delivery::Events(events))) => events
            .into_iter()
            .map(|e| (e.id(), e.encoded().as_bytes().to_vec()))
            .collect(),
        other => panic!("expected events, got {other:?}"),
    }
}

#[tokio::test]
async fn a_published_event_replays_with_its_epoch_and_redis_id_as_the_sse_id() {
    let server = RedisServer::start();
    let streams = connect(&server).await;
    let event = Event::new()
        .try_event("chat")
        .unwrap()
        .id(42_u64) // ignored: Redis assigns the id
        .data("hello\nworld");

    let first = streams.publish("room", &event).await.unwrap();
    let second = streams
        .publish("room", &Event::new().data("2"))
        .await
        .unwrap();
    assert!(first < second);

    let replay = streams.replay("room", StreamId::ZERO).await.unwrap();
    assert!(replay.is_complete());
    let events = replay.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].id(), first);
    let epoch = streams.epoch("room").await.unwrap().unwrap();
    assert_eq!(events[0].event_id().as_str(), format!("{epoch}.{first}"));
    assert_eq!(
        events[0].encoded().as_bytes(),
        format!("event: chat\nid: {epoch}.{first}\ndata: hello\ndata: world\n\n").as_bytes()
    );

    // Exclusive: after the first id comes exactly the second event.
    let after_first = streams.replay("room", first).await.unwrap();
    assert!(after_first.is_complete());
    let ids: Vec<_> = after_first.events().iter().map(|e| e.id()).collect();
    assert_eq!(ids, [second]);
    assert!(streams
        .replay("room", second)
        .await
        .unwrap()
        .events()
        .is_empty());
    assert_eq!(streams.last_id("room").await.unwrap(), second);
    assert_eq!(streams.last_id("empty").await.unwrap(), StreamId::ZERO);
}

#[tokio::test]
async fn a_trimmed_last_event_id_is_reported_as_a_gap() {
    let server = RedisServer::start();
    let streams = RedisStreams::connect(config(&server).history(10))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..400 {
        let event = Event::new().data(i.to_string());
        ids.push(streams.publish("news", &event).await.unwrap());
    }

    let all = streams.replay("news", StreamId::ZERO).await.unwrap();
    assert!(
        all.events().len() >= 10,
        "MAXLEN ~ keeps at least the history"
    );
    assert!(all.events().len() < 400, "MAXLEN ~ trimmed the stream");
    assert!(!all.is_complete(), "the start of the stream is gone");

    let old = streams.replay("news", ids[0]).await.unwrap();
    assert!(!old.is_complete(), "events after the first were trimmed");

    let recent = streams.replay("news", ids[394]).await.unwrap();
    assert!(recent.is_complete());
    let got: Vec<_> = recent.events().iter().map(|e| e.id()).collect();
    assert_eq!(got, ids[395..]);

    // An id Redis never issued for this stream (from the future) is a gap too.
    let future = StreamId::new(ids[399].millis() + 1_000_000, 0);
    assert!(!streams.replay("news", future).await.unwrap().is_complete());
    // A stream that does not exist covers nothing but the very beginning.
    assert!(!streams
        .replay("nothing", ids[0])
        .await
        .unwrap()
        .is_complete());
    assert!(streams
        .replay("nothing", StreamId::ZERO)
        .await
        .unwrap()
        .is_complete());
}

#[tokio::test]
async fn readers_on_two_servers_receive_the_same_events_with_the_same_ids() {
    let server = RedisServer::start();
    let a = connect(&server).await;
    let b = connect(&server).await;
    let from = a.last_id("t").await.unwrap();
    let (_ra, mut rx_a) = follow(&a, "t", from);
    let (_rb, mut rx_b) = follow(&b, "t", from);

    let id = a.publish("t", &Event::new().data("x")).await.unwrap();
    let epoch = b.epoch("t").await.unwrap().unwrap();
    let expected = vec![(id, format!("id: {epoch}.{id}\ndata: x\n\n").into_bytes())];
    assert_eq!(next_events(&mut rx_a).await, expected);
    assert_eq!(next_events(&mut rx_b).await, expected);
}

#[tokio::test]
async fn publishing_while_redis_is_down_fails_promptly_with_a_backend_error() {
    let mut server = RedisServer::start();
    let streams = connect(&server).await;
    streams
        .publish("t", &Event::new().data("up"))
        .await
        .unwrap();

    server.kill();
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let err = streams
            .publish("t", &Event::new().data("down"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Backend);
        assert!(std::error::Error::source(&err).is_some());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    server.restart();
    // The first publish after Redis is back succeeds.
    streams
        .publish("t", &Event::new().data("back"))
        .await
        .unwrap();
    let data: Vec<_> = streams
        .replay("t", StreamId::ZERO)
        .await
        .unwrap()
        .into_events()
        .into_iter()
        .map(|e| String::from_utf8(e.encoded().as_bytes().to_vec()).unwrap())
        .filter_map(|s| s.lines().nth(1).map(str::to_owned))
        .collect();
    assert_eq!(
        data,
        ["data: up", "data: back"],
        "nothing published while down was kept"
    );
}

#[tokio::test]
async fn a_reader_resumes_from_its_last_id_after_redis_is_killed_and_restarted() {
    let mut server = RedisServer::start();
    let streams = connect(&server).await;
    let publisher = connect(&server).await;
    let (_reader, mut rx) = follow(&streams, "live", StreamId::ZERO);

    let before = publisher
        .publish("live", &Event::new().data("before"))
        .await
        .unwrap();
    assert_eq!(next_events(&mut rx).await[0].0, before);

    server.kill();
    assert!(publisher
        .publish("live", &Event::new().data("lost"))
        .await
        .is_err());
    server.restart();

    let mut after = Vec::new();
    for i in 0..3 {
        // The reader may still be backing off: publishing must not wait for it.
        let event = Event::new().data(format!("after {i}"));
        after.push(publisher.publish("live", &event).await.unwrap());
    }
    let mut received = Vec::new();
    while received.len() < after.len() {
        received.extend(next_events(&mut rx).await.into_iter().map(|(id, _)| id));
    }
    assert_eq!(
        received, after,
        "every event after the restart, once, in order"
    );

    // What Redis acknowledged before the kill survived it.
    let kept = publisher.replay("live", StreamId::ZERO).await.unwrap();
    assert_eq!(kept.events()[0].id(), before);
    assert_eq!(kept.events().len(), 4);
}

#[tokio::test]
async fn a_reader_that_missed_trimmed_events_while_disconnected_reports_a_gap() {
    let mut server = RedisServer::start();
    // A long first backoff, so that the backlog overflows the history well
    // before the reader comes back.
    let slow = config(&server)
        .history(10)
        .backoff(Duration::from_secs(3), Duration::from_secs(3));
    let streams = RedisStreams::connect(slow).await.unwrap();
    let publisher = RedisStreams::connect(config(&server).history(10))
        .await
        .unwrap();
    let (_reader, mut rx) = follow(&streams, "g", StreamId::ZERO);
    let first = publisher
        .publish("g", &Event::new().data("0"))
        .await
        .unwrap();
    assert_eq!(next_events(&mut rx).await[0].0, first);

    // Break the reader's connection and let the backlog overflow the history
    // before it can come back.
    server.kill();
    server.restart();
    for i in 0..400 {
        let _ = publisher
            .publish("g", &Event::new().data(i.to_string()))
            .await;
    }
    let mut saw_gap = false;
    let last = publisher.last_id("g").await.unwrap();
    let mut newest = first;
    while newest < last {
        match tokio::time::timeout(SOON, rx.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Delivery::Gap { after } => {
                assert_eq!(after, first);
                saw_gap = true;
            }
            Delivery::Events(events) => newest = events.last().unwrap().id(),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(saw_gap);
}

#[tokio::test]
async fn a_client_that_leaves_server_a_resumes_on_server_b_with_exactly_the_missed_events() {
    let server = RedisServer::start();
    let a = connect(&server).await;
    let b = connect(&server).await;
    let (reader_a, mut rx_a) = follow(&a, "feed", StreamId::ZERO);

    let mut published = Vec::new();
    for i in 0..3 {
        published.push(
            a.publish("feed", &Event::new().data(i.to_string()))
                .await
                .unwrap(),
        );
    }
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.extend(next_events(&mut rx_a).await);
    }
    // The client disconnects from A after the second event; its
    // Last-Event-ID is that event's id, as A sent it on the wire.
    let last_event_id = std::str::from_utf8(&seen[1].1)
        .unwrap()
        .strip_prefix("id: ")
        .and_then(|rest| rest.split('\n').next())
        .unwrap()
        .to_owned();
    drop(reader_a);
    for i in 3..5 {
        published.push(
            b.publish("feed", &Event::new().data(i.to_string()))
                .await
                .unwrap(),
        );
    }

    // The wire id is `<epoch>.<stream id>`.
    let position: tower_sse::engine::Position = last_event_id.parse().unwrap();
    assert_eq!(Some(position.epoch()), b.epoch("feed").await.unwrap());
    let replay = b.replay("feed", position.offset().into()).await.unwrap();
    assert!(replay.is_complete());
    let ids: Vec<_> = replay.events().iter().map(|e| e.id()).collect();
    assert_eq!(ids, published[2..]);
    // Server B encodes exactly the bytes server A sent for the same event.
    assert_eq!(replay.events()[0].encoded().as_bytes(), &seen[2].1[..]);
}

fn key(k: &str) -> IdempotencyKey {
    IdempotencyKey::new(k).unwrap()
}

fn id_of(appended: &Appended) -> StreamId {
    appended.position().offset().into()
}

fn epoch_of(appended: &Appended) -> Epoch {
    appended.position().epoch()
}

/// A plain connection for looking at (and tampering with) Redis directly.
async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_returns_the_first_id_and_stores_nothing() {
    let server = RedisServer::start();
    let config = config(&server).idempotency_window(Duration::from_secs(60));
    let streams = RedisStreams::connect(config).await.unwrap();
    let event = Event::new().data("paid");
    let first = streams
        .append("orders", &event, Some(&key("o-1")))
        .await
        .unwrap();
    assert!(!first.is_duplicate());
    assert_eq!(first.id().as_str(), first.position().to_string());
    for _ in 0..3 {
        let retry = streams
            .append("orders", &event, Some(&key("o-1")))
            .await
            .unwrap();
        assert!(retry.is_duplicate());
        assert_eq!(
            (retry.position(), retry.id()),
            (first.position(), first.id())
        );
    }
    // Another key, and no key, store new entries.
    let other = streams
        .append("orders", &event, Some(&key("o-2")))
        .await
        .unwrap();
    let plain = streams.append("orders", &event, None).await.unwrap();
    assert!(!other.is_duplicate() && !plain.is_duplicate());
    assert!(id_of(&first) < id_of(&other) && id_of(&other) < id_of(&plain));
    // The same key on another topic is another publish.
    let elsewhere = streams
        .append("invoices", &event, Some(&key("o-1")))
        .await
        .unwrap();
    assert!(!elsewhere.is_duplicate());

    let stored = streams.replay("orders", StreamId::ZERO).await.unwrap();
    let ids: Vec<_> = stored.events().iter().map(|e| e.id()).collect();
    assert_eq!(ids, [id_of(&first), id_of(&other), id_of(&plain)]);

    // Remembered keys are bounded: each one expires after the window.
    let mut conn = raw(&server).await;
    let redis_key = format!("{}:idem:o-1", streams.config().stream_key("orders"));
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&redis_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
}

#[tokio::test]
async fn the_first_publish_mints_an_epoch_that_every_entry_and_replay_carries() {
    let server = RedisServer::start();
    let streams = connect(&server).await;
    assert_eq!(streams.epoch("news").await.unwrap(), None);
    let first = streams
        .append("news", &Event::new().data("1"), None)
        .await
        .unwrap();
    let second = streams
        .append("news", &Event::new().data("2"), None)
        .await
        .unwrap();
    assert_eq!(
        epoch_of(&first),
        epoch_of(&second),
        "one history, one epoch"
    );
    assert_eq!(streams.epoch("news").await.unwrap(), Some(epoch_of(&first)));
    let replay = streams.replay("news", StreamId::ZERO).await.unwrap();
    assert_eq!(replay.epoch(), Some(epoch_of(&first)));
    assert!(replay
        .events()
        .iter()
        .all(|e| e.epoch() == Some(epoch_of(&first))));
    // Each topic has its own history.
    let other = streams.append("sports", &Event::new(), None).await.unwrap();
    assert_ne!(epoch_of(&other), epoch_of(&first));
}

#[tokio::test]
async fn a_stream_lost_with_an_unpersisted_redis_gets_a_new_epoch_and_its_old_ids_are_a_gap() {
    let mut server = RedisServer::start_without_persistence();
    let streams = connect(&server).await;
    let mut before = Vec::new();
    for w in ["w1", "w2", "w3"] {
        before.push(
            streams
                .append("walls", &Event::new().data(w), None)
                .await
                .unwrap(),
        );
    }
    server.restart(); // SIGKILL, then an empty server on the same port

    // Both the stream and its epoch are gone: resuming is "history lost".
    let lost = streams.replay("walls", id_of(&before[1])).await.unwrap();
    assert!(!lost.is_complete());
    assert_eq!(lost.epoch(), None);

    let w4 = streams
        .append("walls", &Event::new().data("w4"), None)
        .await
        .unwrap();
    assert_ne!(
        epoch_of(&w4),
        epoch_of(&before[0]),
        "a recreated stream is a new history"
    );
    assert!(
        id_of(&w4) > id_of(&before[2]),
        "its ids look newer than w2's"
    );
    // Redis' ids alone would call w2's id covered and skip to w4 silently.
    let resumed = streams.replay("walls", id_of(&before[1])).await.unwrap();
    assert!(
        !resumed.is_complete(),
        "w2's entry is missing although nothing was trimmed"
    );
    assert_eq!(resumed.epoch(), Some(epoch_of(&w4)));
    // A fresh subscriber of the new history is complete.
    let fresh = streams.replay("walls", StreamId::ZERO).await.unwrap();
    assert!(fresh.is_complete());
    assert_eq!(fresh.events().len(), 1);
}

#[tokio::test]
async fn replay_reads_a_long_history_in_bounded_pages_and_stays_complete() {
    let server = RedisServer::start();
    let streams = connect(&server).await;
    let mut ids = Vec::new();
    for i in 0..600 {
        ids.push(
            streams
                .publish("long", &Event::new().data(i.to_string()))
                .await
                .unwrap(),
        );
    }
    let all = streams.replay("long", StreamId::ZERO).await.unwrap();
    assert!(all.is_complete());
    let got: Vec<_> = all.events().iter().map(|e| e.id()).collect();
    assert_eq!(got.len(), ids.len());
    assert!(got == ids, "every event once, in order");

    let page = streams.replay_page("long", ids[99], 100).await.unwrap();
    assert!(page.is_complete() && page.has_more());
    let got: Vec<_> = page.events().iter().map(|e| e.id()).collect();
    assert_eq!(got, ids[100..200]);
    let last = streams.replay_page("long", ids[549], 100).await.unwrap();
    assert!(last.is_complete() && !last.has_more());
    assert_eq!(last.events().len(), 50);
    // A page never holds more than its limit, even for an absurd one.
    assert_eq!(
        streams
            .replay_page("long", StreamId::ZERO, 0)
            .await
            .unwrap()
            .events()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_reader_that_finds_its_stream_rewound_reports_a_gap_and_re_mints_the_epoch() {
    let server = RedisServer::start();
    let streams = connect(&server).await;
    let (_reader, mut rx) = follow(&streams, "fo", StreamId::ZERO);
    let mut published = Vec::new();
    for i in 0..3 {
        published.push(
            streams
                .append("fo", &Event::new().data(i.to_string()), None)
                .await
                .unwrap(),
        );
    }
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.extend(next_events(&mut rx).await);
    }
    let epoch = epoch_of(&published[0]);

    // What a failover to a replica that lacked the tail looks like: the
    // same epoch, the stream holding only its first entry, every client
    // disconnected.
    let mut conn = raw(&server).await;
    let key = streams.config().stream_key("fo");
    let first = id_of(&published[0]).to_string();
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg(&key)
        .arg(&first)
        .arg("v")
        .arg("1")
        .arg("x")
        .arg(epoch.as_str())
        .arg("d")
        .arg("0")
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query_async(&mut conn)
        .await
        .unwrap();

    match tokio::time::timeout(SOON, rx.recv())
        .await
        .unwrap()
        .unwrap()
    {
        Delivery::Gap { after } => assert_eq!(after, id_of(&published[2])),
        other => panic!("expected a gap, got {other:?}"),
    }
    let reminted = streams.epoch("fo").await.unwrap().unwrap();
    assert_ne!(
        reminted, epoch,
        "ids of the rewound history must not resume"
    );
    // The surviving first entry is not delivered again; the next one is,
    // in the new epoch.
    let next = streams
        .append("fo", &Event::new().data("3"), None)
        .await
        .unwrap();
    assert_eq!(epoch_of(&next), reminted);
    let events = next_events(&mut rx).await;
    assert_eq!(
        events.iter().map(|e| e.0).collect::<Vec<_>>(),
        [id_of(&next)]
    );
}

#[tokio::test]
async fn a_publish_whose_reply_is_lost_is_retried_with_its_key_and_stored_and_delivered_once() {
    let server = RedisServer::start();
    let upstream = ([127, 0, 0, 1], server.port()).into();
    let proxy = TcpProxy::start(upstream).await;
    let publisher = RedisStreams::connect(
        RedisConfig::new(proxy.redis_url())
            .unwrap()
            .key_prefix("test:")
            .connect_timeout(Duration::from_millis(500))
            .response_timeout(Duration::from_millis(500)),
    )
    .await
    .unwrap();
    // The subscriber reads Redis directly, not through the proxy.
    let subscriber = connect(&server).await;
    let (_reader, mut rx) = follow(&subscriber, "pay", StreamId::ZERO);
    // Load the publish script first, so that the swallowed reply is the
    // script's own answer and not a `NOSCRIPT`.
    let _warm_up = publisher
        .append("warm-up", &Event::new(), None)
        .await
        .unwrap();

    let event = Event::new().data("order 17 paid");
    let key = key("order-17");
    proxy.swallow_next_reply();
    let lost = publisher.append("pay", &event, Some(&key)).await;
    assert!(lost.is_err(), "the publish whose reply was lost fails");
    assert_eq!(proxy.swallowed(), 1);
    let stored = subscriber.replay("pay", StreamId::ZERO).await.unwrap();
    assert_eq!(stored.events().len(), 1, "Redis did store it");
    let stored_id = stored.events()[0].id();

    // The caller retries with the same key until Redis answers.
    let mut retried = None;
    for _ in 0..20 {
        if let Ok(appended) = publisher.append("pay", &event, Some(&key)).await {
            retried = Some(appended);
            break;
        }
    }
    let retried = retried.expect("a retry succeeds once the proxy reconnected");
    assert!(retried.is_duplicate());
    assert_eq!(
        id_of(&retried),
        stored_id,
        "the retry answers the original id"
    );
    let stored = subscriber.replay("pay", StreamId::ZERO).await.unwrap();
    assert_eq!(stored.events().len(), 1, "exactly one entry is stored");

    // Exactly one event reaches the subscriber: the next thing after it is
    // the marker published afterwards.
    let marker = publisher
        .append("pay", &Event::new().data("marker"), None)
        .await
        .unwrap();
    let mut received = Vec::new();
    while received.last() != Some(&id_of(&marker)) {
        received.extend(next_events(&mut rx).await.into_iter().map(|(id, _)| id));
    }
    assert_eq!(received, [stored_id, id_of(&marker)]);
}

#[tokio::test]
async fn a_reader_whose_connection_never_broke_notices_a_rewind_by_the_entry_numbers() {
    let server = RedisServer::start();
    let streams = connect(&server).await;
    let (_reader, mut rx) = follow(&streams, "quiet", StreamId::ZERO);
    let mut published = Vec::new();
    for i in 0..3 {
        let event = Event::new().data(i.to_string());
        published.push(streams.append("quiet", &event, None).await.unwrap());
    }
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.extend(next_events(&mut rx).await);
    }
    let epoch = epoch_of(&published[0]);

    // Rewind the stream to its first entry in place, as a replica that
    // lacked the tail would hold it, without disconnecting anyone: the
    // reader's `XREAD` goes on and only sees the next entry, numbered 2.
    let mut conn = raw(&server).await;
    let keys = streams.config().stream_key("quiet");
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg(&keys)
        .arg(id_of(&published[0]).to_string())
        .arg("v")
        .arg("1")
        .arg("x")
        .arg(epoch.as_str())
        .arg("n")
        .arg("1")
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(format!("{keys}:seq"))
        .arg(1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let next = streams
        .append("quiet", &Event::new().data("3"), None)
        .await
        .unwrap();
    assert_eq!(epoch_of(&next), epoch, "published before anyone noticed");

    match tokio::time::timeout(SOON, rx.recv())
        .await
        .unwrap()
        .unwrap()
    {
        Delivery::Gap { after } => assert_eq!(after, id_of(&published[2])),
        other => panic!("expected a gap, got {other:?}"),
    }
    assert_eq!(next_events(&mut rx).await[0].0, id_of(&next));
    let reminted = streams.epoch("quiet").await.unwrap().unwrap();
    assert_ne!(reminted, epoch, "the rewound epoch is re-minted");
}
