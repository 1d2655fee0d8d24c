//! Fan-out of one busy topic among 64 on one connection (a `MultiSubscription`)
//! against the single-topic `Subscription`, in one process, same run.
//!
//! Run: `cargo bench --bench multi_fanout`. Sizes from the environment:
//! `SSE_BENCH_SUBSCRIBERS` (default 500), `SSE_BENCH_BURST` (events published
//! back to back, 1000), `SSE_BENCH_PACED` (paced events, 2000, one every
//! 200 µs), `SSE_BENCH_ROUNDS` (3), `SSE_BENCH_SCENARIO` (`process` or
//! `loopback`: only that half), `SSE_BENCH_ONLY` (`single` or `multi`: only
//! that contender, for profiling). Under `cargo test --all-targets` it
//! smoke-runs 20 subscribers.
//!
//! Every subscriber is a task draining an `EventStream` body frame by frame,
//! as hyper would (no socket: this measures the crate's own cost). Contenders
//! alternate round by round; each event is ~100 bytes of JSON:
//!
//! - **single**: `hub.subscribe("hot")`;
//! - **multi**: `Multiplexer::subscribe` on `hot` plus 63 idle topics.
//!
//! The same two contenders then run over **loopback HTTP**: a real axum
//! server and `N` HTTP/1.0 clients on TCP in this process (sharing its two
//! worker threads), which is what a subscriber costs in production.
//!
//! **burst**: deliveries per second, `N * burst` over the time from the first
//! publish to the last delivery. **paced**: publish-to-frame latency of each
//! delivery, p50 / p99. The ratio line is multi's cost over single's
//! (throughput ratio single/multi and p99 ratio multi/single): target <= 1.5x.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::IntoResponse;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use tower_sse::multi::{MultiRequest, Multiplexer};
use tower_sse::{EventStream, Hub, HubConfig};

use support::{median, paired_ratio, print_table, si, Mode, Series};

const HOT: &str = "hot";

/// Where the sequence number of an event starts.
static DATA: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"data: {\"seq\":"));

/// A chat-like JSON payload of about 100 bytes carrying `seq`.
fn payload(seq: usize) -> String {
    format!(
        r#"{{"seq":{seq},"user":"user-{:04}","room":"general","message":"deploy of build 4312 finished green"}}"#,
        seq % 1000
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Single,
    Multi,
}

/// Counts the events in a frame and records the latency of each.
fn read_frame(frame: &[u8], start: Instant, published: &[AtomicU64], lat: &mut Vec<u64>) -> usize {
    let now = start.elapsed().as_nanos() as u64;
    let mut n = 0;
    let mut rest = frame;
    while let Some(at) = DATA.find(rest) {
        rest = &rest[at + DATA.needle().len()..];
        let end = memchr::memchr(b',', rest).unwrap_or(rest.len());
        if let Some(seq) = std::str::from_utf8(&rest[..end])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        {
            if let Some(at) = published.get(seq) {
                lat.push(now.saturating_sub(at.load(Ordering::Acquire)));
            }
            n += 1;
        }
    }
    n
}

async fn open(kind: Kind, hub: &Hub, multi: &Multiplexer) -> Box<dyn BodyFrames> {
    match kind {
        Kind::Single => Box::new(EventStream::new(hub.subscribe(HOT).unwrap())),
        Kind::Multi => {
            let mut topics = vec![HOT.to_owned()];
            topics.extend((1..64).map(|n| format!("idle-{n}")));
            let mut stream = multi.subscribe(MultiRequest::new(topics)).await.unwrap();
            stream.next().await.unwrap(); // the priming event
            Box::new(EventStream::from(stream))
        }
    }
}

/// An `EventStream` of either kind, as frames.
trait BodyFrames: Send {
    fn next_frame(&mut self) -> futures_util::future::BoxFuture<'_, Option<bytes::Bytes>>;
}

impl<B> BodyFrames for B
where
    B: http_body::Body<Data = bytes::Bytes> + Send + Unpin,
    B::Error: std::fmt::Debug,
{
    fn next_frame(&mut self) -> futures_util::future::BoxFuture<'_, Option<bytes::Bytes>> {
        Box::pin(async move {
            let frame = self.frame().await?.ok()?;
            frame.into_data().ok()
        })
    }
}

