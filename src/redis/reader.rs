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

use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use tokio::task::JoinHandle;

use super::entry::{self, StoredEvent};
use super::store::{backend, covers, is_no_such_key, RawEntry, StreamInfo};
use super::{RedisConfig, RedisStreams, StreamId};
use crate::error::Error;

/// Entries read per `XREAD` at most.
const BATCH: usize = 512;

/// What a topic reader hands to its callback.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Delivery {
    /// New events, oldest first, already encoded (once for this server).
    Events(Vec<StoredEvent>),
    /// The reader lost its connection and, when it came back, events after
    /// `after` were gone (trimmed, or Redis lost the stream): local
    /// subscribers missed events and should get a gap event. Reading goes on.
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
    /// on its own connection. When Redis fails it reconnects with exponential
    /// backoff (the configured min, doubling to the max) and resumes from the
    /// last id it delivered, so nothing Redis kept is missed or repeated; if
    /// events were trimmed meanwhile it first delivers [`Delivery::Gap`]. It
    /// stops when `on_delivery` returns [`ControlFlow::Break`] or the returned
    /// handle is dropped. Use [`RedisStreams::last_id`] for `after` to receive
    /// only what is published from now on.
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
        let config = self.config.clone();
        let key = config.stream_key(topic);
        let task = tokio::spawn(async move { run(&config, &key, after, on_delivery).await });
        TopicReader { task }
    }
}

async fn run<F>(config: &RedisConfig, key: &str, mut last: StreamId, mut on_delivery: F)
where
    F: FnMut(Delivery) -> ControlFlow<()>,
{
    let mut backoff = Backoff::new(config.backoff_min, config.backoff_max);
    let mut conn: Option<MultiplexedConnection> = None;
    let mut resumed = false;
    loop {
        let step = async {
            let c = match conn.as_mut() {
                Some(c) => c,
                None => conn.insert(connect(config).await?),
            };
            if resumed {
                resumed = false;
                if let Some(after) = check_gap(c, key, &mut last).await? {
                    return Ok(vec![Delivery::Gap { after }]);
                }
            }
            let events = read(c, config, key, &mut last).await?;
            Ok::<_, Error>(if events.is_empty() {
                vec![]
            } else {
                vec![Delivery::Events(events)]
            })
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
                resumed = true;
                tokio::time::sleep(delay).await;
            }
        }
    }
}

async fn connect(config: &RedisConfig) -> Result<MultiplexedConnection, Error> {
    // A blocked XREAD legitimately waits `block_timeout` for its reply.
    let connection_config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(config.connect_timeout))
        .set_response_timeout(Some(config.block_timeout + config.response_timeout));
    config
        .client
        .get_multiplexed_async_connection_with_config(&connection_config)
        .await
        .map_err(backend)
}

/// After a reconnect: reports a gap if events after `last` are gone. When the
/// stream was lost or reset (its ids restarted below `last`), reading
/// restarts from the beginning of the new stream.
async fn check_gap(
    conn: &mut MultiplexedConnection,
    key: &str,
    last: &mut StreamId,
) -> Result<Option<StreamId>, Error> {
    let mut cmd = redis::cmd("XINFO");
    cmd.arg("STREAM").arg(key);
    let info = match cmd.query_async::<redis::Value>(conn).await.map_err(backend) {
        Ok(value) => Some(StreamInfo::parse(value)?),
        Err(e) if is_no_such_key(&e) => None,
        Err(e) => return Err(e),
    };
    if covers(info.as_ref(), *last) {
        return Ok(None);
    }
    let after = *last;
    if info.map_or(true, |i| i.last_generated < after) {
        *last = StreamId::ZERO;
    }
    Ok(Some(after))
}

async fn read(
    conn: &mut MultiplexedConnection,
    config: &RedisConfig,
    key: &str,
    last: &mut StreamId,
) -> Result<Vec<StoredEvent>, Error> {
    let block = u64::try_from(config.block_timeout.as_millis()).unwrap_or(u64::MAX);
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("COUNT")
        .arg(BATCH)
        .arg("BLOCK")
        .arg(block)
        .arg("STREAMS")
        .arg(key)
        .arg(last.to_string());
    let reply: Option<Vec<(String, Vec<RawEntry>)>> =
        cmd.query_async(conn).await.map_err(backend)?;
    let mut events = Vec::new();
    for (_key, entries) in reply.unwrap_or_default() {
        for (id, fields) in entries {
            if let Ok(parsed) = id.parse::<StreamId>() {
                *last = (*last).max(parsed);
            }
            events.extend(entry::decode(key, &id, fields));
        }
    }
    Ok(events)
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
        self.next = (self.next * 2).min(self.max);
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
}
