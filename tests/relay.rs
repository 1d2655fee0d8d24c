//! The relay against a real upstream hyper server on 127.0.0.1: hostile
//! framing re-served byte-exact, reconnection with `Last-Event-ID`, the
//! terminal error event, and how fast the upstream is dropped when the client
//! leaves.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_sse::parse::{parse, Item};
use tower_sse::relay::{Comments, Relay};
use tower_sse::{BoxError, EventStream, LastEventId};

mod support;

type Body = UnsyncBoxBody<Bytes, BoxError>;
type Handler = Arc<dyn Fn(Request<Incoming>) -> Response<Body> + Send + Sync>;

/// Serves `handler` on 127.0.0.1:0 until the test ends.
async fn serve(handler: Handler) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let response = handler(req);
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    addr
}

/// A body that sends `chunks` as separate frames, then `end`.
fn chunked(chunks: Vec<Bytes>, fail_at_end: bool) -> Body {
    let frames = stream::iter(chunks.into_iter().map(|c| Ok(Frame::data(c))));
    let end = stream::iter(fail_at_end.then(|| Err(BoxError::from("upstream cut off"))));
    BodyExt::boxed_unsync(StreamBody::new(frames.chain(end)))
}

fn sse_response(status: StatusCode, content_type: &str, body: Body) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(body)
        .unwrap()
}

type Connect = Box<
    dyn FnMut(
            Option<&LastEventId>,
        ) -> Pin<Box<dyn Future<Output = Result<Response<Incoming>, BoxError>> + Send>>
        + Send,
>;

/// A connect closure for `url` with a real hyper client, sending the
/// relay's last event id as `Last-Event-ID`.
fn connect_to(url: String) -> Connect {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    Box::new(move |id: Option<&LastEventId>| {
        let mut request = Request::get(url.as_str());
        if let Some(value) = id.and_then(LastEventId::to_header_value) {
            request = request.header("last-event-id", value);
        }
        let future = client.request(request.body(Empty::new()).unwrap());
        Box::pin(async move { future.await.map_err(BoxError::from) })
    })
}

/// Serves a relay of `upstream{path}` (the path of each request) built by
/// `configure`.
async fn serve_relay(
    upstream: SocketAddr,
    configure: fn(Relay<Connect>) -> Relay<Connect>,
) -> SocketAddr {
    serve(Arc::new(move |req: Request<Incoming>| {
        let url = format!("http://{upstream}{}", req.uri().path());
        let relay = configure(Relay::new(connect_to(url)));
        let events = relay.stream(LastEventId::from_request(&req));
        EventStream::new(events)
            .into_http_response()
            .map(|b| BodyExt::boxed_unsync(b.map_err(BoxError::from)))
    }))
    .await
}

/// `GET url` with an optional `Last-Event-ID`; the whole body.
async fn get(url: String, last_event_id: Option<&str>) -> (StatusCode, Bytes) {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut request = Request::get(url);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let response = client.request(request.body(Empty::new()).unwrap());
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("a response in time")
        .unwrap();
    let status = response.status();
    let body = tokio::time::timeout(Duration::from_secs(10), response.into_body().collect())
        .await
        .expect("the body in time")
        .unwrap()
        .to_bytes();
    (status, body)
}

/// The next data frame of `body`, failing after 10 s; `None` at its end.
async fn next_frame(body: &mut Incoming) -> Option<Bytes> {
    let frame = tokio::time::timeout(Duration::from_secs(10), body.frame()).await;
    let frame = frame
        .expect("a frame in time")?
        .expect("a frame, not an error");
    Some(frame.into_data().expect("a data frame"))
}

const HUGE: usize = 300 * 1024;

