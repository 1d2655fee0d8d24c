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
//! every vote, with the number of votes so far as its id.
//!
//! Every vote is published to a [`tower_sse::Hub`] topic (encoded once for all
//! watchers); [`tower_sse::SseLayer`] adds the stream headers, a retry hint, an
//! opening comment and keep-alives, and ends every stream on Ctrl-C / SIGTERM.
//! A new watcher subscribes and reads the current tally under the same lock
//! that votes take, so it gets the snapshot and then exactly the later tallies:
//! none lost, none older than what it already shows.

#[path = "../common/signal.rs"]
mod signal;

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
use tokio::sync::Mutex;
use tower_http::trace::TraceLayer;
use tower_sse::{Event, EventStream, EventType, Hub, HubConfig, Shutdown, SseLayer};
use tracing_subscriber::EnvFilter;

/// How long browsers wait before reconnecting.
const RETRY: Duration = Duration::from_secs(1);

/// How often an idle stream gets a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The hub topic the tallies go to.
const TOPIC: &str = "tally";

const TALLY: EventType = EventType::from_static("tally");

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Tally {
    yes: u64,
    no: u64,
}

impl Tally {
    /// A `tally` event with the full counts, so any one of them is the whole
    /// state; the id is the number of votes, which only grows.
    fn event(self) -> Result<Event, tower_sse::Error> {
        let votes = self.yes.saturating_add(self.no);
        Event::new().event(TALLY).id(votes).json_data(&self)
    }
}

/// The poll: the tally and where it is saved. Votes, their publication and
/// new subscriptions all take this lock, which orders them.
struct Poll {
    tally: Tally,
    votes_file: Option<PathBuf>,
}

#[derive(Clone)]
struct AppState {
    poll: Arc<Mutex<Poll>>,
    hub: Hub,
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
    let state = AppState {
        poll: Arc::new(Mutex::new(Poll { tally, votes_file })),
        // Each tally replaces the previous one, and watchers start from a
        // snapshot: no history to keep.
        hub: HubConfig::new().history(0).build(),
    };

    let shutdown = Shutdown::from_future(signal::shutdown_signal());
    let sse = SseLayer::new()
        .retry(RETRY)
        .keep_alive_interval(KEEP_ALIVE)
        .try_initial_comment("live poll")?
        .shutdown(shutdown.clone());

    let app = Router::new()
        .route("/", get(|| async { Html(include_str!("vote.html")) }))
        .route(
            "/result",
            get(|| async { Html(include_str!("result.html")) }),
        )
        .route("/vote", post(vote))
        .route("/stream", get(tally_stream))
        .with_state(state)
        .layer(sse)
        .layer(TraceLayer::new_for_http());

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("vote at http://127.0.0.1:{port}/ and watch http://127.0.0.1:{port}/result");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.triggered().await })
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
    let mut poll = state.poll.lock().await;
    let mut tally = poll.tally;
    match choice.as_str() {
        "yes" => tally.yes += 1,
        "no" => tally.no += 1,
        _ => return bad_request(r#"choice must be "yes" or "no""#),
    }
    if let Some(path) = &poll.votes_file {
        if let Err(e) = save(path, tally).await {
            tracing::error!(error = %e, path = %path.display(), "could not save the tally");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not save the vote\n",
            )
                .into_response();
        }
    }
    poll.tally = tally;
    // Published under the lock, so tallies reach the hub in vote order.
    let published = match tally.event() {
        Ok(event) => state.hub.publish(TOPIC, event).await,
        Err(e) => Err(e),
    };
    if let Err(e) = published {
        tracing::error!(error = %e, "could not publish the tally");
    }
    tracing::info!(%choice, ?tally, "vote");
    Json(tally).into_response()
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
}

/// `GET /stream`: the current tally, then the tally after every vote.
async fn tally_stream(State(state): State<AppState>) -> Response {
    // Subscribe and read the snapshot under the vote lock: every vote is
    // either in the snapshot or delivered after it, never both or neither.
    let (subscription, snapshot) = {
        let poll = state.poll.lock().await;
        (state.hub.subscribe(TOPIC), poll.tally)
    };
    let subscription = match subscription {
        Ok(subscription) => subscription,
        Err(e) => {
            tracing::error!(error = %e, "could not subscribe");
            return (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response();
        }
    };
    match snapshot.event() {
        Ok(first) => {
            EventStream::new(stream::iter([first.encode()]).chain(subscription)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "could not encode the tally");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
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
