//! The soak test on the Redis backend: two server processes, each with its
//! own `Hub` on one real `redis-server`, 500 streams spread over both (every
//! reconnection picks a server at random, so replay crosses servers), one
//! publisher per topic on the first server, random disconnects, a storm, slow
//! readers, and Redis killed (SIGKILL) and restarted once a third of the way
//! in.
//!
//! Every client checks that it saw every event of its topic exactly once and
//! in order, or a gap event first; while Redis is down the publisher retries
//! the same event, with the same idempotency key, until Redis takes it: an
//! event whose `XADD` Redis stored before the kill but never acknowledged
//! is not stored (nor delivered) twice, and the test asserts that no client
//! saw an event twice. At the end both servers' gauges,
//! subscriber counts and tasks return to their baseline, and peak RSS stays
//! under the bound.
//!
//! `SOAK_REDIS_SECS` (default 30) and `SOAK_REDIS_CLIENTS` (default 500).
//! A custom harness (`harness = false`), like `tests/soak.rs`.

use std::time::Duration;

#[path = "support/redis_server.rs"]
mod redis_server;
mod soak_support;

use redis_server::RedisServer;
use soak_support::server::ServerArgs;
use soak_support::{ensure_open_files, env_or, run, Invocation, ServerProcess, Soak};
use tower_sse::redis::RedisConfig;
use tower_sse::HubConfig;

const NAME: &str = "soak_redis_two_servers_with_a_redis_restart";
const HISTORY: usize = 256;
const RATE: u32 = 20;

fn main() {
    match soak_support::invocation(NAME) {
        Invocation::Server(args) => {
            let url = std::env::var("SOAK_REDIS_URL").expect("SOAK_REDIS_URL");
            let redis = RedisConfig::new(url)
                .expect("a valid redis url")
                .key_prefix("soak:")
                .backoff(Duration::from_millis(50), Duration::from_millis(500));
            let hub = HubConfig::new()
                .history(HISTORY)
                .buffer(256)
                .redis(redis)
                .build();
            soak_support::server::run(&args, hub);
            return;
        }
        Invocation::Nothing => return,
        Invocation::Test => {}
    }
    let clients = env_or("SOAK_REDIS_CLIENTS", 500) as usize;
    ensure_open_files(2 * clients as u64 + 2048);
    let mut redis = RedisServer::start();
    let topics: Vec<String> = (0..4).map(|n| format!("topic-{n}")).collect();
    let env = [("SOAK_REDIS_URL", redis.url())];
    let servers: Vec<ServerProcess> = [true, false]
        .into_iter()
        .map(|publish| {
            let args = ServerArgs {
                topics: topics.clone(),
                rate: RATE,
                publish,
            };
            ServerProcess::spawn(&args.to_args(), &env)
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let soak = Soak {
        name: NAME,
        clients,
        topics,
        duration: Duration::from_secs(env_or("SOAK_REDIS_SECS", 30)),
        servers: servers.iter().map(|s| s.addr).collect(),
        slow_fraction: 0.05,
        mean_life: Duration::from_secs(10),
        // Redis trims with `MAXLEN ~`: no exact history length to check.
        history: None,
        republish_ok: true,
        numeric_ids: false,
        // The hub's shared Redis connection (a `ConnectionManager`): its
        // driver and reconnect tasks live as long as the hub.
        background_tasks: 2,
        rss_bound_kib: 128 * 1024,
        // Redis keeps ~256 events per topic, more than the storm's 9 s.
        expect_gaps: false,
    };
    let restart = async {
        eprintln!("[{NAME}] killing and restarting redis-server");
        tokio::task::block_in_place(|| redis.restart());
        eprintln!("[{NAME}] redis-server is back");
    };
    let summary = runtime.block_on(run(soak, restart));
    drop(servers);
    assert_eq!(
        summary.republished, 0,
        "an event was delivered twice although publishers retry with idempotency keys"
    );
    eprintln!(
        "[{NAME}] {} events published, delivered twice: {}",
        summary.published, summary.republished
    );
    println!("test {NAME} ... ok ({:?})", summary.elapsed);
    println!("\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
}
