//! The AI-chat app: routes, and the simulated model upstream.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use tower_sse::resumable::{ResumableStream, ResumableStreams, Terminal};
use tower_sse::{EventStream, LastEventId};

const PAGE: &str = include_str!("page.html");

/// How many upstream records the app keeps (oldest dropped first).
const RECORDS: usize = 1000;

/// What the simulated upstream did for one answer: every token it produced,
/// and when (if ever) it saw the cancellation.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct UpstreamRecord {
    /// The whole answer the model would give (what a client must end with).
    pub(crate) full: String,
    /// The tokens produced so far (stored in the stream before any socket).
    pub(crate) produced: usize,
    /// Whether it finished the whole answer.
    pub(crate) finished: bool,
    /// Milliseconds since the Unix epoch when it noticed a cancel.
    pub(crate) cancelled_at_ms: Option<u128>,
}

/// The records by stream token, and the tokens oldest first.
type Records = (HashMap<String, UpstreamRecord>, VecDeque<String>);

/// The upstream records of the answers this node produced, bounded.
#[derive(Debug, Clone, Default)]
pub(crate) struct Upstreams {
    records: Arc<Mutex<Records>>,
}

impl Upstreams {
    fn update(&self, token: &str, change: impl FnOnce(&mut UpstreamRecord)) {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        let (map, order) = &mut *records;
        if !map.contains_key(token) {
            if order.len() >= RECORDS {
                if let Some(oldest) = order.pop_front() {
                    map.remove(&oldest);
                }
            }
            order.push_back(token.to_owned());
        }
        change(map.entry(token.to_owned()).or_default());
    }

    /// The record of the answer `token`, if this node produced it.
    pub(crate) fn get(&self, token: &str) -> Option<UpstreamRecord> {
        let records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        records.0.get(token).cloned()
    }
}

/// The app's state: the streams and this node's upstream records.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) streams: ResumableStreams,
    pub(crate) upstreams: Upstreams,
    /// Pause between two tokens of the simulated model.
    pub(crate) pace: Duration,
    /// Tokens per answer.
    pub(crate) tokens: usize,
}

/// The tokens of the simulated answer to `prompt`: deterministic, words and
/// punctuation, with leading spaces as real tokenizers produce them.
pub(crate) fn answer_tokens(prompt: &str, count: usize) -> Vec<String> {
    const WORDS: &[&str] = &[
        "the", "stream", "resumes", "where", "it", "stopped", "and", "every", "token", "arrives",
        "once", "server", "sent", "events", "carry", "an", "id", "so", "a", "reload", "loses",
        "nothing", "Redis", "keeps", "history", "for", "each", "answer",
    ];
    let mut seed = prompt.bytes().fold(0x9e37_79b9_7f4a_7c15_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (0..count)
        .map(|i| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let word = WORDS[(seed % WORDS.len() as u64) as usize];
            let end = if i + 1 == count {
                "."
            } else if seed % 11 == 0 {
                ","
            } else {
                ""
            };
            if i == 0 {
                format!("{}{}{end}", word[..1].to_uppercase(), &word[1..])
            } else {
                format!(" {word}{end}")
            }
        })
        .collect()
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// The simulated model: one token per `pace`, stopping at a cancel.
async fn upstream(state: AppState, answer: ResumableStream, prompt: String) {
    let token = answer.token().to_string();
    let tokens = answer_tokens(&prompt, state.tokens);
    state.upstreams.update(&token, |r| r.full = tokens.concat());
    for piece in tokens {
        tokio::select! {
            () = answer.cancelled() => {
                state.upstreams.update(&token, |r| r.cancelled_at_ms = Some(now_ms()));
                let _ = answer.finish(Terminal::Cancelled).await;
                return;
            }
            () = tokio::time::sleep(state.pace) => {}
        }
        if let Err(error) = answer.send(piece).await {
            let _ = answer.finish(Terminal::Error(error.to_string())).await;
            return;
        }
        state.upstreams.update(&token, |r| r.produced += 1);
    }
    state.upstreams.update(&token, |r| r.finished = true);
    let _ = answer.finish(Terminal::Done(String::new())).await;
}

#[derive(Serialize)]
struct Started {
    stream: String,
}

async fn ask(State(state): State<AppState>, prompt: String) -> Response {
    match state.streams.create().await {
        Ok(answer) => {
            let stream = answer.token().to_string();
            tokio::spawn(upstream(state.clone(), answer, prompt));
            Json(Started { stream }).into_response()
        }
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response(),
    }
}

async fn events(
    State(state): State<AppState>,
    Path(token): Path<String>,
    last_event_id: Option<LastEventId>,
) -> Response {
    let last = last_event_id.as_ref().map(LastEventId::as_str);
    match state.streams.open(&token, last).await {
        // A proxy-friendly cap: the client resumes after 30 s of one response.
        Ok(reader) => EventStream::new(reader.end_after(Duration::from_secs(30))).into_response(),
        Err(refused) => refused.into_http_response().into_response(),
    }
}

async fn stop(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.streams.cancel(&token).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => (StatusCode::NOT_FOUND, "no running answer").into_response(),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response(),
    }
}

async fn record(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.upstreams.get(&token) {
        Some(record) => Json(record).into_response(),
        None => (StatusCode::NOT_FOUND, "not produced on this node").into_response(),
    }
}

async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Html(PAGE))
}

/// The routes: `GET /` the page, `POST /answers` (the prompt as text) starts
/// an answer and returns `{"stream": token}`, `GET /answers/{token}/events`
/// the resumable event stream, `POST /answers/{token}/stop` cancels it,
/// `GET /answers/{token}/upstream` what the simulated model did.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/answers", post(ask))
        .route("/answers/{token}/events", get(events))
        .route("/answers/{token}/stop", post(stop))
        .route("/answers/{token}/upstream", get(record))
        .with_state(state)
}
