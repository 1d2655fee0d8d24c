//! The Redis Streams source of a [`Hub`](super::Hub) (feature `redis`): the
//! other side of the seam described in the module docs.
//!
//! - Publishing is `XADD` through one shared, lazily made connection.
//! - A topic with local subscribers has a [`Follow`]: a task that finds the
//!   stream's current last id (the *position*), then runs a
//!   [`TopicReader`](crate::redis::TopicReader) from there whose callback
//!   hands each entry, encoded once, to the topic's [`Fanout`](super::fanout::Fanout).
//! - A resume (`Last-Event-ID`) waits until the topic is positioned, then
//!   reads the stream after that id. The replay therefore reaches at least
//!   the position live delivery starts from, and the subscription drops live
//!   events at or before the last replayed one: no hole and no duplicate.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{watch, OnceCell};
use tokio::task::JoinHandle;

use super::fanout::Seq;
use super::gap::{gap_event, GapReason};
use super::history::Replay;
use super::hub::{HubInner, TopicKey};
use super::topic::Topic;
use crate::error::Error;
use crate::event::Event;
use crate::field::EventId;
use crate::redis::{Backoff, Delivery, RedisConfig, RedisStreams, StoredEvent, StreamId};

/// The fan-out position of a stream id: `(ms << 64) | seq`, order-preserving
/// and without collisions.
pub(crate) fn seq_of(id: StreamId) -> Seq {
    (Seq::from(id.millis()) << 64) | Seq::from(id.seq())
}

/// Where a topic's reader starts, once known.
pub(crate) type Position = watch::Receiver<Option<StreamId>>;

/// A hub's connection to Redis, made on first use.
#[derive(Debug)]
pub(crate) struct RedisSource {
    config: RedisConfig,
    streams: OnceCell<RedisStreams>,
}

impl RedisSource {
    pub(crate) fn new(config: RedisConfig) -> Self {
        Self {
            config,
            streams: OnceCell::new(),
        }
    }

    /// The shared connection; a failed attempt is retried by the next call.
    pub(crate) async fn streams(&self) -> Result<&RedisStreams, Error> {
        self.streams
            .get_or_try_init(|| RedisStreams::connect(self.config.clone()))
            .await
    }

    /// How long anything may wait for Redis before giving up.
    pub(crate) fn patience(&self) -> Duration {
        self.config.connect_timeout + self.config.response_timeout
    }

    pub(crate) async fn publish(&self, topic: &str, event: &Event) -> Result<EventId, Error> {
        let id = self.streams().await?.publish(topic, event).await?;
        Ok(id.to_event_id())
    }
}

/// This server following one topic: the task and the position it reached.
#[derive(Debug)]
pub(crate) struct Follow {
    task: JoinHandle<()>,
    position: Position,
}

impl Follow {
    /// Starts following `key` on the current tokio runtime; `None` (logged)
    /// outside of one.
    pub(crate) fn start(
        source: &Arc<RedisSource>,
        hub: Weak<HubInner>,
        key: TopicKey,
        topic: Weak<Topic>,
    ) -> Option<Self> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(
                topic = &*key,
                "subscribing to a Redis hub needs a tokio runtime"
            );
            return None;
        };
        let (positioned, position) = watch::channel(None);
        let task = runtime.spawn(follow(Arc::clone(source), hub, key, topic, positioned));
        Some(Self { task, position })
    }

    pub(crate) fn position(&self) -> Position {
        self.position.clone()
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        // Dropping the task's future drops its `TopicReader`, which stops it.
        self.task.abort();
    }
}

async fn follow(
    source: Arc<RedisSource>,
    hub: Weak<HubInner>,
    key: TopicKey,
    topic: Weak<Topic>,
    positioned: watch::Sender<Option<StreamId>>,
) {
    let config = &source.config;
    let mut backoff = Backoff::new(config.backoff_min, config.backoff_max);
    let (streams, start) = loop {
        let attempt = async {
            let streams = source.streams().await?;
            Ok::<_, Error>((streams, streams.last_id(&key).await?))
        };
        match attempt.await {
            Ok(found) => break found,
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(topic = &*key, %error, ?delay, "cannot follow the topic yet; retrying");
                tokio::time::sleep(delay).await;
            }
        }
    };
    let mut gap_after = None;
    let callback_key = Arc::clone(&key);
    let _reader = streams.spawn_reader(&key, start, move |delivery| {
        let Some(topic) = topic.upgrade() else {
            return std::ops::ControlFlow::Break(());
        };
        match delivery {
            Delivery::Gap { after } => {
                gap_after.get_or_insert(after);
                std::ops::ControlFlow::Continue(())
            }
            Delivery::Events(events) => {
                deliver(&hub, &callback_key, &topic, gap_after.take(), events)
            }
        }
    });
    positioned.send_replace(Some(start));
    // Keep the reader (and the position) alive until the follow is dropped.
    std::future::pending::<()>().await;
}

