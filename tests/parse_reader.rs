//! `EventReader` over real `http_body::Body` implementations.

use std::{io, time::Duration};

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use http_body::Frame;
use http_body_util::StreamBody;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tower_sse::{
    parse::{EventReader, Item, MessageEvent},
    ErrorKind,
};

fn frame(bytes: &'static [u8]) -> Result<Frame<Bytes>, io::Error> {
    Ok(Frame::data(Bytes::from_static(bytes)))
}

#[tokio::test]
async fn chunks_split_mid_crlf_and_mid_utf8_give_the_right_events() {
    let chunks = vec![
        frame(b"retry: 1500\r\ndata: caf\xC3"),
        frame(b"\xA9\r"),
        frame(b"\ndata: \xE2\x80"),
        frame(b"\xA6\r"),
        frame(b"\n\r"),
        frame(b"\nid: 7\r\nevent: tick\r\ndata: x\r"),
        frame(b"\n\r"),
        frame(b"\ndata: never dispatched"),
    ];
    let reader = EventReader::new(StreamBody::new(stream::iter(chunks)));
    let items: Vec<Item> = reader.map(Result::unwrap).collect().await;
    assert_eq!(
        items,
        [
            Item::Retry(Duration::from_millis(1500)),
            Item::Event(MessageEvent::new("café\n…")),
            Item::Event(
                MessageEvent::new("x")
                    .with_event_type("tick")
                    .with_last_event_id("7")
            ),
        ]
    );
}

#[tokio::test]
async fn a_channel_body_fed_by_another_task_is_read_as_it_arrives() {
    let (sender, receiver) = mpsc::channel(1);
    let writer = tokio::spawn(async move {
        for piece in [
            &b"data: a\r"[..],
            b"\n",
            b"\r",
            b"\n:ping\r",
            b"\ndata: b\r\n\r\n",
        ] {
            sender.send(frame(piece)).await.unwrap();
            tokio::task::yield_now().await;
        }
    });
    let mut reader = EventReader::new(StreamBody::new(ReceiverStream::new(receiver)));
    assert_eq!(
        reader.next().await.unwrap().unwrap(),
        Item::Event(MessageEvent::new("a"))
    );
    assert_eq!(
        reader.next().await.unwrap().unwrap(),
        Item::Comment("ping".into())
    );
    assert_eq!(
        reader.next().await.unwrap().unwrap(),
        Item::Event(MessageEvent::new("b"))
    );
    writer.await.unwrap();
    assert!(reader.next().await.is_none());
    assert!(reader.next().await.is_none());
}

#[tokio::test]
async fn a_body_error_becomes_a_body_error_and_ends_the_stream() {
    let chunks = vec![
        frame(b"data: ok\n\ndata: half"),
        Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "reset by peer",
        )),
        frame(b"\n\ndata: after the error\n\n"),
    ];
    let mut reader = EventReader::new(StreamBody::new(stream::iter(chunks)));
    let first = reader.next().await.unwrap().unwrap();
    assert_eq!(first.into_event().unwrap().data, "ok");
    let err = reader.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Body);
    let source = err.into_source().expect("the body's error is kept");
    let io_err = source.downcast::<io::Error>().unwrap();
    assert_eq!(io_err.kind(), io::ErrorKind::ConnectionReset);
    for _ in 0..3 {
        assert!(reader.next().await.is_none());
    }
}

#[tokio::test]
async fn a_channel_body_that_fails_reports_its_error() {
    let (sender, receiver) = mpsc::channel(4);
    sender.send(frame(b"id: 1\ndata: a\n\n")).await.unwrap();
    sender.send(Err(io::Error::other("aborted"))).await.unwrap();
    let mut reader = EventReader::new(StreamBody::new(ReceiverStream::new(receiver)));
    let event = reader.next().await.unwrap().unwrap().into_event().unwrap();
    assert_eq!(event.last_event_id, "1");
    let err = reader.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Body);
    assert!(reader.next().await.is_none());
    assert_eq!(reader.parser().last_event_id(), "1");
}
