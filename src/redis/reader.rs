//! The per-topic reader: a task that follows one stream with blocking `XREAD`.
//!
//! Each reader owns one dedicated connection. A blocking `XREAD` holds its
//! connection until it returns, so it must never run on the multiplexed
//! connection used for publishing (every publish would wait behind it). One
//! connection per *active topic* (topics with local subscribers, not per
//! subscriber) was chosen over one shared `XREAD` over all topics: a topic
//! starts and stops following without interrupting the other topics' reads
//! (Redis cannot change the key list of a blocked `XREAD`), and a slow or
//! failing topic cannot delay the others. A server therefore holds
//! `1 + active topics` Redis connections.

use std::ops::ControlFlow;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::connection::Connection;
use super::entry::{self, StoredEvent};
use super::store::{backend, RawEntry};
use super::{RedisStreams, StreamId};
use crate::engine::Epoch;
use crate::error::Error;

/// Entries read per `XREAD` at most.
const BATCH: usize = 512;

/// What a topic reader hands to its callback.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Delivery {
    /// New events, oldest first, already encoded (once for this server).
    Events(Vec<StoredEvent>),
    /// Events after `after` are gone (trimmed while the reader was
    /// disconnected, Redis lost the stream, or a failover rewound it):
    /// local subscribers missed events and should get a gap event. Reading
    /// goes on; the events that follow may be from a new [`Epoch`].
    Gap {
        /// The last id the reader had delivered.
        after: StreamId,
    },
}

/// A running topic reader. Dropping it (or [`TopicReader::stop`]) stops the task.
#[derive(Debug)]
#[must_use = "the reader stops when this handle is dropped"]
pub struct TopicReader {
    task: JoinHandle<()>,
}

impl TopicReader {
    /// Stops the reader; its callback is not called again.
    ///
    /// ```no_run
    /// # async fn run(streams: tower_sse::redis::RedisStreams) {
    /// use std::ops::ControlFlow;
    /// let reader = streams.spawn_reader("news", tower_sse::redis::StreamId::ZERO, |_| ControlFlow::Continue(()));
    /// reader.stop();
    /// # }
    /// ```
    pub fn stop(self) {
        self.task.abort();
    }

