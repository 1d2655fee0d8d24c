//! Throughput of tower-sse against axum's `Sse` and a raw floor.
//!
//! Run: `cargo bench --bench throughput` (both scenarios), or
//! `cargo bench --bench throughput -- 1` for one scenario. Sizes:
//! `SSE_BENCH_EVENTS` (default 1,000,000) and `SSE_BENCH_ROUNDS` (default 5).
//! Under `cargo test --all-targets` the binary gets no `--bench` flag and only
//! smoke-runs a few thousand events, checking that all contenders produce the
//! same bytes.
//!
//! The same typed chat events go through three contenders:
//!
//! - **tower-sse**: `ChatEvent: IntoEvent` the natural way
//!   (`Event::new().event(CHAT).id(self.id).json_data(&self)`) in an `EventStream`;
//! - **tower-sse + `SseLayer`**: the same response through `SseLayer::new()`
//!   (headers, keep-alive, metrics); the layer/no-layer ratio is its overhead;
//! - **axum `Sse`**: the idiomatic `Event::default().event("chat")
//!   .id(ev.id.to_string()).json_data(&ev)` in `axum::response::sse::Sse`;
//! - **raw floor**: the same wire bytes formatted before the clock starts and
//!   sent as 32 KiB chunks: the cost of moving the bytes and nothing else.
//!
//! Scenario 1 drains each response body in-process. Scenario 2 serves each
//! from one axum server (its own thread, a current-thread runtime) over
//! loopback TCP to one blocking client (another thread) that reads to EOF and
//! counts event terminators; client and server code are the same for all three.

mod support;

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::{Bytes, BytesMut};
use futures_util::{stream, StreamExt};
use http_body::Frame;
use http_body_util::StreamBody;
use serde::Serialize;
use tower::{Layer, ServiceExt};
use tower_sse::{Event, EventStream, EventType, IntoEvent, SseLayer};

use support::{
    drain, drain_count, paired_ratio, per_sec, print_ratio, print_table, si, Mode, Series,
};

/// A chat message as an application would have it; its JSON is ~120 bytes.
#[derive(Debug, Clone, Serialize)]
struct ChatEvent {
    id: u64,
    user: String,
    room: String,
    message: String,
    sent_at: u64,
}

const CHAT: EventType = EventType::from_static("chat");

impl IntoEvent for ChatEvent {
    fn into_event(self) -> Result<Event, tower_sse::Error> {
        Event::new().event(CHAT).id(self.id).json_data(&self)
    }
}

/// The idiomatic axum event for the same value.
fn axum_event(ev: &ChatEvent) -> Result<axum::response::sse::Event, axum::Error> {
    axum::response::sse::Event::default()
        .event("chat")
        .id(ev.id.to_string())
        .json_data(ev)
}

const MESSAGES: [&str; 8] = [
    "deploy of build 4312 finished green",
    "anyone up for lunch at the usual?",
    "PR #881 needs one more review pls",
    "the staging db is back up, thanks!",
    "moving standup to 10:15 tomorrow",
    "new dashboards are live, have a look",
    "who owns the flaky payments test?",
    "reminder: retro notes due by friday",
];
const ROOMS: [&str; 4] = ["general", "backend", "release", "random!"];

/// `n` chat events, built before the clock starts (the app has them in hand).
fn chat_events(n: usize) -> Vec<ChatEvent> {
    (0..n as u64)
        .map(|i| ChatEvent {
            id: 100_000 + i,
            user: format!("user-{:04}", i % 1000),
            room: ROOMS[(i % 4) as usize].to_owned(),
            message: MESSAGES[(i % 8) as usize].to_owned(),
            sent_at: 1_732_160_000_000 + i,
        })
        .collect()
}

/// The wire bytes of `events`, pre-formatted into chunks of about 32 KiB that
/// end on event boundaries.
fn floor_chunks(events: &[ChatEvent]) -> Vec<Bytes> {
    let mut chunks = Vec::new();
    let mut buf = BytesMut::with_capacity(40 * 1024);
    for ev in events {
        Event::encode_into(&ev.clone().into_event().unwrap(), &mut buf);
        if buf.len() >= 32 * 1024 {
            chunks.push(buf.split().freeze());
        }
    }
    if !buf.is_empty() {
        chunks.push(buf.freeze());
    }
    chunks
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contender {
    TowerSse,
    TowerSseLayer,
    Axum,
    Floor,
}

const CONTENDERS: [Contender; 4] = [
    Contender::TowerSse,
    Contender::TowerSseLayer,
    Contender::Axum,
    Contender::Floor,
];

/// Indexes into `CONTENDERS`.
const TOWER_SSE: usize = 0;
const LAYER: usize = 1;
const AXUM: usize = 2;
const FLOOR: usize = 3;

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Self::TowerSse => "tower-sse EventStream",
            Self::TowerSseLayer => "tower-sse + SseLayer",
            Self::Axum => "axum Sse",
            Self::Floor => "raw floor (pre-formatted)",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Self::TowerSse => "/tower-sse",
            Self::TowerSseLayer => "/tower-sse-layer",
            Self::Axum => "/axum",
            Self::Floor => "/floor",
        }
    }
}

