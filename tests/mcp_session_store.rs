//! `HubSessionStore` on a real `redis-server`: a session stored through one
//! node loads on another, is gone after `delete` or its TTL, and malformed
//! ids or oversized states never reach Redis.
#![cfg(all(feature = "rmcp", feature = "redis"))]

#[path = "support/redis_server.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use redis_server::RedisServer;
use rmcp::model::{ClientCapabilities, Implementation, InitializeRequestParams};
use rmcp::transport::streamable_http_server::session::{SessionState, SessionStore};
use tower_sse::mcp::HubSessionStore;
use tower_sse::redis::RedisConfig;
use tower_sse::HubConfig;

fn node(redis: &RedisServer) -> HubSessionStore {
    let config = RedisConfig::new(redis.url())
        .unwrap()
        .key_prefix("sessions-test:");
    HubSessionStore::new(&HubConfig::new().redis(config).build())
}

fn state(name: &str) -> SessionState {
    SessionState::new(InitializeRequestParams::new(
        ClientCapabilities::default(),
        Implementation::new(name, "2.0"),
    ))
}

#[tokio::test]
async fn a_session_stored_on_one_node_loads_on_the_other_until_deleted() {
    let redis = RedisServer::start();
    let (a, b) = (node(&redis), node(&redis));
    assert!(a.is_shared() && b.is_shared());
    a.store("session-1", &state("client one")).await.unwrap();
    let loaded = b.load("session-1").await.unwrap().expect("stored on A");
    assert_eq!(loaded.initialize_params.client_info.name, "client one");
    assert_eq!(loaded.initialize_params.client_info.version, "2.0");
    assert!(b.load("session-2").await.unwrap().is_none());
    b.delete("session-1").await.unwrap();
    assert!(a.load("session-1").await.unwrap().is_none());
}

#[tokio::test]
async fn a_session_expires_in_redis_after_its_ttl() {
    let redis = RedisServer::start();
    let a = node(&redis).ttl(Duration::from_secs(1));
    a.store("short", &state("c")).await.unwrap();
    assert!(a.load("short").await.unwrap().is_some());
    // A load refreshes the TTL, so watch the key without loading; Redis
    // expires keys on its own clock: wait (bounded) for it.
    let exists = || {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &redis.port().to_string()])
            .args(["EXISTS", "sessions-test:mcp-session:short"])
            .output()
            .expect("redis-cli (installed with redis-server)");
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    };
    assert!(exists(), "the key is where the docs say");
    let deadline = Instant::now() + Duration::from_secs(5);
    while exists() {
        assert!(Instant::now() < deadline, "the session never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(a.load("short").await.unwrap().is_none());
}

#[tokio::test]
async fn malformed_ids_and_oversized_states_never_reach_redis() {
    let redis = RedisServer::start();
    let a = node(&redis).max_state_bytes(300);
    for bad in ["", "a b", "x\r\ny", &"z".repeat(129)] {
        assert!(a.store(bad, &state("c")).await.is_err(), "{bad:?}");
        assert!(a.load(bad).await.unwrap().is_none(), "{bad:?}");
        a.delete(bad).await.unwrap();
    }
    let err = a
        .store("big", &state(&"n".repeat(1_000)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("larger than the bound"), "{err}");
    assert!(node(&redis).load("big").await.unwrap().is_none());
}
