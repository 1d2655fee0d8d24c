//! The metrics example's routes, separate from `main.rs` so that its test can
//! serve the very same app in-process.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use futures_util::{stream, StreamExt};
use metrics_exporter_prometheus::PrometheusHandle;
use tower_sse::{Event, EventStream, SseLayer};

/// The query of `GET /events`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Events {
    /// How many events to send before going quiet (the stream stays open).
    count: u64,
}

/// `/events?count=N`: N events, then an open, idle stream; `/metrics`: the
/// Prometheus text format. At most 2 streams are open at once.
pub(crate) fn router(prometheus: PrometheusHandle) -> Router {
    let sse = SseLayer::new()
        .max_streams(2)
        .keep_alive_interval(Duration::from_secs(3600));
    Router::new()
        .route("/events", get(events).layer(sse))
        .route(
            "/metrics",
            get(|State(p): State<PrometheusHandle>| async move { p.render() }),
        )
        .with_state(prometheus)
}

async fn events(Query(q): Query<Events>) -> impl IntoResponse {
    let events = stream::iter(0..q.count)
        .map(|n| Event::new().id(n).data(format!("event {n}")))
        .chain(stream::pending());
    EventStream::new(events)
}
