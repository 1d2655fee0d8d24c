//! One soak client: holds an event stream, checks that every event of its
//! topic arrives exactly once and in order (through `Last-Event-ID` replay) or
//! after a gap event, disconnects at random and on the storm signal, and
//! reconnects with the last id it saw.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use hyper::body::Incoming;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower_sse::parse::{EventReader, Item};

/// What the driver tells every client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Everyone connects and holds its stream.
    Connect,
    /// Random disconnects and reconnects.
    Run,
    /// Everyone disconnects at once (the number counts storms).
    Storm(u32),
    /// Publishers stopped with these counts per topic: read up to the last
    /// event, then close.
    Drain(super::Finals),
}

/// How one client behaves.
#[derive(Debug, Clone)]
pub struct Plan {
    pub topic: String,
    /// Servers to connect to; each (re)connection picks one at random.
    pub servers: Vec<SocketAddr>,
    pub slow: bool,
    pub seed: u64,
    /// Mean time between random disconnects.
    pub mean_life: Duration,
    /// With an in-memory hub: its history length, to check that every
    /// `unknown-id` gap really follows an evicted id. `None` to skip the check.
    pub history: Option<u64>,
    /// Whether ids are numbers that must increase (hub-assigned, in memory).
    pub numeric_ids: bool,
    /// Whether a publisher may have sent one event twice (it retries when the
    /// backend fails after storing it): a repeated sequence number under a
    /// new id is then counted, not a violation.
    pub republish_ok: bool,
    /// How long to wait for the last event once publishers stopped.
    pub drain_timeout: Duration,
}

/// What one client saw.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub events: u64,
    pub gaps: u64,
    pub missed_in_gaps: u64,
    pub reconnects: u64,
    pub server_ends: u64,
    pub connect_failures: u64,
    pub republished: u64,
    pub violations: Vec<String>,
}

/// A small deterministic PRNG (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn millis(&mut self, max: u64) -> Duration {
        Duration::from_millis(self.below(max + 1))
    }
}

struct Connection {
    reader: EventReader<Incoming>,
    conn: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Dropping the connection task closes the socket at once.
        self.conn.abort();
    }
}

async fn connect(addr: SocketAddr, topic: &str, last_id: &str) -> Result<Connection, String> {
    let request = super::raw_client::get(
        &format!("/events/{topic}"),
        &[("last-event-id", last_id.as_bytes())],
    );
    let (response, conn) =
        super::raw_client::try_send_h1(addr, request, Duration::from_secs(20)).await?;
    if response.status() != 200 {
        conn.abort();
        return Err(format!("status {}", response.status()));
    }
    Ok(Connection {
        reader: EventReader::new(response.into_body()),
        conn,
    })
}

/// The client's view of its topic.
struct Checker {
    plan: Plan,
    report: Report,
    /// The next sequence number expected.
    expected: u64,
    last_id: String,
    last_numeric_id: u64,
    pending_gap: Option<String>,
}

impl Checker {
    /// Whether the client has seen its topic's last event, or a gap event
    /// naming it (then the events between count as missed in that gap).
    fn caught_up(&mut self, finals: &super::Finals) -> bool {
        let Some((count, last_id)) = finals.get(&self.plan.topic) else {
            return true;
        };
        if self.expected >= *count {
            return true;
        }
        if self.pending_gap.is_some() && self.last_id == *last_id {
            self.pending_gap = None;
            self.report.missed_in_gaps += count - self.expected;
            self.expected = *count;
            return true;
        }
        false
    }

    fn violation(&mut self, text: String) {
        if self.report.violations.len() < 10 {
            self.report.violations.push(text);
        }
    }

    fn on_event(&mut self, event_type: &str, data: &str, id: &str) {
        if event_type == tower_sse::GAP_EVENT_TYPE.as_str() {
            self.report.gaps += 1;
            self.pending_gap = Some(data.to_owned());
            self.last_id = id.to_owned();
            return;
        }
        if event_type != "message" {
            self.violation(format!("unexpected event type {event_type:?}"));
            return;
        }
        let Some(seq) = data.split(' ').next().and_then(|s| s.parse::<u64>().ok()) else {
            self.violation(format!("unparsable data {data:?}"));
            return;
        };
        if self.plan.numeric_ids {
            // Hub ids are `<epoch>.<offset>`; offsets increase within a topic.
            let offset = id.rsplit_once('.').map_or(id, |(_, offset)| offset);
            match offset.parse::<u64>() {
                Ok(n) if n > self.last_numeric_id => self.last_numeric_id = n,
                _ => self.violation(format!("id {id:?} not after {}", self.last_numeric_id)),
            }
        }
        if self.plan.republish_ok
            && self.pending_gap.is_none()
            && seq + 1 == self.expected
            && id != self.last_id
        {
            self.report.republished += 1;
            self.last_id = id.to_owned();
            return;
        }
        match self.pending_gap.take() {
            Some(reason) => {
                if seq < self.expected {
                    self.violation(format!(
                        "after a gap: seq {seq} < expected {}",
                        self.expected
                    ));
                }
                let missed = seq.saturating_sub(self.expected);
                self.report.missed_in_gaps += missed;
                if let (Some(history), "unknown-id") = (self.plan.history, reason.as_str()) {
                    if missed < history {
                        self.violation(format!(
                            "unknown-id gap although only {missed} events were missed (history {history})"
                        ));
                    }
                }
            }
            None if seq != self.expected => {
                self.violation(format!("seq {seq} where {} was expected", self.expected));
            }
            None => {}
        }
        self.expected = self.expected.max(seq + 1);
        self.last_id = id.to_owned();
        self.report.events += 1;
    }
}

