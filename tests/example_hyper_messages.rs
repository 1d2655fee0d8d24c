//! The `hyper_messages` example over HTTP: a plain hyper server (no framework)
//! behind `SseLayer` streams posted messages as `message` events, with the
//! layer's headers, retry hint, opening comment and keep-alives; it replays
//! after `Last-Event-ID`, rejects bad bodies, and on SIGTERM ends its open
//! streams and exits within a second.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::app::App;
use support::sse::{self, Stream};
use support::TestResult;
use tower_sse::parse::Item;

async fn post(app: &App, body: &str) -> TestResult<(u16, String)> {
    sse::send("POST", &app.url("/message"), "application/json", body).await
}

/// Reads the next `message` event and returns its id and parsed JSON data.
async fn message(stream: &mut Stream) -> TestResult<(String, Value)> {
    let event = stream.event().await?;
    assert_eq!(event.event_type, "message");
    Ok((event.last_event_id, serde_json::from_str(&event.data)?))
}

#[tokio::test]
async fn posted_messages_stream_as_message_events_behind_the_layer_and_sigterm_ends_the_stream(
) -> TestResult {
    let mut app = App::start("hyper_messages", &[("KEEP_ALIVE_MS", "200")]);
    let mut stream = sse::open(&app.url("/eventstream"), None).await?;
    stream.assert_layer_headers();
    stream.assert_prelude("messages").await?;
    // Idle: the layer sends keep-alive comments.
    assert_eq!(stream.item().await?, Item::Comment(String::new()));

    let first = json!({"title": "Hello", "body": "two\nlines"});
    let second = json!({"title": "Ünïcode", "body": "日本語"});
    let (status, body) = post(&app, &first.to_string()).await?;
    assert_eq!(status, 200, "{body}");
    let id_1 = serde_json::from_str::<serde_json::Value>(&body)?["id"]
        .as_str()
        .ok_or("no id")?
        .to_owned();
    let (status, body) = post(&app, &second.to_string()).await?;
    assert_eq!(status, 200, "{body}");
    let id_2 = serde_json::from_str::<serde_json::Value>(&body)?["id"]
        .as_str()
        .ok_or("no id")?
        .to_owned();
    assert!(
        id_1.ends_with(".1") && id_2.ends_with(".2"),
        "{id_1} {id_2}"
    );
    assert_eq!(message(&mut stream).await?, (id_1.clone(), first));
    assert_eq!(message(&mut stream).await?, (id_2.clone(), second.clone()));

    // A reconnecting client gets exactly what came after its last id.
    let mut resumed = sse::open(&app.url("/eventstream"), Some(&id_1)).await?;
    resumed.assert_layer_headers();
    resumed.assert_prelude("messages").await?;
    assert_eq!(message(&mut resumed).await?, (id_2, second));

    let (status, text) = post(&app, r#"{"title":"no body"}"#).await?;
    assert_eq!(
        (status, text.as_str()),
        (
            400,
            "expected JSON like {\"title\": \"...\", \"body\": \"...\"}\n"
        )
    );

    let took = app.stop()?;
    assert!(took < Duration::from_secs(1), "exit took {took:?}");
    // Both open streams ended cleanly, with nothing after the last event.
    stream.assert_ends().await?;
    resumed.assert_ends().await?;
    Ok(())
}
