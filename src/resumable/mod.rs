//! Resumable response streams: one request, one long stream (an AI answer,
//! an agent run, an MCP tool call) that the client resumes with
//! `Last-Event-ID` on whichever server it reaches, while the work goes on.
//!
//! - [`ResumableStreams`]: the registry on a [`Hub`](crate::Hub); `create`,
//!   `open`, `cancel`, `state`.
//! - [`ResumableStream`]: the producer's handle (`send`, `finish`,
//!   `cancelled`).
//! - [`ResumableReader`]: one reader, a stream for
//!   [`EventStream`](crate::EventStream).
//!
//! # Wire protocol
//!
//! A stream lives in the hub topic `resumable:<token>`; the
//! [`StreamToken`] is 128 random bits and is the capability to read it. A
//! reader's response is:
//!
//! 1. `retry: <ms>` (the configured hint), always first;
//! 2. from the start: the **priming event** (`id: <id>` and empty data,
//!    stored at creation), so a client that drops before any real event
//!    resumes with that id; after `Last-Event-ID`: the events after it;
//! 3. the app's events, each with the id the hub gave it;
//! 4. one **terminal event** ([`Terminal`]): `sse-done`, `sse-error` or
//!    `sse-cancelled`; then the response ends.
//!
//! | resume request | answer |
//! |---|---|
//! | unknown token, or TTL passed | `404`, body `no such stream (unknown or expired)` |
//! | `Last-Event-ID` = the terminal event's id | `204 No Content` (stops `EventSource`) |
//! | malformed id, or an id that is not this stream's | `400` |
//! | from the start, but the start fell out of the history | `410` |
//! | Redis failed | `503` |
//!
//! # Guarantees
//!
//! - **Stored before written.** Every event is stored in the hub's history
//!   (memory or Redis Streams) before any reader sees it.
//! - **Scoped replay.** Readers are found by token, never by event id, so an
//!   id from another stream, session or user can never yield its events; a
//!   replay scans at most the topic's bounded history. The id is looked up
//!   before the response starts (one read of at most one record, one Redis
//!   round trip), so every engine refuses a foreign, made-up or stale id
//!   with `400`. Only a history trimmed between that look-up and the replay
//!   is reported in-band, with an `sse-error` `unknown-id` terminal event.
//! - **Disconnect is not stop.** Readers come and go; only
//!   [`ResumableStreams::cancel`] (any node) or the optional
//!   [`ResumableConfig::cancel_when_unread`] policy cancels the producer.
//! - **Same on every engine.** The shared record of a stream (state,
//!   terminal id, expiry) lives next to the events: in memory for an
//!   in-memory hub, a Redis hash for a Redis hub; cancel requests and the
//!   heartbeats of readers on other nodes travel on the control topic
//!   `resumable:<token>:ctl` through the same hub.
//! - **Cost.** A stream nobody reads costs one publish per event (one
//!   `XADD` on Redis) and nothing else per event; the producer's node
//!   listens on the control topic once per stream.
//! - **Bounded.** An in-memory registry holds at most
//!   [`ResumableConfig::max_streams`] streams; every stream expires after
//!   its TTL once finished, or after its maximum lifetime. Size the hub's
//!   history to hold the longest stream (the default 1,024 events in
//!   memory, 1,000 in Redis).
//!
//! ```
//! use axum::{extract::{Path, State}, http::HeaderMap, response::{IntoResponse, Response}, routing::{get, post}, Router};
//! use tower_sse::resumable::{ResumableStreams, Terminal};
//! use tower_sse::EventStream;
//!
//! async fn start(State(streams): State<ResumableStreams>) -> Result<String, String> {
//!     let answer = streams.create().await.map_err(|e| e.to_string())?;
//!     let token = answer.token().to_string();
//!     tokio::spawn(async move {
//!         for word in ["Hello", ", ", "world"] {
//!             tokio::select! {
//!                 () = answer.cancelled() => return answer.finish(Terminal::Cancelled).await,
//!                 sent = answer.send(word) => { sent?; }
//!             }
//!         }
//!         answer.finish(Terminal::Done(String::new())).await
//!     });
//!     Ok(token)
//! }
//!
//! async fn read(State(streams): State<ResumableStreams>, Path(token): Path<String>, headers: HeaderMap) -> Response {
//!     let last = headers.get("last-event-id").and_then(|v| v.to_str().ok());
//!     match streams.open(&token, last).await {
//!         Ok(reader) => EventStream::new(reader).into_response(),
//!         Err(refused) => refused.into_http_response().into_response(),
//!     }
//! }
//!
//! let app: Router = Router::new()
//!     .route("/answers", post(start))
//!     .route("/answers/{token}", get(read))
//!     .with_state(ResumableStreams::new(tower_sse::Hub::new()));
//! ```

mod config;
mod control;
mod error;
pub(crate) mod lookup;
mod reader;
mod records;
mod registry;
pub(crate) mod terminal;
mod token;
mod writer;

pub use config::ResumableConfig;
pub use error::{ResumeError, ResumeErrorKind};
pub use reader::ResumableReader;
pub use records::StreamState;
pub use registry::ResumableStreams;
pub use terminal::{Terminal, CANCELLED_EVENT_TYPE, DONE_EVENT_TYPE, ERROR_EVENT_TYPE};
pub use token::{InvalidToken, StreamToken};
pub use writer::ResumableStream;
