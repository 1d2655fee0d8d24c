//! Scenario 3: many idle event streams with keep-alive on.
//!
//! Run: `cargo bench --bench idle_streams --features axum`
//! (env: `IDLE_STREAMS`, default 10000; `IDLE_SECS`, default 20;
//! `KEEP_ALIVE_SECS`, default 15). Without `--bench` (as `cargo test
//! --all-targets` runs it) it smoke-runs 200 streams for 2 s.
//!
//! For each server variant (tower-sse's `SseLayer` over an `EventStream`, and
//! axum's `Sse` + `KeepAlive` at the same interval) this binary starts itself as
//! a server process and as a separate client process (`ulimit -n` raised
//! through `sh`), opens the streams, and reads from `/proc/<server pid>`:
//! RSS per stream (`VmRSS` after minus before, divided by the stream count) and
//! CPU while idle (`utime + stime` over the idle window, as % of one core).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("server") => server(&args[2], Duration::from_secs(args[3].parse().unwrap())),
        Some("client") => client(&args[2], args[3].parse().unwrap()),
        _ => orchestrate(),
    }
}

/// Spawns this binary with `args`, with a raised file-descriptor limit.
fn spawn_self(args: &[&str]) -> Child {
    let exe = std::env::current_exe().unwrap();
    Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 15000 && exec \"$0\" \"$@\"")
        .arg(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn")
}

fn read_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim().to_owned()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// utime + stime in clock ticks (100 per second on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields 14 and 15 of the whole line; `after_comm` starts at field 3.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

struct Measured {
    rss_before: u64,
    rss_after: u64,
    cpu_percent: f64,
    open_secs: f64,
}

fn measure(variant: &str, streams: u64, idle: Duration, keep_alive: u64) -> Measured {
    let mut server = spawn_self(&["server", variant, &keep_alive.to_string()]);
    let addr = read_line(&mut server);
    let pid = server.id(); // `sh` exec'd into the server, so this is its pid
    std::thread::sleep(Duration::from_millis(500));
    let rss_before = rss_kib(pid);
    let opened = Instant::now();
    let mut client = spawn_self(&["client", &addr, &streams.to_string()]);
    assert_eq!(read_line(&mut client), "ready", "client failed");
    let open_secs = opened.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    let rss_after = rss_kib(pid);
    let ticks = cpu_ticks(pid);
    let start = Instant::now();
    std::thread::sleep(idle);
    let used = (cpu_ticks(pid) - ticks) as f64 / 100.0;
    let cpu_percent = 100.0 * used / start.elapsed().as_secs_f64();
    let _ = client.kill();
    let _ = client.wait();
    let _ = server.kill();
    let _ = server.wait();
    Measured {
        rss_before,
        rss_after,
        cpu_percent,
        open_secs,
    }
}

fn orchestrate() {
    // `cargo bench` passes `--bench`; under `cargo test --all-targets` the
    // binary runs without it and only smoke-runs a small size.
    let full = std::env::args().any(|a| a == "--bench");
    let pick = |full_size, smoke_size| if full { full_size } else { smoke_size };
    let streams = env_or("IDLE_STREAMS", pick(10_000, 200));
    let idle = Duration::from_secs(env_or("IDLE_SECS", pick(20, 2)));
    let keep_alive = env_or("KEEP_ALIVE_SECS", pick(15, 1));
    println!(
        "scenario 3: {streams} idle streams, keep-alive every {keep_alive} s, idle window {} s",
        idle.as_secs()
    );
    let results: Vec<(&str, Measured)> = ["tower-sse", "axum"]
        .into_iter()
        .map(|v| (v, measure(v, streams, idle, keep_alive)))
        .collect();
    println!(
        "{:<10} {:>12} {:>12} {:>14} {:>12} {:>10}",
        "server", "RSS before", "RSS after", "RSS/stream", "idle CPU", "open (s)"
    );
    let per_stream = |m: &Measured| (m.rss_after - m.rss_before) as f64 * 1024.0 / streams as f64;
    for (name, m) in &results {
        println!(
            "{:<10} {:>9} KiB {:>9} KiB {:>12.0} B {:>11.2}% {:>10.1}",
            name,
            m.rss_before,
            m.rss_after,
            per_stream(m),
            m.cpu_percent,
            m.open_secs
        );
    }
    let ratio = per_stream(&results[0].1) / per_stream(&results[1].1);
    println!("RSS per stream, tower-sse / axum: {ratio:.3}");
}

fn server(variant: &str, keep_alive: Duration) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        use axum::routing::get;
        let router = match variant {
            "tower-sse" => axum::Router::new()
                .route(
                    "/sse",
                    get(|| async {
                        tower_sse::EventStream::new(futures_util::stream::pending::<&'static str>())
                    }),
                )
                .layer(tower_sse::SseLayer::new().keep_alive_interval(keep_alive)),
            _ => axum::Router::new().route(
                "/sse",
                get(move || async move {
                    use axum::response::sse::{Event, KeepAlive, Sse};
                    let never =
                        futures_util::stream::pending::<Result<Event, std::convert::Infallible>>();
                    Sse::new(never).keep_alive(KeepAlive::new().interval(keep_alive))
                }),
            ),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        axum::serve(listener, router).await.unwrap();
    });
}

fn client(addr: &str, streams: u64) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let request = b"GET /sse HTTP/1.1\r\nhost: bench\r\naccept: text/event-stream\r\n\r\n";
        for _ in 0..streams {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tcp.write_all(request).await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 512];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = tcp.read(&mut buf).await.unwrap();
                assert!(n > 0, "server closed the stream");
                head.extend_from_slice(&buf[..n]);
            }
            assert!(head.starts_with(b"HTTP/1.1 200"));
            // Keep reading (and discarding) keep-alives, like a real client.
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
        println!("ready");
        // Hold the streams until the orchestrator kills this process.
        std::future::pending::<()>().await;
    });
}
