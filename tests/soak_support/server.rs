//! The server half of the soak tests, run in its own process (the test
//! binary re-executed with `--soak-server`), so that its RSS and task count are
//! its own.
//!
//! Routes:
//! - `GET /events/{topic}`: the hub's stream, behind [`SseLayer`];
//! - `GET /metrics`: `name value` lines (open streams, subscribers, topics,
//!   alive tokio tasks, RSS and peak RSS in KiB, streams opened);
//! - `POST /control/start`: starts one publisher per topic at a steady rate;
//! - `POST /control/stop`: stops them and answers `topic count last-id` lines, the
//!   number of events each topic received and the id of the last one (data `"<seq> <padding>"`,
//!   seq from 0).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::routing::{get, post};
use axum::Router;
use tokio::task::JoinHandle;
use tower_sse::{EventStream, Hub, LastEventId, SseLayer, SseMetrics, Subscription};

/// How a server is configured, from the command line.
#[derive(Debug, Clone)]
pub struct ServerArgs {
    pub topics: Vec<String>,
    /// Events per second per topic.
    pub rate: u32,
    /// Whether this instance runs the publishers.
    pub publish: bool,
}

impl ServerArgs {
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--soak-server".into(),
            self.topics.join(","),
            self.rate.to_string(),
            self.publish.to_string(),
        ]
    }

    pub fn from_args(args: &[String]) -> Self {
        Self {
            topics: args[0].split(',').map(str::to_owned).collect(),
            rate: args[1].parse().unwrap(),
            publish: args[2].parse().unwrap(),
        }
    }
}

#[derive(Clone)]
struct App {
    hub: Hub,
    metrics: SseMetrics,
    args: ServerArgs,
    publishers: Arc<Mutex<Publishers>>,
}

#[derive(Default)]
struct Publishers {
    stop: Option<tokio::sync::watch::Sender<bool>>,
    tasks: Vec<(String, JoinHandle<(u64, String)>)>,
}

async fn events(
    State(app): State<App>,
    Path(topic): Path<String>,
    req: Request,
) -> Result<EventStream<Subscription>, (http::StatusCode, String)> {
    let last_id = LastEventId::from_request(&req);
    match app.hub.subscribe_from(&topic, last_id) {
        Ok(subscription) => Ok(EventStream::new(subscription)),
        Err(e) => Err((http::StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

/// `(VmRSS, VmHWM)` of this process in KiB.
pub fn rss_kib() -> (u64, u64) {
    use super::rss::status_kib;
    (status_kib("VmRSS:"), status_kib("VmHWM:"))
}

async fn metrics(State(app): State<App>) -> String {
    let (rss, hwm) = rss_kib();
    let topics = app.hub.topics();
    let subscribers: usize = topics.iter().map(|t| app.hub.subscribers(t)).sum();
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let s = app.metrics.snapshot();
    format!(
        "open_streams {}\nsubscribers {subscribers}\ntopics {}\ntasks {tasks}\nrss_kib {rss}\nhwm_kib {hwm}\nopened {}\nrejected {}\nevents {}\n",
        s.open_streams,
        topics.len(),
        s.opened,
        s.rejected,
        s.events,
    )
}

async fn start(State(app): State<App>) -> &'static str {
    let mut publishers = app.publishers.lock().unwrap();
    if publishers.stop.is_some() || !app.args.publish {
        return "ignored\n";
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    publishers.stop = Some(stop_tx);
    let padding = "p".repeat(96);
    for topic in &app.args.topics {
        let hub = app.hub.clone();
        let topic_name = topic.clone();
        let mut stop = stop_rx.clone();
        let padding = padding.clone();
        let period = Duration::from_secs(1) / app.args.rate.max(1);
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut seq = 0_u64;
            let mut last_id = String::new();
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stop.changed() => return (seq, last_id),
                }
                let data = format!("{seq} {padding}");
                if let Some(id) = crate::soak_support::publish(&hub, &topic_name, data).await {
                    seq += 1;
                    last_id = id;
                }
            }
        });
        publishers.tasks.push((topic.clone(), task));
    }
    "started\n"
}

async fn stop(State(app): State<App>) -> String {
    let (stop, tasks) = {
        let mut publishers = app.publishers.lock().unwrap();
        (
            publishers.stop.take(),
            std::mem::take(&mut publishers.tasks),
        )
    };
    if let Some(stop) = stop {
        let _ = stop.send(true);
    }
    let mut counts = BTreeMap::new();
    for (topic, task) in tasks {
        counts.insert(topic, task.await.unwrap());
    }
    let mut out = String::new();
    for (topic, (count, last_id)) in counts {
        let _ = writeln!(out, "{topic} {count} {last_id}");
    }
    out
}

/// Runs the server until the process is killed: prints `port <n>` on stdout
/// once it listens.
pub fn run(args: &[String], hub: Hub) {
    let args = ServerArgs::from_args(args);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let layer = SseLayer::new().keep_alive_interval(Duration::from_secs(5));
        let app = App {
            hub,
            metrics: layer.metrics(),
            args,
            publishers: Arc::default(),
        };
        let router = Router::new()
            .route("/events/{topic}", get(events).layer(layer))
            .route("/metrics", get(metrics))
            .route("/control/start", post(start))
            .route("/control/stop", post(stop))
            .with_state(app);
        // A deep accept queue: the disconnect storm reconnects everyone at once.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(4096).unwrap();
        println!("port {}", listener.local_addr().unwrap().port());
        axum::serve(listener, router).await.unwrap();
    });
}
