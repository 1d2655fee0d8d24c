//! Shared driver of the soak tests (`tests/soak.rs`, `tests/soak_redis.rs`):
//! server processes, thousands of checking clients, a disconnect storm, and the
//! final accounting.
#![allow(dead_code, unreachable_pub)]

pub mod client;
#[path = "../support/client.rs"]
pub mod raw_client;
#[path = "../support/rss.rs"]
pub mod rss;
pub mod server;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use http_body_util::BodyExt;
use tokio::sync::watch;
use tokio::time::Instant;
use tower_sse::Hub;

use self::client::{Phase, Plan, Report, Rng};

/// Publishes one event and returns its id; `None` when the hub refused it
/// (e.g. its backend is down), so the publisher retries the same sequence
/// number. Each publish carries the idempotency key `<topic>:<seq>` (the
/// sequence number starts the data), so a retry of a publish whose reply
/// was lost answers the stored event's id instead of storing it again.
pub async fn publish(hub: &Hub, topic: &str, data: String) -> Option<String> {
    let seq = data.split(' ').next().unwrap_or_default();
    let options = tower_sse::PublishOptions::new()
        .try_idempotency_key(format!("{topic}:{seq}"))
        .ok()?;
    hub.publish_with(topic, data, options)
        .await
        .ok()
        .map(|appended| appended.into_id().to_string())
}

/// What publishers sent: per topic, the number of events and the last id.
pub type Finals = BTreeMap<String, (u64, String)>;

fn finals(text: &str) -> Finals {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split(' ');
            let topic = words.next()?.to_owned();
            let count = words.next()?.parse().ok()?;
            Some((topic, (count, words.next().unwrap_or("").to_owned())))
        })
        .collect()
}

/// The soft limit on open files, from /proc/self/limits.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// `name` from the environment as a number, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a soak binary (a custom harness) was started to do.
pub enum Invocation {
    /// Be the server process, with these arguments.
    Server(Vec<String>),
    /// `--list`, or a name filter that excludes the test: already answered.
    Nothing,
    /// Run the test named `name`.
    Test,
}

/// Reads the command line the way libtest would for one test called `name`:
/// `--soak-server ...` (the re-executed server), `--list`, name filters.
pub fn invocation(name: &str) -> Invocation {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--soak-server") {
        return Invocation::Server(args[1..].to_vec());
    }
    if args.iter().any(|a| a == "--list") {
        println!("{name}: test");
        return Invocation::Nothing;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
        println!("running 0 tests (filtered out: {name})");
        return Invocation::Nothing;
    }
    println!("running 1 test");
    Invocation::Test
}

/// Makes sure this process may open `needed` files: when the soft limit is
/// lower, re-executes the test binary through `sh -c 'ulimit -n ...'` (and
/// exits with its status). Fails with an explanation when it cannot.
pub fn ensure_open_files(needed: u64) {
    let limit = open_files_limit().unwrap_or(0);
    if limit >= needed {
        return;
    }
    assert!(
        std::env::var_os("SOAK_RAISED_ULIMIT").is_none(),
        "the soak test needs {needed} open files but the limit is {limit} even after \
         `ulimit -n {needed}`; raise the hard limit (e.g. in /etc/security/limits.conf) or run \
         scripts/test.sh as root"
    );
    let exe = std::env::current_exe().unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {needed} && exec \"$0\" \"$@\""))
        .arg(exe)
        .args(std::env::args().skip(1))
        .env("SOAK_RAISED_ULIMIT", "1")
        .status()
        .unwrap();
    std::process::exit(status.code().unwrap_or(1));
}

/// A server process (this test binary in `--soak-server` mode), killed on drop.
pub struct ServerProcess {
    pub addr: SocketAddr,
    child: Child,
}

impl ServerProcess {
    pub fn spawn(args: &[String], env: &[(&str, String)]) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .strip_prefix("port ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the soak server did not start: {line:?}"));
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request on a fresh connection; the response body as text.
pub async fn http(addr: SocketAddr, method: &str, path: &str) -> String {
    let (response, conn) = raw_client::send_h1(addr, raw_client::request(method, path, &[])).await;
    assert_eq!(response.status(), 200, "{method} {path}");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    conn.abort();
    String::from_utf8(body.to_vec()).unwrap()
}

