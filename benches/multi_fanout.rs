//! Fan-out of one busy topic among 64 on one connection (a `MultiSubscription`)
//! against the single-topic `Subscription`, the two alternating in one run.
//!
//! Run: `cargo bench --bench multi_fanout`. Sizes from the environment:
//! `SSE_BENCH_SUBSCRIBERS` (default 500), `SSE_BENCH_BURST` (events published
//! back to back, 1000), `SSE_BENCH_PACED` (paced events in process, 2000, one
//! every `SSE_BENCH_PERIOD_US`, 200 µs), `SSE_BENCH_SOCKET_PACED` and
//! `SSE_BENCH_SOCKET_PERIOD_US` (paced events over a socket: 300, one every
//! 10,000 µs; one write per delivery costs a few µs of kernel time, so the
//! in-process pace would overload the socket scenarios and p99 would measure
//! their queue), `SSE_BENCH_ROUNDS` (7), `SSE_BENCH_SCENARIO` (`process`,
//! `loopback` or `pinned`: only that one), `SSE_BENCH_ONLY` (`single` or
//! `multi`: only that contender, for profiling), `SSE_BENCH_PERF_CTL` (a `perf record
//! --control fifo:PATH -D -1` control FIFO: the pinned scenario writes
//! `enable` to it as its burst starts and `disable` once the client has it,
//! so a profile holds the burst alone; or its paced events alone with
//! `SSE_BENCH_PERF_PHASE=paced`), `SSE_BENCH_PUBLISHER` (`task` or
//! `thread`: only that placement of the publisher, see below). Under
//! `cargo test --all-targets` it smoke-runs 20 subscribers.
//!
//! Every subscriber is a task draining an `EventStream` body frame by frame,
//! as hyper would (no socket: this measures the crate's own cost), and checks
//! that it gets every event once and in order (a subscriber that misses its
//! burst for a minute fails the run rather than hang it). Contenders
//! alternate round by round; each event is ~100 bytes of JSON:
//!
//! - **single**: `hub.subscribe("hot")`;
//! - **multi**: `Multiplexer::subscribe` on `hot` plus 63 idle topics.
//!
//! The publisher runs in two places, each with its own verdict: as a task
//! on the same two worker threads, as a handler or a relay publishes in a
//! server, and (`publisher thread`) on the thread that waits for the round,
//! a third busy thread on two cores, as every round up to the twelfth did.
//! Neither is the one true setup: the thread makes every wake cross threads
//! (multi's paced p99 came out either ~1.0x or 1.4x-1.9x of single's from
//! one round to the next), while the task, publishing its burst without a
//! yield, keeps one worker busy waking subscribers while the other serves
//! them.
//!
//! The same two contenders then run over **loopback HTTP**: a real axum
//! server and `N` HTTP/1.0 clients on TCP in this process (sharing its two
//! worker threads), which is what a subscriber costs in production.
//!
//! Last, as the house rules for fan-out benchmarks ask, the **pinned**
//! scenario puts server and clients in separate processes on separate cores:
//! this process pins itself to CPU 0 (`taskset`) and serves from one thread;
//! a client process (this binary with `--client`) on CPU 1 opens the `N`
//! connections and checks that every one gets every event, in order. Each
//! event carries its publish time (ns since the Unix epoch), so latency is
//! stamped at publish for both contenders. It also prints the server
//! thread's and the client's CPU time per delivery in the burst, and how
//! busy each core was during it, kernel time included (the side near 100 %
//! set the pace: a client at 100 % measures itself, not the server, which is
//! why it reads straight into buffers it touched before the burst).
//!
//! **burst**: deliveries per second, `N * burst` over the time from the first
//! publish to the last delivery. **paced**: publish-to-frame latency of each
//! delivery, p50 / p99. The ratio line is multi's cost over single's
//! (throughput ratio single/multi and p99 ratio multi/single), the median
//! of the rounds' ratios: target <= 1.5x. A round's p99 moves with what else
//! the shared machine does during it (one in a few rounds is an outlier for
//! either contender), so the default of seven rounds keeps one such round
//! from setting the verdict, as the median of three did.

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