/// What one request serves: events to encode, or pre-formatted chunks.
enum Payload {
    Events(Vec<ChatEvent>),
    Chunks(Vec<Bytes>),
}

fn payload(contender: Contender, n: usize) -> Payload {
    let events = chat_events(n);
    match contender {
        Contender::Floor => Payload::Chunks(floor_chunks(&events)),
        _ => Payload::Events(events),
    }
}

/// The response each contender's handler gives for `payload` (for the layer
/// contender, before the layer).
fn response(contender: Contender, payload: Payload) -> Response {
    match (contender, payload) {
        (Contender::TowerSse | Contender::TowerSseLayer, Payload::Events(events)) => {
            // What `IntoResponse for EventStream` (feature `axum`) does.
            EventStream::new(stream::iter(events))
                .into_http_response()
                .map(axum::body::Body::new)
        }
        (Contender::Axum, Payload::Events(events)) => {
            axum::response::sse::Sse::new(stream::iter(events).map(|ev| axum_event(&ev)))
                .into_response()
        }
        (Contender::Floor, Payload::Chunks(chunks)) => {
            let frames = stream::iter(chunks).map(|b| Ok::<_, Infallible>(Frame::data(b)));
            let mut res = axum::body::Body::new(StreamBody::new(frames)).into_response();
            res.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/event-stream"),
            );
            res
        }
        _ => unreachable!("payload kind matches the contender"),
    }
}

/// The body of `contender`'s response, through `SseLayer` for the layer
/// contender (as scenario 2's router applies it).
async fn body(contender: Contender, payload: Payload) -> axum::body::Body {
    let res = response(contender, payload);
    if contender != Contender::TowerSseLayer {
        return res.into_body();
    }
    let mut res = Some(res);
    let svc = SseLayer::new().layer(tower::service_fn(move |_req: http::Request<()>| {
        std::future::ready(Ok::<_, Infallible>(res.take().expect("one request")))
    }));
    let res = svc.oneshot(http::Request::new(())).await.unwrap();
    assert!(res.body().is_event_stream());
    axum::body::Body::new(res.into_body())
}

/// Checks that the contenders put the same bytes on the wire.
fn check_same_bytes(rt: &tokio::runtime::Runtime) -> usize {
    let n = 2_000;
    let outputs: Vec<Vec<u8>> = CONTENDERS
        .iter()
        .map(|&c| rt.block_on(async { drain(body(c, payload(c, n)).await).await }))
        .collect();
    assert_eq!(
        outputs[0], outputs[LAYER],
        "tower-sse and layer bytes differ"
    );
    assert_eq!(outputs[0], outputs[AXUM], "tower-sse and axum bytes differ");
    assert_eq!(
        outputs[0], outputs[FLOOR],
        "tower-sse and floor bytes differ"
    );
    let events = tower_sse::parse::parse_events(&outputs[0]).expect("valid event stream");
    assert_eq!(events.len(), n);
    let expected = serde_json::to_string(&chat_events(8)[7]).unwrap();
    assert_eq!(events[7].event_type, "chat");
    assert_eq!(events[7].last_event_id, "100007");
    assert_eq!(events[7].data, expected);
    outputs[0].len() / n
}

/// Scenario 1: drain each body in-process.
fn scenario_drain(rt: &tokio::runtime::Runtime, n: usize, rounds: usize) -> Vec<Series> {
    let mut series: Vec<Series> = CONTENDERS.iter().map(|c| Series::new(c.name())).collect();
    for _ in 0..rounds {
        for (i, &c) in CONTENDERS.iter().enumerate() {
            let payload = payload(c, n);
            let start = Instant::now();
            let bytes = rt.block_on(async { drain_count(body(c, payload).await).await });
            let elapsed = start.elapsed();
            assert!(bytes > n * 100, "{} produced {bytes} bytes", c.name());
            series[i].samples.push(per_sec(n, elapsed));
        }
    }
    series
}

