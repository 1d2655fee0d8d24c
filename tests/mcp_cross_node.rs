//! Two `mcp_server` example processes on one real `redis-server`, over real
//! HTTP: a session initialized on A is usable on B (`HubSessionStore`), and
//! a tool call that streams progress on A, dropped mid-stream, resumes on B
//! with `Mcp-Session-Id` and `Last-Event-ID`: the remaining events arrive
//! exactly once, in order, while A's call goes on. Unknown sessions and
//! made-up event ids get nothing.
//!
//! Needs the examples built with every feature (`cargo build --all-features
//! --examples`).
#![cfg(all(feature = "axum", feature = "rmcp", feature = "redis"))]

mod support;

#[path = "support/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::Response;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use redis_server::RedisServer;
use serde_json::{json, Value};
use support::app::App;
use support::TestResult;
use tower_sse::parse::{EventReader, Item, MessageEvent};

/// How long a test waits for the next SSE item.
const ITEM_TIMEOUT: Duration = Duration::from_secs(10);

/// One MCP client session's headers.
#[derive(Clone, Default)]
struct Session {
    id: Option<String>,
    protocol: Option<String>,
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn request(method: &str, url: &str, session: &Session) -> hyper::http::request::Builder {
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("accept", "application/json, text/event-stream");
    if let Some(id) = &session.id {
        request = request.header("mcp-session-id", id);
    }
    if let Some(version) = &session.protocol {
        request = request.header("mcp-protocol-version", version);
    }
    request
}

async fn post(url: &str, session: &Session, body: Value) -> TestResult<Response<Incoming>> {
    let request = request("POST", url, session)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))?;
    Ok(client().request(request).await?)
}

async fn get(url: &str, session: &Session, last_event_id: &str) -> TestResult<Response<Incoming>> {
    let request = request("GET", url, session)
        .header("last-event-id", last_event_id)
        .body(Full::new(Bytes::new()))?;
    Ok(client().request(request).await?)
}

/// The events of an SSE response body, one at a time.
struct Events(EventReader<Incoming>);

impl Events {
    fn of(response: Response<Incoming>) -> TestResult<Self> {
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if response.status() != 200 || !content_type.starts_with("text/event-stream") {
            return Err(
                format!("not an event stream: {} {content_type}", response.status()).into(),
            );
        }
        Ok(Self(EventReader::new(response.into_body())))
    }

    /// The next event (keep-alives and retry hints skipped); `None` at the end.
    async fn next(&mut self) -> TestResult<Option<MessageEvent>> {
        loop {
            match tokio::time::timeout(ITEM_TIMEOUT, self.0.next()).await {
                Err(_) => return Err(format!("no event within {ITEM_TIMEOUT:?}").into()),
                Ok(None) => return Ok(None),
                Ok(Some(item)) => {
                    if let Item::Event(event) = item? {
                        return Ok(Some(event));
                    }
                }
            }
        }
    }

    /// Every event up to the end of the body.
    async fn rest(mut self) -> TestResult<Vec<MessageEvent>> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await? {
            events.push(event);
        }
        Ok(events)
    }
}

fn message(event: &MessageEvent) -> Option<Value> {
    (!event.data.is_empty()).then(|| serde_json::from_str(&event.data).expect("JSON-RPC data"))
}

/// Initializes a session on `url`: `initialize`, then `notifications/initialized`.
async fn initialize(url: &str) -> TestResult<Session> {
    let response = post(
        url,
        &Session::default(),
        json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": { "name": "cross-node test", "version": "1.0" }
            }
        }),
    )
    .await?;
    let id = response
        .headers()
        .get("mcp-session-id")
        .ok_or("no mcp-session-id on the initialize response")?
        .to_str()?
        .to_owned();
    let events = Events::of(response)?.rest().await?;
    let result = events
        .iter()
        .find_map(message)
        .ok_or("no initialize result")?;
    let protocol = result["result"]["protocolVersion"]
        .as_str()
        .ok_or("no protocolVersion")?
        .to_owned();
    let session = Session {
        id: Some(id),
        protocol: Some(protocol),
    };
    let response = post(
        url,
        &session,
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
    )
    .await?;
    assert_eq!(response.status(), 202);
    Ok(session)
}

fn progress_of(value: &Value) -> Option<u64> {
    (value["method"] == "notifications/progress")
        .then(|| value["params"]["progress"].as_f64())
        .flatten()
        .map(|p| p as u64)
}

const STEPS: u64 = 12;

