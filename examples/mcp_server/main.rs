//! An MCP server (rmcp's Streamable HTTP transport on axum) whose streams
//! are stored in a tower-sse hub, so a client that loses a stream resumes it
//! with `Last-Event-ID`; with `REDIS_URL` the events live in Redis Streams.
//!
//! ```sh
//! cargo run --example mcp_server --features axum,rmcp
//! REDIS_URL=redis://127.0.0.1:6379/ MCP_SECRET=shared cargo run --example mcp_server --features axum,rmcp,redis
//! ```
//!
//! The endpoint is <http://127.0.0.1:3000/mcp> (`PORT` picks another port).
//! It implements the tools the MCP conformance suite's server scenarios
//! call; `test_reconnection` has its POST stream closed by the server after
//! the priming event (SEP-1699 polling), and the client gets the result
//! after it reconnects with `Last-Event-ID`, replayed from the hub.
//! `scripts/conformance.sh` runs the suite against it.
//!
//! Several processes on one Redis (same `REDIS_URL` and `MCP_SECRET`,
//! different `PORT`s) serve the same sessions and streams: the session
//! state is kept in Redis by `HubSessionStore`, so a session initialized on
//! one process is restored on another, and a tool call's stream (try
//! `stream_progress` with a `progressToken`) is resumed on either with
//! `Mcp-Session-Id` and `Last-Event-ID` (`tests/mcp_cross_node.rs`).

#[path = "../common/hub.rs"]
mod common_hub;
#[path = "../common/signal.rs"]
mod signal;

mod server;

use std::sync::Arc;
use std::time::Duration;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tower_sse::mcp::{HubEventStore, HubSessionStore};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let port: u16 = std::env::var("PORT").map_or(Ok(3000), |p| p.parse())?;
    let hub = common_hub::hub_from_env("mcp:")?;
    let mut store = HubEventStore::new(hub.clone());
    if let Ok(secret) = std::env::var("MCP_SECRET") {
        store = store.secret(secret.as_bytes());
    }
    let sessions = LocalSessionManager::default().with_event_store(Arc::new(store));
    let mut config =
        StreamableHttpServerConfig::default().with_sse_retry(Some(Duration::from_millis(500)));
    // In Redis with `REDIS_URL` (every process restores every session), in
    // memory otherwise.
    config.session_store = Some(Arc::new(HubSessionStore::new(&hub)));
    let service =
        StreamableHttpService::new(|| Ok(server::ConformanceServer), Arc::new(sessions), config);
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn(
            server::close_reconnection_streams,
        ));

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("mcp server: http://127.0.0.1:{port}/mcp");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            signal::shutdown_signal().await;
            hub.close();
        })
        .await?;
    Ok(())
}