/// `name value` lines as a map.
pub fn lines(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

pub async fn metrics(addr: SocketAddr) -> BTreeMap<String, u64> {
    lines(&http(addr, "GET", "/metrics").await)
}

/// The shape of one soak run.
#[derive(Debug, Clone)]
pub struct Soak {
    pub name: &'static str,
    pub clients: usize,
    pub topics: Vec<String>,
    pub duration: Duration,
    /// Servers the clients spread over (publishers run on the first).
    pub servers: Vec<SocketAddr>,
    pub slow_fraction: f64,
    pub mean_life: Duration,
    pub history: Option<u64>,
    pub numeric_ids: bool,
    /// See [`Plan::republish_ok`].
    pub republish_ok: bool,
    /// Tasks a server may keep for good once used, whatever the number of
    /// clients (e.g. the Redis hub's shared connection).
    pub background_tasks: u64,
    /// Peak RSS each server must stay under.
    pub rss_bound_kib: u64,
    /// Whether gap events must have happened (the storm outlasts history).
    pub expect_gaps: bool,
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct Summary {
    pub peak_open_streams: u64,
    pub events: u64,
    pub gaps: u64,
    pub missed_in_gaps: u64,
    pub reconnects: u64,
    pub server_ends: u64,
    pub connect_failures: u64,
    pub republished: u64,
    pub published: u64,
    pub peak_rss_kib: Vec<u64>,
    /// Per server: alive tasks before the clients, and at the end.
    pub tasks_at_end: Vec<(u64, u64)>,
    pub elapsed: Duration,
}

/// Runs the soak: connects every client, starts the publishers, calls
/// `mid_run` a third of the way in, storms half-way, stops, drains and checks
/// that everything returned to zero.
pub async fn run<F>(soak: Soak, mid_run: F) -> Summary
where
    F: std::future::Future<Output = ()>,
{
    let started = Instant::now();
    let mut baselines = Vec::new();
    for &server in &soak.servers {
        baselines.push(metrics(server).await["tasks"]);
    }
    let (phase_tx, phase_rx) = watch::channel(Phase::Connect);
    let mut rng = Rng::new(0x5eed);
    let mut clients = Vec::with_capacity(soak.clients);
    for n in 0..soak.clients {
        let plan = Plan {
            topic: soak.topics[n % soak.topics.len()].clone(),
            servers: soak.servers.clone(),
            slow: rng.unit() < soak.slow_fraction,
            seed: rng.next_u64(),
            mean_life: soak.mean_life,
            history: soak.history,
            numeric_ids: soak.numeric_ids,
            republish_ok: soak.republish_ok,
            drain_timeout: Duration::from_secs(40),
        };
        clients.push(tokio::spawn(client::run(plan, phase_rx.clone())));
        if n % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut peak_open = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut open = 0;
        for &server in &soak.servers {
            open += metrics(server).await["open_streams"];
        }
        peak_open = peak_open.max(open);
        if open >= soak.clients as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {open} of {} streams opened",
            soak.clients
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "[{}] {} streams open after {:?}",
        soak.name,
        peak_open,
        started.elapsed()
    );
    phase_tx.send_replace(Phase::Run);
    let publishing = soak.servers[0];
    http(publishing, "POST", "/control/start").await;
    let run_started = Instant::now();
    tokio::time::sleep(soak.duration / 3).await;
    mid_run.await;
    tokio::time::sleep_until(run_started + soak.duration / 2).await;
    eprintln!("[{}] storm: every client disconnects at once", soak.name);
    phase_tx.send_replace(Phase::Storm(1));
    tokio::time::sleep_until(run_started + soak.duration).await;
    let counts = finals(&http(publishing, "POST", "/control/stop").await);
    eprintln!("[{}] publishers stopped: {counts:?}", soak.name);
    phase_tx.send_replace(Phase::Drain(counts.clone()));
    let mut summary = Summary {
        peak_open_streams: peak_open,
        published: counts.values().map(|(n, _)| n).sum(),
        ..Summary::default()
    };
    // Every client connected before the first event, so it must account for
    // every event of its topic: received, or missed inside a gap.
    let expected_total: u64 = (0..soak.clients)
        .map(|n| {
            counts
                .get(&soak.topics[n % soak.topics.len()])
                .map_or(0, |f| f.0)
        })
        .sum();
    let mut violations = Vec::new();
    for (n, client) in clients.into_iter().enumerate() {
        let report: Report = tokio::time::timeout(Duration::from_secs(90), client)
            .await
            .expect("a client did not finish")
            .unwrap();
        summary.events += report.events;
        summary.gaps += report.gaps;
        summary.missed_in_gaps += report.missed_in_gaps;
        summary.reconnects += report.reconnects;
        summary.server_ends += report.server_ends;
        summary.connect_failures += report.connect_failures;
        summary.republished += report.republished;
        for v in report.violations {
            violations.push(format!("client {n}: {v}"));
        }
    }
    // Back to zero: no stream, no subscriber, no task left behind.
    for (&server, &baseline) in soak.servers.iter().zip(&baselines) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let last = loop {
            let m = metrics(server).await;
            if m["open_streams"] == 0
                && m["subscribers"] == 0
                && m["tasks"] <= baseline + soak.background_tasks
            {
                break m;
            }
            assert!(
                Instant::now() < deadline,
                "[{}] server {server} did not return to zero: {m:?} (tasks baseline {baseline} + {})",
                soak.name,
                soak.background_tasks
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        summary.peak_rss_kib.push(last["hwm_kib"]);
        summary.tasks_at_end.push((baseline, last["tasks"]));
    }
    summary.elapsed = started.elapsed();
    eprintln!("[{}] {summary:#?}", soak.name);
    assert!(
        violations.is_empty(),
        "[{}] {} violations, first ones: {:#?}",
        soak.name,
        violations.len(),
        &violations[..violations.len().min(20)]
    );
    for &peak in &summary.peak_rss_kib {
        assert!(
            peak < soak.rss_bound_kib,
            "[{}] server peak RSS {peak} KiB over the bound of {} KiB",
            soak.name,
            soak.rss_bound_kib
        );
    }
    assert_eq!(
        summary.events + summary.missed_in_gaps,
        expected_total,
        "every event of every client's topic is accounted for"
    );
    assert!(
        summary.reconnects >= soak.clients as u64,
        "the storm reconnects every client"
    );
    if soak.expect_gaps {
        assert!(
            summary.gaps > 0,
            "the storm's late clients must get gap events"
        );
    }
    summary
}
