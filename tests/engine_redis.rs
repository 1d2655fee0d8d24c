//! The engine contract suite (`tests/engine_contract/`) on the Redis Streams
//! engine, against a real `redis-server` started by the test. Every hub the
//! suite asks for is a new `Hub` on the same Redis: two hubs are two servers.
#![cfg(feature = "redis")]

mod engine_contract;
#[path = "support/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use engine_contract::{Hubs, Resume};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use redis_server::RedisServer;
use tower_sse::redis::RedisConfig;
use tower_sse::HubConfig;

fn hubs(server: &RedisServer, prefix: &str) -> impl Hubs {
    let config = RedisConfig::new(server.url())
        .unwrap()
        .key_prefix("contract:")
        .block_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_millis(1000));
    (
        move || HubConfig::new().history(2000).redis(config.clone()).build(),
        prefix.to_owned(),
    )
}

pub(crate) fn resume() -> impl Strategy<Value = Resume> {
    prop_oneof![
        any::<usize>().prop_map(Resume::Published),
        any::<u64>().prop_map(Resume::OtherEpoch),
        (0_u64..100).prop_map(Resume::Future),
        "[ -~]{1,40}".prop_map(Resume::Garbage),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_engine_meets_the_engine_contract() {
    let server = RedisServer::start();
    engine_contract::run_all(&hubs(&server, "redis")).await;
}

#[test]
fn the_epoch_rules_hold_for_every_kind_of_resume_id_on_redis() {
    let server = RedisServer::start();
    let hubs = hubs(&server, "redis-prop");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The server lives for the whole run, so the runner is driven here.
    let mut runner = TestRunner::new(Config {
        cases: 32,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(1_usize..40, resume()), |(n, resume)| {
            runtime.block_on(engine_contract::epoch_rules(&hubs, n, resume));
            Ok(())
        })
        .unwrap();
}