/// One round: `n` subscribers, a burst then a paced run. Returns deliveries
/// per second and the latencies (ns) of the paced run.
async fn round(kind: Kind, n: usize, burst: usize, paced: usize) -> (f64, Vec<u64>) {
    let hub = HubConfig::new().buffer(4096).history(16).build();
    let multi = Multiplexer::new(hub.clone());
    let total = burst + paced;
    let published: Arc<Vec<AtomicU64>> = Arc::new((0..total).map(|_| AtomicU64::new(0)).collect());
    let start = Instant::now();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let mut body = open(kind, &hub, &multi).await;
        let published = Arc::clone(&published);
        let done_tx = done_tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(paced);
            let mut seen = 0;
            let mut burst_done = false;
            while let Some(frame) = body.next_frame().await {
                let mut ignore = Vec::new();
                let sink = if seen < burst { &mut ignore } else { &mut lat };
                seen += read_frame(&frame, start, &published, sink);
                if !burst_done && seen >= burst {
                    burst_done = true;
                    let _ = done_tx.send(start.elapsed());
                }
                if seen >= total {
                    break;
                }
            }
            lat
        }));
    }
    drop(done_tx);
    let t0 = start.elapsed();
    for seq in 0..burst {
        published[seq].store(start.elapsed().as_nanos() as u64, Ordering::Release);
        hub.publish(HOT, payload(seq)).await.unwrap();
    }
    let mut last = t0;
    for _ in 0..n {
        last = last.max(done_rx.recv().await.unwrap());
    }
    let rate = (n * burst) as f64 / (last - t0).as_secs_f64();
    let mut ticker = tokio::time::interval(Duration::from_micros(200));
    for seq in burst..total {
        ticker.tick().await;
        published[seq].store(start.elapsed().as_nanos() as u64, Ordering::Release);
        hub.publish(HOT, payload(seq)).await.unwrap();
    }
    let mut lat = Vec::new();
    for task in tasks {
        lat.extend(task.await.unwrap());
    }
    hub.close();
    (rate, lat)
}

async fn single_route(State((hub, _)): State<(Hub, Multiplexer)>) -> axum::response::Response {
    EventStream::new(hub.subscribe(HOT).unwrap()).into_response()
}

async fn multi_route(State((_, multi)): State<(Hub, Multiplexer)>) -> axum::response::Response {
    let mut topics = vec![HOT.to_owned()];
    topics.extend((1..64).map(|n| format!("idle-{n}")));
    let stream = multi.subscribe(MultiRequest::new(topics)).await.unwrap();
    EventStream::from(stream).into_response()
}

/// One round over loopback HTTP: a real axum server and `n` TCP clients
/// (HTTP/1.0, so the body is not chunked) in this process.
async fn loopback_round(kind: Kind, n: usize, burst: usize, paced: usize) -> (f64, Vec<u64>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let hub = HubConfig::new().buffer(4096).history(16).build();
    let multi = Multiplexer::new(hub.clone());
    let app = axum::Router::new()
        .route("/single", axum::routing::get(single_route))
        .route("/multi", axum::routing::get(multi_route))
        .with_state((hub.clone(), multi));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let total = burst + paced;
    let published: Arc<Vec<AtomicU64>> = Arc::new((0..total).map(|_| AtomicU64::new(0)).collect());
    let start = Instant::now();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let path = if kind == Kind::Single {
        "/single"
    } else {
        "/multi"
    };
    let mut tasks = Vec::new();
    for _ in 0..n {
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket
            .write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let published = Arc::clone(&published);
        let done_tx = done_tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(paced);
            let (mut seen, mut burst_done) = (0, false);
            let mut buf = Vec::with_capacity(64 * 1024);
            let mut chunk = vec![0; 64 * 1024];
            while seen < total {
                let Ok(read) = socket.read(&mut chunk).await else {
                    break;
                };
                if read == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..read]);
                // Whole events only; the rest waits for the next read.
                let Some(end) = memchr::memmem::rfind(&buf, b"\n\n") else {
                    continue;
                };
                let mut ignore = Vec::new();
                let sink = if seen < burst { &mut ignore } else { &mut lat };
                seen += read_frame(&buf[..end + 2], start, &published, sink);
                buf.drain(..end + 2);
                if !burst_done && seen >= burst {
                    burst_done = true;
                    let _ = done_tx.send(start.elapsed());
                }
            }
            lat
        }));
    }
    drop(done_tx);
    while hub.subscribers(HOT) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let t0 = start.elapsed();
    for seq in 0..burst {
        published[seq].store(start.elapsed().as_nanos() as u64, Ordering::Release);
        hub.publish(HOT, payload(seq)).await.unwrap();
    }
    let mut last = t0;
    for _ in 0..n {
        last = last.max(done_rx.recv().await.unwrap());
    }
    let rate = (n * burst) as f64 / (last - t0).as_secs_f64();
    let mut ticker = tokio::time::interval(Duration::from_micros(200));
    for seq in burst..total {
        ticker.tick().await;
        published[seq].store(start.elapsed().as_nanos() as u64, Ordering::Release);
        hub.publish(HOT, payload(seq)).await.unwrap();
    }
    let mut lat = Vec::new();
    for task in tasks {
        lat.extend(task.await.unwrap());
    }
    hub.close();
    server.abort();
    (rate, lat)
}

