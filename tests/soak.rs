//! Soak test with disconnect storms: 2,000 concurrent event streams over
//! loopback to a server in its own process (this binary re-executed with
//! `--soak-server`), 4 topics with a publisher each at 20 events/s, clients
//! disconnecting at random and reconnecting with `Last-Event-ID`, a storm where
//! every client drops at once (a tenth of them staying away longer than the
//! history covers), and slow readers.
//!
//! Every client checks that it saw every event of its topic exactly once and
//! in order, or a gap event where the history ran out (and only then). At the
//! end the server's open-stream gauge, subscriber counts and live tokio tasks
//! return to their baseline, and its peak RSS stays under the bound.
//!
//! `SOAK_SECS` (default 60; runs much shorter than that end before the
//! storm's late clients outlast the history, and the gap check fails) sets how
//! long publishers run; `SOAK_CLIENTS`
//! (default 2000) the number of streams. A custom harness (`harness = false`):
//! it takes no libtest options except a name filter.

use std::time::Duration;

mod soak_support;

use soak_support::server::ServerArgs;
use soak_support::{ensure_open_files, env_or, run, Invocation, ServerProcess, Soak};
use tower_sse::HubConfig;

const NAME: &str = "soak_2000_streams_with_disconnect_storms";
const HISTORY: usize = 128;
const RATE: u32 = 20;

fn main() {
    match soak_support::invocation(NAME) {
        Invocation::Server(args) => {
            let hub = HubConfig::new().history(HISTORY).buffer(256).build();
            soak_support::server::run(&args, hub);
            return;
        }
        Invocation::Nothing => return,
        Invocation::Test => {}
    }
    let clients = env_or("SOAK_CLIENTS", 2000) as usize;
    ensure_open_files(2 * clients as u64 + 2048);
    let topics: Vec<String> = (0..4).map(|n| format!("topic-{n}")).collect();
    let server = ServerProcess::spawn(
        &ServerArgs {
            topics: topics.clone(),
            rate: RATE,
            publish: true,
        }
        .to_args(),
        &[],
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let soak = Soak {
        name: NAME,
        clients,
        topics,
        duration: Duration::from_secs(env_or("SOAK_SECS", 60)),
        servers: vec![server.addr],
        slow_fraction: 0.05,
        mean_life: Duration::from_secs(20),
        history: Some(HISTORY as u64),
        republish_ok: false,
        numeric_ids: true,
        background_tasks: 0,
        rss_bound_kib: 160 * 1024,
        expect_gaps: true,
    };
    let summary = runtime.block_on(run(soak, async {}));
    drop(server);
    println!("test {NAME} ... ok ({:?})", summary.elapsed);
    println!("\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out");
}
