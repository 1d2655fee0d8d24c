//! The `hyper_messages` example over HTTP: a plain hyper server (no framework)
//! streams posted messages as `message` events, rejects bad bodies, and ends
//! its open streams and exits within a second on SIGTERM.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::app::App;

type HttpClient<B> = Client<hyper_util::client::legacy::connect::HttpConnector, B>;

async fn post(app: &App, json: &str) -> (u16, String) {
    let client: HttpClient<Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let request = Request::post(app.url("/message"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(json.to_owned())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// Reads frames until the body so far equals `expected`, failing on anything else.
async fn read_exactly(body: &mut Incoming, seen: &mut Vec<u8>, expected: &[u8]) {
    while seen.len() < expected.len() {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("a frame within 5 s")
            .expect("the stream is still open")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            seen.extend_from_slice(&data);
        }
    }
    assert_eq!(
        String::from_utf8_lossy(seen),
        String::from_utf8_lossy(expected)
    );
}

#[tokio::test]
async fn posted_messages_stream_as_message_events_and_sigterm_ends_the_stream() {
    let mut app = App::start("hyper_messages", &[]);
    let client: HttpClient<Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let response: Response<Incoming> = client
        .get(app.url("/eventstream").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let mut body = response.into_body();
    let mut seen = Vec::new();
    read_exactly(&mut body, &mut seen, b"retry: 1000\n\n").await;

    assert_eq!(
        post(&app, r#"{"title":"Hello","body":"two\nlines"}"#).await,
        (200, r#"{"id":"1"}"#.to_owned())
    );
    assert_eq!(
        post(&app, r#"{"title":"Ünïcode","body":"日本語"}"#).await,
        (200, r#"{"id":"2"}"#.to_owned())
    );
    let expected = concat!(
        "retry: 1000\n\n",
        "event: message\nid: 1\ndata: {\"title\":\"Hello\",\"body\":\"two\\nlines\"}\n\n",
        "event: message\nid: 2\ndata: {\"title\":\"Ünïcode\",\"body\":\"日本語\"}\n\n",
    );
    read_exactly(&mut body, &mut seen, expected.as_bytes()).await;

    let (status, text) = post(&app, r#"{"title":"no body"}"#).await;
    assert_eq!(status, 400, "{text}");
    assert_eq!(
        text,
        "expected JSON like {\"title\": \"...\", \"body\": \"...\"}\n"
    );

    let took = app.stop().unwrap();
    assert!(took < Duration::from_secs(1), "exit took {took:?}");
    // The open stream ended cleanly, with nothing after the last event.
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("a clean end of the stream");
        assert!(frame.into_data().map_or(true, |d| d.is_empty()));
    }
    assert_eq!(seen, expected.as_bytes());
}
