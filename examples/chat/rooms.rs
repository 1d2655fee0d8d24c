//! Several rooms over one `EventSource`: `GET /multi` is a page that joins a
//! list of rooms, `GET /events?rooms=a,b,c` their one stream
//! ([`tower_sse::multi::Multiplexer`]). Each event's type is its room; its id
//! is a cursor for every room, so the browser's reconnect resumes all of
//! them exactly, and a room whose history is gone gets its own `sse-gap`.
//! Messages are posted as usual to `POST /rooms/{room}/messages`.

use std::time::Duration;

use axum::extract::{Query, Request, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tower_sse::multi::Multiplexer;
use tower_sse::{EventStream, Hub, Shutdown, SseLayer};

#[derive(Deserialize)]
struct Rooms {
    rooms: String,
}

/// The page and the multi-room stream over `hub`.
pub(crate) fn router(hub: Hub, shutdown: Shutdown) -> Result<Router, tower_sse::Error> {
    let sse = SseLayer::new()
        .retry(Duration::from_secs(1))
        .keep_alive_interval(Duration::from_secs(15))
        .try_initial_comment("chat rooms")?
        .last_event_id_query(true)
        .shutdown(shutdown);
    Ok(router_with(hub, sse))
}

/// The page and the multi-room stream over `hub`, its stream served through
/// `sse` (which must accept the `lastEventId` query parameter: the page
/// sends its cursor that way when it changes rooms).
pub(crate) fn router_with(hub: Hub, sse: SseLayer) -> Router {
    let multi = Multiplexer::new(hub).max_topics(16);
    Router::new()
        .route("/multi", get(|| async { Html(include_str!("rooms.html")) }))
        .route("/events", get(events).layer(sse))
        .with_state(multi)
}

/// `GET /events?rooms=a,b,c`: one stream for all the rooms.
async fn events(
    State(multi): State<Multiplexer>,
    Query(q): Query<Rooms>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    match multi.subscribe_parts(&parts, q.rooms.split(',')).await {
        Ok(stream) => EventStream::from(stream).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}
