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
use tower_sse::{ErrorKind, EventStream, Hub, IntoEvent, LastEventId, Shutdown, SseLayer};

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

/// Why a request was refused, and the status that says whose fault it is.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl Refused {
    fn client(message: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.to_owned(),
        }
    }

    /// A hub error: 429 when the hub is full of rooms, 503 when its backend
    /// (Redis) is unreachable or it is shutting down. Not the client's fault.
    fn hub(err: &tower_sse::Error) -> Self {
        let status = match err.kind() {
            ErrorKind::TooManyTopics => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Serialize => StatusCode::BAD_REQUEST,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        let message = match err.kind() {
            ErrorKind::TooManyTopics => {
                format!("too many rooms right now, try again later ({err})")
            }
            ErrorKind::Backend => {
                format!("the chat backend is unavailable, try again later ({err})")
            }
            _ => err.to_string(),
        };
        Self { status, message }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for Refused {}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.status, format!("{}\n", self.message)).into_response()
    }
}

/// Publishes a message to `room` as a `chat` event; returns its id.
pub(crate) async fn publish(hub: &Hub, room: &str, new: NewMessage) -> Result<String, Refused> {
    if !valid_room(room) {
        return Err(Refused::client(
            "room names are 1 to 64 letters, digits, '-' or '_'",
        ));
    }
    if new.user.trim().is_empty() || new.user.chars().count() > 64 {
        return Err(Refused::client("user must be 1 to 64 characters"));
    }
    if new.message.trim().is_empty() || new.message.len() > 4096 {
        return Err(Refused::client("message must be 1 to 4096 bytes"));
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
    let event = chat.into_event().map_err(|e| Refused::hub(&e))?;
    let id = hub
        .publish(room, event)
        .await
        .map_err(|e| Refused::hub(&e))?;
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
        Err(refused) => refused.into_response(),
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
    tracing::info!(%room, ?last_event_id, "subscriber");
    match hub.subscribe_from(&room, last_event_id) {
        Ok(subscription) => EventStream::new(subscription).into_response(),
        Err(e) => Refused::hub(&e).into_response(),
    }
}