/// Everything a careless relay gets wrong, cut at awkward places.
fn hostile_chunks() -> Vec<Bytes> {
    let mut chunks: Vec<Bytes> = [
        &b"\xEF\xBB"[..],                            // a BOM split in two
        b"\xBF: hello\r",                            // a comment, CR only
        b"\nretry: 250\r",                           // CRLF split across chunks
        b"event: delta\rid: 1\rdata: a\r",           // CR-only lines
        b"\r",                                       // the blank line, alone
        b"data:no-space\r\n: mid-event comment\r\n", // a comment inside an event
        b"data\r\n\r\n",                             // a field without a colon
    ]
    .into_iter()
    .map(Bytes::from_static)
    .collect();
    // A 300 KiB line in 64 KiB pieces.
    let mut huge = b"data: ".to_vec();
    huge.extend_from_slice(&vec![b'x'; HUGE]);
    huge.extend_from_slice(b"\n\n");
    chunks.extend(huge.chunks(64 * 1024).map(Bytes::copy_from_slice));
    chunks.extend(
        [
            &b"id: bad\0id\ndata: nul-id-ignored\n\n"[..], // an id with NUL is ignored
            b"id\ndata: reset\n\n",                        // an empty id resets it
            b"event: \ndata:  two spaces\n\n",             // empty type, a leading space
            b"unknown: field\ndata: \xC3",                 // UTF-8 split mid-character
            b"\xA9 split\n\n",
            b"data: never dispatched\n", // no blank line: discarded
        ]
        .into_iter()
        .map(Bytes::from_static),
    );
    chunks
}

fn expected_output(comments: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if comments {
        out.extend_from_slice(b": hello\n\n");
    }
    out.extend_from_slice(b"retry: 250\n\nevent: delta\nid: 1\ndata: a\n\n");
    if comments {
        out.extend_from_slice(b": mid-event comment\n\n");
    }
    out.extend_from_slice(b"data: no-space\ndata: \n\ndata: ");
    out.extend_from_slice(&vec![b'x'; HUGE]);
    out.extend_from_slice(
        "\n\ndata: nul-id-ignored\n\nid: \ndata: reset\n\ndata:  two spaces\n\ndata: é split\n\n"
            .as_bytes(),
    );
    out
}

fn hostile_upstream() -> Handler {
    Arc::new(|req: Request<Incoming>| match req.uri().path() {
        "/hostile" => sse_response(
            StatusCode::OK,
            "text/event-stream; charset=utf-8",
            chunked(hostile_chunks(), false),
        ),
        _ => sse_response(StatusCode::NOT_FOUND, "text/plain", chunked(vec![], false)),
    })
}

#[tokio::test]
async fn hostile_framing_is_re_served_byte_exact_with_comments_forwarded() {
    let upstream = serve(hostile_upstream()).await;
    let relay = serve_relay(upstream, |r| r.comments(Comments::Forward)).await;
    let (status, body) = get(format!("http://{relay}/hostile"), None).await;
    assert_eq!(status, 200);
    assert!(body[..] == expected_output(true)[..], "{:?}", &body[..200]);

    // What a browser sees is the same through the relay as from the upstream.
    let direct: Vec<u8> = hostile_chunks().concat();
    assert_eq!(parse(&body).unwrap(), parse(&direct).unwrap());
}

#[tokio::test]
async fn dropped_comments_leave_the_events_exactly_as_the_upstream_sent_them() {
    let upstream = serve(hostile_upstream()).await;
    let relay = serve_relay(upstream, |r| r.comments(Comments::Drop)).await;
    let (_, body) = get(format!("http://{relay}/hostile"), None).await;
    assert!(body[..] == expected_output(false)[..]);
    let direct: Vec<Item> = parse(&hostile_chunks().concat())
        .unwrap()
        .into_iter()
        .filter(|item| !matches!(item, Item::Comment(_)))
        .collect();
    assert_eq!(parse(&body).unwrap(), direct);
}

#[tokio::test]
async fn a_line_over_the_limit_ends_with_the_terminal_error_event() {
    let upstream = serve(hostile_upstream()).await;
    let relay = serve_relay(upstream, |r| r.max_buffered(64 * 1024)).await;
    let (_, body) = get(format!("http://{relay}/hostile"), None).await;
    let want = b"retry: 250\n\nevent: delta\nid: 1\ndata: a\n\ndata: no-space\ndata: \n\n\
        event: sse-upstream-error\ndata: upstream sent too large an event\n\n";
    assert_eq!(std::str::from_utf8(&body), std::str::from_utf8(want));
}

/// An upstream that records every `Last-Event-ID` it is sent and answers
/// with a status: `/down` 502, `/gone` 404, `/html` a page, else 204.
fn recording_upstream(seen: Arc<Mutex<Vec<Option<String>>>>) -> Handler {
    Arc::new(move |req: Request<Incoming>| {
        let id = req
            .headers()
            .get("last-event-id")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        seen.lock().unwrap().push(id);
        match req.uri().path() {
            "/down" => sse_response(
                StatusCode::BAD_GATEWAY,
                "text/plain",
                chunked(vec![], false),
            ),
            "/gone" => sse_response(StatusCode::NOT_FOUND, "text/plain", chunked(vec![], false)),
            "/html" => sse_response(StatusCode::OK, "text/html", chunked(vec![], false)),
            _ => sse_response(StatusCode::NO_CONTENT, "text/plain", chunked(vec![], false)),
        }
    })
}

