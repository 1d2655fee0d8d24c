//! Scenario 4: fan-out to many subscribers over loopback, tower-sse `Hub`
//! against the usual axum pattern (tokio `broadcast` + axum `Sse`, one event
//! built and encoded per subscriber).
//!
//! Run: `cargo bench --bench fanout`. Sizes come from the environment:
//! `SSE_BENCH_SUBSCRIBERS` (default `1000,5000`), `SSE_BENCH_ROUNDS` (3),
//! `SSE_BENCH_RATE` (paced events per second, 20), `SSE_BENCH_PACED_SECS` (10),
//! `SSE_BENCH_BURST` (events published back to back, 256). Under
//! `cargo test --all-targets` it smoke-runs 20 subscribers.
//!
//! Each round starts both servers in this process (two-worker tokio runtime)
//! and one client process (this binary again, started with `--client` through
//! `sh -c 'ulimit -n …'`) that opens N SSE connections to each. Then:
//!
//! 1. **paced**: `rate` events per second for `paced_secs` per contender,
//!    published in one-second slices that alternate between the contenders (so
//!    the shared machine's noise hits both alike; the idle contender's
//!    connections cost nothing). Each event carries its publish time (ns since
//!    the Unix epoch); the client records publish-to-receive latency per
//!    delivery: p50 / p99.
//! 2. **burst**: per contender alone, `burst` events back to back; deliveries
//!    per second is `N * burst` over the time from the first publish to the
//!    last delivery. Both rings hold 1024 events, so no subscriber lags. The
//!    contender is then closed (`Hub::close`, or dropping the last `Sender`),
//!    and the client reports it once all its connections reached EOF, before
//!    the other contender's burst starts.
//!
//! Server and client share the machine's cores. The run checks that every
//! subscriber received every event.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::sse::{Event as AxumEvent, Sse};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use futures_util::{stream, StreamExt};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast;
use tower_sse::{Event, EventStream, EventType, Hub, HubConfig, IntoEvent};

use support::{median, paired_ratio, print_ratio, si, Mode, Series};

const TOPIC: &str = "room";
const RING: usize = 1024;

/// A chat message carrying its publish time; its JSON is ~120 bytes.
#[derive(Debug, Clone, Serialize)]
struct Tick {
    seq: u64,
    user: String,
    room: String,
    message: String,
    sent_ns: u64,
}

const CHAT: EventType = EventType::from_static("chat");

impl IntoEvent for Tick {
    fn into_event(self) -> Result<Event, tower_sse::Error> {
        Event::new().event(CHAT).id(self.seq).json_data(&self)
    }
}

fn tick(seq: u64) -> Tick {
    Tick {
        seq,
        user: format!("user-{:04}", seq % 1000),
        room: "general".to_owned(),
        message: "deploy of build 4312 finished green".to_owned(),
        sent_ns: now_ns(),
    }
}

fn now_ns() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contender {
    TowerSse,
    Axum,
}

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Self::TowerSse => "tower-sse Hub + EventStream",
            Self::Axum => "tokio broadcast + axum Sse",
        }
    }
}

/// The publishing side of one contender.
enum Publisher {
    Hub(Hub),
    Broadcast(broadcast::Sender<Tick>),
}

impl Publisher {
    fn subscribers(&self) -> usize {
        match self {
            Self::Hub(hub) => hub.subscribers(TOPIC),
            Self::Broadcast(tx) => tx.receiver_count(),
        }
    }

    async fn publish(&self, tick: Tick) {
        match self {
            Self::Hub(hub) => {
                hub.publish(TOPIC, tick).await.expect("publish");
            }
            Self::Broadcast(tx) => {
                let _ = tx.send(tick);
            }
        }
    }

    /// Ends every subscriber's stream.
    fn close(self) {
        match self {
            Self::Hub(hub) => hub.close(),
            Self::Broadcast(tx) => drop(tx),
        }
    }
}

