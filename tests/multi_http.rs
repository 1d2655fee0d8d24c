//! Multi-topic subscriptions over real HTTP (axum on 127.0.0.1:0): the
//! authorizer refuses before any stream opens, private events reach only
//! their principals live and in replay, an expired subscription ends with a
//! retry hint, edited or foreign cursors get gaps only, and topics may change
//! between connections.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Query, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::request::Parts;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::sse::Stream;
use support::TestResult;
use tower_sse::multi::{Multiplexer, Refusal, Subscriber};
use tower_sse::parse::{Item, MessageEvent};
use tower_sse::{EventStream, Hub, HubConfig};

#[derive(serde::Deserialize)]
struct Topics {
    topics: String,
}

async fn events(
    State(multi): State<Multiplexer>,
    Query(q): Query<Topics>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    match multi.subscribe_parts(&parts, q.topics.split(',')).await {
        Ok(stream) => EventStream::from(stream)
            .into_http_response()
            .into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// The app's auth layer: `Authorization: Bearer <user>[ <exp unix secs>]`.
async fn auth(mut request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    if let Some(token) = header {
        let mut words = token.split(' ');
        let mut who = Subscriber::new(words.next().unwrap_or_default());
        if let Some(exp) = words.next().and_then(|e| e.parse::<u64>().ok()) {
            who = who.expires_at(UNIX_EPOCH + Duration::from_millis(exp));
        }
        request.extensions_mut().insert(who);
    }
    next.run(request).await
}

/// `public/...` for everyone; `users/<id>/...` for that user only.
fn authorize(request: &Parts, topic: &str) -> Result<(), Refusal> {
    if topic.starts_with("public/") {
        return Ok(());
    }
    let me = request
        .extensions
        .get::<Subscriber>()
        .and_then(Subscriber::principal);
    match (topic.strip_prefix("users/"), me) {
        (Some(_), None) => Err(Refusal::unauthenticated()),
        (Some(rest), Some(me)) if rest.split('/').next() == Some(me) => Ok(()),
        _ => Err(Refusal::forbidden(topic)),
    }
}

struct Server {
    addr: SocketAddr,
    hub: Hub,
    multi: Multiplexer,
}

async fn serve_with(hub: Hub) -> Server {
    serve_app(hub, |app| app).await
}

/// The test app over `hub`, wrapped by `wrap` (e.g. in an `SseLayer`).
async fn serve_app(hub: Hub, wrap: impl FnOnce(Router) -> Router) -> Server {
    let multi = Multiplexer::new(hub.clone())
        .authorizer(authorize)
        .expiry_retry(Duration::from_millis(1500));
    let app = Router::new()
        .route("/events", get(events))
        .layer(middleware::from_fn(auth))
        .with_state(multi.clone());
    let app = wrap(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { addr, hub, multi }
}

async fn serve() -> Server {
    serve_with(Hub::new()).await
}

/// `GET /events?topics=...` as `token`; status, content type, and the response.
async fn get_events(
    server: &Server,
    topics: &str,
    token: Option<&str>,
    cursor: Option<&str>,
) -> TestResult<http::Response<hyper::body::Incoming>> {
    get_events_raw(server, topics, token, cursor.map(str::as_bytes)).await
}

/// [`get_events`] with the raw bytes of the `Last-Event-ID` header.
async fn get_events_raw(
    server: &Server,
    topics: &str,
    token: Option<&str>,
    cursor: Option<&[u8]>,
) -> TestResult<http::Response<hyper::body::Incoming>> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut request = http::Request::get(format!("http://{}/events?topics={topics}", server.addr));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(cursor) = cursor {
        request = request.header("last-event-id", http::HeaderValue::from_bytes(cursor)?);
    }
    Ok(client.request(request.body(Empty::new())?).await?)
}

async fn open(
    server: &Server,
    topics: &str,
    token: Option<&str>,
    cursor: Option<&str>,
) -> TestResult<Stream> {
    stream_of(get_events(server, topics, token, cursor).await?)
}

/// The event stream of a 200 answer.
fn stream_of(response: http::Response<hyper::body::Incoming>) -> TestResult<Stream> {
    assert_eq!(response.status(), 200);
    let (parts, body) = response.into_parts();
    Ok(Stream {
        headers: parts.headers,
        reader: tower_sse::parse::EventReader::new(body),
    })
}

/// Reads the two gaps a lost cursor gives `public/a` and `public/b`.
async fn assert_invalid_cursor_gaps(stream: &mut Stream) -> TestResult {
    let gaps: Vec<_> = events_n(stream, 2)
        .await?
        .iter()
        .map(|e| gap(e).unwrap())
        .collect();
    assert_eq!(
        gaps,
        [
            ("public/a".to_owned(), "invalid-cursor".to_owned()),
            ("public/b".to_owned(), "invalid-cursor".to_owned())
        ]
    );
    Ok(())
}

async fn refused(
    server: &Server,
    topics: &str,
    token: Option<&str>,
    cursor: Option<&str>,
) -> TestResult<(u16, String)> {
    let response = get_events(server, topics, token, cursor).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8(body.to_vec())?))
}

