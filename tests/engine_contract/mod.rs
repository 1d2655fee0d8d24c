//! The contract every [`Engine`](tower_sse::engine::Engine) meets, seen
//! through a [`Hub`]: one suite, run unchanged on every engine
//! (`tests/engine_memory.rs`, and on a real `redis-server` by
//! `tests/engine_redis.rs`).
//!
//! Entry points: [`run_all`] (every async check, one after the other) or the
//! single checks, each taking a [`Hubs`] factory; [`epoch_rules`] is the
//! property test of the epoch rules (same epoch, older epoch, future offset,
//! garbage), run with a case count of the caller's choice.
//!
//! Every check uses topic names of its own (`<prefix>-<check>-<n>`), so
//! checks may share one backend.
#![allow(dead_code)] // each test binary uses the entry points it needs

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tower_sse::engine::Position;
use tower_sse::{EncodedEvent, EventId, Hub, PublishOptions, Subscription};

/// Makes hubs on the engine under test; hubs from one factory share storage
/// (two hubs stand for two servers where the engine is shared, or for one
/// process where it is not).
pub(crate) trait Hubs: Send + Sync {
    /// A hub on the engine under test.
    fn hub(&self) -> Hub;
    /// A prefix that makes topic names unique to this run.
    fn prefix(&self) -> String;
}

impl<F> Hubs for (F, String)
where
    F: Fn() -> Hub + Send + Sync,
{
    fn hub(&self) -> Hub {
        (self.0)()
    }
    fn prefix(&self) -> String {
        self.1.clone()
    }
}

/// Upper bound for anything that should happen soon; never reached when
/// the contract holds.
const SOON: Duration = Duration::from_secs(10);

fn topic(hubs: &dyn Hubs, check: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{check}-{}",
        hubs.prefix(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn wire(event: &EncodedEvent) -> String {
    String::from_utf8(event.as_bytes().to_vec()).unwrap()
}

fn ev(id: &EventId, data: &str) -> String {
    format!("id: {id}\ndata: {data}\n\n")
}

fn gap(id: &EventId, reason: &str) -> String {
    format!("event: sse-gap\nid: {id}\ndata: {reason}\n\n")
}

async fn next(sub: &mut Subscription) -> String {
    let event = tokio::time::timeout(SOON, sub.next())
        .await
        .expect("no event within 10 s")
        .expect("the subscription ended");
    wire(&event)
}

async fn publish_n(hub: &Hub, topic: &str, n: usize) -> Vec<EventId> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(hub.publish(topic, format!("e{i}")).await.unwrap());
    }
    ids
}

/// Every check, in turn.
pub(crate) async fn run_all(hubs: &dyn Hubs) {
    ids_name_their_epoch_are_short_and_ordered(hubs).await;
    subscribe_then_publish_delivers_live(hubs).await;
    same_epoch_resumes_exactly_then_live(hubs).await;
    zero_replays_the_whole_history(hubs).await;
    another_epoch_gets_a_reset_gap_then_live(hubs).await;
    a_future_offset_gets_an_unknown_id_gap(hubs).await;
    garbage_gets_an_unknown_id_gap(hubs).await;
    a_long_replay_is_paged_without_loss_or_duplicates(hubs).await;
    a_retry_with_the_same_key_stores_once(hubs).await;
}

/// Ids are `<epoch>.<offset>`, under 128 bytes, increasing offsets in one epoch.
pub(crate) async fn ids_name_their_epoch_are_short_and_ordered(hubs: &dyn Hubs) {
    let hub = hubs.hub();
    let topic = topic(hubs, "ids");
    let ids = publish_n(&hub, &topic, 5).await;
    let positions: Vec<Position> = ids
        .iter()
        .map(|id| id.as_str().parse().unwrap_or_else(|e| panic!("{id}: {e}")))
        .collect();
    for id in &ids {
        assert!(id.as_str().len() < 128, "{id}");
    }
    for pair in positions.windows(2) {
        assert_eq!(pair[0].epoch(), pair[1].epoch());
        assert!(pair[0].offset() < pair[1].offset(), "{pair:?}");
    }
}