/// The tower-sse server: every subscriber streams the hub's topic; each event
/// is encoded once at publish and shared.
fn tower_sse_app() -> (Router, Publisher) {
    let hub = HubConfig::new().buffer(RING).history(RING).build();
    let app = Router::new()
        .route(
            "/events",
            get(|State(hub): State<Hub>| async move {
                // What `IntoResponse for EventStream` (feature `axum`) does.
                EventStream::new(hub.subscribe(TOPIC).expect("subscribe"))
                    .into_http_response()
                    .map(axum::body::Body::new)
            }),
        )
        .with_state(hub.clone());
    (app, Publisher::Hub(hub))
}

/// The usual axum server: a `broadcast` channel of app values, and per
/// subscriber a stream that builds and encodes an axum `Event` for each.
/// The router holds a weak sender, so dropping the publisher's ends the streams.
fn axum_app() -> (Router, Publisher) {
    let (tx, _) = broadcast::channel::<Tick>(RING);
    let app = Router::new()
        .route(
            "/events",
            get(
                |State(weak): State<broadcast::WeakSender<Tick>>| async move {
                    let Some(tx) = weak.upgrade() else {
                        return http::StatusCode::SERVICE_UNAVAILABLE.into_response();
                    };
                    let rx = tx.subscribe();
                    drop(tx);
                    let events = receive(rx).map(|tick| {
                        AxumEvent::default()
                            .event("chat")
                            .id(tick.seq.to_string())
                            .json_data(&tick)
                    });
                    Sse::new(events).into_response()
                },
            ),
        )
        .with_state(tx.downgrade());
    (app, Publisher::Broadcast(tx))
}

