//! The dashboard's routes, separate from `main.rs` so that the browser test
//! runs the very same app in-process.

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use http::request::Parts;
use serde::Deserialize;
use tower_sse::multi::{Multiplexer, Refusal, Subscriber};
use tower_sse::{EventStream, SseLayer};

/// How many tiles the page shows, each its own topic `tile-<n>`.
pub(crate) const TILES: usize = 64;

/// The topic of tile `n`.
pub(crate) fn tile(n: usize) -> String {
    format!("tile-{n}")
}

/// The private topic of `user`'s notifications.
pub(crate) fn notifications(user: &str) -> String {
    format!("users/{user}/notifications")
}

/// The multiplexer this app needs over `hub`: room for 64 tiles plus a
/// user's notifications, and the authorizer below.
pub(crate) fn multiplexer(hub: tower_sse::Hub) -> Multiplexer {
    Multiplexer::new(hub)
        .max_topics(TILES + 1)
        .authorizer(authorize)
}

/// Tiles are public; `users/<name>/notifications` only for `<name>`.
fn authorize(request: &Parts, topic: &str) -> Result<(), Refusal> {
    if topic.starts_with("tile-") {
        return Ok(());
    }
    let me = request
        .extensions
        .get::<Subscriber>()
        .and_then(Subscriber::principal);
    match (topic.strip_prefix("users/"), me) {
        (Some(_), None) => Err(Refusal::unauthenticated()),
        (Some(rest), Some(me)) if rest == format!("{me}/notifications") => Ok(()),
        _ => Err(Refusal::forbidden(topic)),
    }
}

/// The app's "auth layer": a `user=<name>` cookie (a demo, not security:
/// use a signed session or a validated token in a real app).
async fn auth(mut request: Request, next: Next) -> Response {
    let user = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("user=").map(str::to_owned));
    if let Some(user) = user.filter(|u| valid_user(u)) {
        request.extensions_mut().insert(Subscriber::new(user));
    }
    next.run(request).await
}

fn valid_user(user: &str) -> bool {
    (1..=32).contains(&user.len()) && user.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[derive(Deserialize)]
struct Topics {
    topics: String,
}

/// `GET /events?topics=a,b,...`: one stream for all of them.
async fn events(
    State(multi): State<Multiplexer>,
    Query(q): Query<Topics>,
    request: Request,
) -> Response {
    let (parts, _) = request.into_parts();
    match multi.subscribe_parts(&parts, q.topics.split(',')).await {
        Ok(stream) => EventStream::from(stream).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

#[derive(Deserialize)]
struct Login {
    user: String,
}

/// `GET /login?user=ann`: sets the cookie and goes back to the page.
async fn login(Query(login): Query<Login>) -> Response {
    if !valid_user(&login.user) {
        return (
            StatusCode::BAD_REQUEST,
            "user names are 1 to 32 letters or digits\n",
        )
            .into_response();
    }
    let cookie = format!("user={}; Path=/; SameSite=Strict", login.user);
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

/// `POST /users/{user}/notify` with a text body: a notification only that
/// user's page receives.
async fn notify(
    State(multi): State<Multiplexer>,
    Path(user): Path<String>,
    text: String,
) -> Response {
    if !valid_user(&user) || text.is_empty() || text.len() > 1024 {
        return (StatusCode::BAD_REQUEST, "bad user or text\n").into_response();
    }
    match multi.hub().publish(&notifications(&user), text).await {
        Ok(id) => id.to_string().into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

/// The whole app; `sse` configures the event streams (retry, keep-alive...).
pub(crate) fn router(multi: Multiplexer, sse: SseLayer) -> Router {
    let streams = Router::new()
        .route("/events", get(events))
        .layer(sse.last_event_id_query(true));
    Router::new()
        .route("/", get(|| async { Html(include_str!("page.html")) }))
        .route("/login", get(login))
        .route("/users/{user}/notify", post(notify))
        .merge(streams)
        .layer(middleware::from_fn(auth))
        .with_state(multi)
}
