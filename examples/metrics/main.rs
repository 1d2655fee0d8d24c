//! Prometheus `/metrics` for an SSE server, through the `metrics` facade.
//!
//! ```sh
//! cargo run --example metrics --features axum,metrics
//! ```
//!
//! Open <http://127.0.0.1:3000/events?count=5> in a browser tab or two (or
//! `curl -N`), then <http://127.0.0.1:3000/metrics>: `sse_server_active_streams`
//! counts the open streams, `sse_server_events` the events sent, and closing a
//! tab records its `sse_server_stream_duration` with
//! `sse_end_reason="client_gone"`. At most 2 streams are admitted; a third is
//! counted in `sse_server_rejected_streams`. `PORT=8080` picks another port.

mod app;

use metrics_exporter_prometheus::PrometheusBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    let port: u16 = std::env::var("PORT").map_or(Ok(3000), |p| p.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("events: http://127.0.0.1:{port}/events?count=5");
    println!("metrics: http://127.0.0.1:{port}/metrics");
    axum::serve(listener, app::router(prometheus)).await?;
    Ok(())
}
