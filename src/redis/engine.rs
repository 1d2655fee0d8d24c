//! [`RedisEngine`]: the Redis Streams [`Engine`] of a [`Hub`](crate::Hub)
//! (feature `redis`), built on [`RedisStreams`] and [`TopicReader`](super::TopicReader).
//!
//! - Appending is `XADD` through one shared, lazily made connection.
//! - Following a topic runs a task that finds the stream's current last id
//!   (the *position*), then a topic reader from there whose callback hands
//!   each entry, encoded once, to the hub's [`Sink`].
//! - Reads and appends on a followed topic first wait (bounded by the
//!   connect plus response timeouts) until its reader is positioned, so a
//!   read reaches at least where live delivery starts, and an append through
//!   this engine after `follow` is delivered.
//!
//! Offsets are stream ids: `<ms>-<seq>` is [`Offset::new(ms, seq)`](Offset::new).
//! Until epochs are stored next to each stream, the engine reports one fixed
//! epoch and event ids are the bare stream ids; a resume with such an id is
//! found by [`Engine::locate`].

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{watch, OnceCell};
use tokio::task::JoinHandle;

use super::{Backoff, Delivery, RedisConfig, RedisStreams, StoredEvent, StreamId};
use crate::engine::{
    Append, Appended, BoxFuture, Engine, Epoch, Follow, Offset, Page, Position, Record, Sink,
};
use crate::error::{Error, ErrorKind};

/// The offset of a stream id.
pub(crate) fn offset_of(id: StreamId) -> Offset {
    Offset::new(id.millis(), id.seq())
}

/// The stream id of an offset.
pub(crate) fn stream_id_of(offset: Offset) -> StreamId {
    StreamId::new(offset.major(), offset.minor())
}

/// The epoch reported until epochs are stored in Redis.
fn fixed_epoch() -> Epoch {
    Epoch::new("redis").unwrap_or_else(|_| Epoch::mint())
}

/// Where a topic's reader starts, once known.
type Positioned = watch::Receiver<Option<StreamId>>;

type Followed = Arc<Mutex<HashMap<String, (u64, Positioned)>>>;

/// The configuration and the lazily made connection, shared with reader tasks.
#[derive(Debug)]
struct Shared {
    config: RedisConfig,
    streams: OnceCell<RedisStreams>,
}

impl Shared {
    /// The shared connection; a failed attempt is retried by the next call.
    async fn streams(&self) -> Result<&RedisStreams, Error> {
        self.streams
            .get_or_try_init(|| RedisStreams::connect(self.config.clone()))
            .await
    }
}

/// Topics stored as Redis Streams, shared by every server configured with
/// the same Redis and key prefix: the engine [`HubConfig::redis`](crate::HubConfig::redis)
/// builds. The connection is made on first use; following needs a tokio
/// runtime (the reader task is spawned on it).
///
/// ```
/// use tower_sse::redis::{RedisConfig, RedisEngine};
/// use tower_sse::HubConfig;
///
/// let engine = RedisEngine::new(RedisConfig::new("redis://127.0.0.1:6379/0")?);
/// let hub = HubConfig::new().engine(engine).build();
/// # Ok::<(), tower_sse::Error>(())
/// ```
pub struct RedisEngine {
    shared: Arc<Shared>,
    /// The topics this engine follows, with their reader's position.
    followed: Followed,
    tokens: AtomicU64,
    epoch: Epoch,
}

impl RedisEngine {
    /// An engine on `config`; nothing connects until first use.
    #[must_use]
    pub fn new(config: RedisConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                streams: OnceCell::new(),
            }),
            followed: Arc::default(),
            tokens: AtomicU64::new(0),
            epoch: fixed_epoch(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RedisConfig {
        &self.shared.config
    }

    /// How long anything may wait for Redis before giving up.
    fn patience(&self) -> Duration {
        let config = &self.shared.config;
        config
            .connect_timeout
            .saturating_add(config.response_timeout)
    }

    fn followed(&self) -> MutexGuard<'_, HashMap<String, (u64, Positioned)>> {
        self.followed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until this engine's reader of `topic` (if any) is positioned;
    /// `false` when it was not within the patience.
    async fn positioned(&self, topic: &str) -> bool {
        let position = self.followed().get(topic).map(|(_, p)| p.clone());
        let Some(mut position) = position else {
            return true;
        };
        let ready = tokio::time::timeout(self.patience(), position.wait_for(Option::is_some))
            .await
            .is_ok_and(|found| found.is_ok());
        ready
    }

    async fn append_now(&self, topic: &str, append: Append) -> Result<Appended, Error> {
        // A topic this engine has just started following: let its reader
        // find its start first, so follow-then-append never misses.
        let _ = self.positioned(topic).await;
        let (event, _key) = append.into_parts();
        let id = self.shared.streams().await?.publish(topic, &event).await?;
        let position = Position::new(self.epoch, offset_of(id));
        Ok(Appended::new(position, id.to_event_id()))
    }

    async fn read_now(&self, topic: &str, after: Offset, limit: usize) -> Result<Page, Error> {
        if !self.positioned(topic).await {
            return Err(Error::with_source(
                ErrorKind::Backend,
                "redis unreachable: the topic's reader did not start",
            ));
        }
        let streams = self.shared.streams().await?;
        if limit == 0 {
            let last = streams.last_id(topic).await?;
            return Ok(Page::new(self.epoch, Vec::new())
                .with_head(offset_of(last))
                .with_head_id(last.to_event_id()));
        }
        let replay = streams.replay(topic, stream_id_of(after)).await?;
        let complete = replay.is_complete();
        let newest = replay.newest();
        let records = replay
            .into_events()
            .into_iter()
            .take(limit)
            .map(record)
            .collect();
        let page = Page::new(self.epoch, records)
            .with_head(offset_of(newest))
            .with_head_id(newest.to_event_id());
        // Without the trim position, an incomplete replay puts the floor
        // just past `after`: the hub then reports the gap.
        Ok(if complete {
            page
        } else {
            page.with_floor(after.next())
        })
    }
}

