//! Live updates board: post an update, every open board shows it at once.
//!
//! ```sh
//! cargo run --example live_updates --features axum
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

#[path = "../common/standin.rs"]
mod standin;

use std::time::Duration;

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use standin::{Hub, Shutdown};
use tower_http::trace::TraceLayer;
use tracing_subscriber::EnvFilter;

/// The one topic of this app.
const TOPIC: &str = "updates";

/// How long browsers wait before reconnecting.
const RETRY: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct AppState {
    hub: Hub,
    shutdown: Shutdown,
}

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

    // REDIS BACKEND (issue 5): when `REDIS_URL` is set, publish and subscribe
    // through Redis instead of this in-memory hub, so several instances share
    // one board. Not wired yet: the Redis backend has not landed.
    if std::env::var_os("REDIS_URL").is_some() {
        tracing::warn!("REDIS_URL is set, but this build uses the in-memory hub");
    }
    let hub = Hub::new();
    let shutdown = Shutdown::new();

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
        .with_state(AppState {
            hub,
            shutdown: shutdown.clone(),
        })
        .layer(TraceLayer::new_for_http());

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("live updates board: http://127.0.0.1:{port}/ (post at http://127.0.0.1:{port}/post-update)");

    let signal = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: ending open streams");
        signal.trigger();
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.triggered())
        .await?;
    tracing::info!("bye");
    Ok(())
}

/// `POST|PUT /api/post-update`: publishes the form field `message`.
async fn post_update(
    State(state): State<AppState>,
    Form(update): Form<PostUpdate>,
) -> (StatusCode, String) {
    if update.message.trim().is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            "message must not be empty\n".into(),
        );
    }
    match state.hub.publish(TOPIC, update.message) {
        Ok(id) => {
            tracing::info!(%id, "update posted");
            (StatusCode::OK, format!("posted update {id}"))
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    }
}

async fn usage() -> (StatusCode, &'static str) {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        "POST or PUT a form with a `message` field\n",
    )
}

/// `GET /api/updates`: the event stream, resuming after `Last-Event-ID`.
async fn updates(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> impl axum::response::IntoResponse {
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let events = state.hub.subscribe_from(TOPIC, last_event_id);
    standin::sse(events, RETRY, &state.shutdown)
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