/// Hands a batch to the local subscribers, after the gap event it follows.
fn deliver(
    hub: &Weak<HubInner>,
    key: &str,
    topic: &Arc<Topic>,
    gap_after: Option<StreamId>,
    events: Vec<StoredEvent>,
) -> std::ops::ControlFlow<()> {
    use std::ops::ControlFlow::{Break, Continue};
    if let (Some(after), Some(first)) = (gap_after, events.first()) {
        if first.id() <= after {
            // Redis lost the stream and its ids started over: positions no
            // longer order. End the local streams; browsers reconnect and
            // get a gap event for their now unknown ids.
            tracing::warn!(
                topic = key,
                "the stream was reset; ending local subscriptions"
            );
            match hub.upgrade() {
                Some(hub) => hub.end_topic(key, topic),
                None => topic.fanout.close(),
            }
            return Break(());
        }
        // The gap takes the id of the first event after it, delivered next.
        let gap = gap_event(GapReason::Lagged, &first.id().to_event_id());
        topic.fanout.deliver(seq_of(first.id()), gap);
    }
    for event in events {
        let (id, encoded) = event.into_parts();
        if !topic.fanout.deliver(seq_of(id), encoded) {
            return Break(());
        }
    }
    Continue(())
}

/// The replay for a subscription resuming after `last_event_id`, or `None`
/// (logged) when it cannot be read: the subscription then ends and the
/// browser reconnects with the same id later.
pub(crate) async fn resume(
    source: Arc<RedisSource>,
    mut position: Position,
    key: TopicKey,
    last_event_id: String,
) -> Option<Replay> {
    match tokio::time::timeout(source.patience(), position.wait_for(Option::is_some)).await {
        Ok(Ok(_)) => {}
        // The topic was closed meanwhile.
        Ok(Err(_)) => return None,
        Err(_) => {
            tracing::warn!(
                topic = &*key,
                "redis unreachable; ending the resuming subscription"
            );
            return None;
        }
    }
    match fetch(&source, &key, &last_event_id).await {
        Ok(replay) => Some(replay),
        Err(error) => {
            tracing::warn!(topic = &*key, %error, "replay failed; ending the subscription");
            None
        }
    }
}

async fn fetch(source: &RedisSource, key: &str, last_event_id: &str) -> Result<Replay, Error> {
    let streams = source.streams().await?;
    let after = match last_event_id {
        "0" => Ok(StreamId::ZERO),
        id => id.parse::<StreamId>(),
    };
    let Ok(after) = after else {
        // Not an id of this backend (e.g. from an in-memory hub): unknown.
        return Ok(gap(streams.last_id(key).await?));
    };
    let replay = streams.replay(key, after).await?;
    if !replay.is_complete() {
        return Ok(gap(replay.newest()));
    }
    let events = replay.into_events();
    let through = events.last().map_or(after, StoredEvent::id);
    Ok(Replay {
        events: events.into_iter().map(|e| e.into_parts().1).collect(),
        through: Some(seq_of(through)),
    })
}

fn gap(newest: StreamId) -> Replay {
    Replay {
        events: [gap_event(GapReason::UnknownId, &newest.to_event_id())].into(),
        through: Some(seq_of(newest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_like_stream_ids_without_collisions() {
        let ids = [
            StreamId::ZERO,
            StreamId::new(0, u64::MAX),
            StreamId::new(1, 0),
            StreamId::new(1, 1),
            StreamId::new(u64::MAX, 0),
            StreamId::new(u64::MAX, u64::MAX),
        ];
        for pair in ids.windows(2) {
            assert!(seq_of(pair[0]) < seq_of(pair[1]), "{pair:?}");
        }
        assert_eq!(seq_of(StreamId::new(1, 2)), (1 << 64) | 2);
    }

    #[test]
    fn a_gap_replay_resumes_at_the_newest_id() {
        let replay = gap(StreamId::new(7, 3));
        assert_eq!(
            replay.events[0].as_bytes(),
            &b"event: sse-gap\nid: 7-3\ndata: unknown-id\n\n"[..]
        );
        assert_eq!(replay.through, Some(seq_of(StreamId::new(7, 3))));
    }
}