fn quantile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64
}

fn main() {
    let mode = Mode::from_args();
    let n = mode.size("SSE_BENCH_SUBSCRIBERS", 500, 20);
    let burst = mode.size("SSE_BENCH_BURST", 1000, 50);
    let paced = mode.size("SSE_BENCH_PACED", 2000, 50);
    let rounds = mode.size("SSE_BENCH_ROUNDS", 3, 1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("multi_fanout: {n} subscribers, burst {burst}, paced {paced}, {rounds} rounds");
    for loopback in [false, true] {
        let wanted = std::env::var("SSE_BENCH_SCENARIO").unwrap_or_default();
        if (wanted == "loopback" && !loopback) || (wanted == "process" && loopback) {
            continue;
        }
        let scenario = if loopback {
            "loopback HTTP"
        } else {
            "in process (no socket)"
        };
        let mut rate = [
            Series::new("single: deliveries/s"),
            Series::new("multi (1 of 64): deliveries/s"),
        ];
        let mut p50 = [
            Series::new("single: p50 µs"),
            Series::new("multi (1 of 64): p50 µs"),
        ];
        let mut p99 = [
            Series::new("single: p99 µs"),
            Series::new("multi (1 of 64): p99 µs"),
        ];
        for _ in 0..rounds {
            for (i, kind) in [Kind::Single, Kind::Multi].into_iter().enumerate() {
                if std::env::var("SSE_BENCH_ONLY").is_ok_and(|only| only != ["single", "multi"][i])
                {
                    continue;
                }
                let (r, mut lat) = if loopback {
                    rt.block_on(loopback_round(kind, n, burst, paced))
                } else {
                    rt.block_on(round(kind, n, burst, paced))
                };
                lat.sort_unstable();
                rate[i].samples.push(r);
                p50[i].samples.push(quantile(&lat, 0.5) / 1e3);
                p99[i].samples.push(quantile(&lat, 0.99) / 1e3);
            }
        }
        println!("{scenario}, burst:");
        print_table("/s", &[&rate[0], &rate[1]]);
        println!("{scenario}, paced (one event every 200 µs):");
        print_table("µs", &[&p50[0], &p50[1], &p99[0], &p99[1]]);
        let throughput_cost = paired_ratio(&rate[0], &rate[1]);
        let p99_cost = paired_ratio(&p99[1], &p99[0]);
        let verdict = |x: f64| if x <= 1.5 { "met" } else { "MISSED" };
        println!(
            "  {scenario}: cost multi/single, throughput {throughput_cost:.2}x ({}), p99 {p99_cost:.2}x ({}); target <= 1.5x",
            verdict(throughput_cost),
            verdict(p99_cost)
        );
        println!(
            "  medians: single {} /s, multi {} /s",
            si(median(&rate[0].samples)),
            si(median(&rate[1].samples))
        );
    }
}
