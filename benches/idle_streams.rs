//! Scenario 3: many idle event streams with keep-alive on.
//!
//! Run: `cargo bench --bench idle_streams --features axum`
//! (env: `IDLE_STREAMS`, default 10000; `IDLE_SECS`, default 20;
//! `KEEP_ALIVE_SECS`, default 15; `IDLE_VARIANTS`, a comma-separated subset
//! of the variants below). Without `--bench` (as `cargo test --all-targets`
//! runs it) it smoke-runs 200 streams for 2 s per variant (about 15 s in all).
//!
//! Server variants, each in its own process, all serving one idle stream per
//! connection with keep-alives at the same interval:
//!
//! - `tower-sse`: `SseLayer` over an `EventStream` on `axum::serve`;
//! - `tower-sse-http1`: the recommended setup for many idle streams: the same
//!   service on hyper's HTTP/1-only connection builder
//!   (`hyper::server::conn::http1`), a current-thread runtime;
//! - `tower-sse-multi64`: a multi-topic stream of 64 topics (one
//!   [`Multiplexer`](tower_sse::multi::Multiplexer) over a hub, checkpoints in
//!   memory) through `SseLayer` on `axum::serve`: what an idle dashboard tab
//!   costs, its priming event sent;
//! - `axum`: axum's `Sse` + `KeepAlive` on `axum::serve`;
//! - `raw`: the floor: a task per socket that reads the request and writes a
//!   fixed response head and `:\n` keep-alives, no HTTP library.
//!
//! For each, this binary starts itself as a server process and as a separate
//! client process (`ulimit -n` raised through `sh`, up to the hard limit),
//! opens the streams (from source addresses 127.0.0.1, 127.0.0.2, … with
//! 50,000 connections each, so more than 64k ports are possible), and reads
//! from `/proc/<server pid>`: RSS per stream (`VmRSS` after minus before,
//! divided by the stream count) and CPU while idle (`utime + stime` over the
//! idle window, as % of one core). Kernel socket buffers are not in RSS.

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