impl Kind {
    /// Its route on the socket scenarios' server.
    fn path(self) -> &'static str {
        match self {
            Self::Single => "/single",
            Self::Multi => "/multi",
        }
    }
}

/// Counts the events in a frame and records the latency of each. Panics
/// unless they are events `seen..`, in order: none lost, none twice.
fn read_frame(
    frame: &[u8],
    seen: usize,
    start: Instant,
    published: &[AtomicU64],
    lat: &mut Vec<u64>,
) -> usize {
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
            assert_eq!(seq, seen + n, "an event lost, repeated or out of order");
            if let Some(at) = published.get(seq) {
                lat.push(now.saturating_sub(at.load(Ordering::Acquire)));
            }
            n += 1;
        }
    }
    n
}

/// The latest of the `n` subscribers' burst-done times. Panics if they do
/// not all come within a minute (a subscriber that ended early, or whose
/// check failed, says why on stderr), instead of waiting forever.
async fn burst_end(
    done_rx: &mut tokio::sync::mpsc::UnboundedReceiver<Duration>,
    n: usize,
    t0: Duration,
) -> Duration {
    let mut last = t0;
    for got in 0..n {
        match tokio::time::timeout(Duration::from_secs(60), done_rx.recv()).await {
            Ok(Some(at)) => last = last.max(at),
            Ok(None) | Err(_) => {
                panic!("only {got} of {n} subscribers got the whole burst within a minute")
            }
        }
    }
    last
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
async fn round(
    kind: Kind,
    n: usize,
    burst: usize,
    (paced, period): (usize, Duration),
) -> (f64, Vec<u64>) {
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
                seen += read_frame(&frame, seen, start, &published, sink);
                if !burst_done && seen >= burst {
                    burst_done = true;
                    let _ = done_tx.send(start.elapsed());
                }
                if seen >= total {
                    break;
                }
            }
            // The stream is dropped once every subscriber has every event:
            // a multi-topic stream's end (64 unsubscribes) is not delivery
            // and must not delay the last events of the others.
            (lat, body)
        }));
    }
    drop(done_tx);
    let t0 = start.elapsed();
    for seq in 0..burst {
        published[seq].store(start.elapsed().as_nanos() as u64, Ordering::Release);
        hub.publish(HOT, payload(seq)).await.unwrap();
    }
    let last = burst_end(&mut done_rx, n, t0).await;
    let rate = (n * burst) as f64 / (last - t0).as_secs_f64();
    let mut ticker = tokio::time::interval(period);
    for seq in burst..total {
        ticker.tick().await;
        published[seq].store(start.elapsed().as_nanos() as u64, Ordering::Release);
        hub.publish(HOT, payload(seq)).await.unwrap();
    }
    let mut lat = Vec::new();
    let mut ended = Vec::new();
    for task in tasks {
        let (got, body) = task.await.unwrap();
        lat.extend(got);
        ended.push(body);
    }
    drop(ended);
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

/// Serves `app` with `TCP_NODELAY` on every connection, as a latency-minded
/// SSE server would: when events come faster than the client's ACKs,
/// Nagle's algorithm holds a small event back until the client's delayed
/// ACK (up to 40 ms), and the paced latency would measure that instead of
/// the server.
async fn serve(listener: tokio::net::TcpListener, app: axum::Router) -> std::io::Result<()> {
    use axum::serve::ListenerExt;

    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}

/// The axum server both socket scenarios use, with a fresh hub, on a port of
/// its own.
async fn start_server() -> (
    Hub,
    std::net::SocketAddr,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let hub = HubConfig::new().buffer(4096).history(16).build();
    let multi = Multiplexer::new(hub.clone());
    let app = axum::Router::new()
        .route(Kind::Single.path(), axum::routing::get(single_route))
        .route(Kind::Multi.path(), axum::routing::get(multi_route))
        .with_state((hub.clone(), multi));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (hub, addr, tokio::spawn(serve(listener, app)))
}

