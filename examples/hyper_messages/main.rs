//! Messages over plain hyper 1: no framework, just a `service_fn` wrapped in
//! [`tower_sse::SseLayer`] with `tower::ServiceBuilder`, served by hyper-util's
//! server (HTTP/1.1 and HTTP/2) through `TowerToHyperService`.
//!
//! ```sh
//! cargo run --example hyper_messages
//! ```
//!
//! Open <http://127.0.0.1:3000/> to send and watch messages. `PORT=8080` picks
//! another port; `KEEP_ALIVE_MS=500` sends keep-alive comments more often than
//! the default 15 s (handy to watch them with curl). From a shell:
//!
//! ```sh
//! curl -N http://127.0.0.1:3000/eventstream
//! curl -H 'content-type: application/json' -d '{"title":"Hi","body":"there"}' \
//!     http://127.0.0.1:3000/message
//! ```
//!
//! Routes: `GET /` the page, `POST /message` with `{"title": "...", "body": "..."}`,
//! `GET /eventstream` the event stream: `event: message`, an id, JSON data.
//!
//! Messages fan out through a [`tower_sse::Hub`] (encoded once, numbered,
//! replayed after `Last-Event-ID`, which the layer validates). The layer sends
//! a retry hint and an opening comment first, keep-alives when idle, and ends
//! every stream on Ctrl-C / SIGTERM; the accept loop then stops and
//! hyper-util's `GracefulShutdown` waits for the connections to finish.

#[path = "../common/signal.rs"]
mod signal;

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tower::ServiceBuilder;
use tower_sse::{BoxError, Event, EventStream, EventType, Hub, LastEventId, Shutdown, SseLayer};
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

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let port: u16 = std::env::var("PORT").map_or(Ok(3000), |p| p.parse())?;
    let keep_alive: u64 = std::env::var("KEEP_ALIVE_MS").map_or(Ok(15_000), |ms| ms.parse())?;
    let hub = Hub::new();
    let shutdown = Shutdown::from_future(signal::shutdown_signal());

    // Any hyper service works: a plain function, made a tower service, with
    // the layer around it.
    let service = ServiceBuilder::new()
        .layer(
            SseLayer::new()
                .retry(RETRY)
                .keep_alive_interval(Duration::from_millis(keep_alive))
                .try_initial_comment("messages")?
                .shutdown(shutdown.clone()),
        )
        .service(tower::service_fn(move |request| {
            handle(hub.clone(), request)
        }));
    let service = TowerToHyperService::new(service);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("messages: http://127.0.0.1:{port}/");

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
            () = shutdown.triggered() => break,
        };
        let connection =
            server.serve_connection_with_upgrades(TokioIo::new(socket), service.clone());
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: open streams ended");
    // The layer ended the streams, so the connections finish promptly.
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 5 s; exiting anyway");
    }
    tracing::info!("bye");
    Ok(())
}

async fn handle(hub: Hub, request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    tracing::info!(method = %request.method(), path = request.uri().path(), "request");
    Ok(match (request.method(), request.uri().path()) {
        (&Method::GET, "/") => html(include_str!("page.html")),
        (&Method::POST, "/message") => post_message(&hub, request).await,
        (&Method::GET, "/eventstream") => event_stream(&hub, &request),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    })
}

/// `POST /message`: publishes `{"title", "body"}` as a `message` event.
async fn post_message(hub: &Hub, request: Request<Incoming>) -> Response<Body> {
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
    let published = match Event::new().event(MESSAGE).json_data(&message) {
        Ok(event) => hub.publish(TOPIC, event).await,
        Err(e) => Err(e),
    };
    match published {
        Ok(id) => {
            tracing::info!(%id, title = %message.title, "message");
            let mut response = text(
                StatusCode::OK,
                &serde_json::json!({ "id": id.as_str() }).to_string(),
            );
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(e) => text(StatusCode::SERVICE_UNAVAILABLE, &format!("{e}\n")),
    }
}

/// `GET /eventstream`: every message, resuming after `Last-Event-ID` (which
/// the layer has validated and put in the request extensions).
fn event_stream(hub: &Hub, request: &Request<Incoming>) -> Response<Body> {
    let events = match hub.subscribe_from(TOPIC, LastEventId::from_request(request)) {
        Ok(events) => events,
        // One fixed topic: only a closed-down backend refuses; 503, never 400.
        Err(e) => return text(StatusCode::SERVICE_UNAVAILABLE, &format!("{e}\n")),
    };
    EventStream::new(events)
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
