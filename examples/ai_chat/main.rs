//! AI chat with resumable answers: ask a question, a simulated model streams
//! the answer token by token; reload the page (or cut the network) mid-answer
//! and it continues exactly where it stopped; Stop cancels the model.
//!
//! ```sh
//! cargo run --example ai_chat --features axum
//! ```
//!
//! Two processes sharing the answers through Redis (reload on either):
//!
//! ```sh
//! REDIS_URL=redis://127.0.0.1:6379/ PORT=3000 cargo run --example ai_chat --features axum,redis
//! REDIS_URL=redis://127.0.0.1:6379/ PORT=3001 cargo run --example ai_chat --features axum,redis
//! ```
//!
//! Open <http://127.0.0.1:3000/>. The page keeps the answer's token and the
//! last event id in `localStorage`; after a reload it reads the stream again
//! from that id (`?lastEventId=`), on whichever server serves the page.
//! `TOKEN_MS` (default 40) sets the model's pace, `TOKENS` (default 120) the
//! answer's length. The model is simulated: no network, no model weights.
//!
//! ```sh
//! curl -d 'why?' http://127.0.0.1:3000/answers        # {"stream":"<token>"}
//! curl -N http://127.0.0.1:3000/answers/<token>/events
//! curl -X POST http://127.0.0.1:3000/answers/<token>/stop
//! ```

#[path = "../common/hub.rs"]
mod common_hub;
#[path = "../common/signal.rs"]
mod signal;

mod app;

use std::time::Duration;

use tower_sse::resumable::ResumableStreams;
use tracing_subscriber::EnvFilter;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    std::env::var(name).map_or(Ok(default), |v| {
        v.parse().map_err(|_| format!("bad {name}"))
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let port: u16 = env_or("PORT", 3000)?;
    let state = app::AppState {
        streams: ResumableStreams::new(common_hub::hub_from_env("ai-chat:")?),
        upstreams: app::Upstreams::default(),
        pace: Duration::from_millis(env_or("TOKEN_MS", 40)?),
        tokens: env_or("TOKENS", 120)?,
    };
    let hub = state.streams.hub().clone();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("ai chat: http://127.0.0.1:{port}/");
    axum::serve(listener, app::router(state))
        .with_graceful_shutdown(async move {
            signal::shutdown_signal().await;
            // End the open streams so the graceful shutdown can finish.
            hub.close();
        })
        .await?;
    Ok(())
}