/// A connection to `addr` that has asked for `path` (HTTP/1.0, so the body
/// is not chunked).
async fn request(addr: std::net::SocketAddr, path: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;

    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .await
        .unwrap();
    socket
}

/// Reads `socket` and hands `on_events` every whole event that came (the
/// rest waits for the next read), until it returns `false` or the stream
/// ends. The caller keeps the connection: closed only once every client has
/// every event, so that the server's end of a stream (64 unsubscribes for a
/// multi-topic one) does not delay the last events of the others.
///
/// The client is the instrument, so it is kept cheap and the same for both
/// contenders: it reads straight into its buffer (no second copy), and the
/// buffer's pages are touched before the first read, so the burst does not
/// pay their first-touch faults.
async fn read_events(socket: &mut tokio::net::TcpStream, mut on_events: impl FnMut(&[u8]) -> bool) {
    use tokio::io::AsyncReadExt;

    const READ: usize = 64 * 1024;
    let mut buf = vec![1_u8; 2 * READ];
    buf.clear();
    loop {
        if buf.capacity() - buf.len() < READ {
            buf.reserve(READ);
        }
        match socket.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let Some(end) = memchr::memmem::rfind(&buf, b"\n\n") else {
            continue;
        };
        let more = on_events(&buf[..end + 2]);
        buf.drain(..end + 2);
        if !more {
            return;
        }
    }
}

/// One round over loopback HTTP: a real axum server and `n` TCP clients
/// (HTTP/1.0, so the body is not chunked) in this process.
async fn loopback_round(
    kind: Kind,
    n: usize,
    burst: usize,
    (paced, period): (usize, Duration),
) -> (f64, Vec<u64>) {
    let (hub, addr, server) = start_server().await;
    let total = burst + paced;
    let published: Arc<Vec<AtomicU64>> = Arc::new((0..total).map(|_| AtomicU64::new(0)).collect());
    let start = Instant::now();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let mut socket = request(addr, kind.path()).await;
        let published = Arc::clone(&published);
        let done_tx = done_tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(paced);
            let (mut seen, mut burst_done) = (0, false);
            read_events(&mut socket, |events| {
                let mut ignore = Vec::new();
                let sink = if seen < burst { &mut ignore } else { &mut lat };
                seen += read_frame(events, seen, start, &published, sink);
                if !burst_done && seen >= burst {
                    burst_done = true;
                    let _ = done_tx.send(start.elapsed());
                }
                seen < total
            })
            .await;
            (lat, socket)
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
    let last = burst_end(&mut done_rx, n, t0).await;
    let rate = (n * burst) as f64 / (last - t0).as_secs_f64();
    let mut ticker = tokio::time::interval(period);
    for seq in burst..total {
        ticker.tick().await;
        published[seq].store(start.elapsed().as_nanos() as u64, Ordering::Release);
        hub.publish(HOT, payload(seq)).await.unwrap();
    }
    let mut lat = Vec::new();
    let mut ended = Vec::new();
    for task in tasks {
        let (got, socket) = task.await.unwrap();
        lat.extend(got);
        ended.push(socket);
    }
    drop(ended);
    hub.close();
    server.abort();
    (rate, lat)
}

/// Wall-clock nanoseconds since the Unix epoch: one clock for both processes
/// of the pinned scenario.
fn now_ns() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

/// Nanoseconds this thread has run on a CPU (`/proc/thread-self/schedstat`),
/// if the kernel says.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Clock ticks this thread has run in user space and in the kernel
/// (`/proc/thread-self/stat`), if the kernel says.
fn thread_user_kernel_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The fields after the command name: state is the first, utime the 12th.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

/// The payload of the pinned scenario: [`payload`] with its publish time.
fn stamped_payload(seq: usize) -> String {
    format!(
        r#"{{"seq":{seq},"sent":{},"user":"user-{:04}","room":"general","message":"deploy of build 4312 finished green"}}"#,
        now_ns(),
        seq % 1000
    )
}