    /// Whether the task ended (its callback returned `Break`, or it was stopped).
    ///
    /// ```no_run
    /// # async fn run(streams: tower_sse::redis::RedisStreams) {
    /// # use std::ops::ControlFlow;
    /// let reader = streams.spawn_reader("news", tower_sse::redis::StreamId::ZERO, |_| ControlFlow::Break(()));
    /// // becomes true after the first delivery
    /// let _ = reader.is_finished();
    /// # }
    /// ```
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for TopicReader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RedisStreams {
    /// Starts a task that follows `topic` from after `after` and calls
    /// `on_delivery` with every batch of new events, in order, on the task.
    ///
    /// The task reads with `XREAD BLOCK <block timeout> STREAMS <key> <last id>`
    /// on its own connection (on a cluster, its own cluster connection,
    /// which follows the slot's owner across failovers). When it starts and
    /// whenever Redis failed, it first checks that everything after the last
    /// id it delivered is still there (reconnecting with exponential backoff,
    /// the configured min doubling to the max), so nothing Redis kept is
    /// missed or repeated; if events were trimmed, or the stream was lost or
    /// rewound, it delivers [`Delivery::Gap`] first. A rewound stream (its
    /// last id below the reader's, or the reader's last entry missing
    /// although nothing was trimmed up to it: a failover to a replica that
    /// lacked the tail) gets a new [`Epoch`] (compare-and-set, so many
    /// readers seeing one rewind mint once), so that resumes with ids of the
    /// lost tail get a gap too. The task stops when `on_delivery` returns
    /// [`ControlFlow::Break`] or the returned handle is dropped. Use
    /// [`RedisStreams::last_id`] for `after` to receive only what is
    /// published from now on.
    ///
    /// ```no_run
    /// # async fn run(streams: tower_sse::redis::RedisStreams) -> Result<(), tower_sse::Error> {
    /// use std::ops::ControlFlow;
    /// use tower_sse::redis::Delivery;
    ///
    /// let from = streams.last_id("news").await?;
    /// let reader = streams.spawn_reader("news", from, |delivery| {
    ///     if let Delivery::Events(events) = delivery {
    ///         for event in events {
    ///             println!("{}", event.id());
    ///         }
    ///     }
    ///     ControlFlow::Continue(())
    /// });
    /// # Ok(()) }
    /// ```
    pub fn spawn_reader<F>(&self, topic: &str, after: StreamId, on_delivery: F) -> TopicReader
    where
        F: FnMut(Delivery) -> ControlFlow<()> + Send + 'static,
    {
        let streams = self.clone();
        let topic = topic.to_owned();
        let task = tokio::spawn(async move { run(&streams, &topic, after, on_delivery).await });
        TopicReader { task }
    }
}

/// Where a reader is: the last id it delivered, that entry's epoch and
/// sequence number.
#[derive(Debug, Clone)]
struct Cursor {
    last: StreamId,
    epoch: Option<Epoch>,
    /// The publish script numbers the entries of an epoch 1, 2, 3, …
    seq: Option<u64>,
    /// After a reset: entries of this epoch up to this id were delivered
    /// already (the part of the history that survived a rewind).
    skip_through: Option<(Option<Epoch>, StreamId)>,
}

/// What one read found: deliveries, and an epoch seen rewound.
struct Read {
    deliveries: Vec<Delivery>,
    rewound: Option<Epoch>,
}

async fn run<F>(streams: &RedisStreams, topic: &str, after: StreamId, mut on_delivery: F)
where
    F: FnMut(Delivery) -> ControlFlow<()>,
{
    let config = &streams.config;
    let key = config.stream_key(topic);
    let mut backoff = Backoff::new(config.backoff_min, config.backoff_max);
    let mut conn: Option<Connection> = None;
    let mut check = true;
    let mut cursor = Cursor {
        last: after,
        epoch: None,
        seq: None,
        skip_through: None,
    };
    loop {
        let step = async {
            if check {
                check = false;
                if let Some(after) = check_gap(streams, topic, &mut cursor).await? {
                    return Ok(vec![Delivery::Gap { after }]);
                }
            }
            let c = match conn.as_mut() {
                Some(c) => c,
                None => conn.insert(Connection::for_reader(config).await.map_err(backend)?),
            };
            let read = read(c, config.block_timeout, &key, &mut cursor).await?;
            if let Some(seen) = read.rewound {
                remint(streams, topic, seen, &mut cursor).await?;
            }
            Ok::<_, Error>(read.deliveries)
        };
        match step.await {
            Ok(deliveries) => {
                backoff.reset();
                for delivery in deliveries {
                    if on_delivery(delivery).is_break() {
                        return;
                    }
                }
            }
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(key, %error, ?delay, "redis reader failed; retrying");
                conn = None;
                check = true;
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Re-mints the epoch `seen` was rewound in; later entries of `seen` (the
/// rewound history) then count as new, unseen ones.
async fn remint(
    streams: &RedisStreams,
    topic: &str,
    seen: Epoch,
    cursor: &mut Cursor,
) -> Result<(), Error> {
    let now = streams.remint(topic, seen).await?;
    tracing::warn!(topic, %seen, ?now, "stream rewound; epoch re-minted");
    if let Some(now) = now.filter(|now| *now != seen) {
        // The next entries are numbered from 1 in the new epoch.
        cursor.epoch = Some(now);
        cursor.seq = Some(0);
    }
    Ok(())
}

/// Reports a gap if events after the cursor are gone. When the stream was
/// lost or rewound, reading restarts from its beginning, skipping what the
/// reader delivered already, and a rewound stream gets a new epoch.
async fn check_gap(
    streams: &RedisStreams,
    topic: &str,
    cursor: &mut Cursor,
) -> Result<Option<StreamId>, Error> {
    let page = streams.replay_page(topic, cursor.last, 1).await?;
    if page.is_complete() {
        if cursor.epoch.is_none() {
            cursor.epoch = page.epoch();
        }
        return Ok(None);
    }
    let after = cursor.last;
    if page.rewound() {
        // Re-mint first: if that fails, the next attempt finds the same
        // rewind again.
        let skip = (cursor.epoch, cursor.last);
        if let Some(seen) = cursor.epoch.filter(|seen| page.epoch() == Some(*seen)) {
            remint(streams, topic, seen, cursor).await?;
        }
        cursor.skip_through = Some(skip);
        cursor.last = StreamId::ZERO;
    }
    cursor.seq = None;
    Ok(Some(after))
}

async fn read(
    conn: &mut Connection,
    block_timeout: Duration,
    key: &str,
    cursor: &mut Cursor,
) -> Result<Read, Error> {
    let block = u64::try_from(block_timeout.as_millis()).unwrap_or(u64::MAX);
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("COUNT")
        .arg(BATCH)
        .arg("BLOCK")
        .arg(block)
        .arg("STREAMS")
        .arg(key)
        .arg(cursor.last.to_string());
    let reply: Option<Vec<(String, Vec<RawEntry>)>> =
        cmd.query_async(conn).await.map_err(backend)?;
    let mut read = Read {
        deliveries: Vec::new(),
        rewound: None,
    };
    let mut events = Vec::new();
    for (_key, entries) in reply.unwrap_or_default() {
        for (id, fields) in entries {
            let before = cursor.last;
            if let Ok(parsed) = id.parse::<StreamId>() {
                cursor.last = cursor.last.max(parsed);
            }
            let Some(event) = entry::decode(key, &id, fields) else {
                continue;
            };
            if let Some((epoch, through)) = cursor.skip_through {
                if event.epoch() == epoch && event.id() <= through {
                    continue; // delivered before the rewind
                }
                cursor.skip_through = None;
            }
            if let Some(after) = discontinuity(cursor, before, &event, &mut read.rewound) {
                if !events.is_empty() {
                    read.deliveries
                        .push(Delivery::Events(std::mem::take(&mut events)));
                }
                read.deliveries.push(Delivery::Gap { after });
            }
            cursor.epoch = event.epoch();
            cursor.seq = event.seq();
            events.push(event);
        }
    }
    if !events.is_empty() {
        read.deliveries.push(Delivery::Events(events));
    }
    Ok(read)
}

/// Whether `event` does not follow the cursor's last entry: another epoch
/// (the history was recreated) or a sequence number that is not the next
/// one (entries lost, or the stream rewound under an unbroken connection,
/// as a cluster connection that follows a failover by itself hides). The
/// gap's `after`: the last id delivered before.
fn discontinuity(
    cursor: &Cursor,
    after: StreamId,
    event: &StoredEvent,
    rewound: &mut Option<Epoch>,
) -> Option<StreamId> {
    let (Some(epoch), Some(seq)) = (cursor.epoch, cursor.seq) else {
        return None;
    };
    if event.epoch() != Some(epoch) {
        return event.epoch().is_some().then_some(after);
    }
    match event.seq() {
        Some(next) if next == seq.saturating_add(1) => None,
        Some(next) => {
            if next <= seq {
                rewound.get_or_insert(epoch);
            }
            Some(after)
        }
        None => None,
    }
}

/// Exponential backoff between `min` and `max`.
#[derive(Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            next: min,
        }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        delay
    }

    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_max_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(50), Duration::from_millis(300));
        let delays: Vec<_> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [50, 100, 200, 300, 300]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(50));
    }

    #[test]
    fn backoff_never_overflows() {
        let mut b = Backoff::new(Duration::MAX, Duration::MAX);
        assert_eq!(b.next_delay(), Duration::MAX);
        assert_eq!(b.next_delay(), Duration::MAX);
    }
}