/// Starts the axum server of scenario 2 on its own thread; returns its port
/// and the slot each request takes its payload from.
fn start_server() -> (u16, Arc<Mutex<Option<Payload>>>) {
    let slot: Arc<Mutex<Option<Payload>>> = Arc::default();
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let port = std_listener.local_addr().unwrap().port();
    let state = Arc::clone(&slot);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            let mut app = Router::new();
            for c in CONTENDERS {
                let handler = get(
                    move |State(slot): State<Arc<Mutex<Option<Payload>>>>| async move {
                        let payload = slot.lock().unwrap().take().expect("payload set");
                        response(c, payload)
                    },
                );
                let handler = if c == Contender::TowerSseLayer {
                    handler.layer(SseLayer::new())
                } else {
                    handler
                };
                app = app.route(c.path(), handler);
            }
            axum::serve(listener, app.with_state(state)).await.unwrap();
        });
    });
    (port, slot)
}

/// One GET over a fresh connection, read to EOF; returns how many events
/// (blank-line terminators) arrived.
fn fetch_count_events(port: u16, path: &str) -> usize {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        sock,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = vec![0_u8; 256 * 1024];
    let mut events = 0;
    let mut prev_newline = false;
    loop {
        let read = sock.read(&mut buf).unwrap();
        if read == 0 {
            return events;
        }
        let chunk = &buf[..read];
        for at in memchr::memchr_iter(b'\n', chunk) {
            let before = if at == 0 {
                prev_newline
            } else {
                chunk[at - 1] == b'\n'
            };
            events += usize::from(before);
        }
        prev_newline = chunk[read - 1] == b'\n';
    }
}

/// Scenario 2: one client over loopback TCP per contender.
fn scenario_tcp(n: usize, rounds: usize) -> Vec<Series> {
    let (port, slot) = start_server();
    let mut series: Vec<Series> = CONTENDERS.iter().map(|c| Series::new(c.name())).collect();
    for _ in 0..rounds {
        for (i, &c) in CONTENDERS.iter().enumerate() {
            *slot.lock().unwrap() = Some(payload(c, n));
            let start = Instant::now();
            let events = fetch_count_events(port, c.path());
            let elapsed = start.elapsed();
            assert_eq!(events, n, "{} delivered {events} events", c.name());
            series[i].samples.push(per_sec(n, elapsed));
        }
    }
    series
}

fn report(title: &str, series: &[Series], target: Option<f64>, layer_target: Option<f64>) {
    println!("{title}");
    print_table("events/s", &series.iter().collect::<Vec<_>>());
    print_ratio(
        "tower-sse / axum (median of paired rounds)",
        paired_ratio(&series[TOWER_SSE], &series[AXUM]),
        target,
    );
    print_ratio(
        "tower-sse / axum (ratio of medians)",
        series[TOWER_SSE].median() / series[AXUM].median(),
        None,
    );
    print_ratio(
        "SseLayer + EventStream / bare EventStream",
        paired_ratio(&series[LAYER], &series[TOWER_SSE]),
        layer_target,
    );
    print_ratio(
        "SseLayer + EventStream / axum",
        paired_ratio(&series[LAYER], &series[AXUM]),
        None,
    );
    print_ratio(
        "tower-sse / raw floor",
        paired_ratio(&series[TOWER_SSE], &series[FLOOR]),
        None,
    );
    println!();
}

fn main() {
    let mode = Mode::from_args();
    let n = mode.size("SSE_BENCH_EVENTS", 1_000_000, 5_000);
    let rounds = mode.size("SSE_BENCH_ROUNDS", 5, 1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Targets are judged on optimized `cargo bench` runs only.
    let target = |t: f64| mode.full.then_some(t);
    let per_event = check_same_bytes(&rt);
    let json = serde_json::to_vec(&chat_events(1)[0]).unwrap().len();
    println!(
        "throughput: {} chat events per run, {json} B of JSON, {per_event} B on the wire per event, \
         {rounds} interleaved rounds, {} mode",
        si(n as f64),
        if mode.full { "bench" } else { "smoke" },
    );
    println!();

    if mode.wants("1") {
        let series = scenario_drain(&rt, n, rounds);
        report(
            "scenario 1: in-process body drain",
            &series,
            target(3.0),
            target(0.95),
        );
    }
    if mode.wants("2") {
        let series = scenario_tcp(n, rounds);
        report(
            "scenario 2: one client over loopback TCP",
            &series,
            target(4.0),
            target(0.95),
        );
    }
}
