//! `HubEventStore` (rmcp's `EventStore` on a hub) across two nodes on one
//! real `redis-server`: events stored through node A are replayed through
//! node B after any id, followed live until the request's response, and an
//! id of another stream or a made-up one yields nothing of anyone else's.
#![cfg(all(feature = "rmcp", feature = "redis"))]
// The sample messages are logging notifications: deprecated by SEP-2577 in
// rmcp, still plain JSON-RPC notifications for the store.
#![allow(deprecated)]

#[path = "support/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use futures_util::StreamExt;
use redis_server::RedisServer;
use rmcp::model::{
    CallToolResult, ContentBlock, LoggingLevel, LoggingMessageNotificationParam, RequestId,
    ServerJsonRpcMessage, ServerNotification, ServerResult,
};
use rmcp::transport::streamable_http_server::session::{EventStore, ServerSseMessage};
use tower_sse::mcp::HubEventStore;
use tower_sse::redis::RedisConfig;
use tower_sse::HubConfig;

fn node(redis: &RedisServer) -> HubEventStore {
    let config = RedisConfig::new(redis.url())
        .unwrap()
        .key_prefix("mcp-test:")
        .block_timeout(Duration::from_millis(500));
    HubEventStore::new(HubConfig::new().redis(config).build()).secret(b"shared secret")
}

fn log(text: &str) -> ServerSseMessage {
    let params = LoggingMessageNotificationParam::new(LoggingLevel::Info, serde_json::json!(text));
    let notification =
        ServerNotification::LoggingMessageNotification(rmcp::model::Notification::new(params));
    ServerSseMessage::from_message(ServerJsonRpcMessage::notification(notification))
}

fn response(id: i64) -> ServerSseMessage {
    let result = CallToolResult::success(vec![ContentBlock::text("done")]);
    ServerSseMessage::from_message(ServerJsonRpcMessage::response(
        ServerResult::CallToolResult(result),
        RequestId::Number(id),
    ))
}

fn text(message: &ServerSseMessage) -> String {
    serde_json::to_string(message.message.as_deref().unwrap()).unwrap()
}

#[tokio::test]
async fn a_stream_stored_on_one_node_is_replayed_and_followed_on_the_other() {
    let redis = RedisServer::start();
    let (a, b) = (node(&redis), node(&redis));
    let priming = a
        .store_event(
            "req-1",
            &ServerSseMessage::retry(Duration::from_millis(500)),
        )
        .await
        .unwrap();
    let first = a.store_event("req-1", &log("one")).await.unwrap();
    a.store_event("other-request", &log("secret"))
        .await
        .unwrap();

    let mut replay = b.replay_events_after(&priming).await.unwrap();
    let got = replay.next().await.unwrap();
    assert_eq!(got.event_id.as_deref(), Some(first.as_str()));
    assert!(text(&got).contains("one"));

    // Stored on A after the resume started: followed live on B, and the
    // response ends the replay.
    a.store_event("req-1", &log("two")).await.unwrap();
    let end = a.store_event("req-1", &response(1)).await.unwrap();
    let rest: Vec<_> = tokio::time::timeout(Duration::from_secs(5), replay.collect::<Vec<_>>())
        .await
        .expect("the replay ends after the response");
    assert_eq!(rest.len(), 2);
    assert!(text(&rest[0]).contains("two"));
    assert_eq!(rest[1].event_id.as_deref(), Some(end.as_str()));
    assert!(rest.iter().all(|m| !text(m).contains("secret")));
}

#[tokio::test]
async fn made_up_ids_are_refused_and_never_yield_other_streams_events() {
    let redis = RedisServer::start();
    let (a, b) = (node(&redis), node(&redis));
    let mine = a.store_event("mine", &log("mine")).await.unwrap();
    a.store_event("theirs", &log("secret")).await.unwrap();
    for bad in [
        "",
        "1",
        "event-1",
        "zz/1",
        &format!("{}/", &mine[..32]),
        "a b/c",
    ] {
        assert!(b.replay_events_after(bad).await.is_err(), "{bad:?}");
    }
    // A real token with a made-up position, epoch or offset: looked up
    // first and refused before any stream, on Redis too.
    let (token, hub_id) = mine.split_once('/').unwrap();
    let (epoch, _) = hub_id.split_once('.').unwrap();
    for guessed in [
        format!("{token}/0-1"),
        format!("{token}/zzzzzzzz.1-0"),
        format!("{token}/{epoch}.1-0"),
        format!("{token}/{epoch}.99999999999999-0"),
    ] {
        assert!(b.replay_events_after(&guessed).await.is_err(), "{guessed}");
    }
}

#[tokio::test]
async fn a_resume_after_the_response_ends_at_once() {
    let redis = RedisServer::start();
    let (a, b) = (node(&redis), node(&redis));
    a.store_event("req", &log("one")).await.unwrap();
    let end = a.store_event("req", &response(9)).await.unwrap();
    assert!(end.ends_with("/end"), "{end}");
    let replay = b.replay_events_after(&end).await.unwrap();
    let rest: Vec<_> = tokio::time::timeout(Duration::from_secs(1), replay.collect::<Vec<_>>())
        .await
        .expect("ends at once");
    assert!(rest.is_empty());
    // The id names a real event: a forged `/end` on a made-up id is refused.
    let forged = format!("{}/zzzzzzzz.1-0/end", &end[..32]);
    assert!(b.replay_events_after(&forged).await.is_err());
}

#[tokio::test]
async fn a_streams_keys_expire_after_its_priming_event_and_again_after_its_response() {
    let redis = RedisServer::start();
    let store = node(&redis).ttl(Duration::from_secs(600));
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ttls = |conn: &mut redis::aio::MultiplexedConnection| {
        let mut conn = conn.clone();
        async move {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg("mcp-test:*")
                .query_async(&mut conn)
                .await
                .unwrap();
            let mut ttls = Vec::new();
            for key in keys {
                let ttl: i64 = redis::cmd("TTL")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                ttls.push((key, ttl));
            }
            ttls.sort();
            ttls
        }
    };

    store
        .store_event(
            "req-1",
            &ServerSseMessage::retry(Duration::from_millis(500)),
        )
        .await
        .unwrap();
    let after_priming = ttls(&mut conn).await;
    assert_eq!(
        after_priming.len(),
        3,
        "stream, epoch and counter: {after_priming:?}"
    );
    assert!(
        after_priming.iter().all(|(_, ttl)| (1..=601).contains(ttl)),
        "{after_priming:?}"
    );
    store.store_event("req-1", &log("one")).await.unwrap();
    store.store_event("req-1", &response(1)).await.unwrap();
    let after_response = ttls(&mut conn).await;
    assert_eq!(after_response.len(), 3);
    for (key, ttl) in &after_response {
        // The epoch goes first, never after its stream.
        let most = if key.ends_with(":epoch") { 600 } else { 601 };
        assert!((1..=most).contains(ttl), "{key}: {ttl}");
    }
}
