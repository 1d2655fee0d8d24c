//! [`RedisEngine`]: the Redis Streams [`Engine`] of a [`Hub`](crate::Hub)
//! (feature `redis`), built on [`RedisStreams`] and [`TopicReader`](super::TopicReader).
//!
//! - Appending is the publish script ([`RedisStreams::append`]: idempotency
//!   check, `XADD`, epoch) through one shared, lazily made connection.
//! - Following a topic runs a task that finds the stream's current last id
//!   (the *position*), then a topic reader from there whose callback hands
//!   each entry, encoded once, to the hub's [`Sink`].
//! - Reads and appends on a followed topic first wait (bounded by the
//!   connect plus response timeouts) until its reader is positioned, so a
//!   read reaches at least where live delivery starts, and an append through
//!   this engine after `follow` is delivered.
//!
//! - Reads are one bounded page ([`RedisStreams::replay_page`]: `XRANGE …
//!   COUNT` with the trim state and the epoch, in one script).
//!
//! Offsets are stream ids: `<ms>-<seq>` is [`Offset::new(ms, seq)`](Offset::new);
//! event ids are positions, `<epoch>.<ms>-<seq>`, the epoch being the one
//! stored next to the stream (see the [module docs](super#epochs)). A bare
//! stream id (as ids were before epochs) is still found by
//! [`Engine::locate`]; its replay is judged by the stream alone.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{watch, OnceCell};
use tokio::task::JoinHandle;

use super::{Backoff, Delivery, RedisConfig, RedisStreams, StoredEvent, StreamId};
use crate::engine::{Append, Appended, BoxFuture, Engine, Epoch, Follow, Offset, Page, Sink};
use crate::error::{Error, ErrorKind};

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
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RedisConfig {
        &self.shared.config
    }

    /// How long anything may wait for Redis before giving up.
    fn patience(&self) -> Duration {
        self.shared.config.patience()
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
        let (event, key) = append.into_parts();
        self.shared
            .streams()
            .await?
            .append(topic, &event, key.as_ref())
            .await
    }

    async fn read_now(&self, topic: &str, after: Offset, limit: usize) -> Result<Page, Error> {
        if !self.positioned(topic).await {
            return Err(Error::with_source(
                ErrorKind::Backend,
                "redis unreachable: the topic's reader did not start",
            ));
        }
        let streams = self.shared.streams().await?;
        let after_id = StreamId::from(after);
        let replay = if limit == 0 {
            streams.replay_page(topic, StreamId::MAX, 1).await?
        } else {
            streams.replay_page(topic, after_id, limit).await?
        };
        // No epoch stored (no stream, and none kept by `Engine::epoch` for
        // the empty topic): no history any id could resume; a throwaway
        // epoch makes every `<epoch>.<offset>` id a reset. Reads never store
        // one: they are driven by any client's `Last-Event-ID`.
        let epoch = replay.epoch().unwrap_or_else(Epoch::mint);
        let complete = limit == 0 || replay.is_complete();
        let head = Offset::from(replay.newest());
        let records = replay
            .into_events()
            .into_iter()
            .map(StoredEvent::into_record)
            .collect();
        let page = Page::new(epoch, records).with_head(head);
        // An incomplete replay (trimmed, lost, rewound) puts the floor just
        // past `after`: the hub then reports the gap.
        Ok(if complete {
            page
        } else {
            page.with_floor(after.next())
        })
    }
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

    fn epoch<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, Result<Epoch, Error>> {
        Box::pin(async move {
            let streams = self.shared.streams().await?;
            // A topic without a stream gets its epoch stored now (with an
            // expiry), and the publish that creates the stream keeps it: a
            // position taken while the topic is empty resumes exactly.
            Ok(streams
                .ensure_epoch(topic)
                .await?
                .unwrap_or_else(Epoch::mint))
        })
    }

    fn locate<'a>(
        &'a self,
        _topic: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Offset>, Error>> {
        Box::pin(std::future::ready(Ok(id
            .parse::<StreamId>()
            .ok()
            // `0-0` was never an entry's id: not a position to resume at.
            .filter(|id| *id != StreamId::ZERO)
            .map(Offset::from))))
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
    let (streams, start, mut epoch) = loop {
        let attempt = async {
            let streams = shared.streams().await?;
            // Where live delivery starts, and the epoch it starts in: a
            // later event of another epoch is a new history.
            let now = streams.replay_page(&topic, StreamId::MAX, 1).await?;
            // No stream yet: no event was delivered in any epoch, so the
            // first event's epoch is this history's, whatever is stored now
            // (an empty topic's epoch may expire before its first publish).
            let epoch = now.epoch().filter(|_| now.newest() != StreamId::ZERO);
            Ok::<_, Error>((streams, now.newest(), epoch))
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
        Delivery::Events(events) => deliver(&sink, &mut epoch, gap_after.take(), events),
    });
    positioned.send_replace(Some(start));
    // Keep the reader (and the position) alive until the follow is dropped.
    std::future::pending::<()>().await;
}

/// Hands a batch to the sink, after the gap it follows. A new epoch (the
/// stream was recreated, or re-minted after a rewind) or ids that start
/// over end the local streams instead: their offsets no longer order, and
/// browsers reconnect and get the `reset` gap for their old ids.
fn deliver(
    sink: &Sink,
    epoch: &mut Option<Epoch>,
    gap_after: Option<StreamId>,
    events: Vec<StoredEvent>,
) -> ControlFlow<()> {
    if let (Some(after), Some(first)) = (gap_after, events.first()) {
        if first.id() <= after {
            sink.reset();
            return ControlFlow::Break(());
        }
        sink.missed();
    }
    for event in events {
        match (*epoch, event.epoch()) {
            (Some(known), Some(now)) if known != now => {
                sink.reset();
                return ControlFlow::Break(());
            }
            (_, now @ Some(_)) => *epoch = now,
            _ => {}
        }
        sink.deliver(&event.into_record())?;
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
            assert!(Offset::from(pair[0]) < Offset::from(pair[1]), "{pair:?}");
        }
        for id in ids {
            assert_eq!(StreamId::from(Offset::from(id)), id);
        }
        assert_eq!(Offset::from(StreamId::new(17, 2)).to_string(), "17-2");
    }
}
