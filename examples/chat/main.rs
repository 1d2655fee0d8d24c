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
//! history, or the server restarted and its in-memory history is gone) it
//! sends an `sse-gap` event and the page says so. [`tower_sse::SseLayer`]
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

mod app;

use tower_sse::{Hub, HubConfig, Shutdown};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let port: u16 = std::env::var("PORT").map_or(Ok(3000), |p| p.parse())?;
    let hub = hub()?;
    // On Ctrl-C / SIGTERM the layer ends every open stream, so axum's
    // graceful shutdown has nothing left to wait for.
    let shutdown = Shutdown::from_future(shutdown_signal());

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("chat rooms: http://127.0.0.1:{port}/");
    axum::serve(listener, app::router(hub, shutdown.clone())?)
        .with_graceful_shutdown(async move { shutdown.triggered().await })
        .await?;
    tracing::info!("bye");
    Ok(())
}

/// The in-memory hub, or the Redis backend when `REDIS_URL` is set: then
/// every instance of this app on that Redis shares the same rooms, and the
/// history survives restarts.
fn hub() -> Result<Hub, Box<dyn std::error::Error + Send + Sync>> {
    let config = HubConfig::new();
    match std::env::var("REDIS_URL") {
        Ok(url) => Ok(with_redis(config, &url)?.build()),
        Err(_) => {
            tracing::info!("in-memory hub (set REDIS_URL to share it through Redis)");
            Ok(config.build())
        }
    }
}

#[cfg(feature = "redis")]
fn with_redis(
    config: HubConfig,
    url: &str,
) -> Result<HubConfig, Box<dyn std::error::Error + Send + Sync>> {
    // The URL is not logged: it may hold a password.
    tracing::info!("Redis hub (REDIS_URL)");
    let redis = tower_sse::redis::RedisConfig::new(url)?.key_prefix("chat:");
    Ok(config.redis(redis))
}

#[cfg(not(feature = "redis"))]
fn with_redis(
    _config: HubConfig,
    _url: &str,
) -> Result<HubConfig, Box<dyn std::error::Error + Send + Sync>> {
    Err("REDIS_URL is set, but this build has no Redis backend: \
         run with `--features axum,redis`"
        .into())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
