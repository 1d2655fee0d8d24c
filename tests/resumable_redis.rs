//! Resumable streams across two real axum servers, each with its own hub on
//! one real `redis-server`: a stream produced on server A is read, resumed,
//! cancelled and expired through server B.
#![cfg(all(feature = "axum", feature = "redis"))]

#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/resumable_app.rs"]
mod resumable_app;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use redis_server::RedisServer;
use resumable_app::{data, get, post, serve};
use tower_sse::redis::RedisConfig;
use tower_sse::resumable::{ResumableConfig, ResumableStreams, StreamState, Terminal};
use tower_sse::HubConfig;

async fn node(
    redis: &RedisServer,
    prefix: &str,
    config: ResumableConfig,
) -> (ResumableStreams, SocketAddr) {
    let redis = RedisConfig::new(redis.url())
        .unwrap()
        .key_prefix(prefix)
        .block_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_millis(500));
    let hub = HubConfig::new().redis(redis).build();
    let streams = ResumableStreams::with_config(hub, config);
    let addr = serve(streams.clone()).await;
    (streams, addr)
}

#[tokio::test]
async fn a_stream_produced_on_one_server_resumes_on_the_other_through_redis() {
    let redis = RedisServer::start();
    let (a, _addr_a) = node(&redis, "x1:", ResumableConfig::new()).await;
    let (_b, addr_b) = node(&redis, "x1:", ResumableConfig::new()).await;
    let answer = a.create().await.unwrap();
    let path = format!("/streams/{}", answer.token());

    // Drop before the first real event, on server B.
    let mut reader = get(addr_b, &path, None).await.stream();
    let priming = reader.after_retry().await;
    assert_eq!(priming.data, "");
    drop(reader);

    let tokens: Vec<String> = (0..12).map(|i| format!("w{i} ")).collect();
    for token in &tokens[..6] {
        answer.send(token.clone()).await.unwrap();
    }
    let mut reader = get(addr_b, &path, Some(&priming.last_event_id))
        .await
        .stream();
    reader.next().await;
    let mut seen = vec![
        reader.event().await,
        reader.event().await,
        reader.event().await,
    ];
    drop(reader);
    for token in &tokens[6..] {
        answer.send(token.clone()).await.unwrap();
    }
    let end = answer.finish(Terminal::Done("ok".into())).await.unwrap();

    let mid = seen.last().unwrap().last_event_id.clone();
    let mut resumed = get(addr_b, &path, Some(&mid)).await.stream();
    seen.extend(resumed.rest().await);
    let text: String = seen[..seen.len() - 1]
        .iter()
        .map(|e| e.data.as_str())
        .collect();
    assert_eq!(text, tokens.concat());
    assert_eq!(seen.last().unwrap().event_type, "sse-done");

    // After the terminal event: 204 on B as well.
    let (status, _) = get(addr_b, &path, Some(end.as_str())).await.refused();
    assert_eq!(status, 204);
}

#[tokio::test]
async fn a_cancel_sent_to_the_other_server_reaches_the_producer_within_50_ms() {
    let redis = RedisServer::start();
    let (a, _addr_a) = node(&redis, "x2:", ResumableConfig::new()).await;
    let (b, addr_b) = node(&redis, "x2:", ResumableConfig::new()).await;
    let answer = a.create().await.unwrap();
    let token = answer.token().to_string();
    let producer = tokio::spawn(async move {
        let mut sent = 0_u32;
        loop {
            tokio::select! {
                () = answer.cancelled() => {
                    let noticed = Instant::now();
                    answer.finish(Terminal::Cancelled).await.unwrap();
                    return (sent, noticed);
                }
                () = tokio::time::sleep(Duration::from_millis(5)) => {
                    answer.send(format!("t{sent}")).await.unwrap();
                    sent += 1;
                }
            }
        }
    });
    let path = format!("/streams/{token}");
    let mut reader = get(addr_b, &path, None).await.stream();
    reader.after_retry().await;
    for _ in 0..10 {
        reader.event().await;
    }
    drop(reader);
    assert!(!producer.is_finished(), "a disconnect is not a cancel");
    assert_eq!(b.state(&token).await.unwrap(), Some(StreamState::Running));

    let asked = Instant::now();
    assert_eq!(post(addr_b, &format!("{path}/cancel")).await, 200);
    let (_, noticed) = producer.await.unwrap();
    let latency = noticed - asked;
    assert!(
        latency < Duration::from_millis(50),
        "cross-node cancel took {latency:?}"
    );
    assert_eq!(b.state(&token).await.unwrap(), Some(StreamState::Cancelled));
    let events = get(addr_b, &path, None).await.stream().rest().await;
    assert_eq!(events.last().unwrap().event_type, "sse-cancelled");
}