fn gap(event: &MessageEvent) -> Option<(String, String)> {
    if event.event_type != "sse-gap" {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(&event.data).ok()?;
    Some((
        value["topic"].as_str()?.to_owned(),
        value["reason"].as_str()?.to_owned(),
    ))
}

/// Reads every item until `n` events arrived; fails on a private marker.
async fn events_n(stream: &mut Stream, n: usize) -> TestResult<Vec<MessageEvent>> {
    let mut out = Vec::new();
    while out.len() < n {
        match stream.item().await? {
            Item::Event(event) => out.push(event),
            Item::Comment(c) => assert!(!c.contains("tower-sse-for"), "a private mark leaked"),
            _ => {}
        }
    }
    Ok(out)
}

#[tokio::test]
async fn a_forbidden_topic_is_refused_with_403_before_any_stream_opens() -> TestResult {
    let server = serve().await;
    let (status, body) = refused(&server, "public/a,users/bob/inbox", Some("ann"), None).await?;
    assert_eq!(
        (status, body.as_str()),
        (403, "topic `users/bob/inbox` is forbidden\n")
    );
    assert_eq!(server.hub.subscribers("public/a"), 0, "nothing was opened");
    let (status, body) = refused(&server, "users/bob/inbox", None, None).await?;
    assert_eq!((status, body.as_str()), (401, "authentication required\n"));
    // Her own inbox is fine.
    let mut stream = open(&server, "public/a,users/ann/inbox", Some("ann"), None).await?;
    server.hub.publish("users/ann/inbox", "hi ann").await?;
    let event = stream.event().await?;
    assert_eq!(
        (event.event_type.as_str(), event.data.as_str()),
        ("users/ann/inbox", "hi ann")
    );
    Ok(())
}

#[tokio::test]
async fn limits_are_refused_with_400_and_a_clear_message() -> TestResult {
    let server = serve().await;
    let many: Vec<String> = (0..65).map(|i| format!("public/{i}")).collect();
    let cases = [
        (many.join(","), None, "too many topics requested\n"),
        (
            "public/a,public/a".to_owned(),
            None,
            "topic `public/a` requested twice\n",
        ),
        ("sse-gap".to_owned(), None, "invalid topic name `sse-gap`\n"),
        (
            "public/a".to_owned(),
            Some("x".repeat(300)),
            "last event id too long\n",
        ),
    ];
    for (topics, cursor, message) in cases {
        let (status, body) = refused(&server, &topics, Some("ann"), cursor.as_deref()).await?;
        assert_eq!((status, body.as_str()), (400, message));
    }
    assert!(server.hub.topics().is_empty());
    Ok(())
}

/// An id the layer (or the default cap) refuses is not a fresh start: too
/// long is the 400 of a too-long cursor, unreadable gives every topic a gap.
#[tokio::test]
async fn an_id_refused_before_the_multiplexer_is_never_a_fresh_start() -> TestResult {
    let plain = serve().await;
    let layered = serve_app(Hub::new(), |app| {
        app.layer(tower_sse::SseLayer::new().max_last_event_id_len(512))
    })
    .await;
    for server in [&plain, &layered] {
        // Over the layer's cap (512) or the default one (1 KiB).
        let (status, body) = refused(server, "public/a", None, Some(&"A".repeat(2000))).await?;
        assert_eq!((status, body.as_str()), (400, "last event id too long\n"));
        // Sent but not UTF-8: a lost position, announced.
        let response = get_events_raw(server, "public/a,public/b", None, Some(b"\xff\xfe")).await?;
        assert_invalid_cursor_gaps(&mut stream_of(response)?).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_private_event_never_reaches_nor_is_replayed_to_another_subscriber() -> TestResult {
    let server = serve().await;
    let mut ann = open(&server, "public/feed", Some("ann"), None).await?;
    let mut bob = open(&server, "public/feed", Some("bob"), None).await?;
    server.hub.publish("public/feed", "p0").await?;
    let ann_cursor = events_n(&mut ann, 1).await?[0].last_event_id.clone();
    let bob_cursor = events_n(&mut bob, 1).await?[0].last_event_id.clone();

    // Live: each gets the public events and only their own private ones.
    let for_bob = server.multi.private("bob's secret", ["bob"])?;
    server.hub.publish("public/feed", for_bob).await?;
    server.hub.publish("public/feed", "p1").await?;
    let got: Vec<_> = events_n(&mut ann, 1)
        .await?
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert_eq!(got, ["p1"]);
    let got: Vec<_> = events_n(&mut bob, 2)
        .await?
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert_eq!(got, ["bob's secret", "p1"]);

    // Replay: both come back from their cursor after p0.
    drop((ann, bob));
    let for_ann = server.multi.private("ann's secret", ["ann", "cy"])?;
    server.hub.publish("public/feed", for_ann).await?;
    server.hub.publish("public/feed", "p2").await?;
    let mut ann = open(&server, "public/feed", Some("ann"), Some(&ann_cursor)).await?;
    let mut bob = open(&server, "public/feed", Some("bob"), Some(&bob_cursor)).await?;
    let got: Vec<_> = events_n(&mut ann, 3)
        .await?
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert_eq!(got, ["p1", "ann's secret", "p2"]);
    let got: Vec<_> = events_n(&mut bob, 3)
        .await?
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert_eq!(got, ["bob's secret", "p1", "p2"]);
    Ok(())
}

#[tokio::test]
async fn an_expired_subscription_ends_and_the_client_gets_the_retry_hint() -> TestResult {
    let server = serve().await;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let (status, body) =
        refused(&server, "public/a", Some(&format!("ann {}", now - 1)), None).await?;
    assert_eq!((status, body.as_str()), (401, "credentials expired\n"));

    let token = format!("ann {}", now + 400);
    let mut stream = open(&server, "public/a", Some(&token), None).await?;
    server.hub.publish("public/a", "before").await?;
    assert_eq!(stream.event().await?.data, "before");
    // The stream ends on its own at the expiry: the hint, the event, the end.
    assert_eq!(
        stream.item().await?,
        Item::Retry(Duration::from_millis(1500))
    );
    let expired = stream.event().await?;
    assert_eq!(
        (expired.event_type.as_str(), expired.data.as_str()),
        ("sse-expired", "expired")
    );
    stream.assert_ends().await?;
    // With fresh credentials the browser's reconnect resumes where it stopped.
    server.hub.publish("public/a", "after").await?;
    let mut stream = open(
        &server,
        "public/a",
        Some("ann"),
        Some(&expired.last_event_id),
    )
    .await?;
    assert_eq!(stream.event().await?.data, "after");
    Ok(())
}

#[tokio::test]
async fn an_edited_or_foreign_cursor_gets_gaps_only() -> TestResult {
    let server = serve().await;
    let mut ann = open(&server, "public/a,public/b", Some("ann"), None).await?;
    server.hub.publish("public/a", "a1").await?;
    let cursor = events_n(&mut ann, 1).await?[0].last_event_id.clone();
    drop(ann);
    server.hub.publish("public/a", "a2").await?;
    server.hub.publish("public/b", "b1").await?;

    let mut edited = cursor.clone().into_bytes();
    let last = edited.len() - 3;
    edited[last] = if edited[last] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited)?;
    for (who, cursor) in [("ann", edited.as_str()), ("bob", cursor.as_str())] {
        let mut stream = open(&server, "public/a,public/b", Some(who), Some(cursor)).await?;
        assert_invalid_cursor_gaps(&mut stream).await?;
        // Then live only: nothing from before.
        server
            .hub
            .publish("public/b", format!("live-{who}"))
            .await?;
        let next = stream.event().await?;
        assert_eq!(
            (next.event_type.as_str(), next.data),
            ("public/b", format!("live-{who}"))
        );
    }
    // Ann's own, unedited cursor resumes exactly.
    let mut ann = open(&server, "public/a,public/b", Some("ann"), Some(&cursor)).await?;
    let got: Vec<_> = events_n(&mut ann, 4)
        .await?
        .into_iter()
        .map(|e| e.data)
        .collect();
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, ["a2", "b1", "live-ann", "live-bob"]);
    Ok(())
}

#[tokio::test]
async fn only_the_topic_whose_history_is_gone_gets_a_gap() -> TestResult {
    let server = serve_with(HubConfig::new().history(2).build()).await;
    let mut stream = open(&server, "public/a,public/b", None, None).await?;
    server.hub.publish("public/b", "b0").await?;
    let cursor = stream.event().await?.last_event_id;
    drop(stream);
    for n in 0..5 {
        server.hub.publish("public/a", format!("a{n}")).await?;
    }
    server.hub.publish("public/b", "b1").await?;
    let mut stream = open(&server, "public/a,public/b", None, Some(&cursor)).await?;
    let got = events_n(&mut stream, 2).await?;
    let a_gap = got.iter().find_map(gap);
    assert_eq!(
        a_gap,
        Some(("public/a".to_owned(), "unknown-id".to_owned()))
    );
    let b: Vec<_> = got
        .iter()
        .filter(|e| e.event_type == "public/b")
        .map(|e| &e.data)
        .collect();
    assert_eq!(b, ["b1"]);
    Ok(())
}

#[tokio::test]
async fn topics_added_on_reconnect_start_live_and_dropped_ones_are_ignored() -> TestResult {
    let server = serve().await;
    let mut stream = open(&server, "public/a,public/b", None, None).await?;
    server.hub.publish("public/a", "a0").await?;
    let cursor = stream.event().await?.last_event_id;
    drop(stream);
    server.hub.publish("public/a", "a1").await?;
    server.hub.publish("public/b", "b1").await?;
    server.hub.publish("public/c", "c-before").await?;
    let mut stream = open(&server, "public/a,public/c", None, Some(&cursor)).await?;
    server.hub.publish("public/c", "c-live").await?;
    let got: Vec<_> = events_n(&mut stream, 2)
        .await?
        .into_iter()
        .map(|e| (e.event_type, e.data))
        .collect();
    assert_eq!(
        got,
        [
            ("public/a".to_owned(), "a1".to_owned()),
            ("public/c".to_owned(), "c-live".to_owned())
        ]
    );
    Ok(())
}