/// A subscription made before a publish receives it.
pub(crate) async fn subscribe_then_publish_delivers_live(hubs: &dyn Hubs) {
    let hub = hubs.hub();
    let topic = topic(hubs, "live");
    let mut sub = hub.subscribe(&topic).unwrap();
    let id = hub.publish(&topic, "first").await.unwrap();
    assert_eq!(next(&mut sub).await, ev(&id, "first"));
}

/// An id of the current epoch replays exactly what followed, then live.
pub(crate) async fn same_epoch_resumes_exactly_then_live(hubs: &dyn Hubs) {
    let hub = hubs.hub();
    let topic = topic(hubs, "resume");
    let ids = publish_n(&hub, &topic, 4).await;
    let mut sub = hub.subscribe_from(&topic, Some(ids[1].as_str())).unwrap();
    assert_eq!(next(&mut sub).await, ev(&ids[2], "e2"));
    assert_eq!(next(&mut sub).await, ev(&ids[3], "e3"));
    let live = hub.publish(&topic, "live").await.unwrap();
    assert_eq!(next(&mut sub).await, ev(&live, "live"));
    // The newest id resumes with nothing replayed.
    let mut sub = hub.subscribe_from(&topic, Some(live.as_str())).unwrap();
    let after = hub.publish(&topic, "after").await.unwrap();
    assert_eq!(next(&mut sub).await, ev(&after, "after"));
}

/// `0` replays the whole (complete) history.
pub(crate) async fn zero_replays_the_whole_history(hubs: &dyn Hubs) {
    let hub = hubs.hub();
    let topic = topic(hubs, "zero");
    let ids = publish_n(&hub, &topic, 3).await;
    let mut sub = hub.subscribe_from(&topic, Some("0")).unwrap();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(next(&mut sub).await, ev(id, &format!("e{i}")));
    }
}

/// An id of another epoch: `reset` gap with the newest id, then live.
pub(crate) async fn another_epoch_gets_a_reset_gap_then_live(hubs: &dyn Hubs) {
    let hub = hubs.hub();
    let topic = topic(hubs, "reset");
    let ids = publish_n(&hub, &topic, 3).await;
    let mut sub = hub.subscribe_from(&topic, Some("otherepoch.2")).unwrap();
    assert_eq!(next(&mut sub).await, gap(&ids[2], "reset"));
    let live = hub.publish(&topic, "live").await.unwrap();
    assert_eq!(next(&mut sub).await, ev(&live, "live"));
}

/// An offset the epoch never issued: `unknown-id` gap, never a silent skip.
pub(crate) async fn a_future_offset_gets_an_unknown_id_gap(hubs: &dyn Hubs) {
    let hub = hubs.hub();
    let topic = topic(hubs, "future");
    let ids = publish_n(&hub, &topic, 2).await;
    let newest: Position = ids[1].as_str().parse().unwrap();
    let future = Position::new(newest.epoch(), newest.offset().next().next());
    let mut sub = hub
        .subscribe_from(&topic, Some(future.to_string()))
        .unwrap();
    assert_eq!(next(&mut sub).await, gap(&ids[1], "unknown-id"));
    let live = hub.publish(&topic, "live").await.unwrap();
    assert_eq!(next(&mut sub).await, ev(&live, "live"));
}

/// Ids the hub cannot read: `unknown-id` gap.
pub(crate) async fn garbage_gets_an_unknown_id_gap(hubs: &dyn Hubs) {
    let hub = hubs.hub();
    let topic = topic(hubs, "garbage");
    let ids = publish_n(&hub, &topic, 1).await;
    for garbage in ["garbage", "x.y", "a.b.c", "é.1", ".1", "e."] {
        let mut sub = hub.subscribe_from(&topic, Some(garbage)).unwrap();
        assert_eq!(
            next(&mut sub).await,
            gap(&ids[0], "unknown-id"),
            "{garbage}"
        );
    }
}

