//! Messages over plain hyper 1: no framework, just `service_fn`, hyper-util's
//! server (HTTP/1.1 and HTTP/2) and tower-sse.
//!
//! ```sh
//! cargo run --example hyper_messages
//! ```
//!
//! Open <http://127.0.0.1:3000/> to send and watch messages. `PORT=8080` picks
//! another port. From a shell:
//!
//! ```sh
//! curl -N http://127.0.0.1:3000/eventstream
//! curl -H 'content-type: application/json' -d '{"title":"Hi","body":"there"}' \
//!     http://127.0.0.1:3000/message
//! ```
//!
//! Routes: `GET /` the page, `POST /message` with `{"title": "...", "body": "..."}`,
//! `GET /eventstream` the event stream: `event: message`, an id, JSON data.

#[path = "../common/standin.rs"]
mod standin;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use serde::{Deserialize, Serialize};
use standin::{Hub, Shutdown};
use tower_sse::{BoxError, Event, EventType};
use tracing_subscriber::EnvFilter;

/// The one topic of this app.
const TOPIC: &str = "messages";

/// The event type of every message.
const MESSAGE: EventType = EventType::from_static("message");

/// How long browsers wait before reconnecting.
const RETRY: Duration = Duration::from_secs(1);

/// The largest `POST /message` body accepted.
const MAX_BODY: usize = 64 * 1024;

type Body = BoxBody<Bytes, BoxError>;

#[derive(Debug, Serialize, Deserialize)]
struct Message {
    title: String,
    body: String,
}

struct AppState {
    hub: Hub,
    shutdown: Shutdown,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let port: u16 = std::env::var("PORT").map_or(Ok(3000), |p| p.parse())?;
    let shutdown = Shutdown::new();
    let state = Arc::new(AppState {
        hub: Hub::new(),
        shutdown: shutdown.clone(),
    });

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("messages: http://127.0.0.1:{port}/");

    let signal = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: ending open streams");
        signal.trigger();
    });

    let server = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = shutdown.clone().triggered() => break,
        };
        let state = Arc::clone(&state);
        // Any hyper service works: this is a plain `service_fn`.
        let service = service_fn(move |request| handle(Arc::clone(&state), request));
        let connection = server.serve_connection_with_upgrades(TokioIo::new(socket), service);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    // Streams ended on the signal, so the connections finish promptly.
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 5 s; exiting anyway");
    }
    tracing::info!("bye");
    Ok(())
}

async fn handle(
    state: Arc<AppState>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    tracing::info!(method = %request.method(), path = request.uri().path(), "request");
    Ok(match (request.method(), request.uri().path()) {
        (&Method::GET, "/") => html(include_str!("page.html")),
        (&Method::POST, "/message") => post_message(&state, request).await,
        (&Method::GET, "/eventstream") => event_stream(&state, &request),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    })
}

/// `POST /message`: publishes `{"title", "body"}` as a `message` event.
async fn post_message(state: &AppState, request: Request<Incoming>) -> Response<Body> {
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "body too large or cut off\n"),
    };
    let Ok(message) = serde_json::from_slice::<Message>(&body) else {
        return text(
            StatusCode::BAD_REQUEST,
            "expected JSON like {\"title\": \"...\", \"body\": \"...\"}\n",
        );
    };
    let published = Event::new()
        .event(MESSAGE)
        .json_data(&message)
        .and_then(|event| state.hub.publish(TOPIC, event));
    match published {
        Ok(id) => {
            tracing::info!(%id, title = %message.title, "message");
            let mut response = text(StatusCode::OK, &format!("{{\"id\":\"{id}\"}}"));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(e) => text(StatusCode::SERVICE_UNAVAILABLE, &format!("{e}\n")),
    }
}

/// `GET /eventstream`: every message, resuming after `Last-Event-ID`.
fn event_stream(state: &AppState, request: &Request<Incoming>) -> Response<Body> {
    let last_event_id = request
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok());
    let events = state.hub.subscribe_from(TOPIC, last_event_id);
    standin::sse(events, RETRY, &state.shutdown)
        .into_http_response()
        .map(|body| body.map_err(BoxError::from).boxed())
}

fn html(page: &'static str) -> Response<Body> {
    let mut response = text(StatusCode::OK, page);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from(body.to_owned()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
