//! End to end over a real server: a client disconnects mid-stream, events
//! continue, and on reconnect with `Last-Event-ID` it receives exactly the
//! events it missed, then live ones.

#[path = "support/client.rs"]
mod client;
#[path = "support/wait.rs"]
mod wait;

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use bytes::BytesMut;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tower_sse::{EventStream, Hub, Subscription};

async fn events(
    State(hub): State<Hub>,
    Path(topic): Path<String>,
    headers: HeaderMap,
) -> http::Response<EventStream<Subscription>> {
    let last_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    EventStream::new(hub.subscribe_from(&topic, last_id).expect("subscribe")).into_http_response()
}

async fn serve(hub: Hub) -> std::net::SocketAddr {
    let app = Router::new()
        .route("/events/{topic}", get(events))
        .with_state(hub);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A client connection reading one event stream.
struct Client {
    body: Incoming,
    buf: BytesMut,
    conn: tokio::task::JoinHandle<()>,
}

impl Client {
    async fn connect(addr: std::net::SocketAddr, last_id: Option<&str>) -> Self {
        let headers: Vec<(&str, &[u8])> = last_id
            .map(|id| ("last-event-id", id.as_bytes()))
            .into_iter()
            .collect();
        let request = client::get("/events/room", &headers);
        let (response, conn) = client::send_h1(addr, request).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            body: response.into_body(),
            buf: BytesMut::new(),
            conn,
        }
    }

    /// The next complete event, as wire text.
    async fn next_event(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let event = self.buf.split_to(end + 2);
                return String::from_utf8(event.to_vec()).unwrap();
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame())
                .await
                .expect("no event within 10 s")
                .expect("body ended")
                .unwrap();
            if let Ok(data) = frame.into_data() {
                self.buf.extend_from_slice(&data);
            }
        }
    }

    /// Closes the TCP connection.
    fn disconnect(self) {
        self.conn.abort();
    }
}

async fn wait_for_subscribers(hub: &Hub, n: usize) {
    wait::until_true(&format!("{n} subscribers"), || hub.subscribers("room") == n).await;
}

#[tokio::test]
async fn a_reconnecting_client_receives_exactly_the_missed_events() {
    let hub = Hub::new();
    let addr = serve(hub.clone()).await;

    let mut client = Client::connect(addr, None).await;
    wait_for_subscribers(&hub, 1).await;
    let mut ids = vec![String::new()];
    for n in 1..=3 {
        ids.push(
            hub.publish("room", format!("m{n}"))
                .await
                .unwrap()
                .to_string(),
        );
    }
    for (n, id) in ids.iter().enumerate().skip(1) {
        assert_eq!(
            client.next_event().await,
            format!("id: {id}\ndata: m{n}\n\n")
        );
    }

    client.disconnect();
    // The server notices and releases the subscription.
    wait_for_subscribers(&hub, 0).await;
    for n in 4..=6 {
        ids.push(
            hub.publish("room", format!("m{n}"))
                .await
                .unwrap()
                .to_string(),
        );
    }

    let mut client = Client::connect(addr, Some(&ids[3])).await;
    for (n, id) in ids.iter().enumerate().skip(4) {
        assert_eq!(
            client.next_event().await,
            format!("id: {id}\ndata: m{n}\n\n")
        );
    }
    let seven = hub.publish("room", "m7").await.unwrap();
    assert_eq!(
        client.next_event().await,
        format!("id: {seven}\ndata: m7\n\n")
    );

    // Closing the hub ends the body cleanly.
    hub.close();
    let rest = client.body.collect().await.unwrap().to_bytes();
    assert!(rest.is_empty() && client.buf.is_empty());
}

#[tokio::test]
async fn a_reconnect_beyond_the_history_starts_with_a_gap_event() {
    let hub = tower_sse::HubConfig::new().history(2).build();
    let addr = serve(hub.clone()).await;
    let mut ids = Vec::new();
    for n in 1..=5 {
        ids.push(hub.publish("room", format!("m{n}")).await.unwrap());
    }
    let mut client = Client::connect(addr, Some(ids[0].as_str())).await;
    assert_eq!(
        client.next_event().await,
        format!("event: sse-gap\nid: {}\ndata: unknown-id\n\n", ids[4])
    );
    let six = hub.publish("room", "m6").await.unwrap();
    assert_eq!(
        client.next_event().await,
        format!("id: {six}\ndata: m6\n\n")
    );
    client.disconnect();
}
