//! Chat rooms: pick a room and a name, chat with every browser in that room.
//!
//! ```sh
//! cargo run --example chat --features axum
//! ```
//!
//! or, with the rooms shared by every instance through Redis, their history
//! surviving a restart of the app:
//!
//! ```sh
//! REDIS_URL=redis://127.0.0.1:6379/ cargo run --example chat --features axum,redis
//! ```
//!
//! Open <http://127.0.0.1:3000/> in two windows, join the same room with two
//! names, and chat. A browser that loses the connection reconnects with
//! `Last-Event-ID` and the [`tower_sse::Hub`] replays exactly the messages it
//! missed from the room's history; when it cannot (the id is older than the
//! history: data `unknown-id`; the server restarted and its in-memory history
//! is gone, which the id's epoch tells: data `reset`) it sends an `sse-gap`
//! event and the page says so. Event ids look like `k3x9q2ab.42`. Too many
//! rooms answer 429, an unreachable Redis 503. [`tower_sse::SseLayer`]
//! adds the stream headers, a retry hint, an opening comment and keep-alives,
//! and ends every stream on Ctrl-C / SIGTERM. `PORT=8080` picks another port.
//! From a shell:
//!
//! ```sh
//! curl -N http://127.0.0.1:3000/rooms/general/events
//! curl -H 'content-type: application/json' -d '{"user":"ann","message":"hi"}' \
//!     http://127.0.0.1:3000/rooms/general/messages
//! ```
//!
//! Routes: `GET /` the chat page, `POST /rooms/{room}/messages` with
//! `{"user": "...", "message": "..."}`, `GET /rooms/{room}/events` the event
//! stream: `event: chat`, an id, and `{"user","message","room","sent_at"}`.

#[path = "../common/hub.rs"]
mod common_hub;
#[path = "../common/signal.rs"]
mod signal;

mod app;

use tower_sse::Shutdown;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let port: u16 = std::env::var("PORT").map_or(Ok(3000), |p| p.parse())?;
    let hub = common_hub::hub_from_env("chat:")?;
    // On Ctrl-C / SIGTERM the layer ends every open stream, so axum's
    // graceful shutdown has nothing left to wait for.
    let shutdown = Shutdown::from_future(signal::shutdown_signal());

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("chat rooms: http://127.0.0.1:{port}/");
    axum::serve(listener, app::router(hub, shutdown.clone())?)
        .with_graceful_shutdown(async move { shutdown.triggered().await })
        .await?;
    tracing::info!("bye");
    Ok(())
}