/// A replay longer than a page arrives whole, in order, then live.
pub(crate) async fn a_long_replay_is_paged_without_loss_or_duplicates(hubs: &dyn Hubs) {
    let hub = hubs.hub();
    let topic = topic(hubs, "paged");
    let ids = publish_n(&hub, &topic, 700).await;
    let mut sub = hub.subscribe_from(&topic, Some(ids[0].as_str())).unwrap();
    for (i, id) in ids.iter().enumerate().skip(1) {
        assert_eq!(next(&mut sub).await, ev(id, &format!("e{i}")));
    }
    let live = hub.publish(&topic, "live").await.unwrap();
    assert_eq!(next(&mut sub).await, ev(&live, "live"));
}

/// A retried publish with the same key returns the first id; subscribers
/// see the event once.
pub(crate) async fn a_retry_with_the_same_key_stores_once(hubs: &dyn Hubs) {
    let hub = hubs.hub();
    let topic = topic(hubs, "idempotent");
    let mut sub = hub.subscribe(&topic).unwrap();
    let options = || {
        PublishOptions::new()
            .try_idempotency_key("retry-1")
            .unwrap()
    };
    let first = hub.publish_with(&topic, "once", options()).await.unwrap();
    let retry = hub.publish_with(&topic, "once", options()).await.unwrap();
    assert!(!first.is_duplicate());
    assert!(retry.is_duplicate());
    assert_eq!(retry.id(), first.id());
    let marker = hub.publish(&topic, "marker").await.unwrap();
    assert_eq!(next(&mut sub).await, ev(first.id(), "once"));
    assert_eq!(next(&mut sub).await, ev(&marker, "marker"));
}

/// What a resume id in the property test is.
#[derive(Debug, Clone)]
pub(crate) enum Resume {
    /// The id of the `k`-th published event (same epoch).
    Published(usize),
    /// An id of another epoch with this offset.
    OtherEpoch(u64),
    /// An offset this many past the newest, same epoch.
    Future(u64),
    /// Text that is not an id.
    Garbage(String),
}

/// The epoch rules as a property: after publishing `n` events, resuming with
/// `resume` yields exactly the events after it (same epoch), a `reset` gap
/// (another epoch) or an `unknown-id` gap (future, garbage), and then the
/// next live event. The history must hold `n` events.
pub(crate) async fn epoch_rules(hubs: &dyn Hubs, n: usize, resume: Resume) {
    let hub = hubs.hub();
    let topic = topic(hubs, "prop");
    let ids = publish_n(&hub, &topic, n).await;
    let newest: Position = ids[n - 1].as_str().parse().unwrap();
    let (last_id, expected): (String, Vec<String>) = match resume {
        Resume::Published(k) => {
            let k = k % n;
            let rest = ids[k + 1..]
                .iter()
                .enumerate()
                .map(|(i, id)| ev(id, &format!("e{}", k + 1 + i)))
                .collect();
            (ids[k].to_string(), rest)
        }
        Resume::OtherEpoch(offset) => {
            let mut other = format!("{}x", newest.epoch());
            other.truncate(16);
            if other == newest.epoch().as_str() {
                other.replace_range(..1, if other.starts_with('z') { "y" } else { "z" });
            }
            (format!("{other}.{offset}"), vec![gap(&ids[n - 1], "reset")])
        }
        Resume::Future(ahead) => {
            let mut offset = newest.offset();
            for _ in 0..=ahead.min(1000) {
                offset = offset.next();
            }
            let future = Position::new(newest.epoch(), offset);
            (future.to_string(), vec![gap(&ids[n - 1], "unknown-id")])
        }
        Resume::Garbage(text) => {
            let is_zero = text == "0";
            let parses = text.parse::<Position>().is_ok();
            if text.is_empty() || is_zero || parses || text.contains(['\0', '\r', '\n']) {
                return;
            }
            (text, vec![gap(&ids[n - 1], "unknown-id")])
        }
    };
    let mut sub = hub.subscribe_from(&topic, Some(&last_id)).unwrap();
    for want in &expected {
        assert_eq!(&next(&mut sub).await, want, "Last-Event-ID: {last_id}");
    }
    let live = hub.publish(&topic, "live").await.unwrap();
    assert_eq!(
        next(&mut sub).await,
        ev(&live, "live"),
        "Last-Event-ID: {last_id}"
    );
}