/// Why a connection ended.
enum Ended {
    /// Reconnect after this delay.
    Reconnect(Duration),
    Done,
}

/// Runs one client until the drain completes; returns what it saw.
pub async fn run(plan: Plan, mut phase: watch::Receiver<Phase>) -> Report {
    let mut rng = Rng::new(plan.seed);
    let mut checker = Checker {
        plan: plan.clone(),
        report: Report::default(),
        expected: 0,
        last_id: "0".to_owned(),
        last_numeric_id: 0,
        pending_gap: None,
    };
    let mut storms_seen = 0;
    let mut drain_deadline: Option<Instant> = None;
    let mut first = true;
    // (resumed from, events, other items, last event at) of the latest connection.
    let mut conn_diag: (String, u64, u64, Option<Instant>) = (String::new(), 0, 0, None);
    loop {
        if let Phase::Drain(counts) = &*phase.borrow() {
            drain_deadline.get_or_insert(Instant::now() + plan.drain_timeout);
            if checker.caught_up(counts) {
                return checker.report;
            }
        }
        if drain_deadline.is_some_and(|d| Instant::now() > d) {
            let expected = checker.expected;
            let diag = format!(
                "drain timed out at seq {expected} (slow: {}, last id {}, {} connections, \
                 on the last one: resumed from {:?}, {} events and {} other items, last event {:?} before the end)",
                plan.slow,
                checker.last_id,
                checker.report.reconnects + 1,
                conn_diag.0,
                conn_diag.1,
                conn_diag.2,
                conn_diag.3.map(|t: Instant| t.elapsed()),
            );
            checker.violation(diag);
            return checker.report;
        }
        let addr = plan.servers[rng.below(plan.servers.len() as u64) as usize];
        let mut conn = match connect(addr, &plan.topic, &checker.last_id).await {
            Ok(conn) => conn,
            Err(_) => {
                checker.report.connect_failures += 1;
                tokio::time::sleep(rng.millis(200) + Duration::from_millis(20)).await;
                continue;
            }
        };
        conn_diag = (checker.last_id.clone(), 0, 0, conn_diag.3);
        if !first {
            checker.report.reconnects += 1;
        }
        first = false;
        let life = Duration::from_secs_f64(-plan.mean_life.as_secs_f64() * (1.0 - rng.unit()).ln());
        let mut disconnect_at = Instant::now() + life;
        let mut break_life = false;
        let ended = loop {
            let draining = matches!(&*phase.borrow(), Phase::Drain(_));
            let holding = matches!(&*phase.borrow(), Phase::Connect);
            tokio::select! {
                item = conn.reader.next() => match item {
                    Some(Ok(Item::Event(event))) => {
                        checker.on_event(&event.event_type, &event.data, &event.last_event_id);
                        conn_diag.1 += 1;
                        conn_diag.3 = Some(Instant::now());
                        if let Phase::Drain(counts) = &*phase.borrow() {
                            if checker.caught_up(counts) {
                                break Ended::Done;
                            }
                        }
                        if plan.slow && !draining {
                            let pause = if rng.below(200) == 0 { 3000 } else { 30 };
                            tokio::time::sleep(Duration::from_millis(pause)).await;
                        }
                    }
                    Some(Ok(_)) => conn_diag.2 += 1,
                    // The server ended the stream (or the connection broke):
                    // reconnect at once, like a browser.
                    Some(Err(_)) | None => {
                        checker.report.server_ends += 1;
                        break Ended::Reconnect(rng.millis(100));
                    }
                },
                () = tokio::time::sleep_until(disconnect_at), if !draining && !holding => {
                    break Ended::Reconnect(rng.millis(1000));
                }
                changed = phase.changed() => {
                    if changed.is_err() {
                        break Ended::Done;
                    }
                    let current = phase.borrow().clone();
                    match current {
                        Phase::Storm(n) if n != storms_seen => {
                            storms_seen = n;
                            // Everyone drops at once; most come back at
                            // once, some later, a tenth after the history
                            // has moved on.
                            let delay = match rng.below(10) {
                                0 => Duration::from_secs(8) + rng.millis(1000),
                                1 => rng.millis(2000),
                                _ => rng.millis(100),
                            };
                            break Ended::Reconnect(delay);
                        }
                        Phase::Drain(counts) => {
                            drain_deadline.get_or_insert(Instant::now() + plan.drain_timeout);
                            if checker.caught_up(&counts) {
                                break Ended::Done;
                            }
                        }
                        // Random disconnects start now.
                        Phase::Run if holding => {
                            break_life = true;
                        }
                        _ => {}
                    }
                    if break_life {
                        break_life = false;
                        disconnect_at = Instant::now() + life;
                    }
                }
                () = sleep_until_opt(drain_deadline) => {
                    break Ended::Reconnect(Duration::ZERO);
                }
            }
        };
        drop(conn);
        match ended {
            Ended::Done => {
                if let Phase::Drain(counts) = &*phase.borrow() {
                    let total = counts.get(&plan.topic).map_or(0, |f| f.0);
                    if checker.expected != total {
                        let expected = checker.expected;
                        checker.violation(format!("ended at seq {expected} of {total}"));
                    }
                }
                return checker.report;
            }
            Ended::Reconnect(delay) => tokio::time::sleep(delay).await,
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
