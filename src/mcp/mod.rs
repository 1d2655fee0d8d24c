//! MCP Streamable HTTP servers (the `rmcp` crate) resuming their streams
//! and sessions through a [`Hub`](crate::Hub):
//!
//! - [`HubEventStore`] implements rmcp's `EventStore` seam: with a Redis hub
//!   a client that loses a stream resumes it with `Last-Event-ID` on any
//!   node;
//! - [`HubSessionStore`] implements rmcp's `SessionStore` seam: a session
//!   initialized on one node is restored on another that gets a request
//!   with its `Mcp-Session-Id`.
//!
//! Feature `rmcp` (rmcp 3.11) needs **Rust 1.88** or newer, above the
//! crate's own minimum (1.80).
//!
//! ```
//! use std::sync::Arc;
//! use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
//! use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
//! use tower_sse::mcp::{HubEventStore, HubSessionStore};
//!
//! let hub = tower_sse::Hub::new(); // a Redis hub to share across nodes
//! let events = HubEventStore::new(hub.clone()).secret(b"shared by all nodes");
//! let sessions = LocalSessionManager::default().with_event_store(Arc::new(events));
//! let mut config = StreamableHttpServerConfig::default();
//! config.session_store = Some(Arc::new(HubSessionStore::new(&hub)));
//! # let _ = (sessions, config);
//! ```
//!
//! # Across nodes
//!
//! Run every node with the same Redis hub, the same
//! [`HubEventStore::secret`], and a [`HubSessionStore`] on that hub. A
//! client that initialized on node A and loses a tool call's stream sends
//! `GET` with `Mcp-Session-Id` and `Last-Event-ID` to node B: B restores
//! the session from the session store (replaying the `initialize`
//! handshake), then replays the stream's events after the id from Redis
//! and follows it live while A's tool call goes on storing, until the
//! call's response. `tests/mcp_cross_node.rs` does exactly this over HTTP
//! with two server processes.
//!
//! | request on node B | answer |
//! |---|---|
//! | unknown or expired `Mcp-Session-Id` | `404` (rmcp) |
//! | known session, `Last-Event-ID` that is not an event of this store (made up, malformed, from an expired stream) | `200` with an empty stream that ends at once (rmcp's answer to a refused resume, so `EventSource` does not loop) |
//! | known session, an event id of the store | the events after it, exactly once, in order |
//!
//! rmcp's `EventStore::store_event` is not told the session, so the store
//! cannot bind an event id to its session: the ids are capabilities (128
//! bits of keyed hash of rmcp's random stream id), never guessable, but an
//! id leaked to another session's client would replay for it.
//!
//! # Event ids
//!
//! An event id is `<stream token>/<hub id>`, with `/end` appended on the
//! JSON-RPC response (or error) that ends a request's stream, so a resume
//! after it ends at once instead of waiting on a finished stream. The
//! 128-bit token names the
//! rmcp stream's hub topic (`mcp:<token>`) and is a keyed hash of rmcp's
//! stream id, so every node that shares the secret
//! ([`HubEventStore::secret`]) maps a stream to the same topic. A replay
//! reads only that topic: an id can never yield another stream's (or
//! session's) events, and an id that is not an event of the stream (made
//! up, of another epoch, trimmed away) is refused before any stream opens,
//! after one bounded look-up (one Redis round trip).

mod event_store;
mod session_store;

pub use event_store::HubEventStore;
pub use session_store::{HubSessionStore, DEFAULT_MAX_STATE_BYTES, MAX_SESSION_ID_LEN};
