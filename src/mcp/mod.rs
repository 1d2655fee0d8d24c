//! MCP Streamable HTTP servers (the `rmcp` crate) resuming their streams
//! through a [`Hub`](crate::Hub): [`HubEventStore`] implements rmcp's
//! `EventStore` seam, so with a Redis hub a client that loses a stream
//! resumes it with `Last-Event-ID` on any node.
//!
//! ```
//! use std::sync::Arc;
//! use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
//! use tower_sse::mcp::HubEventStore;
//!
//! let store = HubEventStore::new(tower_sse::Hub::new());
//! let sessions = LocalSessionManager::default().with_event_store(Arc::new(store));
//! # let _ = sessions;
//! ```
//!
//! # Event ids
//!
//! An event id is `<stream token>/<hub id>`: the 128-bit token names the
//! rmcp stream's hub topic (`mcp:<token>`) and is a keyed hash of rmcp's
//! stream id, so every node that shares the secret
//! ([`HubEventStore::secret`]) maps a stream to the same topic. A replay
//! reads only that topic: an id can never yield another stream's (or
//! session's) events, and an id that is not an event of the stream ends
//! the replay at once.

mod event_store;

pub use event_store::HubEventStore;
