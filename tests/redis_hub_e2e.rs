//! Two real axum servers, one `Hub` each, on one real `redis-server`: a
//! browser-like client reads from server A, disconnects, events go on, and
//! it reconnects to server B with `Last-Event-ID`: it receives exactly the
//! events it missed, then live ones.
#![cfg(feature = "redis")]

#[path = "support/client.rs"]
mod client;
#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/wait.rs"]
mod wait;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;
use hyper::body::Incoming;
use redis_server::RedisServer;
use tokio::net::TcpListener;
use tower_sse::parse::{EventReader, MessageEvent};
use tower_sse::redis::RedisConfig;
use tower_sse::{EventId, EventStream, Hub, HubConfig, Subscription};

const SOON: Duration = Duration::from_secs(10);

async fn events(
    State(hub): State<Hub>,
    Path(topic): Path<String>,
    headers: HeaderMap,
) -> http::Response<EventStream<Subscription>> {
    let last_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    EventStream::new(hub.subscribe_from(&topic, last_id).expect("subscribe")).into_http_response()
}

/// An app server with its own hub on the shared Redis.
async fn serve(redis: &RedisServer) -> (Hub, SocketAddr) {
    let config = RedisConfig::new(redis.url())
        .unwrap()
        .key_prefix("e2e:")
        .block_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_millis(500));
    let hub = HubConfig::new().redis(config).build();
    let app = Router::new()
        .route("/events/{topic}", get(events))
        .with_state(hub.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (hub, addr)
}

/// A client connection reading one event stream with the crate's parser.
struct Client {
    events: EventReader<Incoming>,
    conn: tokio::task::JoinHandle<()>,
}

impl Client {
    async fn connect(addr: SocketAddr, last_event_id: Option<&str>) -> Self {
        let headers: Vec<(&str, &[u8])> = last_event_id
            .map(|id| ("last-event-id", id.as_bytes()))
            .into_iter()
            .collect();
        let request = client::get("/events/room", &headers);
        let (response, conn) = client::send_h1(addr, request).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            events: EventReader::new(response.into_body()),
            conn,
        }
    }

    async fn next_event(&mut self) -> MessageEvent {
        loop {
            let item = tokio::time::timeout(SOON, self.events.next())
                .await
                .expect("no event within 10 s")
                .expect("the stream ended")
                .unwrap();
            if let Some(event) = item.into_event() {
                return event;
            }
        }
    }

    /// Closes the TCP connection, as a browser losing its network would.
    fn disconnect(self) {
        self.conn.abort();
    }
}

fn message(id: &EventId, data: &str) -> MessageEvent {
    MessageEvent::new(data).with_last_event_id(id.as_str())
}

async fn wait_for_subscribers(hub: &Hub, n: usize) {
    wait::until_true(&format!("{n} subscribers"), || hub.subscribers("room") == n).await;
}

#[tokio::test]
async fn a_client_moving_from_server_a_to_server_b_gets_exactly_the_missed_events_then_live_ones() {
    let redis = RedisServer::start();
    let (hub_a, addr_a) = serve(&redis).await;
    let (hub_b, addr_b) = serve(&redis).await;

    let mut client = Client::connect(addr_a, None).await;
    wait_for_subscribers(&hub_a, 1).await;
    // Published through A, where the client's subscription lives: A's
    // reader has started before the publish, so nothing is missed.
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(hub_a.publish("room", format!("m{n}")).await.unwrap());
    }
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(client.next_event().await, message(id, &format!("m{n}")));
    }
    let last_seen = client.events.parser().last_event_id().to_owned();
    assert_eq!(last_seen, ids[2].as_str());
    client.disconnect();
    wait_for_subscribers(&hub_a, 0).await;
    assert!(hub_a.topics().is_empty(), "A stopped following the topic");

    // Missed while disconnected, published on both servers.
    for n in 3..6 {
        let hub = if n % 2 == 0 { &hub_a } else { &hub_b };
        ids.push(hub.publish("room", format!("m{n}")).await.unwrap());
    }

    let mut client = Client::connect(addr_b, Some(&last_seen)).await;
    for (n, id) in ids.iter().enumerate().skip(3) {
        assert_eq!(client.next_event().await, message(id, &format!("m{n}")));
    }
    // Then live, from either server, each event exactly once.
    for n in 6..9 {
        let hub = if n % 2 == 0 { &hub_a } else { &hub_b };
        let id = hub.publish("room", format!("m{n}")).await.unwrap();
        assert_eq!(client.next_event().await, message(&id, &format!("m{n}")));
    }
    assert_eq!(hub_b.subscribers("room"), 1);
}

/// Publishes through `hub`, retrying while its connection notices that
/// Redis restarted (the first command after a restart may fail).
async fn publish_retrying(hub: &Hub, data: &str) -> EventId {
    let deadline = Instant::now() + SOON;
    loop {
        match hub.publish("room", data.to_owned()).await {
            Ok(id) => return id,
            Err(e) => assert!(Instant::now() < deadline, "publish kept failing: {e}"),
        }
    }
}

/// The reproduction 2: post w1, w2, w3; `kill -9` Redis; start it
/// again; post w4; resume with w2's id on either server. Returns, for each
/// server, the first event the resuming client got and the live event after.
async fn kill_redis_between_w3_and_w4(mut redis: RedisServer) -> Vec<Vec<MessageEvent>> {
    let (hub_a, addr_a) = serve(&redis).await;
    let (hub_b, addr_b) = serve(&redis).await;
    let mut ids = Vec::new();
    for w in ["w1", "w2", "w3"] {
        ids.push(hub_a.publish("room", w).await.unwrap());
    }
    redis.restart(); // SIGKILL, then start it again on the same port
    ids.push(publish_retrying(&hub_a, "w4").await);

    let mut clients = Vec::new();
    let mut seen = Vec::new();
    for (hub, addr) in [(&hub_a, addr_a), (&hub_b, addr_b)] {
        let mut client = Client::connect(addr, Some(ids[1].as_str())).await;
        let mut events = vec![client.next_event().await];
        if events[0].data == "w3" {
            events.push(client.next_event().await); // w4
        }
        wait_for_subscribers(hub, 1).await;
        clients.push(client);
        seen.push(events);
    }
    let live = hub_a.publish("room", "live").await.unwrap();
    for (client, events) in clients.iter_mut().zip(&mut seen) {
        events.push(client.next_event().await);
        assert_eq!(events.last().unwrap(), &message(&live, "live"));
    }
    seen
}

#[tokio::test]
async fn after_redis_restarts_empty_an_old_last_event_id_gets_a_gap_not_a_silent_skip() {
    let seen = kill_redis_between_w3_and_w4(RedisServer::start_without_persistence()).await;
    for events in seen {
        assert_eq!(events.len(), 2, "{events:?}");
        let gap = &events[0];
        assert_eq!(
            gap.event_type,
            tower_sse::GAP_EVENT_TYPE.as_str(),
            "{events:?}"
        );
        assert_eq!(gap.data, "reset", "the history w2 belonged to is gone");
        assert!(events.iter().all(|e| e.data != "w4"), "w4 would be a skip");
    }
}

#[tokio::test]
async fn after_a_persistent_redis_restarts_an_old_last_event_id_gets_exactly_the_missed_events() {
    let seen = kill_redis_between_w3_and_w4(RedisServer::start()).await;
    for events in seen {
        let data: Vec<_> = events.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, ["w3", "w4", "live"]);
        assert!(events.iter().all(|e| e.event_type == "message"));
    }
}
