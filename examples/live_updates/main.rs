//! Live updates board: post an update, every open board shows it at once.
//!
//! ```sh
//! cargo run --example live_updates --features axum
//! ```
//!
//! or, with the board shared by every instance through Redis (and kept across
//! restarts):
//!
//! ```sh
//! REDIS_URL=redis://127.0.0.1:6379/ cargo run --example live_updates --features axum,redis
//! ```
//!
//! Then open <http://127.0.0.1:3000/> (the board) and
//! <http://127.0.0.1:3000/post-update> (the form) side by side. `PORT=8080`
//! picks another port. From a shell:
//!
//! ```sh
//! curl -N http://127.0.0.1:3000/api/updates
//! curl --data-urlencode $'message=two\nlines' http://127.0.0.1:3000/api/post-update
//! curl -X PUT --data-urlencode 'message=hello' http://127.0.0.1:3000/api/post-update
//! ```
//!
//! Routes: `GET /` the board, `GET /post-update` the form,
//! `POST|PUT /api/post-update` (form field `message`), `GET /api/updates` the
//! event stream: one event per update, data = the message exactly as posted,
//! with an id, so a reconnecting browser gets what it missed.
//!
//! Fan-out is a [`tower_sse::Hub`] (each update encoded once, numbered, kept
//! in a history that a reconnecting browser resumes from with
//! `Last-Event-ID`); [`tower_sse::SseLayer`] adds the stream headers, a retry
//! hint, an opening comment and keep-alives, and ends every open stream on
//! Ctrl-C / SIGTERM so the server exits at once.

#[path = "../common/hub.rs"]
mod common_hub;
#[path = "../common/signal.rs"]
mod signal;

use std::time::Duration;

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tower_http::trace::TraceLayer;
use tower_sse::{EventStream, Hub, LastEventId, Shutdown, SseLayer, Subscription};
use tracing_subscriber::EnvFilter;

/// The one topic of this app.
const TOPIC: &str = "updates";

/// How long browsers wait before reconnecting.
const RETRY: Duration = Duration::from_secs(1);

/// How often an idle stream gets a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Deserialize)]
struct PostUpdate {
    message: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let port: u16 = std::env::var("PORT").map_or(Ok(3000), |p| p.parse())?;
    let hub = common_hub::hub_from_env("live_updates:")?;

    // One signal for everything: the layer ends open streams, axum stops
    // accepting and waits for the (now ended) connections.
    let shutdown = Shutdown::from_future(signal::shutdown_signal());
    let sse = SseLayer::new()
        .retry(RETRY)
        .keep_alive_interval(KEEP_ALIVE)
        .try_initial_comment("live updates")?
        .shutdown(shutdown.clone());

    let app = Router::new()
        .route("/", get(|| async { Html(include_str!("board.html")) }))
        .route(
            "/post-update",
            get(|| async { Html(include_str!("post.html")) }),
        )
        .route(
            "/api/post-update",
            get(usage).post(post_update).put(post_update),
        )
        .route("/api/updates", get(updates))
        .with_state(hub)
        .layer(sse)
        .layer(TraceLayer::new_for_http());

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("live updates board: http://127.0.0.1:{port}/ (post at http://127.0.0.1:{port}/post-update)");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.triggered().await })
        .await?;
    tracing::info!("bye");
    Ok(())
}

/// `POST|PUT /api/post-update`: publishes the form field `message`.
async fn post_update(
    State(hub): State<Hub>,
    Form(update): Form<PostUpdate>,
) -> (StatusCode, String) {
    if update.message.trim().is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            "message must not be empty\n".into(),
        );
    }
    // The text is the event's data as is: the encoder splits it into one
    // `data:` line per line, and the browser joins them back.
    match hub.publish(TOPIC, update.message).await {
        Ok(id) => {
            tracing::info!(%id, "update posted");
            (StatusCode::OK, format!("posted update {id}"))
        }
        Err(e) => (common_hub::refusal_status(&e), format!("{e}\n")),
    }
}

async fn usage() -> (StatusCode, &'static str) {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        "POST or PUT a form with a `message` field\n",
    )
}

/// `GET /api/updates`: the event stream, resuming after `Last-Event-ID`
/// (validated and extracted by the layer).
async fn updates(
    State(hub): State<Hub>,
    last_event_id: Option<LastEventId>,
) -> Result<EventStream<Subscription>, (StatusCode, String)> {
    match hub.subscribe_from(TOPIC, last_event_id) {
        Ok(subscription) => Ok(EventStream::new(subscription)),
        Err(e) => Err((common_hub::refusal_status(&e), format!("{e}\n"))),
    }
}
