//! Relayed throughput against a direct `EventStream`, in the same run.
//!
//! Run: `cargo bench --bench relay`. Sizes: `SSE_BENCH_EVENTS` (default
//! 500,000) and `SSE_BENCH_ROUNDS` (default 5). Under `cargo test
//! --all-targets` it only smoke-runs a few thousand events and checks that
//! both contenders produce the same bytes.
//!
//! - **direct**: typed chat events (`IntoEvent` with `json_data`) encoded by
//!   an `EventStream`, what the upstream server itself does;
//! - **relay**: that upstream's wire bytes, in 16 KiB chunks cut anywhere
//!   (mid-line, mid-CRLF), read by [`tower_sse::relay::Relay`] through
//!   `parse::EventReader` and re-encoded by an `EventStream`: what a gateway
//!   adds on top of the network.
//!
//! Both drain their body in-process, so the ratio is the relay's own cost
//! (parse + re-encode) against the upstream's (serialize + encode). Target:
//! the relay keeps up, at least 0.8x of direct.

mod support;

use std::convert::Infallible;
use std::time::Instant;

use bytes::Bytes;
use futures_util::stream;
use http_body::Frame;
use http_body_util::StreamBody;
use serde::Serialize;
use tower_sse::relay::Relay;
use tower_sse::{Event, EventStream, EventType, IntoEvent, LastEventId};

use support::{drain, drain_count, paired_ratio, per_sec, print_ratio, print_table, Mode, Series};

#[derive(Debug, Clone, Serialize)]
struct ChatEvent {
    id: u64,
    user: String,
    room: String,
    message: String,
}

const CHAT: EventType = EventType::from_static("chat");

impl IntoEvent for ChatEvent {
    fn into_event(self) -> Result<Event, tower_sse::Error> {
        Event::new().event(CHAT).id(self.id).json_data(&self)
    }
}

fn chat_events(n: usize) -> Vec<ChatEvent> {
    (0..n as u64)
        .map(|i| ChatEvent {
            id: 100_000 + i,
            user: format!("user-{:04}", i % 1000),
            room: ["general", "backend", "release", "random"][(i % 4) as usize].to_owned(),
            message: format!("message number {i} with a little text in it"),
        })
        .collect()
}

type Upstream = StreamBody<stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// The direct stream's bytes in 16 KiB chunks, boundaries anywhere.
fn upstream_chunks(direct: &[u8]) -> Vec<Bytes> {
    direct
        .chunks(16 * 1024)
        .map(Bytes::copy_from_slice)
        .collect()
}

fn relayed(
    chunks: Vec<Bytes>,
) -> EventStream<impl futures_core::Stream<Item = tower_sse::relay::Relayed>> {
    let mut chunks = Some(chunks);
    let connect = move |_: Option<&LastEventId>| {
        let frames: Vec<_> = chunks
            .take()
            .unwrap_or_default()
            .into_iter()
            .map(|c| Ok(Frame::data(c)))
            .collect();
        let body: Upstream = StreamBody::new(stream::iter(frames));
        let response = http::Response::builder()
            .header("content-type", "text/event-stream")
            .body(body)
            .unwrap();
        std::future::ready(Ok::<_, Infallible>(response))
    };
    EventStream::new(Relay::new(connect).stream(None))
}

fn main() {
    let mode = Mode::from_args();
    let n = mode.size("SSE_BENCH_EVENTS", 500_000, 5_000);
    let rounds = mode.size("SSE_BENCH_ROUNDS", 5, 2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let events = chat_events(n);
    let direct_bytes = rt.block_on(drain(EventStream::new(stream::iter(events.clone()))));
    let chunks = upstream_chunks(&direct_bytes);
    let relay_bytes = rt.block_on(drain(relayed(chunks.clone())));
    assert!(
        direct_bytes == relay_bytes,
        "the relay must reproduce the upstream's bytes exactly"
    );

    println!("relay: {n} chat events, {rounds} rounds, in-process drain");
    let mut direct = Series::new("direct EventStream");
    let mut relay = Series::new("relay (parse + re-encode)");
    for _ in 0..rounds {
        let input = events.clone();
        let start = Instant::now();
        let bytes = rt.block_on(drain_count(EventStream::new(stream::iter(input))));
        direct.samples.push(per_sec(n, start.elapsed()));
        assert_eq!(bytes, direct_bytes.len());

        let input = chunks.clone();
        let start = Instant::now();
        let bytes = rt.block_on(drain_count(relayed(input)));
        relay.samples.push(per_sec(n, start.elapsed()));
        assert_eq!(bytes, direct_bytes.len());
    }
    print_table("events/s", &[&direct, &relay]);
    let ratio = paired_ratio(&relay, &direct);
    print_ratio("relay / direct", ratio, Some(0.8));
    println!("  ({:.0} ns per relayed event)", 1e9 / relay.median());
}
