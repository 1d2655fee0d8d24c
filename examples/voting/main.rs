//! A live poll: vote Yes or No, watch the results change in every browser.
//!
//! ```sh
//! cargo run --example voting --features axum
//! ```
//!
//! Open <http://127.0.0.1:3000/> to vote and <http://127.0.0.1:3000/result> to
//! watch (it shows Connected / Connecting... / Disconnected too: stop and
//! restart the server to see it reconnect). `PORT=8080` picks another port;
//! `VOTES_FILE=votes.json` keeps the tally across restarts. From a shell:
//!
//! ```sh
//! curl -N http://127.0.0.1:3000/stream
//! curl -H 'content-type: application/json' -d '{"choice":"yes"}' http://127.0.0.1:3000/vote
//! ```
//!
//! Routes: `GET /` vote page, `GET /result` results page, `POST /vote` with
//! `{"choice": "yes" | "no"}` (anything else is a 400 saying so), `GET /stream`
//! the event stream: a `tally` event `{"yes":N,"no":M}` on connect and after
//! every vote.

#[path = "../common/standin.rs"]
mod standin;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use standin::Shutdown;
use tokio::sync::{watch, Mutex};
use tower_http::trace::TraceLayer;
use tower_sse::{EncodedEvent, Event, EventType};
use tracing_subscriber::EnvFilter;

/// How long browsers wait before reconnecting.
const RETRY: Duration = Duration::from_secs(1);

const TALLY: EventType = EventType::from_static("tally");

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Tally {
    yes: u64,
    no: u64,
}

#[derive(Clone)]
struct AppState {
    tally: Arc<watch::Sender<Tally>>,
    /// Serialises votes with their write to `VOTES_FILE`.
    votes_file: Arc<Mutex<Option<PathBuf>>>,
    shutdown: Shutdown,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let port: u16 = std::env::var("PORT").map_or(Ok(3000), |p| p.parse())?;
    let votes_file = std::env::var_os("VOTES_FILE").map(PathBuf::from);
    let tally = match &votes_file {
        Some(path) => load(path).await?,
        None => Tally::default(),
    };
    tracing::info!(?tally, ?votes_file, "starting");
    let shutdown = Shutdown::new();
    let state = AppState {
        tally: Arc::new(watch::channel(tally).0),
        votes_file: Arc::new(Mutex::new(votes_file)),
        shutdown: shutdown.clone(),
    };

    let app = Router::new()
        .route("/", get(|| async { Html(include_str!("vote.html")) }))
        .route(
            "/result",
            get(|| async { Html(include_str!("result.html")) }),
        )
        .route("/vote", post(vote))
        .route("/stream", get(stream))
        .with_state(state)
        .layer(TraceLayer::new_for_http());

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("vote at http://127.0.0.1:{port}/ and watch http://127.0.0.1:{port}/result");

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

/// `POST /vote`: `{"choice": "yes"}` or `{"choice": "no"}`.
async fn vote(State(state): State<AppState>, body: Bytes) -> Response {
    #[derive(Deserialize)]
    struct Vote {
        choice: String,
    }
    let Ok(Vote { choice }) = serde_json::from_slice::<Vote>(&body) else {
        return bad_request(r#"expected a JSON body like {"choice": "yes"}"#);
    };
    let votes_file = state.votes_file.lock().await;
    let accepted = state.tally.send_if_modified(|tally| match choice.as_str() {
        "yes" => {
            tally.yes += 1;
            true
        }
        "no" => {
            tally.no += 1;
            true
        }
        _ => false,
    });
    if !accepted {
        return bad_request(r#"choice must be "yes" or "no""#);
    }
    let tally = *state.tally.borrow();
    tracing::info!(%choice, ?tally, "vote");
    if let Some(path) = &*votes_file {
        if let Err(e) = save(path, tally).await {
            tracing::error!(error = %e, path = %path.display(), "could not save the tally");
        }
    }
    Json(tally).into_response()
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
}

/// `GET /stream`: the current tally, then every change.
async fn stream(State(state): State<AppState>) -> impl IntoResponse {
    let mut tally = state.tally.subscribe();
    tally.mark_changed(); // send the current tally at once
    let tallies = stream::unfold(tally, |mut tally| async move {
        tally.changed().await.ok()?;
        let current = *tally.borrow_and_update();
        Some((current, tally))
    });
    let events = tallies.filter_map(|tally| async move { tally_event(tally) });
    standin::sse(events, RETRY, &state.shutdown)
}

fn tally_event(tally: Tally) -> Option<EncodedEvent> {
    match Event::new().event(TALLY).json_data(&tally) {
        Ok(event) => Some(event.encode()),
        Err(e) => {
            tracing::error!(error = %e, "could not encode the tally");
            None
        }
    }
}

async fn load(path: &PathBuf) -> Result<Tally, Box<dyn std::error::Error + Send + Sync>> {
    match tokio::fs::read(path).await {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Tally::default()),
        Err(e) => Err(e.into()),
    }
}

async fn save(path: &PathBuf, tally: Tally) -> std::io::Result<()> {
    let json = serde_json::to_vec(&tally).map_err(std::io::Error::other)?;
    let temp = path.with_extension("tmp");
    tokio::fs::write(&temp, json).await?;
    tokio::fs::rename(&temp, path).await
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
