//! Fan-out of one busy topic among 64 on one connection (a `MultiSubscription`)
//! against the single-topic `Subscription`, in one process, same run.
//!
//! Run: `cargo bench --bench multi_fanout`. Sizes from the environment:
//! `SSE_BENCH_SUBSCRIBERS` (default 500), `SSE_BENCH_BURST` (events published
//! back to back, 1000), `SSE_BENCH_PACED` (paced events, 2000, one every
//! 200 µs), `SSE_BENCH_ROUNDS` (3). Under `cargo test --all-targets` it
//! smoke-runs 20 subscribers.
//!
//! Every subscriber is a task draining an `EventStream` body frame by frame,
//! as hyper would (no socket: this measures the crate's own cost). Contenders
//! alternate round by round:
//!
//! - **single**: `hub.subscribe("hot")`;
//! - **multi**: `Multiplexer::subscribe` on `hot` plus 63 idle topics.
//!
//! **burst**: deliveries per second, `N * burst` over the time from the first
//! publish to the last delivery. **paced**: publish-to-frame latency of each
//! delivery, p50 / p99. The ratio line is multi's cost over single's
//! (throughput ratio single/multi and p99 ratio multi/single): target <= 1.5x.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use http_body_util::BodyExt;
use tower_sse::multi::{MultiRequest, Multiplexer};
use tower_sse::{EventStream, Hub, HubConfig};

use support::{median, paired_ratio, print_table, si, Mode, Series};

const HOT: &str = "hot";

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
    while let Some(at) = memchr::memmem::find(rest, b"data: ") {
        rest = &rest[at + 6..];
        let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
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
        Kind::Single => Box::new(EventStream::new(hub.subscribe(HOT))),
        Kind::Multi => {
            let mut topics = vec![HOT.to_owned()];
            topics.extend((1..64).map(|n| format!("idle-{n}")));
            let mut stream = multi.subscribe(MultiRequest::new(topics)).await.unwrap();
            stream.next().await.unwrap(); // the priming event
            Box::new(EventStream::new(stream))
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
        hub.publish(HOT, seq.to_string()).await.unwrap();
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
        hub.publish(HOT, seq.to_string()).await.unwrap();
    }
    let mut lat = Vec::new();
    for task in tasks {
        lat.extend(task.await.unwrap());
    }
    hub.close();
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
            let (r, mut lat) = rt.block_on(round(kind, n, burst, paced));
            lat.sort_unstable();
            rate[i].samples.push(r);
            p50[i].samples.push(quantile(&lat, 0.5) / 1e3);
            p99[i].samples.push(quantile(&lat, 0.99) / 1e3);
        }
    }
    println!("burst:");
    print_table("/s", &[&rate[0], &rate[1]]);
    println!("paced:");
    print_table("µs", &[&p50[0], &p50[1], &p99[0], &p99[1]]);
    let throughput_cost = paired_ratio(&rate[0], &rate[1]);
    let p99_cost = paired_ratio(&p99[1], &p99[0]);
    let verdict = |x: f64| if x <= 1.5 { "met" } else { "MISSED" };
    println!(
        "  cost multi/single, throughput {throughput_cost:.2}x ({}), p99 {p99_cost:.2}x ({}); target <= 1.5x",
        verdict(throughput_cost),
        verdict(p99_cost)
    );
    println!(
        "  medians: single {} /s, multi {} /s",
        si(median(&rate[0].samples)),
        si(median(&rate[1].samples))
    );
}
