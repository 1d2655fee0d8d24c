//! Multi-topic subscriptions on the Redis engine, on a real `redis-server`
//! and a real Redis Cluster started by the tests: a topic that is still
//! empty when a cursor is taken resumes exactly after its first publish on
//! another server; the epochs kept for empty topics are bounded by an
//! expiry; the checkpoint store works on a cluster.
#![cfg(feature = "redis")]

#[path = "support/redis_cluster.rs"]
mod redis_cluster;
#[path = "support/redis_server.rs"]
mod redis_server;
#[path = "support/wait.rs"]
mod wait;

use std::time::Duration;

use futures_util::StreamExt;
use redis_cluster::RedisCluster;
use redis_server::RedisServer;
use tower_sse::multi::{CursorKey, MultiRequest, MultiSubscription, Multiplexer, RedisCheckpoints};
use tower_sse::redis::RedisConfig;
use tower_sse::HubConfig;

const SOON: Duration = Duration::from_secs(10);
const KEY: CursorKey = CursorKey::new(*b"shared-by-both!!");

/// One "server": its own hub and multiplexer on the shared Redis.
fn server(config: &RedisConfig, checkpoints: RedisCheckpoints) -> Multiplexer {
    let hub = HubConfig::new().redis(config.clone()).build();
    Multiplexer::new(hub).key(KEY).checkpoints(checkpoints)
}

fn single(redis: &RedisServer, prefix: &str) -> RedisConfig {
    RedisConfig::new(redis.url())
        .unwrap()
        .key_prefix(prefix)
        .block_timeout(Duration::from_millis(500))
}

/// The next event: `(topic, data)`, `None` for the stream's own events;
/// records the cursor.
async fn next(stream: &mut MultiSubscription, cursor: &mut String) -> (Option<String>, String) {
    let event = tokio::time::timeout(SOON, stream.next())
        .await
        .expect("an event in time")
        .expect("the stream goes on");
    if !event.cursor().is_empty() {
        *cursor = event.cursor();
    }
    let wire = String::from_utf8(event.to_bytes().to_vec()).unwrap();
    let data = wire
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect::<Vec<_>>()
        .join("\n");
    (event.topic().map(str::to_owned), data)
}

/// Resumes `topics` on `multi` from `cursor`: the stream and its first `n`
/// topic events, sorted, as `topic:data`.
async fn resume<T: Into<String>>(
    multi: &Multiplexer,
    topics: impl IntoIterator<Item = T>,
    cursor: &mut String,
    n: usize,
) -> (MultiSubscription, Vec<String>) {
    let request = MultiRequest::new(topics).last_event_id(Some(cursor.clone()));
    let mut stream = multi.subscribe(request).await.unwrap();
    let mut got = Vec::new();
    while got.len() < n {
        if let (Some(topic), data) = next(&mut stream, cursor).await {
            got.push(format!("{topic}:{data}"));
        }
    }
    got.sort();
    (stream, got)
}

/// Nothing more arrives within a short while.
async fn quiet(stream: &mut MultiSubscription) {
    let extra = tokio::time::timeout(Duration::from_millis(300), stream.next()).await;
    assert!(extra.is_err(), "an extra event: {extra:?}");
}