/// The epoch part of a hub id `<epoch>.<offset>`.
fn epoch_of(id: &tower_sse::EventId) -> String {
    id.as_str().split_once('.').unwrap().0.to_owned()
}

#[tokio::test]
async fn garbage_and_foreign_ids_are_refused_with_400_before_any_stream_on_redis() {
    let redis = RedisServer::start();
    let (a, _) = node(&redis, "x3:", ResumableConfig::new()).await;
    let (_b, addr_b) = node(&redis, "x3:", ResumableConfig::new()).await;
    let mine = a.create().await.unwrap();
    let other = a.create().await.unwrap();
    let mine_id = mine.send("mine").await.unwrap();
    let foreign = other.send("secret of another user").await.unwrap();
    other.finish(Terminal::Done(String::new())).await.unwrap();
    let path = format!("/streams/{}", mine.token());
    mine.finish(Terminal::Done(String::new())).await.unwrap();

    // Every id that is not an event of this stream is looked up first and
    // refused with 400 before any stream opens, as in memory.
    for (id, why) in [
        ("17", "an id of another engine"),
        (foreign.as_str(), "an id of another stream (another epoch)"),
        ("abcdefgh.1-0", "a made-up epoch"),
        (
            &*format!("{}.99999999999999-0", epoch_of(&mine_id)),
            "an id beyond the newest",
        ),
        (
            &*format!("{}.1-0", epoch_of(&mine_id)),
            "an id of this epoch never issued",
        ),
    ] {
        let (status, body) = get(addr_b, &path, Some(id)).await.refused();
        assert_eq!(
            (status, body.as_str()),
            (400, "Last-Event-ID is not an event of this stream"),
            "{why}"
        );
    }
    // The stream's own ids still resume, and never yield the other's events.
    let events = get(addr_b, &path, Some(mine_id.as_str()))
        .await
        .stream()
        .rest()
        .await;
    assert!(
        data(&events).iter().all(|d| !d.contains("secret")),
        "{events:?}"
    );
    assert_eq!(events.last().unwrap().event_type, "sse-done", "{events:?}");
    // Malformed ids are refused before any stream.
    assert_eq!(get(addr_b, &path, Some("a b")).await.refused().0, 400);
}

#[tokio::test]
async fn a_finished_stream_expires_in_redis_after_its_ttl() {
    let redis = RedisServer::start();
    let config = ResumableConfig::new().ttl(Duration::from_secs(1));
    let (a, _) = node(&redis, "x4:", config.clone()).await;
    let (b, addr_b) = node(&redis, "x4:", config).await;
    let answer = a.create().await.unwrap();
    let token = answer.token().to_string();
    answer.send("x").await.unwrap();
    answer.finish(Terminal::Done(String::new())).await.unwrap();
    assert_eq!(b.state(&token).await.unwrap(), Some(StreamState::Done));
    // Redis expires keys on its own clock: wait (bounded) for it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.state(&token).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "the record never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = get(addr_b, &format!("/streams/{token}"), None)
        .await
        .refused();
    assert_eq!(
        (status, body.as_str()),
        (404, "no such stream (unknown or expired)")
    );
}

#[tokio::test]
async fn the_idle_policy_sees_readers_on_the_other_server() {
    let redis = RedisServer::start();
    let config = ResumableConfig::new().cancel_when_unread(Duration::from_millis(300));
    let (a, _) = node(&redis, "x5:", config.clone()).await;
    let (_b, addr_b) = node(&redis, "x5:", config).await;
    let read = a.create().await.unwrap();
    let unread = a.create().await.unwrap();
    let mut reader = get(addr_b, &format!("/streams/{}", read.token()), None)
        .await
        .stream();
    reader.after_retry().await;
    // Bounded real time: Redis and two servers cannot run on paused time.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(unread.is_cancelled(), "nobody read it");
    assert!(!read.is_cancelled(), "a reader on server B is attached");
    drop(reader);
    tokio::time::timeout(Duration::from_secs(2), read.cancelled())
        .await
        .unwrap();
}