/// Busy and total jiffies of CPUs 0 and 1 (`/proc/stat`), if the kernel says.
fn core_jiffies() -> Option<[(u64, u64); 2]> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let mut out = [(0, 0); 2];
    for (cpu, slot) in out.iter_mut().enumerate() {
        let line = stat
            .lines()
            .find(|l| l.starts_with(&format!("cpu{cpu} ")))?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        let total: u64 = v.iter().take(8).sum();
        let idle = v.get(3)? + v.get(4)?; // idle + iowait
        *slot = (total - idle, total);
    }
    Some(out)
}

/// Pins every thread of this process to `cpu` with `taskset`; false if it could not.
fn pin_self(cpu: usize) -> bool {
    std::process::Command::new("taskset")
        .args([
            "-a",
            "-p",
            "-c",
            &cpu.to_string(),
            &std::process::id().to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Writes `command` to the `perf record` control FIFO named by
/// `SSE_BENCH_PERF_CTL`, if any, when `phase` is the one profiled.
fn perf_control(phase: &str, command: &str) {
    use std::io::Write;
    let profiled = std::env::var("SSE_BENCH_PERF_PHASE");
    if profiled.as_deref().unwrap_or("burst") != phase {
        return;
    }
    if let Ok(path) = std::env::var("SSE_BENCH_PERF_CTL") {
        let mut fifo = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open SSE_BENCH_PERF_CTL {path}: {e}"));
        fifo.write_all(format!("{command}\n").as_bytes())
            .unwrap_or_else(|e| panic!("write to SSE_BENCH_PERF_CTL {path}: {e}"));
    }
}

/// What one pinned round measured.
struct PinnedRound {
    rate: f64,
    p50_ns: f64,
    p99_ns: f64,
    /// Server CPU time per delivery in the burst.
    server_ns_per_delivery: f64,
    /// Client CPU time per delivery in the burst (from its first event).
    client_ns_per_delivery: f64,
    /// The kernel's share of the server thread's CPU time in the burst.
    server_kernel_share: f64,
    /// How busy CPU 0 (server) and CPU 1 (client) were during the burst,
    /// kernel time included (1.0: that side set the pace).
    busy: [f64; 2],
}

/// One round of the pinned scenario: the server (this process, one thread,
/// pinned to CPU 0 by the caller) and a client process on `client_cpu`.
async fn pinned_round(
    kind: Kind,
    n: usize,
    burst: usize,
    (paced, period): (usize, Duration),
    client_cpu: usize,
) -> PinnedRound {
    use std::io::BufRead;

    let (hub, addr, server) = start_server().await;
    let mut child = KillOnDrop(
        std::process::Command::new("taskset")
            .args(["-c", &client_cpu.to_string()])
            .arg(std::env::current_exe().unwrap())
            .arg("--client")
            .args([addr.port().to_string(), kind.path().to_owned()])
            .args([n, burst, burst + paced].map(|x| x.to_string()))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn the client (taskset)"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (line_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while hub.subscribers(HOT) < n {
        assert!(
            Instant::now() < deadline,
            "the client did not connect within a minute"
        );
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("the client ended before it connected: {status}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    perf_control("burst", "enable");
    let cpu_before = thread_cpu_ns();
    let ticks_before = thread_user_kernel_ticks();
    let cores_before = core_jiffies();
    let first = now_ns();
    for seq in 0..burst {
        hub.publish(HOT, stamped_payload(seq)).await.unwrap();
    }
    let line = client_line(&mut lines).await;
    perf_control("burst", "disable");
    let cpu_after = thread_cpu_ns();
    let ticks_after = thread_user_kernel_ticks();
    let cores_after = core_jiffies();
    let numbers = |line: &str, tag: &str| -> Vec<f64> {
        let rest = line
            .strip_prefix(tag)
            .unwrap_or_else(|| panic!("client said {line:?}"));
        rest.split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect()
    };
    let burst_line = numbers(&line, "BURST");
    let deliveries = (n * burst) as f64;
    let rate = deliveries / ((burst_line[0] - first as f64) / 1e9);
    let server_ns_per_delivery = match (cpu_before, cpu_after) {
        (Some(a), Some(b)) => (b - a) as f64 / deliveries,
        _ => f64::NAN,
    };
    let client_ns_per_delivery = burst_line.get(1).map_or(f64::NAN, |ns| ns / deliveries);
    let mut ticker = tokio::time::interval(period);
    perf_control("paced", "enable");
    for seq in burst..burst + paced {
        ticker.tick().await;
        hub.publish(HOT, stamped_payload(seq)).await.unwrap();
    }
    let lat = numbers(&client_line(&mut lines).await, "LAT");
    perf_control("paced", "disable");
    hub.close();
    server.abort();
    assert!(child.0.wait().unwrap().success(), "the client failed");
    PinnedRound {
        rate,
        p50_ns: lat[0],
        p99_ns: lat[1],
        server_ns_per_delivery,
        client_ns_per_delivery,
        server_kernel_share: match (ticks_before, ticks_after) {
            (Some((u0, k0)), Some((u1, k1))) if u1 + k1 > u0 + k0 => {
                (k1 - k0) as f64 / ((u1 - u0) + (k1 - k0)) as f64
            }
            _ => f64::NAN,
        },
        busy: match (cores_before, cores_after) {
            (Some(a), Some(b)) => {
                [0, 1].map(|c| (b[c].0 - a[c].0) as f64 / (b[c].1 - a[c].1).max(1) as f64)
            }
            _ => [f64::NAN; 2],
        },
    }
}

/// The client process, killed if the round fails (a panic here would
/// otherwise leave it waiting).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // Nothing to do for a client that was waited for already.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The client's next line; panics if it ended or said nothing for a minute
/// (it checks every event, and says why on stderr when a check fails).
async fn client_line(lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    match tokio::time::timeout(Duration::from_secs(60), lines.recv()).await {
        Ok(Some(line)) => line,
        Ok(None) => panic!("the client ended early"),
        Err(_) => panic!("the client said nothing for a minute"),
    }
}

/// `--client PORT PATH N BURST TOTAL`: the pinned scenario's client. Opens
/// `N` connections, checks that each receives events `0..TOTAL` in order,
/// prints `BURST <ns when the last connection had the burst>`,
/// then `LAT <p50 ns> <p99 ns>` of the paced events.
fn client_main(args: &[String]) {
    let port: u16 = args[0].parse().unwrap();
    let path = args[1].clone();
    let [n, burst, total] = [2, 3, 4].map(|i| args[i].parse::<usize>().unwrap());
    // A failed check in any connection ends the client at once (tokio would
    // catch the task's panic and leave the others waiting): the server then
    // sees it end early instead of waiting a minute for its report.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::exit(1);
    }));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (burst_tx, mut burst_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for _ in 0..n {
            let (path, burst_tx) = (path.clone(), burst_tx.clone());
            tasks.push(tokio::spawn(async move {
                client_conn(port, &path, burst, total, &burst_tx).await
            }));
        }
        // Only the connections hold a sender: one that ends early is seen.
        drop(burst_tx);
        let mut done = 0;
        for _ in 0..n {
            done = done.max(burst_rx.recv().await.expect("a connection ended early"));
        }
        let cpu = thread_cpu_ns()
            .zip(BURST_CPU.get().copied().flatten())
            .map_or(f64::NAN, |(now, start)| now.saturating_sub(start) as f64);
        println!("BURST {done} {cpu}");
        let mut lat = Vec::new();
        let mut ended = Vec::new();
        for task in tasks {
            let (got, socket) = task.await.unwrap();
            lat.extend(got);
            ended.push(socket);
        }
        lat.sort_unstable();
        println!("LAT {} {}", quantile(&lat, 0.5), quantile(&lat, 0.99));
        drop(ended);
    });
}

/// The client's CPU time when the first connection had its first event, if
/// the kernel says.
static BURST_CPU: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();

/// One client connection: returns the latencies of the paced events, and
/// the connection, still open.
async fn client_conn(
    port: u16,
    path: &str,
    burst: usize,
    total: usize,
    burst_tx: &tokio::sync::mpsc::UnboundedSender<u64>,
) -> (Vec<u64>, tokio::net::TcpStream) {
    static SENT: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"sent\":"));
    let mut socket = request(([127, 0, 0, 1], port).into(), path).await;
    let mut lat = Vec::with_capacity(total - burst);
    let mut next = 0;
    let number = |s: &[u8]| -> u64 {
        let end = memchr::memchr(b',', s).unwrap_or(s.len());
        std::str::from_utf8(&s[..end]).unwrap().parse().unwrap()
    };
    read_events(&mut socket, |mut rest| {
        let now = now_ns();
        while let Some(at) = DATA.find(rest) {
            rest = &rest[at + DATA.needle().len()..];
            let seq = number(rest) as usize;
            assert_eq!(seq, next, "events out of order or lost");
            if seq == 0 {
                // One thread serves every connection: its time is the client's.
                BURST_CPU.get_or_init(thread_cpu_ns);
            }
            if seq >= burst {
                let sent = SENT.find(rest).map(|at| number(&rest[at + 7..])).unwrap();
                lat.push(now.saturating_sub(sent));
            }
            next += 1;
            if next == burst {
                let _ = burst_tx.send(now);
            }
        }
        next < total
    })
    .await;
    assert_eq!(next, total, "the stream ended at event {next} of {total}");
    (lat, socket)
}