#[tokio::test]
async fn a_broken_upstream_is_resumed_with_the_last_event_id() {
    // The first upstream response sends events 1 and 2, then breaks once
    // the client has read them; the second sends event 3 and ends.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let cut = Arc::new(tokio::sync::Notify::new());
    let upstream = {
        let (seen, cut) = (seen.clone(), cut.clone());
        serve(Arc::new(move |req: Request<Incoming>| {
            let id = req
                .headers()
                .get("last-event-id")
                .map(|v| v.to_str().unwrap().to_owned());
            let first = seen.lock().unwrap().is_empty();
            seen.lock().unwrap().push(id);
            let cut = cut.clone();
            let body: Body = if first {
                let events = stream::iter([
                    Ok(Frame::data(Bytes::from_static(
                        b"retry: 0\nid: 1\ndata: one\n\n",
                    ))),
                    Ok(Frame::data(Bytes::from_static(b"id: 2\ndata: two\n\n"))),
                ]);
                let broken = stream::once(async move {
                    cut.notified().await;
                    Err(BoxError::from("upstream cut off"))
                });
                BodyExt::boxed_unsync(StreamBody::new(events.chain(broken)))
            } else {
                chunked(vec![Bytes::from_static(b"id: 3\ndata: three\n\n")], false)
            };
            sse_response(StatusCode::OK, "text/event-stream", body)
        }))
        .await
    };
    let relay = serve_relay(upstream, |r| r.reconnect_delay(Duration::from_secs(30))).await;

    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let request = Request::get(format!("http://{relay}/flaky"))
        .header("last-event-id", "0")
        .body(Empty::new())
        .unwrap();
    let mut body = client.request(request).await.unwrap().into_body();
    let mut read = Vec::new();
    while !read.ends_with(b"data: two\n\n") {
        read.extend_from_slice(&next_frame(&mut body).await.expect("events one and two"));
    }
    cut.notify_one();
    while let Some(data) = next_frame(&mut body).await {
        read.extend_from_slice(&data);
    }
    // `retry: 0` from the upstream overrides the 30 s delay.
    assert_eq!(
        std::str::from_utf8(&read).unwrap(),
        "retry: 0\n\nid: 1\ndata: one\n\nid: 2\ndata: two\n\nid: 3\ndata: three\n\n"
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, [Some("0".to_owned()), Some("2".to_owned())]);
}

#[tokio::test]
async fn failing_statuses_end_with_one_documented_error_event() {
    // 502 is retried (3 reconnects by default, so 4 requests); 404 and a
    // wrong content type are not.
    for (path, requests, message) in [
        ("/down", 4, "upstream answered 502"),
        ("/gone", 1, "upstream answered 404"),
        ("/html", 1, "upstream is not an event stream"),
    ] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let upstream = serve(recording_upstream(seen.clone())).await;
        let relay = serve_relay(upstream, |r| r.reconnect_delay(Duration::ZERO)).await;
        let (status, body) = get(format!("http://{relay}{path}"), None).await;
        assert_eq!(status, 200, "{path}");
        let want = format!("event: sse-upstream-error\ndata: {message}\n\n");
        assert_eq!(std::str::from_utf8(&body).unwrap(), want, "{path}");
        assert_eq!(
            seen.lock().unwrap().len(),
            requests,
            "{path}: upstream requests"
        );
    }
}

#[tokio::test]
async fn a_204_from_the_upstream_ends_the_relay_cleanly() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let upstream = serve(recording_upstream(seen.clone())).await;
    let relay = serve_relay(upstream, |r| r).await;
    let (status, body) = get(format!("http://{relay}/stop"), None).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b""[..]));
    assert_eq!(seen.lock().unwrap().len(), 1);
}

/// Sends the time it is dropped.
struct DropClock(Option<tokio::sync::oneshot::Sender<Instant>>);

impl Drop for DropClock {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(Instant::now());
        }
    }
}