/// The values of a `broadcast` receiver as a stream, skipping lagged ones
/// and ending when every sender is gone.
fn receive<T>(rx: broadcast::Receiver<T>) -> impl futures_util::Stream<Item = T>
where
    T: Clone,
{
    stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(value) => return Some((value, rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

/// Sizes of one run.
#[derive(Debug, Clone, Copy)]
struct Plan {
    subscribers: usize,
    rate: usize,
    /// Paced seconds per contender, published in alternating one-second slices.
    paced_secs: usize,
    burst: usize,
}

impl Plan {
    /// Paced events per contender.
    fn paced(self) -> usize {
        self.rate * self.paced_secs
    }
}

/// What the client process measured.
#[derive(Debug, Default, Clone)]
struct ClientReport {
    paced_deliveries: usize,
    paced_p50_us: f64,
    paced_p99_us: f64,
    burst_deliveries: usize,
    burst_per_sec: f64,
    burst_p50_us: f64,
    burst_p99_us: f64,
}

impl ClientReport {
    fn to_line(&self, contender: usize) -> String {
        format!(
            "RESULT {contender} {} {} {} {} {} {} {}",
            self.paced_deliveries,
            self.paced_p50_us,
            self.paced_p99_us,
            self.burst_deliveries,
            self.burst_per_sec,
            self.burst_p50_us,
            self.burst_p99_us
        )
    }

    /// Parses a `RESULT` line into the contender's index and its report.
    fn from_line(line: &str) -> Option<(usize, Self)> {
        let mut f = line.strip_prefix("RESULT ")?.split(' ');
        let contender = f.next()?.parse().ok()?;
        let mut next = || f.next()?.parse::<f64>().ok();
        let report = Self {
            paced_deliveries: next()? as usize,
            paced_p50_us: next()?,
            paced_p99_us: next()?,
            burst_deliveries: next()? as usize,
            burst_per_sec: next()?,
            burst_p50_us: next()?,
            burst_p99_us: next()?,
        };
        Some((contender, report))
    }
}

/// Starts the client process for `plan` against one port per contender.
fn spawn_client(ports: &[u16], plan: Plan) -> Child {
    let exe = std::env::current_exe().expect("current exe");
    let script = r#"ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@""#;
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(exe)
        .arg("--client")
        .args([
            plan.subscribers.to_string(),
            plan.paced().to_string(),
            plan.burst.to_string(),
        ])
        .args(ports.iter().map(u16::to_string))
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn client")
}

/// Publishes `count` events to `publisher`, `rate` per second, from `seq` on.
async fn publish_paced(publisher: &Publisher, seq: &mut u64, count: usize, rate: usize) {
    let mut interval = tokio::time::interval(Duration::from_secs(1) / rate as u32);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for _ in 0..count {
        interval.tick().await;
        publisher.publish(tick(*seq)).await;
        *seq += 1;
    }
}

/// One round: both contenders serve N subscribers each, from one client
/// process, at the same time; the paced phase alternates one-second slices
/// between them so that the machine's noise hits both alike, then each gets
/// its burst alone and is closed and drained before the other's.
async fn run_round(contenders: &[Contender], plan: Plan, round: usize) -> Vec<ClientReport> {
    let mut publishers = Vec::new();
    let mut servers = Vec::new();
    let mut ports = Vec::new();
    for &c in contenders {
        let (app, publisher) = match c {
            Contender::TowerSse => tower_sse_app(),
            Contender::Axum => axum_app(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        ports.push(listener.local_addr().unwrap().port());
        servers.push(tokio::spawn(
            async move { axum::serve(listener, app).await },
        ));
        publishers.push(Some(publisher));
    }
    let mut child = spawn_client(&ports, plan);
    let (line_tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
    let stdout = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });

    let deadline = Instant::now() + Duration::from_secs(120);
    let connected = |p: &Option<Publisher>| p.as_ref().map_or(0, Publisher::subscribers);
    while publishers.iter().any(|p| connected(p) < plan.subscribers) {
        assert!(Instant::now() < deadline, "clients did not connect in time");
        if let Ok(Some(status)) = child.try_wait() {
            panic!("client exited early: {status}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Alternate the order every slice and every round.
    let order = |k: usize| -> Vec<usize> {
        let mut o: Vec<usize> = (0..contenders.len()).collect();
        o.rotate_left(k % contenders.len());
        o
    };
    let mut seqs = vec![0_u64; contenders.len()];
    for slice in 0..plan.paced_secs {
        for i in order(slice + round) {
            let publisher = publishers[i].as_ref().expect("open");
            publish_paced(publisher, &mut seqs[i], plan.rate, plan.rate).await;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    let mut reports: Vec<Option<ClientReport>> = vec![None; contenders.len()];
    for i in order(round) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let publisher = publishers[i].take().expect("open");
        for _ in 0..plan.burst {
            publisher.publish(tick(seqs[i])).await;
            seqs[i] += 1;
        }
        publisher.close();
        // The client reports a contender once all its connections ended.
        while reports[i].is_none() {
            let line = lines.recv().await.expect("client result line");
            if let Some((at, report)) = ClientReport::from_line(&line) {
                reports[at] = Some(report);
            }
        }
    }
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .expect("client status");
    assert!(status.success(), "client failed: {status}");
    for server in servers {
        server.abort();
    }
    let reports: Vec<ClientReport> = reports.into_iter().map(Option::unwrap).collect();
    for (c, report) in contenders.iter().zip(&reports) {
        let name = c.name();
        assert_eq!(
            report.burst_deliveries,
            plan.subscribers * plan.burst,
            "{name} lost burst events"
        );
        assert_eq!(
            report.paced_deliveries,
            plan.subscribers * plan.paced(),
            "{name} lost paced events"
        );
    }
    reports
}

// ---------------------------------------------------------------- client ----

/// Per-connection figures: latencies (ns) of paced and burst deliveries, and
/// the burst's first publish and last receive times.
#[derive(Debug, Default)]
struct ConnStats {
    paced: Vec<u64>,
    burst: Vec<u64>,
    burst_first_sent: u64,
    burst_last_recv: u64,
}

/// The digits after `key` in `text`, and the rest of `text` after them.
fn number_after<'a>(text: &'a [u8], key: &[u8]) -> Option<(u64, &'a [u8])> {
    let at = memchr::memmem::find(text, key)? + key.len();
    let digits = text[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    let value = std::str::from_utf8(&text[at..at + digits])
        .ok()?
        .parse()
        .ok()?;
    Some((value, &text[at + digits..]))
}

/// Reads one SSE connection to EOF, recording every event's latency.
async fn client_conn(
    port: u16,
    paced: u64,
    connecting: Arc<tokio::sync::Semaphore>,
) -> std::io::Result<ConnStats> {
    let permit = connecting.acquire_owned().await.expect("open semaphore");
    let mut sock = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    sock.write_all(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await?;
    let mut stats = ConnStats {
        burst_first_sent: u64::MAX,
        ..ConnStats::default()
    };
    let mut buf = vec![0_u8; 16 * 1024];
    let mut pending: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut permit = Some(permit);
    loop {
        let read = sock.read(&mut buf).await?;
        // The response head has arrived: let the next connection in.
        permit.take();
        if read == 0 {
            return Ok(stats);
        }
        let recv = now_ns();
        pending.extend_from_slice(&buf[..read]);
        // Only whole events; the rest waits for the next read.
        let Some(end) = memchr::memmem::rfind(&pending, b"\n\n") else {
            continue;
        };
        let mut rest = &pending[..end];
        while let Some((seq, after)) = number_after(rest, b"\"seq\":") {
            let Some((sent, after)) = number_after(after, b"\"sent_ns\":") else {
                break;
            };
            rest = after;
            let latency = recv.saturating_sub(sent);
            if seq < paced {
                stats.paced.push(latency);
            } else {
                stats.burst.push(latency);
                stats.burst_first_sent = stats.burst_first_sent.min(sent);
                stats.burst_last_recv = stats.burst_last_recv.max(recv);
            }
        }
        pending.drain(..end + 2);
    }
}

fn percentile_us(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[at] as f64 / 1e3
}

/// Summarizes one contender's connections.
fn summarize(conns: &[ConnStats]) -> ClientReport {
    let mut paced_all: Vec<u64> = conns.iter().flat_map(|c| c.paced.iter().copied()).collect();
    let mut burst_all: Vec<u64> = conns.iter().flat_map(|c| c.burst.iter().copied()).collect();
    paced_all.sort_unstable();
    burst_all.sort_unstable();
    let first = conns.iter().map(|c| c.burst_first_sent).min().unwrap_or(0);
    let last = conns.iter().map(|c| c.burst_last_recv).max().unwrap_or(0);
    let span = Duration::from_nanos(last.saturating_sub(first).max(1));
    ClientReport {
        paced_deliveries: paced_all.len(),
        paced_p50_us: percentile_us(&paced_all, 0.50),
        paced_p99_us: percentile_us(&paced_all, 0.99),
        burst_deliveries: burst_all.len(),
        burst_per_sec: burst_all.len() as f64 / span.as_secs_f64(),
        burst_p50_us: percentile_us(&burst_all, 0.50),
        burst_p99_us: percentile_us(&burst_all, 0.99),
    }
}

/// `--client N PACED BURST PORT...`: opens N connections to each port, reads
/// them to EOF and prints one `RESULT` line per port as soon as all of that
/// port's connections have ended.
fn client_main(args: &[String]) {
    let arg = |i: usize| -> u64 { args[i].parse().expect("numeric client argument") };
    let (n, paced) = (arg(0) as usize, arg(1));
    let ports: Vec<u16> = (3..args.len()).map(|i| arg(i) as u16).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let connecting = Arc::new(tokio::sync::Semaphore::new(128));
        let mut contenders = Vec::new();
        for (at, port) in ports.into_iter().enumerate() {
            let tasks: Vec<_> = (0..n)
                .map(|_| tokio::spawn(client_conn(port, paced, Arc::clone(&connecting))))
                .collect();
            contenders.push(tokio::spawn(async move {
                let mut conns = Vec::with_capacity(n);
                for task in tasks {
                    conns.push(task.await.expect("client task").expect("client io"));
                }
                println!("{}", summarize(&conns).to_line(at));
            }));
        }
        for contender in contenders {
            contender.await.expect("client contender");
        }
    });
}

// ---------------------------------------------------------------- driver ----

/// The soft limit on open files of this process, from `/proc/self/limits`.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--client") {
        client_main(&args[at + 1..]);
        return;
    }
    let mode = Mode::from_args();
    let subscribers: Vec<usize> = match std::env::var("SSE_BENCH_SUBSCRIBERS") {
        Ok(list) => list
            .split(',')
            .map(|s| s.trim().parse().expect("number"))
            .collect(),
        Err(_) if mode.full => vec![1_000, 5_000],
        Err(_) => vec![20],
    };
    let rounds = mode.size("SSE_BENCH_ROUNDS", 3, 1);
    let rate = mode.size("SSE_BENCH_RATE", 20, 100);
    let paced_secs = mode.size("SSE_BENCH_PACED_SECS", 10, 1);
    let burst = mode.size("SSE_BENCH_BURST", 256, 16);
    assert!(burst <= RING / 2, "the burst must fit the rings");
    let most = subscribers.iter().copied().max().unwrap_or(0);
    if let Some(limit) = open_files_limit() {
        assert!(
            limit > 2 * most + 64,
            "2 x {most} subscribers need more open files than {limit}: run under `ulimit -n 20000`"
        );
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "fanout: clients in a separate process over loopback; paced {rate}/s for {paced_secs} s, \
         then a burst of {burst}; {rounds} interleaved rounds, {} mode",
        if mode.full { "bench" } else { "smoke" }
    );
    println!();
    let contenders = [Contender::TowerSse, Contender::Axum];
    for &n in &subscribers {
        let plan = Plan {
            subscribers: n,
            rate,
            paced_secs,
            burst,
        };
        let mut reports: Vec<Vec<ClientReport>> = vec![Vec::new(); contenders.len()];
        for round in 0..rounds {
            let round_reports = rt.block_on(run_round(&contenders, plan, round));
            for (i, r) in round_reports.into_iter().enumerate() {
                reports[i].push(r);
            }
        }
        report(n, &contenders, &reports, mode.full);
    }
}

fn report(n: usize, contenders: &[Contender], reports: &[Vec<ClientReport>], full: bool) {
    let series = |i: usize, f: fn(&ClientReport) -> f64| {
        let mut s = Series::new(contenders[i].name());
        s.samples = reports[i].iter().map(f).collect();
        s
    };
    println!("scenario 4: fan-out to {n} subscribers");
    println!(
        "  {:<28} {:>14} {:>12} {:>12} {:>12} {:>12}",
        "contender (medians)", "burst deliv/s", "paced p50", "paced p99", "burst p50", "burst p99"
    );
    for (i, c) in contenders.iter().enumerate() {
        let m = |f: fn(&ClientReport) -> f64| median(&series(i, f).samples);
        println!(
            "  {:<28} {:>14} {:>9.0} us {:>9.0} us {:>9.0} us {:>9.0} us",
            c.name(),
            si(m(|r| r.burst_per_sec)),
            m(|r| r.paced_p50_us),
            m(|r| r.paced_p99_us),
            m(|r| r.burst_p50_us),
            m(|r| r.burst_p99_us),
        );
    }
    let deliveries = paired_ratio(
        &series(0, |r| r.burst_per_sec),
        &series(1, |r| r.burst_per_sec),
    );
    let p99 = paired_ratio(
        &series(1, |r| r.paced_p99_us),
        &series(0, |r| r.paced_p99_us),
    );
    let target = |t: f64| (full && n >= 5_000).then_some(t);
    print_ratio(
        "tower-sse / axum burst deliveries/s",
        deliveries,
        target(1.5),
    );
    print_ratio("axum / tower-sse paced p99 latency", p99, target(1.0));
    let per_round = |f: fn(&ClientReport) -> f64, flip: bool| {
        let ratios: Vec<String> = reports[0]
            .iter()
            .zip(&reports[1])
            .map(|(t, a)| if flip { f(a) / f(t) } else { f(t) / f(a) })
            .map(|r| format!("{r:.2}"))
            .collect();
        ratios.join(" ")
    };
    println!(
        "  per round: deliveries/s ratio [{}], p99 ratio [{}]",
        per_round(|r| r.burst_per_sec, false),
        per_round(|r| r.paced_p99_us, true)
    );
    let p99s = |i: usize| -> String {
        let v: Vec<String> = reports[i]
            .iter()
            .map(|r| format!("{:.0}", r.paced_p99_us / 1e3))
            .collect();
        v.join(" ")
    };
    println!(
        "  per round: paced p99 ms tower-sse [{}], axum [{}]",
        p99s(0),
        p99s(1)
    );
    println!();
}
