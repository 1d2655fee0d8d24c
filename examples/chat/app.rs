//! The chat app's routes, separate from `main.rs` so that the browser test can
//! run the very same app in-process and keep its hub across a restart.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tower_http::trace::TraceLayer;
use tower_sse::{EventStream, Hub, IntoEvent, LastEventId, Shutdown, SseLayer};

/// How long browsers wait before reconnecting.
const RETRY: Duration = Duration::from_secs(1);

/// How often an idle stream gets a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What `POST /rooms/{room}/messages` takes.
#[derive(Debug, Deserialize)]
pub(crate) struct NewMessage {
    pub(crate) user: String,
    pub(crate) message: String,
}

/// A `chat` event: its fields are the JSON data.
#[derive(Debug, Serialize, IntoEvent)]
#[sse(event = "chat")]
pub(crate) struct ChatMessage {
    pub(crate) user: String,
    pub(crate) message: String,
    pub(crate) room: String,
    /// Milliseconds since the Unix epoch.
    pub(crate) sent_at: u64,
}

/// The whole app: rooms are topics of `hub`; `shutdown` ends open streams.
pub(crate) fn router(hub: Hub, shutdown: Shutdown) -> Result<Router, tower_sse::Error> {
    let sse = SseLayer::new()
        .retry(RETRY)
        .keep_alive_interval(KEEP_ALIVE)
        .try_initial_comment("chat")?
        .shutdown(shutdown);
    Ok(Router::new()
        .route("/", get(|| async { Html(include_str!("page.html")) }))
        .route("/rooms/{room}/messages", post(send))
        .route("/rooms/{room}/events", get(events))
        .with_state(hub)
        .layer(sse)
        .layer(TraceLayer::new_for_http()))
}

/// Publishes a message to `room` as a `chat` event; returns its id.
pub(crate) async fn publish(hub: &Hub, room: &str, new: NewMessage) -> Result<String, String> {
    if !valid_room(room) {
        return Err("room names are 1 to 64 letters, digits, '-' or '_'".into());
    }
    if new.user.trim().is_empty() || new.user.chars().count() > 64 {
        return Err("user must be 1 to 64 characters".into());
    }
    if new.message.trim().is_empty() || new.message.len() > 4096 {
        return Err("message must be 1 to 4096 bytes".into());
    }
    let sent_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let chat = ChatMessage {
        user: new.user,
        message: new.message,
        room: room.to_owned(),
        sent_at,
    };
    let user = chat.user.clone();
    let event = chat.into_event().map_err(|e| e.to_string())?;
    let id = hub.publish(room, event).await.map_err(|e| e.to_string())?;
    tracing::info!(%room, %user, %id, "message");
    Ok(id.to_string())
}

fn valid_room(room: &str) -> bool {
    (1..=64).contains(&room.len())
        && room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `POST /rooms/{room}/messages` with `{"user": "...", "message": "..."}`.
async fn send(
    State(hub): State<Hub>,
    Path(room): Path<String>,
    Json(new): Json<NewMessage>,
) -> Response {
    match publish(&hub, &room, new).await {
        Ok(id) => Json(serde_json::json!({ "id": id })).into_response(),
        Err(message) => (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response(),
    }
}

/// `GET /rooms/{room}/events`: the room's stream. A reconnecting browser
/// sends `Last-Event-ID` (validated by the layer); the hub replays exactly the
/// messages after it, or starts with an `sse-gap` event when it cannot.
async fn events(
    State(hub): State<Hub>,
    Path(room): Path<String>,
    last_event_id: Option<LastEventId>,
) -> Response {
    if !valid_room(&room) {
        return (StatusCode::NOT_FOUND, "no such room\n").into_response();
    }
    let last_event_id = last_event_id.as_ref().map(LastEventId::as_str);
    tracing::info!(%room, ?last_event_id, "subscriber");
    EventStream::new(hub.subscribe_from(&room, last_event_id)).into_response()
}
