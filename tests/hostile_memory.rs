//! Memory under hostile clients: clients that never read cost bounded
//! memory, measured as the growth of this process's resident set. A test
//! binary of its own, so that no other test's allocations skew the figure.

#![cfg(target_os = "linux")]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower_sse::{HubConfig, SlowConsumer, SseLayer};

mod hostile_support;
#[path = "support/wait.rs"]
mod wait;

use hostile_support::*;

/// The cases measure the same process's memory: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[path = "support/rss.rs"]
mod rss;

use rss::rss_bytes;

/// The two tests measure this process's RSS: one at a time.
static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Opens a stream with raw TCP and never reads from it.
async fn stalled_client(addr: SocketAddr, topic: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /events/{topic} HTTP/1.1\r\nhost: x\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    tcp
}

/// Publishes `count` events of `size` bytes to `topic` while a normal client
/// reads them all; returns the RSS growth of the process meanwhile.
async fn flood_past_a_stalled_client(server: &Server, count: usize, size: usize) -> u64 {
    let mut reader = Stream::open(server.addr, "/events/t", &[]).await;
    wait_for(|| server.hub.subscribers("t") == 2).await;
    let before = rss_bytes();
    let mut peak = before;
    let payload = "x".repeat(size);
    let hub = server.hub.clone();
    let read = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let progress = read.clone();
    let publisher = tokio::spawn(async move {
        for n in 0..count {
            // Paced by the normal reader, which must never lag (the stalled
            // client is far behind after the first few events).
            while n - progress.load(std::sync::atomic::Ordering::Acquire) >= 8 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            hub.publish("t", format!("{n} {payload}")).await.unwrap();
        }
    });
    for n in 0..count {
        let event = reader
            .next()
            .await
            .expect("the normal client's stream ended");
        assert!(
            event.data.starts_with(&format!("{n} ")),
            "expected event {n}"
        );
        read.store(n + 1, std::sync::atomic::Ordering::Release);
        if n % 64 == 0 {
            peak = peak.max(rss_bytes());
        }
    }
    publisher.await.unwrap();
    let growth = peak.max(rss_bytes()).saturating_sub(before);
    eprintln!(
        "{count} events of {size} bytes past a stalled client: RSS grew by {} KiB",
        growth / 1024
    );
    growth
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_costs_bounded_memory_and_is_disconnected_when_it_lags() {
    let _one_at_a_time = MEASURING.lock().await;
    let _one = ONE_AT_A_TIME.lock().await;
    const COUNT: usize = 2000;
    const SIZE: usize = 64 * 1024;
    let hub = HubConfig::new().history(16).buffer(16).build();
    let server = serve_with(SseLayer::new(), hub).await;
    let mut stalled = stalled_client(server.addr, "t").await;
    wait_for(|| server.hub.subscribers("t") == 1).await;
    let growth = flood_past_a_stalled_client(&server, COUNT, SIZE).await;
    // 125 MiB went through; the stalled client pins at most the shared ring
    // (16 events) plus socket and hyper buffers.
    assert!(growth < 48 * 1024 * 1024, "RSS grew by {growth} bytes");
    // When it reads again it gets what was buffered for it, in order, and
    // then the Disconnect policy ends its stream: its browser would reconnect
    // with Last-Event-ID and replay from history.
    let mut got = Vec::new();
    let mut buf = vec![0_u8; 1 << 16];
    loop {
        let n = tokio::time::timeout(PROMPT, stalled.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        got.extend_from_slice(&buf[..n]);
        if n == 0 || got.ends_with(b"\r\n0\r\n\r\n") {
            break;
        }
    }
    assert!(
        got.ends_with(b"\r\n0\r\n\r\n"),
        "the lagging stream must end cleanly"
    );
    assert!(got.len() < 32 * 1024 * 1024, "{} bytes buffered", got.len());
    wait_for(|| server.hub.subscribers("t") == 0 && server.metrics.open_streams() == 0).await;
    assert_still_serves(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_gets_a_gap_event_under_skip_with_gap() {
    let _one_at_a_time = MEASURING.lock().await;
    let _one = ONE_AT_A_TIME.lock().await;
    const COUNT: usize = 1000;
    const SIZE: usize = 64 * 1024;
    let hub = HubConfig::new()
        .history(16)
        .buffer(16)
        .slow_consumer(SlowConsumer::SkipWithGap)
        .build();
    let server = serve_with(SseLayer::new(), hub).await;
    let stalled = stalled_client(server.addr, "t").await;
    wait_for(|| server.hub.subscribers("t") == 1).await;
    let growth = flood_past_a_stalled_client(&server, COUNT, SIZE).await;
    assert!(growth < 48 * 1024 * 1024, "RSS grew by {growth} bytes");
    // Reading again: the events buffered for it, a gap event, then the ring's
    // newest events through the last one published, all in order.
    let (mut read, _write) = stalled.into_split();
    let mut parser = tower_sse::parse::Parser::new();
    let mut buf = vec![0_u8; 1 << 16];
    let mut head_done = false;
    let mut pending = Vec::new();
    let mut seen = Vec::new();
    let last = format!("{} ", COUNT - 1);
    'read: loop {
        let n = tokio::time::timeout(PROMPT, read.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the stream ended early");
        pending.extend_from_slice(&buf[..n]);
        if !head_done {
            let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            pending.drain(..end + 4);
            head_done = true;
        }
        // De-chunk what is complete.
        while let Some(line_end) = pending.windows(2).position(|w| w == b"\r\n") {
            let size =
                usize::from_str_radix(std::str::from_utf8(&pending[..line_end]).unwrap(), 16)
                    .unwrap();
            if pending.len() < line_end + 2 + size + 2 {
                break;
            }
            parser
                .feed(&pending[line_end + 2..line_end + 2 + size])
                .unwrap();
            pending.drain(..line_end + 2 + size + 2);
        }
        while let Some(item) = parser.next_item() {
            if let Some(event) = item.into_event() {
                let done = event.data.starts_with(&last);
                seen.push(event);
                if done {
                    break 'read;
                }
            }
        }
    }
    let gaps: Vec<usize> = (0..seen.len())
        .filter(|&i| seen[i].event_type == "sse-gap")
        .collect();
    assert_eq!(gaps.len(), 1, "exactly one gap event");
    let numbers: Vec<usize> = seen
        .iter()
        .filter(|e| e.event_type == "message")
        .map(|e| e.data.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "in order, no repeats"
    );
    let after_gap = seen[gaps[0] + 1].data.split(' ').next().unwrap().to_owned();
    assert_eq!(seen[gaps[0]].data, "lagged");
    assert!(seen.len() < COUNT, "events were skipped, not buffered");
    assert_eq!(
        seen[gaps[0]].last_event_id,
        seen[gaps[0] + 1].last_event_id,
        "the gap names the first event after it ({after_gap})"
    );
    assert_still_serves(&server).await;
}