#[tokio::test]
async fn the_upstream_is_dropped_within_50_ms_of_the_client_leaving() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let clock = Arc::new(Mutex::new(Some(DropClock(Some(tx)))));
    let upstream = serve(Arc::new(move |_req| {
        let guard = clock.lock().unwrap().take();
        let first = stream::once(async { Ok(Frame::data(Bytes::from_static(b"data: first\n\n"))) });
        let body = first.chain(stream::pending()).map(move |frame| {
            let _ = &guard; // dropped with the body
            frame
        });
        sse_response(
            StatusCode::OK,
            "text/event-stream",
            BodyExt::boxed_unsync(StreamBody::new(body)),
        )
    }))
    .await;
    let relay = serve_relay(upstream, |r| r).await;

    let mut client = TcpStream::connect(relay).await.unwrap();
    client
        .write_all(b"GET /endless HTTP/1.1\r\nhost: relay\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0_u8; 1024];
    while !seen.windows(13).any(|w| w == b"data: first\n\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), client.read(&mut buf))
            .await
            .expect("the first event in time")
            .unwrap();
        assert!(n > 0, "the relay closed the connection");
        seen.extend_from_slice(&buf[..n]);
    }
    drop(client);
    let left = Instant::now();
    let dropped = tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .expect("the upstream body is dropped")
        .unwrap();
    let after = dropped.saturating_duration_since(left);
    println!("upstream dropped {after:?} after the client left");
    assert!(after < Duration::from_millis(50), "took {after:?}");
}

/// The `live_updates` example (`SseLayer` + a hub) behind the relay: what a
/// client reads through the relay is what it reads from the app directly, a
/// client's `Last-Event-ID` reaches the app through the relay, and when the
/// app restarts the relay reconnects on its own and passes on the app's
/// answer (its in-memory history is gone: a `reset` gap), then live events.
#[tokio::test]
async fn the_live_updates_example_is_relayed_resumed_and_survives_its_restart() {
    let mut app = support::app::App::start("live_updates", &[]);
    let upstream: SocketAddr = format!("127.0.0.1:{}", app.port()).parse().unwrap();
    let relay = serve_relay(upstream, |r| {
        r.comments(Comments::Forward)
            .reconnect_on_end(true)
            .max_reconnects(20)
    })
    .await;
    let post_url = app.url("/api/post-update");
    let post = |message: &'static str| {
        let url = post_url.clone();
        async move {
            let (status, text) = support::sse::send(
                "POST",
                &url,
                "application/x-www-form-urlencoded",
                &format!("message={message}"),
            )
            .await
            .unwrap();
            assert_eq!(status, 200, "{text}");
        }
    };
    let relayed_url = format!("http://{relay}/api/updates");

    // Direct and relayed side by side: the same items, comments included.
    let mut direct = support::sse::open(&app.url("/api/updates"), None)
        .await
        .unwrap();
    let mut relayed = support::sse::open(&relayed_url, None).await.unwrap();
    relayed.assert_layer_headers();
    for stream in [&mut direct, &mut relayed] {
        stream.assert_prelude("live updates").await.unwrap();
    }
    for message in ["one", "two", "three"] {
        post(message).await;
    }
    let mut ids = Vec::new();
    for message in ["one", "two", "three"] {
        let (d, r) = (
            direct.event().await.unwrap(),
            relayed.event().await.unwrap(),
        );
        assert_eq!(d, r, "the relay re-serves the app's event exactly");
        assert_eq!(r.data, message);
        ids.push(r.last_event_id);
    }
    drop((direct, relayed));

    // A client resumes through the relay: its id is forwarded upstream.
    post("four").await;
    post("five").await;
    let mut resumed = support::sse::open(&relayed_url, Some(&ids[1]))
        .await
        .unwrap();
    resumed.assert_prelude("live updates").await.unwrap();
    for message in ["three", "four", "five"] {
        assert_eq!(resumed.event().await.unwrap().data, message);
    }

    // The app restarts (its layer ends the stream on SIGTERM); the relay
    // reconnects with the last id it passed on and relays the app's answer.
    app.stop().unwrap();
    app.restart();
    let mut after = Vec::new();
    let gap = loop {
        match resumed.item().await.unwrap() {
            Item::Event(event) if event.event_type == "sse-gap" => break event,
            other => after.push(other),
        }
    };
    assert_eq!(gap.data, "reset", "the restarted app's history is new");
    assert!(
        after
            .iter()
            .all(|item| matches!(item, Item::Retry(_) | Item::Comment(_))),
        "only the app's prelude before the gap, no event lost or repeated: {after:?}"
    );
    post("six").await;
    let six = resumed.event().await.unwrap();
    assert_eq!(six.data, "six");
    assert!(!ids.contains(&six.last_event_id));
}