/// Spawns this binary with `args`, with the file-descriptor limit raised to
/// what `streams` need (or the hard limit, if that is lower).
fn spawn_self(args: &[&str], streams: u64) -> Child {
    let exe = std::env::current_exe().unwrap();
    let want = streams + 1_000;
    let mut command = Command::new("sh");
    if args.iter().any(|a| a.ends_with(JEMALLOC_SUFFIX)) {
        command.env("LD_PRELOAD", JEMALLOC);
    }
    command
        .arg("-c")
        .arg(format!(
            "ulimit -n {want} 2>/dev/null || ulimit -n \"$(ulimit -Hn)\"; exec \"$0\" \"$@\""
        ))
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

/// `settle` is how long the server gets before each RSS reading.
fn measure(
    variant: &str,
    streams: u64,
    idle: Duration,
    keep_alive: u64,
    settle: Duration,
) -> Measured {
    let mut server = spawn_self(&["server", variant, &keep_alive.to_string()], streams);
    let addr = read_line(&mut server);
    let pid = server.id(); // `sh` exec'd into the server, so this is its pid
    std::thread::sleep(settle / 4);
    let rss_before = rss_kib(pid);
    let opened = Instant::now();
    let mut client = spawn_self(&["client", &addr, &streams.to_string()], streams);
    let ready = read_line(&mut client);
    assert_eq!(
        ready,
        "ready",
        "client failed (see its stderr); fd limit: {}",
        fd_hard_limit()
    );
    let open_secs = opened.elapsed().as_secs_f64();
    std::thread::sleep(settle);
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

/// The hard limit on open files, which caps the streams one process can hold.
fn fd_hard_limit() -> String {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .unwrap_or("?")
        .to_owned()
}

const VARIANTS: [&str; 6] = [
    "tower-sse",
    "tower-sse-http1",
    "tower-sse-http1+jemalloc",
    "tower-sse-multi64",
    "axum",
    "raw",
];

/// Variants with this suffix run with jemalloc preloaded as `malloc` (the
/// system's `libjemalloc2`; an application would use a jemalloc crate as its
/// global allocator instead). Skipped when the library is missing.
const JEMALLOC_SUFFIX: &str = "+jemalloc";
const JEMALLOC: &str = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";

fn orchestrate() {
    // `cargo bench` passes `--bench`; under `cargo test --all-targets` the
    // binary runs without it and only smoke-runs a small size.
    let full = std::env::args().any(|a| a == "--bench");
    let pick = |full_size, smoke_size| if full { full_size } else { smoke_size };
    let streams = env_or("IDLE_STREAMS", pick(10_000, 200));
    let idle = Duration::from_secs(env_or("IDLE_SECS", pick(20, 2)));
    let keep_alive = env_or("KEEP_ALIVE_SECS", pick(15, 1));
    let settle = Duration::from_millis(pick(2_000, 300));
    let wanted = std::env::var("IDLE_VARIANTS").unwrap_or_default();
    let variants: Vec<&str> = VARIANTS
        .into_iter()
        .filter(|v| wanted.is_empty() || wanted.split(',').any(|w| w == *v))
        .filter(|v| !v.ends_with(JEMALLOC_SUFFIX) || std::path::Path::new(JEMALLOC).exists())
        .collect();
    println!(
        "scenario 3: {streams} idle streams, keep-alive every {keep_alive} s, idle window {} s \
         (open-files hard limit {})",
        idle.as_secs(),
        fd_hard_limit()
    );
    let results: Vec<(&str, Measured)> = variants
        .into_iter()
        .map(|v| (v, measure(v, streams, idle, keep_alive, settle)))
        .collect();
    println!(
        "{:<26} {:>12} {:>12} {:>14} {:>12} {:>10}",
        "server", "RSS before", "RSS after", "RSS/stream", "idle CPU", "open (s)"
    );
    let per_stream =
        |m: &Measured| m.rss_after.saturating_sub(m.rss_before) as f64 * 1024.0 / streams as f64;
    for (name, m) in &results {
        println!(
            "{:<26} {:>9} KiB {:>9} KiB {:>10.0} B {:>11.3}% {:>10.1}",
            name,
            m.rss_before,
            m.rss_after,
            per_stream(m),
            m.cpu_percent,
            m.open_secs
        );
    }
    let find = |name: &str| results.iter().find(|(n, _)| *n == name).map(|(_, m)| m);
    if let (Some(t), Some(a)) = (find("tower-sse"), find("axum")) {
        println!(
            "RSS per stream, tower-sse / axum: {:.3}",
            per_stream(t) / per_stream(a)
        );
    }
    let best = find("tower-sse-http1+jemalloc").or(find("tower-sse-http1"));
    if let (Some(t), true) = (best, full) {
        let kib = per_stream(t) / 1024.0;
        println!(
            "RSS per stream, recommended setup: {kib:.2} KiB (target <= 6 KiB: {}); idle CPU {:.3}% \
             (target < 0.2 % at 10,000 streams: {})",
            if kib <= 6.0 { "met" } else { "MISSED" },
            t.cpu_percent,
            if t.cpu_percent < 0.2 { "met" } else { "MISSED" },
        );
    }
}

/// The idle handler's response: a stream that never yields, through the layer.
fn tower_sse_service(
    keep_alive: Duration,
) -> impl tower::Service<
    http::Request<hyper::body::Incoming>,
    Response = http::Response<
        tower_sse::layer::SseBody<
            tower_sse::EventStream<futures_util::stream::Pending<&'static str>>,
        >,
    >,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
       + Send {
    tower::ServiceBuilder::new()
        .layer(tower_sse::SseLayer::new().keep_alive_interval(keep_alive))
        .service_fn(|_req: http::Request<hyper::body::Incoming>| async {
            Ok::<_, std::convert::Infallible>(
                tower_sse::EventStream::new(futures_util::stream::pending::<&'static str>())
                    .into_http_response(),
            )
        })
}

fn server(variant: &str, keep_alive: Duration) {
    let variant = variant.trim_end_matches(JEMALLOC_SUFFIX);
    let rt = if variant == "tower-sse-http1" || variant == "raw" {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    rt.block_on(async move {
        use axum::routing::get;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        let router = match variant {
            "tower-sse-http1" => return serve_http1(listener, keep_alive).await,
            "raw" => return serve_raw(listener, keep_alive).await,
            "tower-sse" => axum::Router::new()
                .route(
                    "/sse",
                    get(|| async {
                        tower_sse::EventStream::new(futures_util::stream::pending::<&'static str>())
                    }),
                )
                .layer(tower_sse::SseLayer::new().keep_alive_interval(keep_alive)),
            "tower-sse-multi64" => {
                use tower_sse::multi::{MultiRequest, Multiplexer};
                let multi = Multiplexer::new(tower_sse::Hub::new());
                let topics: Vec<String> = (0..64).map(|i| format!("tile-{i}")).collect();
                axum::Router::new()
                    .route(
                        "/sse",
                        get(move || async move {
                            let request = MultiRequest::new(topics.iter().map(String::as_str));
                            let stream = multi.subscribe(request).await.unwrap();
                            tower_sse::EventStream::from(stream)
                        }),
                    )
                    .layer(tower_sse::SseLayer::new().keep_alive_interval(keep_alive))
            }
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
        axum::serve(listener, router).await.unwrap();
    });
}

/// The recommended setup: hyper's HTTP/1 connection builder, one task per
/// connection, no protocol sniffing.
async fn serve_http1(listener: tokio::net::TcpListener, keep_alive: Duration) {
    let service = tower_sse_service(keep_alive);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let service = hyper_util::service::TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .max_buf_size(8192)
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                .await;
        });
    }
}

/// The floor: read the request, write a fixed head and keep-alives.
async fn serve_raw(listener: tokio::net::TcpListener, keep_alive: Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
        cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";
    loop {
        let Ok((mut tcp, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let mut seen = 0;
            loop {
                let Ok(n) = tcp.read(&mut buf[seen..]).await else {
                    return;
                };
                if n == 0 {
                    return;
                }
                seen += n;
                if buf[..seen].windows(4).any(|w| w == b"\r\n\r\n") || seen == buf.len() {
                    break;
                }
            }
            if tcp.write_all(HEAD).await.is_err() {
                return;
            }
            let mut tick = tokio::time::interval(keep_alive);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if tcp.write_all(b"2\r\n:\n\r\n").await.is_err() {
                            return;
                        }
                    }
                    read = tcp.read(&mut buf) => {
                        if !matches!(read, Ok(n) if n > 0) {
                            return;
                        }
                    }
                }
            }
        });
    }
}

fn client(addr: &str, streams: u64) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let request = b"GET /sse HTTP/1.1\r\nhost: bench\r\naccept: text/event-stream\r\n\r\n";
        let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
        for i in 0..streams {
            // 50,000 connections per loopback source address, so the
            // ephemeral port range is never the limit.
            let octet = u8::try_from(1 + i / 50_000).unwrap();
            let local = std::net::SocketAddr::from(([127, 0, 0, octet], 0));
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(local).unwrap();
            let server = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            let mut tcp = socket.connect(server).await.unwrap();
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