#[tokio::test]
async fn a_tool_call_dropped_on_one_server_resumes_exactly_once_on_the_other() -> TestResult {
    let redis = RedisServer::start();
    let url = redis.url();
    let env = [
        ("REDIS_URL", url.as_str()),
        ("MCP_SECRET", "cross-node test"),
    ];
    let a = App::start("mcp_server", &env);
    let b = App::start("mcp_server", &env);
    let (mcp_a, mcp_b) = (a.url("/mcp"), b.url("/mcp"));

    let session = initialize(&mcp_a).await?;

    // A session initialized on A is usable on B: restored from Redis.
    let response = post(
        &mcp_b,
        &session,
        json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }),
    )
    .await?;
    let listed = Events::of(response)?.rest().await?;
    let tools = listed
        .iter()
        .find_map(message)
        .ok_or("no tools/list result")?;
    assert!(
        tools["result"]["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "stream_progress")),
        "{tools}"
    );

    // A tool call on A that streams progress; drop it after three steps.
    let response = post(
        &mcp_a,
        &session,
        json!({
            "jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {
                "name": "stream_progress",
                "arguments": { "count": STEPS, "interval_ms": 60 },
                "_meta": { "progressToken": "p-1" }
            }
        }),
    )
    .await?;
    let mut on_a = Events::of(response)?;
    let priming = on_a.next().await?.ok_or("no priming event")?;
    assert_eq!(priming.data, "", "the priming event first");
    let mut seen = Vec::new();
    let mut last_id = priming.last_event_id.clone();
    while seen.len() < 3 {
        let event = on_a.next().await?.ok_or("the call's stream ended early")?;
        let value = message(&event).ok_or("an empty event mid-call")?;
        seen.push(progress_of(&value).ok_or("not a progress notification")?);
        assert_ne!(event.last_event_id, last_id, "every event has its own id");
        last_id = event.last_event_id;
    }
    drop(on_a); // the connection drops mid-stream; the call goes on on A

    // Resume on B: the rest of the call, exactly once and in order.
    let response = get(&mcp_b, &session, &last_id).await?;
    let resumed = Events::of(response)?.rest().await?;
    let mut result = None;
    for event in &resumed {
        let value = message(event).ok_or("an empty event in the resume")?;
        if let Some(step) = progress_of(&value) {
            assert!(result.is_none(), "progress after the result: {value}");
            seen.push(step);
        } else {
            assert_eq!(value["id"], 3, "{value}");
            result = Some(value);
        }
    }
    assert_eq!(
        seen,
        (1..=STEPS).collect::<Vec<_>>(),
        "nothing lost or repeated"
    );
    let result = result.ok_or("no result in the resumed stream")?;
    assert_eq!(
        result["result"]["content"][0]["text"],
        format!("streamed {STEPS} steps")
    );
    let ids: std::collections::HashSet<_> = resumed.iter().map(|e| &e.last_event_id).collect();
    assert_eq!(
        ids.len(),
        resumed.len(),
        "every resumed event has its own id"
    );

    // Resuming on B again after the response: nothing more, at once.
    let end = &resumed.last().ok_or("nothing resumed")?.last_event_id;
    assert!(end.ends_with("/end"), "{end}");
    let again = Events::of(get(&mcp_b, &session, end).await?)?
        .rest()
        .await?;
    assert!(again.is_empty(), "{again:?}");
    Ok(())
}

#[tokio::test]
async fn unknown_sessions_and_foreign_ids_get_nothing_on_the_other_server() -> TestResult {
    let redis = RedisServer::start();
    let url = redis.url();
    let env = [
        ("REDIS_URL", url.as_str()),
        ("MCP_SECRET", "cross-node test"),
    ];
    let a = App::start("mcp_server", &env);
    let b = App::start("mcp_server", &env);
    let (mcp_a, mcp_b) = (a.url("/mcp"), b.url("/mcp"));
    let session = initialize(&mcp_a).await?;

    // A finished call on A, to have real ids.
    let response = post(
        &mcp_a,
        &session,
        json!({
            "jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {
                "name": "stream_progress",
                "arguments": { "count": 2, "interval_ms": 1 },
                "_meta": { "progressToken": "p-7" }
            }
        }),
    )
    .await?;
    let events = Events::of(response)?.rest().await?;
    let real = events.first().ok_or("no events")?.last_event_id.clone();
    let (token, _) = real.split_once('/').ok_or("ids are <token>/<hub id>")?;

    // An unknown session: 404 from B, whatever the id.
    let stranger = Session {
        id: Some("00000000-0000-4000-8000-000000000000".into()),
        protocol: session.protocol.clone(),
    };
    let response = get(&mcp_b, &stranger, &real).await?;
    assert_eq!(response.status(), 404);

    // Made-up ids with a known session: an empty stream that ends at once.
    for made_up in [
        "garbage".to_owned(),
        format!("{}/1", "0".repeat(32)),
        format!("{}/1", "f".repeat(32)),
        format!("{token}/zzzzzzzz.1-0"),
        format!("{token}/99999999999999-0"),
    ] {
        let response = get(&mcp_b, &session, &made_up).await?;
        let got = tokio::time::timeout(Duration::from_secs(5), Events::of(response)?.rest())
            .await
            .map_err(|_| format!("{made_up}: the refused resume did not end at once"))??;
        assert!(got.is_empty(), "{made_up}: {got:?}");
    }
    Ok(())
}