fn quantile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64
}

/// Runs a round, whose own task publishes, on `rt`: as a task on its
/// workers, as a handler or a relay publishes in a server, or on this
/// thread (`on_this_thread`), a third busy thread beside the two workers.
fn publish_on<F>(rt: &tokio::runtime::Runtime, on_this_thread: bool, round: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    if on_this_thread {
        rt.block_on(round)
    } else {
        rt.block_on(rt.spawn(round)).expect("the round panicked")
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--client") {
        client_main(&args[at + 1..]);
        return;
    }
    let mode = Mode::from_args();
    let n = mode.size("SSE_BENCH_SUBSCRIBERS", 500, 20);
    let burst = mode.size("SSE_BENCH_BURST", 1000, 50);
    let paced = mode.size("SSE_BENCH_PACED", 2000, 50);
    let period = Duration::from_micros(mode.size("SSE_BENCH_PERIOD_US", 200, 200).max(1) as u64);
    let rounds = mode.size("SSE_BENCH_ROUNDS", 7, 1);
    // Over a socket each paced delivery is its own write (a few µs of
    // kernel time), so 500 subscribers every 200 µs would overload the
    // machine and p99 would measure the queue: the socket scenarios pace
    // slower.
    let socket_paced = (
        mode.size("SSE_BENCH_SOCKET_PACED", 300, 20),
        Duration::from_micros(
            mode.size("SSE_BENCH_SOCKET_PERIOD_US", 10_000, 10_000)
                .max(1) as u64,
        ),
    );
    // `Some(true)`: only the publisher on this thread; `Some(false)`: only as a task.
    let placement = match std::env::var("SSE_BENCH_PUBLISHER").as_deref() {
        Err(_) | Ok("") => None,
        Ok("task") => Some(false),
        Ok("thread") => Some(true),
        Ok(other) => {
            eprintln!("SSE_BENCH_PUBLISHER is `task` or `thread`, not `{other}`");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("multi_fanout: {n} subscribers, burst {burst}, paced {paced}, {rounds} rounds");
    let wanted = std::env::var("SSE_BENCH_SCENARIO").unwrap_or_default();
    // Counted before this process pins itself to one CPU.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let client_cpu = usize::from(cores > 1);
    // Pinning is for the whole process, so the pinned scenario runs last.
    for (scenario, publisher_thread) in [
        ("process", false),
        ("process", true),
        ("loopback", false),
        ("loopback", true),
        ("pinned", false),
    ] {
        if !wanted.is_empty() && wanted != scenario {
            continue;
        }
        if scenario != "pinned" && placement.is_some_and(|thread| thread != publisher_thread) {
            continue;
        }
        let title = match (scenario, publisher_thread) {
            ("process", false) => "in process (no socket)",
            ("process", true) => "in process, publisher thread",
            ("loopback", false) => "loopback HTTP",
            ("loopback", true) => "loopback HTTP, publisher thread",
            _ => "pinned processes, loopback HTTP",
        };
        let pinned_rt = (scenario == "pinned").then(|| {
            if !pin_self(0) {
                println!("  (taskset failed: server and client not pinned)");
            } else if client_cpu == 0 {
                println!("  (one CPU: server and client share it)");
            }
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        });
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
        let mut cpu = [
            Series::new("single: server CPU ns/ev"),
            Series::new("multi: server CPU ns/ev"),
        ];
        let mut client = [
            Series::new("single: client CPU ns/ev"),
            Series::new("multi: client CPU ns/ev"),
        ];
        let mut kernel = [
            Series::new("single: server kernel share %"),
            Series::new("multi: server kernel share %"),
        ];
        let mut busy = [
            Series::new("single: CPU 0 (server) %"),
            Series::new("multi: CPU 0 (server) %"),
            Series::new("single: CPU 1 (client) %"),
            Series::new("multi: CPU 1 (client) %"),
        ];
        for _ in 0..rounds {
            for (i, kind) in [Kind::Single, Kind::Multi].into_iter().enumerate() {
                if std::env::var("SSE_BENCH_ONLY").is_ok_and(|only| only != ["single", "multi"][i])
                {
                    continue;
                }
                let (r, q50, q99) = if let Some(pinned) = &pinned_rt {
                    let got =
                        pinned.block_on(pinned_round(kind, n, burst, socket_paced, client_cpu));
                    cpu[i].samples.push(got.server_ns_per_delivery);
                    client[i].samples.push(got.client_ns_per_delivery);
                    kernel[i].samples.push(got.server_kernel_share * 100.0);
                    busy[i].samples.push(got.busy[0] * 100.0);
                    busy[i + 2].samples.push(got.busy[1] * 100.0);
                    (got.rate, got.p50_ns, got.p99_ns)
                } else {
                    let (r, mut lat) = if scenario == "loopback" {
                        publish_on(
                            &rt,
                            publisher_thread,
                            loopback_round(kind, n, burst, socket_paced),
                        )
                    } else {
                        publish_on(
                            &rt,
                            publisher_thread,
                            round(kind, n, burst, (paced, period)),
                        )
                    };
                    lat.sort_unstable();
                    (r, quantile(&lat, 0.5), quantile(&lat, 0.99))
                };
                rate[i].samples.push(r);
                p50[i].samples.push(q50 / 1e3);
                p99[i].samples.push(q99 / 1e3);
            }
        }
        println!("{title}, burst:");
        print_table("/s", &[&rate[0], &rate[1]]);
        if pinned_rt.is_some() {
            print_table(
                "",
                &[
                    &cpu[0], &cpu[1], &client[0], &client[1], &kernel[0], &kernel[1], &busy[0],
                    &busy[1], &busy[2], &busy[3],
                ],
            );
        }
        let every = if scenario == "process" {
            period
        } else {
            socket_paced.1
        };
        println!("{title}, paced (one event every {} µs):", every.as_micros());
        print_table("µs", &[&p50[0], &p50[1], &p99[0], &p99[1]]);
        let throughput_cost = paired_ratio(&rate[0], &rate[1]);
        let p99_cost = paired_ratio(&p99[1], &p99[0]);
        let verdict = |x: f64| if x <= 1.5 { "met" } else { "MISSED" };
        println!(
            "  {title}: cost multi/single, throughput {throughput_cost:.2}x ({}), p99 {p99_cost:.2}x ({}); target <= 1.5x",
            verdict(throughput_cost),
            verdict(p99_cost)
        );
        if pinned_rt.is_some() {
            println!(
                "  {title}: server CPU per delivery multi/single {:.2}x",
                paired_ratio(&cpu[1], &cpu[0])
            );
        }
        println!(
            "  medians: single {} /s, multi {} /s",
            si(median(&rate[0].samples)),
            si(median(&rate[1].samples))
        );
    }
}
