//! End to end: a real hyper server on 127.0.0.1:0 serves a typed event stream;
//! the crate's parser reads it back over TCP.

use std::convert::Infallible;
use std::time::Duration;

use futures_util::{stream, StreamExt};
use hyper::{body::Incoming, server::conn::http1, service::service_fn, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tower_sse::parse::{EventReader, Item};
use tower_sse::{Error, Event, EventStream, EventType, IntoEvent};

#[path = "support/client.rs"]
mod client;

#[derive(serde::Serialize)]
struct Chat {
    #[serde(skip)]
    seq: u64,
    user: &'static str,
    message: String,
}

impl IntoEvent for Chat {
    fn into_event(self) -> Result<Event, Error> {
        Event::new()
            .event(EventType::from_static("chat"))
            .id(self.seq)
            .json_data(&self)
    }
}

async fn serve_once(listener: TcpListener) {
    let (socket, _) = listener.accept().await.unwrap();
    let service = service_fn(|_req: Request<Incoming>| async {
        let chats = stream::iter(1..=3_u64).map(|seq| {
            Ok::<_, std::io::Error>(Chat {
                seq,
                user: "ann",
                message: format!("line {seq}\nsecond ✓"),
            })
        });
        let first = stream::once(async {
            Ok(Chat {
                seq: 0,
                user: "sys",
                message: "welcome".into(),
            })
        });
        Ok::<_, Infallible>(EventStream::new(first.chain(chats)).into_http_response())
    });
    http1::Builder::new()
        .serve_connection(TokioIo::new(socket), service)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_typed_stream_served_by_hyper_is_read_back_field_by_field() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(serve_once(listener));

    // The client drops its request sender once the head is in, so the
    // server closes the connection after this response.
    let (res, _conn) = client::send_h1(addr, client::get("/events", &[])).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert_eq!(res.headers()["x-accel-buffering"], "no");
    assert!(res.headers().get("content-length").is_none());

    let items: Vec<Item> = tokio::time::timeout(
        Duration::from_secs(10),
        EventReader::new(res.into_body())
            .map(Result::unwrap)
            .collect(),
    )
    .await
    .unwrap();
    let events: Vec<_> = items.into_iter().filter_map(Item::into_event).collect();
    assert_eq!(events.len(), 4);
    assert_eq!(events[0].event_type, "chat");
    assert_eq!(events[0].last_event_id, "0");
    assert_eq!(events[0].data, r#"{"user":"sys","message":"welcome"}"#);
    for (seq, event) in (1..=3).zip(&events[1..]) {
        assert_eq!(event.event_type, "chat");
        assert_eq!(event.last_event_id, seq.to_string());
        assert_eq!(
            event.data,
            format!(r#"{{"user":"ann","message":"line {seq}\nsecond ✓"}}"#)
        );
    }
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
}