fn record(stored: StoredEvent) -> Record {
    let (id, encoded) = stored.into_parts();
    Record::from_parts(offset_of(id), id.to_event_id(), encoded)
}

impl std::fmt::Debug for RedisEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEngine")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// This engine following one topic: the reader task, unregistered on drop.
struct Following {
    task: JoinHandle<()>,
    topic: String,
    token: u64,
    followed: Followed,
}

impl Drop for Following {
    fn drop(&mut self) {
        // Dropping the task's future drops its `TopicReader`, which stops it.
        self.task.abort();
        let mut followed = self.followed.lock().unwrap_or_else(PoisonError::into_inner);
        if followed
            .get(&self.topic)
            .is_some_and(|(t, _)| *t == self.token)
        {
            followed.remove(&self.topic);
        }
    }
}

impl Engine for RedisEngine {
    fn append<'a>(
        &'a self,
        topic: &'a str,
        append: Append,
    ) -> BoxFuture<'a, Result<Appended, Error>> {
        Box::pin(self.append_now(topic, append))
    }

    fn read<'a>(
        &'a self,
        topic: &'a str,
        after: Offset,
        limit: usize,
    ) -> BoxFuture<'a, Result<Page, Error>> {
        Box::pin(self.read_now(topic, after, limit))
    }

    fn follow(&self, topic: &str, sink: Sink) -> Result<Follow, Error> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(topic, "subscribing to a Redis hub needs a tokio runtime");
            return Err(Error::with_source(
                ErrorKind::Backend,
                "following a redis topic needs a tokio runtime",
            ));
        };
        let (positioned, position) = watch::channel(None);
        let token = self.tokens.fetch_add(1, Ordering::Relaxed);
        self.followed().insert(topic.to_owned(), (token, position));
        let task = runtime.spawn(follow(
            Arc::clone(&self.shared),
            topic.to_owned(),
            sink,
            positioned,
        ));
        Ok(Follow::new(Following {
            task,
            topic: topic.to_owned(),
            token,
            followed: Arc::clone(&self.followed),
        }))
    }

    fn epoch<'a>(&'a self, _topic: &'a str) -> BoxFuture<'a, Result<Epoch, Error>> {
        Box::pin(std::future::ready(Ok(self.epoch)))
    }

    fn locate<'a>(
        &'a self,
        _topic: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Offset>, Error>> {
        Box::pin(std::future::ready(Ok(id
            .parse::<StreamId>()
            .ok()
            .map(offset_of))))
    }
}

async fn follow(
    shared: Arc<Shared>,
    topic: String,
    sink: Sink,
    positioned: watch::Sender<Option<StreamId>>,
) {
    let config = &shared.config;
    let mut backoff = Backoff::new(config.backoff_min, config.backoff_max);
    let (streams, start) = loop {
        let attempt = async {
            let streams = shared.streams().await?;
            Ok::<_, Error>((streams, streams.last_id(&topic).await?))
        };
        match attempt.await {
            Ok(found) => break found,
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(topic, %error, ?delay, "cannot follow the topic yet; retrying");
                tokio::time::sleep(delay).await;
            }
        }
    };
    let mut gap_after = None;
    let _reader = streams.spawn_reader(&topic, start, move |delivery| match delivery {
        Delivery::Gap { after } => {
            gap_after.get_or_insert(after);
            ControlFlow::Continue(())
        }
        Delivery::Events(events) => deliver(&sink, gap_after.take(), events),
    });
    positioned.send_replace(Some(start));
    // Keep the reader (and the position) alive until the follow is dropped.
    std::future::pending::<()>().await;
}

/// Hands a batch to the sink, after the gap it follows.
fn deliver(sink: &Sink, gap_after: Option<StreamId>, events: Vec<StoredEvent>) -> ControlFlow<()> {
    if let (Some(after), Some(first)) = (gap_after, events.first()) {
        if first.id() <= after {
            // Redis lost the stream and its ids started over: offsets no
            // longer order. End the local streams; browsers reconnect and
            // get a gap event for their now unknown ids.
            sink.reset();
            return ControlFlow::Break(());
        }
        sink.missed();
    }
    for event in events {
        sink.deliver(&record(event))?;
    }
    ControlFlow::Continue(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_order_like_stream_ids_and_map_back() {
        let ids = [
            StreamId::ZERO,
            StreamId::new(0, u64::MAX),
            StreamId::new(1, 0),
            StreamId::new(1, 1),
            StreamId::new(u64::MAX, u64::MAX),
        ];
        for pair in ids.windows(2) {
            assert!(offset_of(pair[0]) < offset_of(pair[1]), "{pair:?}");
        }
        for id in ids {
            assert_eq!(stream_id_of(offset_of(id)), id);
        }
        assert_eq!(offset_of(StreamId::new(17, 2)).to_string(), "17-2");
    }
}