/// The scenario of both tests: four topics, `b`, `c` and `d` never
/// published to when the cursor is taken on server one; they get their
/// first events while the client is away; it resumes on server two and
/// gets exactly the missed events, no gap.
async fn empty_topics_resume_exactly(one: &Multiplexer, two: &Multiplexer) {
    let topics = ["a", "b", "c", "d"];
    one.hub().publish("a", "a0").await.unwrap();
    let mut stream = one.subscribe(MultiRequest::new(topics)).await.unwrap();
    let mut cursor = String::new();
    assert_eq!(next(&mut stream, &mut cursor).await.0, None, "priming");
    one.hub().publish("a", "a1").await.unwrap();
    assert_eq!(
        next(&mut stream, &mut cursor).await,
        (Some("a".into()), "a1".into())
    );
    drop(stream);

    // While the client is away, the empty topics get their first events.
    one.hub().publish("b", "b0").await.unwrap();
    one.hub().publish("c", "c0").await.unwrap();
    one.hub().publish("b", "b1").await.unwrap();
    two.hub().publish("a", "a2").await.unwrap();

    let (mut stream, got) = resume(two, topics, &mut cursor, 4).await;
    assert_eq!(got, ["a:a2", "b:b0", "b:b1", "c:c0"], "no gap, no loss");
    quiet(&mut stream).await;

    // And live from there, `d` included, on the second server.
    two.hub().publish("d", "d0").await.unwrap();
    assert_eq!(
        next(&mut stream, &mut cursor).await,
        (Some("d".into()), "d0".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_topic_resumes_exactly_after_its_first_publish_on_another_server() {
    let redis = RedisServer::start();
    let config = single(&redis, "empty:");
    let checkpoints = || RedisCheckpoints::new(&redis.url()).unwrap();
    let one = server(&config, checkpoints());
    let two = server(&config, checkpoints());
    empty_topics_resume_exactly(&one, &two).await;
}

async fn raw(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_topics_epoch_expires_and_its_first_publish_keeps_it() {
    let redis = RedisServer::start();
    let config = single(&redis, "ep:").empty_epoch_ttl(Duration::from_secs(60));
    let hub = HubConfig::new().redis(config).build();
    let mut conn = raw(&redis).await;
    let pttl = |key: &'static str| redis::cmd("PTTL").arg(key).to_owned();

    let epoch = hub.engine().epoch("t").await.unwrap();
    assert_eq!(hub.engine().epoch("t").await.unwrap(), epoch, "stable");
    let ttl: i64 = pttl("ep:{t}:epoch").query_async(&mut conn).await.unwrap();
    assert!((1..=60_000).contains(&ttl), "kept with an expiry: {ttl}");

    let first = hub.publish("t", "x").await.unwrap();
    assert!(first.as_str().starts_with(&format!("{epoch}.")), "{first}");
    let ttl: i64 = pttl("ep:{t}:epoch").query_async(&mut conn).await.unwrap();
    assert_eq!(ttl, -1, "the first publish made it permanent");

    // A stream lost after it had events is still a new history.
    let _: () = redis::cmd("DEL")
        .arg("ep:{t}")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(hub.engine().epoch("t").await.unwrap(), epoch);
    let after_loss = hub.publish("t", "y").await.unwrap();
    assert!(
        !after_loss.as_str().starts_with(&format!("{epoch}.")),
        "a new epoch after the loss: {after_loss}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_to_many_empty_topics_leaves_only_keys_that_expire() {
    let redis = RedisServer::start();
    let config = single(&redis, "flood:").empty_epoch_ttl(Duration::from_secs(2));
    let multi = server(
        &config,
        RedisCheckpoints::new(&redis.url())
            .unwrap()
            .key_prefix("flood-cp:")
            .ttl(Duration::from_secs(1)),
    );
    let mut conn = raw(&redis).await;
    for round in 0..10 {
        let topics: Vec<String> = (0..64).map(|i| format!("r{round}-{i}")).collect();
        let mut stream = multi.subscribe(MultiRequest::new(topics)).await.unwrap();
        let mut cursor = String::new();
        assert_eq!(next(&mut stream, &mut cursor).await.0, None);
    }
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("flood:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    // At most one epoch key per empty topic (the first rounds' may have
    // expired already), nothing else.
    assert!(!keys.is_empty() && keys.len() <= 640, "{}", keys.len());
    for key in &keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(key.ends_with(":epoch"), "{key}");
        assert!((0..=2000).contains(&ttl), "{key} expires: {ttl}");
    }
    multi.hub().close();
    wait::until_true("the empty topics' epochs expired", || {
        let mut conn = redis::Client::open(redis.url())
            .unwrap()
            .get_connection()
            .unwrap();
        let left: Vec<String> = redis::cmd("KEYS").arg("flood:*").query(&mut conn).unwrap();
        left.is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_with_checkpoints_resumes_exactly_on_another_server_of_a_cluster() {
    let cluster = RedisCluster::start();
    let config = RedisConfig::cluster(cluster.urls())
        .unwrap()
        .key_prefix("mcl:")
        .block_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(1000))
        .response_timeout(Duration::from_millis(2000));
    let checkpoints = || RedisCheckpoints::from_config(&config).key_prefix("mcl-cp:");
    let one = server(&config, checkpoints());
    let two = server(&config, checkpoints());
    empty_topics_resume_exactly(&one, &two).await;

    // Many checkpoints (one per topic move past the delta budget), spread
    // over every shard, each read back by the other server.
    let topics: Vec<String> = (0..64).map(|i| format!("busy-{i}")).collect();
    let mut stream = one
        .subscribe(MultiRequest::new(topics.clone()))
        .await
        .unwrap();
    let mut cursor = String::new();
    next(&mut stream, &mut cursor).await;
    for (n, topic) in topics.iter().enumerate() {
        one.hub().publish(topic, format!("{n}")).await.unwrap();
        next(&mut stream, &mut cursor).await;
    }
    drop(stream);
    for topic in &topics[..8] {
        one.hub().publish(topic, "later").await.unwrap();
    }
    let (mut stream, got) = resume(&two, topics.clone(), &mut cursor, 8).await;
    let mut want: Vec<String> = topics[..8].iter().map(|t| format!("{t}:later")).collect();
    want.sort();
    assert_eq!(got, want);
    quiet(&mut stream).await;
}
