//! [`RedisStreams`]: publishing to and replaying from one Redis stream per topic.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use redis::{RedisError, ScriptInvocation};

use crate::error::{Error, ErrorKind};
use crate::event::Event;

use super::connection::Connection;
use super::entry::{self, StoredEvent};
use super::script;
use super::{RedisConfig, StreamId};
use crate::engine::{Appended, Epoch, IdempotencyKey, Offset, Position};

/// One stream entry as Redis returns it: id and field/value pairs.
pub(crate) type RawEntry = (String, HashMap<String, Vec<u8>>);

/// Entries one replay page reads at most by default.
pub const REPLAY_PAGE: usize = 256;

/// Topics stored as Redis streams: a script that `XADD`s to publish, paged
/// `XRANGE` to replay.
///
/// Publishing and replaying share one multiplexed connection (a
/// `ConnectionManager` on a single server, a cluster connection on a
/// cluster); blocking reads never use it (see [`RedisStreams::spawn_reader`]).
/// The connection reconnects by itself; while Redis is unreachable every
/// call fails promptly (connection refused, or the configured
/// connect/response timeouts) with an error of kind [`ErrorKind::Backend`];
/// nothing is queued or dropped silently. Cloning is cheap and clones share
/// the connection.
///
/// ```no_run
/// # async fn run() -> Result<(), tower_sse::Error> {
/// use tower_sse::{redis::{RedisConfig, RedisStreams}, Event};
///
/// let streams = RedisStreams::connect(RedisConfig::new("redis://127.0.0.1/")?).await?;
/// let id = streams.publish("news", &Event::new().data("hello")).await?;
/// println!("published as {id}");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStreams {
    pub(crate) config: Arc<RedisConfig>,
    conn: Connection,
}

impl std::fmt::Debug for RedisStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStreams")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The result of [`RedisStreams::replay`] or one [`RedisStreams::replay_page`]:
/// the events after the requested id, and whether Redis still held all of them.
#[derive(Debug, Clone)]
pub struct Replay {
    events: Vec<StoredEvent>,
    complete: bool,
    /// The newest id the stream ever issued, as seen by this replay.
    newest: StreamId,
    epoch: Option<Epoch>,
    more: bool,
    rewound: bool,
}

impl Replay {
    /// The events after the requested id that Redis still holds, oldest first.
    ///
    /// ```no_run
    /// # async fn run(streams: tower_sse::redis::RedisStreams, id: tower_sse::redis::StreamId) -> Result<(), tower_sse::Error> {
    /// for event in streams.replay("news", id).await?.events() {
    ///     println!("{}", event.id());
    /// }
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn events(&self) -> &[StoredEvent] {
        &self.events
    }

    /// Consumes the replay and returns its events.
    ///
    /// ```no_run
    /// # async fn run(streams: tower_sse::redis::RedisStreams, id: tower_sse::redis::StreamId) -> Result<(), tower_sse::Error> {
    /// let events = streams.replay("news", id).await?.into_events();
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn into_events(self) -> Vec<StoredEvent> {
        self.events
    }

    /// `false` when events after the requested id are gone: trimmed, lost
    /// with the stream, or the requested id itself is missing although
    /// nothing up to it was removed (Redis lost data, or a failover rewound
    /// the stream). The client missed events that cannot be replayed and
    /// should be told so with a gap event.
    ///
    /// ```no_run
    /// # async fn run(streams: tower_sse::redis::RedisStreams, id: tower_sse::redis::StreamId) -> Result<(), tower_sse::Error> {
    /// if !streams.replay("news", id).await?.is_complete() {
    ///     // send the gap event
    /// }
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// The epoch of the stream when the replay was read (`None`: no stream).
    /// A resume whose id came from another epoch has lost its history.
    ///
    /// ```no_run
    /// # async fn run(streams: tower_sse::redis::RedisStreams) -> Result<(), tower_sse::Error> {
    /// let replay = streams.replay("news", tower_sse::redis::StreamId::ZERO).await?;
    /// println!("{:?}", replay.epoch());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn epoch(&self) -> Option<Epoch> {
        self.epoch
    }

    /// For one page: `true` when the stream may hold more entries after
    /// this page's last one (ask for the next page after it).
    ///
    /// ```no_run
    /// # async fn run(streams: tower_sse::redis::RedisStreams) -> Result<(), tower_sse::Error> {
    /// use tower_sse::redis::StreamId;
    /// let mut after = StreamId::ZERO;
    /// loop {
    ///     let page = streams.replay_page("news", after, 100).await?;
    ///     after = page.events().last().map_or(after, |e| e.id());
    ///     if !page.has_more() || !page.is_complete() {
    ///         break;
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn has_more(&self) -> bool {
        self.more
    }

    /// The newest id the stream had issued when the replay was read (at
    /// least the last replayed event's), [`StreamId::ZERO`] for no stream.
    pub(crate) fn newest(&self) -> StreamId {
        self.newest
    }

    /// Whether the history the requested id belongs to is gone, rather than
    /// trimmed: no stream, the id beyond the stream's last one, or the
    /// entry missing although nothing up to it was removed.
    pub(crate) fn rewound(&self) -> bool {
        self.rewound
    }
}

impl RedisStreams {
    /// Connects to Redis (one multiplexed connection for publishing and
    /// replay; a cluster connection for [`RedisConfig::cluster`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for a key prefix with a brace;
    /// [`ErrorKind::Backend`] when Redis cannot be reached or rejects the
    /// credentials or database of the URL.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), tower_sse::Error> {
    /// use tower_sse::redis::{RedisConfig, RedisStreams};
    /// let streams = RedisStreams::connect(RedisConfig::new("redis://:pw@127.0.0.1/3")?).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(config: RedisConfig) -> Result<Self, Error> {
        config.validate()?;
        let conn = with_deadline(&config, Connection::for_commands(&config)).await?;
        Ok(Self {
            config: Arc::new(config),
            conn,
        })
    }

    /// The configuration these streams were connected with.
    ///
    /// ```no_run
    /// # async fn run(streams: tower_sse::redis::RedisStreams) {
    /// assert_eq!(streams.config().stream_key("news"), "sse:{news}");
    /// # }
    /// ```
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// Appends `event` to the topic's stream and returns the id Redis gave
    /// it, which becomes the event's SSE id (an id set on `event` is
    /// ignored). Same as [`RedisStreams::append`] without a key.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Backend`] when Redis is unreachable or fails; the event was
    /// then not published (or, if the connection broke after Redis received
    /// the command, may have been: Redis cannot tell; retry with an
    /// idempotency key through [`RedisStreams::append`] to be sure).
    ///
    /// ```no_run
    /// # async fn run(streams: tower_sse::redis::RedisStreams) -> Result<(), tower_sse::Error> {
    /// use tower_sse::Event;
    /// let id = streams.publish("news", &Event::new().try_event("headline")?.data("hi")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn publish(&self, topic: &str, event: &Event) -> Result<StreamId, Error> {
        let appended = self.append(topic, event, None).await?;
        Ok(StreamId::from(appended.position().offset()))
    }

    /// Appends `event` to the topic's stream in one server-side script:
    /// checks the idempotency key, `XADD … MAXLEN ~ <history> *`, remembers
    /// the key with the new id for the idempotency window, and mints the
    /// topic's [`Epoch`] when the stream is new (or was lost). The answer's
    /// position is `<epoch>.<ms>-<seq>` (the entry's stream id as the
    /// offset). A publish retried with the same key within the window
    /// returns the first one's position, marked
    /// [`Appended::is_duplicate`], and stores nothing: a publish whose reply
    /// was lost can be retried safely.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Backend`] when Redis is unreachable or fails (see
    /// [`RedisStreams::publish`]).
    ///
    /// ```no_run
    /// # async fn run(streams: tower_sse::redis::RedisStreams) -> Result<(), tower_sse::Error> {
    /// use tower_sse::{engine::IdempotencyKey, Event};
    /// let event = Event::new().data("paid");
    /// let key = IdempotencyKey::new("order-17:paid")?;
    /// let appended = loop {
    ///     match streams.append("orders", &event, Some(&key)).await {
    ///         Ok(appended) => break appended,
    ///         Err(_) => continue, // lost reply or outage: the retry is safe
    ///     }
    /// };
    /// # Ok(()) }
    /// ```
    pub async fn append(
        &self,
        topic: &str,
        event: &Event,
        idempotency_key: Option<&IdempotencyKey>,
    ) -> Result<Appended, Error> {
        let keys = self.config.keys(topic);
        let mut invocation = script::PUBLISH.key(&keys.stream);
        invocation.key(&keys.epoch).key(&keys.seq);
        if let Some(key) = idempotency_key {
            invocation.key(keys.idempotency(key.as_str()));
        }
        let window = u64::try_from(self.config.idempotency_window.as_millis()).unwrap_or(u64::MAX);
        invocation
            .arg(Epoch::mint().as_str())
            .arg(self.config.history)
            .arg(window.max(1));
        for (field, value) in entry::to_fields(event) {
            invocation.arg(field).arg(value);
        }
        let (id, epoch, duplicate): (String, String, i64) = self.invoke(&invocation, false).await?;
        let malformed = || Error::with_source(ErrorKind::Backend, "malformed publish reply");
        let id: StreamId = id.parse().map_err(|_| malformed())?;
        let epoch = Epoch::new(&epoch).map_err(|_| malformed())?;
        let position = Position::new(epoch, Offset::from(id));
        let appended = Appended::new(position, position.to_event_id());
        Ok(if duplicate == 0 {
            appended
        } else {
            appended.duplicate()
        })
    }

    /// The topic's current epoch, `None` when it has no stream (nothing was
    /// published yet, or Redis lost it).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Backend`] when Redis is unreachable or fails.
    ///
    /// ```no_run
    /// # async fn run(streams: tower_sse::redis::RedisStreams) -> Result<(), tower_sse::Error> {
    /// if let Some(epoch) = streams.epoch("news").await? {
    ///     println!("news is in epoch {epoch}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn epoch(&self, topic: &str) -> Result<Option<Epoch>, Error> {
        Ok(self.replay_page(topic, StreamId::MAX, 1).await?.epoch)
    }

    /// The topic's epoch, stored (with [`RedisConfig::empty_epoch_ttl`] as
    /// its expiry, renewed by each call) when the topic has no stream yet,
    /// so that the publish that creates the stream keeps it; `None` for a
    /// stream without an epoch. See [`script::ENSURE_EPOCH`].
    pub(crate) async fn ensure_epoch(&self, topic: &str) -> Result<Option<Epoch>, Error> {
        let keys = self.config.keys(topic);
        let ttl = u64::try_from(self.config.empty_epoch_ttl.as_millis()).unwrap_or(u64::MAX);
        let mut invocation = script::ENSURE_EPOCH.key(&keys.stream);
        invocation.key(&keys.epoch);
        invocation.arg(Epoch::mint().as_str()).arg(ttl.max(1));
        let epoch: Option<String> = self.invoke(&invocation, false).await?;
        Ok(epoch.and_then(|e| Epoch::new(e).ok()))
    }

    /// Re-mints the topic's epoch if it is still `seen`: a reader or a
    /// replay saw the stream rewound under it (its last id below an id it
    /// had seen), so every id of `seen` must count as lost. Returns the
    /// epoch now stored.
    pub(crate) async fn remint(&self, topic: &str, seen: Epoch) -> Result<Option<Epoch>, Error> {
        let keys = self.config.keys(topic);
        let mut invocation = script::REMINT.key(&keys.epoch);
        invocation.key(&keys.seq);
        invocation.arg(seen.as_str()).arg(Epoch::mint().as_str());
        let epoch: Option<String> = self.invoke(&invocation, false).await?;
        Ok(epoch.and_then(|e| Epoch::new(e).ok()))
    }

    /// The events published on `topic` after `after`, and whether that is
    /// all of them (see [`Replay::is_complete`]). With [`StreamId::ZERO`] it
    /// returns the whole retained history. Reads page by page
    /// ([`RedisStreams::replay_page`], [`REPLAY_PAGE`] entries each), up to
    /// the newest id at the first page: anything newer is live.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Backend`] when Redis is unreachable or fails.
    ///
    /// ```no_run
    /// # async fn run(streams: tower_sse::redis::RedisStreams) -> Result<(), tower_sse::Error> {
    /// let last_event_id: tower_sse::redis::StreamId = "1700000000000-0".parse()?;
    /// let replay = streams.replay("news", last_event_id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn replay(&self, topic: &str, after: StreamId) -> Result<Replay, Error> {
        let mut replay = self.replay_page(topic, after, REPLAY_PAGE).await?;
        let target = replay.newest;
        while replay.more && replay.complete {
            let last = replay.events.last().map_or(after, StoredEvent::id);
            if last >= target {
                break;
            }
            let page = self.replay_page(topic, last, REPLAY_PAGE).await?;
            replay.complete = page.complete && page.epoch == replay.epoch;
            replay.more = page.more;
            replay.newest = replay.newest.max(page.newest);
            replay.events.extend(page.events);
        }
        replay.more = false;
        Ok(replay)
    }

    /// At most `limit` (1 ..= 10,000) events after `after`, read with one
    /// `XRANGE … COUNT` in a script together with the stream's trim state
    /// and epoch, so the completeness of every page is exact.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Backend`] when Redis is unreachable or fails.
    ///
    /// ```no_run
    /// # async fn run(streams: tower_sse::redis::RedisStreams) -> Result<(), tower_sse::Error> {
    /// let page = streams.replay_page("news", tower_sse::redis::StreamId::ZERO, 50).await?;
    /// assert!(page.events().len() <= 50);
    /// # Ok(()) }
    /// ```
    pub async fn replay_page(
        &self,
        topic: &str,
        after: StreamId,
        limit: usize,
    ) -> Result<Replay, Error> {
        let limit = limit.clamp(1, 10_000);
        let keys = self.config.keys(topic);
        let start = if after == StreamId::ZERO {
            "-".to_owned()
        } else {
            after.to_string()
        };
        let mut invocation = script::REPLAY_PAGE.key(&keys.stream);
        // One more for the entry at `after` itself, one more to tell if there
        // is a next page.
        invocation.key(&keys.epoch).arg(start).arg(limit + 2);
        let (epoch, info, raw): (Option<String>, redis::Value, Vec<RawEntry>) =
            self.invoke(&invocation, true).await?;
        let info = match info {
            redis::Value::Nil => None,
            value => Some(StreamInfo::parse(value)?),
        };
        let mut raw = raw.into_iter().peekable();
        // The page starts at `after` inclusive: is that entry still there?
        let mut after_found = false;
        if let Some((first, _)) = raw.peek() {
            if first.parse::<StreamId>().ok() == Some(after) {
                after_found = true;
                raw.next();
            }
        }
        let raw: Vec<RawEntry> = raw.collect();
        let more = raw.len() > limit;
        let events: Vec<StoredEvent> = raw
            .into_iter()
            .take(limit)
            .filter_map(|(id, fields)| entry::decode(&keys.stream, &id, fields))
            .collect();
        let newest = info
            .as_ref()
            .map_or(StreamId::ZERO, |i| i.last_generated)
            .max(events.last().map_or(StreamId::ZERO, StoredEvent::id));
        let rewound = after != StreamId::ZERO
            && match &info {
                None => true,
                Some(info) => {
                    after > info.last_generated || (!after_found && after > info.max_removed)
                }
            };
        let complete = !rewound && covers(info.as_ref(), after);
        Ok(Replay {
            events,
            complete,
            newest,
            epoch: epoch.and_then(|e| Epoch::new(e).ok()),
            more,
            rewound,
        })
    }

    /// The id of the newest event ever published on `topic` (even if trimmed
    /// since), or [`StreamId::ZERO`] when the stream does not exist: start a
    /// reader there to receive exactly the events published from now on.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Backend`] when Redis is unreachable or fails.
    ///
    /// ```no_run
    /// # async fn run(streams: tower_sse::redis::RedisStreams) -> Result<(), tower_sse::Error> {
    /// let now = streams.last_id("news").await?;
    /// # Ok(()) }
    /// ```
    pub async fn last_id(&self, topic: &str) -> Result<StreamId, Error> {
        Ok(self.replay_page(topic, StreamId::MAX, 1).await?.newest)
    }

    /// Runs a script on the shared connection within the configured
    /// deadline. A call that finds the connection refused is tried once
    /// more (the connection reconnects after a refusal, and the script was
    /// never sent); so is a `read_only` one that failed on a broken
    /// connection (say, Redis restarted since the last command).
    async fn invoke<T>(
        &self,
        invocation: &ScriptInvocation<'_>,
        read_only: bool,
    ) -> Result<T, Error>
    where
        T: redis::FromRedisValue,
    {
        let mut conn = self.conn.clone();
        with_deadline(&self.config, async {
            match invocation.invoke_async(&mut conn).await {
                Err(e) if e.is_connection_refusal() || (read_only && e.is_io_error()) => {
                    invocation.invoke_async(&mut conn).await
                }
                other => other,
            }
        })
        .await
    }
}

/// Awaits `fut` for at most the connect plus the response timeout.
pub(crate) async fn with_deadline<T, F>(config: &RedisConfig, fut: F) -> Result<T, Error>
where
    F: Future<Output = Result<T, RedisError>>,
{
    match tokio::time::timeout(config.patience(), fut).await {
        Ok(result) => result.map_err(backend),
        Err(elapsed) => Err(Error::with_source(ErrorKind::Backend, elapsed)),
    }
}

pub(crate) fn backend(e: RedisError) -> Error {
    Error::with_source(ErrorKind::Backend, e)
}

/// What `XINFO STREAM` tells about trimming and deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamInfo {
    pub(crate) last_generated: StreamId,
    /// Every entry removed from the stream has an id at most this.
    ///
    /// Trimming removes from the head, so everything before the first
    /// retained entry may be gone: that bound is the id just before it
    /// (exact when the client saw that very entry, otherwise cautious).
    /// `XDEL` is covered by Redis' `max-deleted-entry-id`. When Redis 7's
    /// `entries-added` equals the length, nothing was ever removed.
    pub(crate) max_removed: StreamId,
}

impl StreamInfo {
    pub(crate) fn parse(value: redis::Value) -> Result<Self, Error> {
        let malformed = || Error::with_source(ErrorKind::Backend, "malformed XINFO STREAM reply");
        let pairs: Vec<(redis::Value, redis::Value)> = match value {
            redis::Value::Map(pairs) => pairs,
            redis::Value::Array(items) => {
                let mut items = items.into_iter();
                std::iter::from_fn(|| Some((items.next()?, items.next()?))).collect()
            }
            _ => return Err(malformed()),
        };
        let text = |v: &redis::Value| redis::from_redis_value_ref::<String>(v).ok();
        let id = |v: &redis::Value| text(v).and_then(|s| s.parse::<StreamId>().ok());
        let int = |v: &redis::Value| redis::from_redis_value_ref::<u64>(v).ok();
        let mut last_generated = None;
        let (mut max_deleted, mut first, mut length, mut added) = (None, None, None, None);
        for (name, value) in &pairs {
            match text(name).as_deref() {
                Some("last-generated-id") => {
                    last_generated = Some(id(value).ok_or_else(malformed)?);
                }
                Some("max-deleted-entry-id") => max_deleted = id(value),
                Some("length") => length = int(value),
                Some("entries-added") => added = int(value),
                Some("first-entry") => {
                    first = redis::from_redis_value_ref::<Option<RawEntry>>(value)
                        .ok()
                        .flatten()
                        .and_then(|(first, _)| first.parse::<StreamId>().ok());
                }
                _ => {}
            }
        }
        let last_generated = last_generated.ok_or_else(malformed)?;
        let never_removed = matches!((length, added), (Some(l), Some(a)) if l == a);
        let max_removed = if never_removed {
            StreamId::ZERO
        } else {
            let before_first = first.map_or(last_generated, predecessor);
            before_first.max(max_deleted.unwrap_or(StreamId::ZERO))
        };
        Ok(Self {
            last_generated,
            max_removed,
        })
    }
}

/// The largest id below `id` (`0-0` stays `0-0`).
fn predecessor(id: StreamId) -> StreamId {
    match (id.millis(), id.seq()) {
        (0, 0) => id,
        (ms, 0) => StreamId::new(ms - 1, u64::MAX),
        (ms, seq) => StreamId::new(ms, seq - 1),
    }
}

/// Whether a stream in state `info` (`None`: no such stream) still holds every
/// event after `after`.
pub(crate) fn covers(info: Option<&StreamInfo>, after: StreamId) -> bool {
    match info {
        None => after == StreamId::ZERO,
        Some(info) => info.max_removed <= after && after <= info.last_generated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Value;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn coverage_needs_every_removed_id_at_or_before_the_requested_one() {
        let info = StreamInfo {
            last_generated: StreamId::new(9, 0),
            max_removed: StreamId::new(5, 0),
        };
        assert!(!covers(Some(&info), StreamId::new(4, 0)));
        assert!(covers(Some(&info), StreamId::new(5, 0)));
        assert!(covers(Some(&info), StreamId::new(9, 0)));
        // An id from the future: the stream was reset under the client.
        assert!(!covers(Some(&info), StreamId::new(9, 1)));
        assert!(covers(None, StreamId::ZERO));
        assert!(!covers(None, StreamId::new(1, 0)));
    }

    fn entry(id: &str) -> Value {
        Value::Array(vec![bulk(id), Value::Array(vec![bulk("v"), bulk("1")])])
    }

    #[test]
    fn a_stream_that_never_lost_an_entry_covers_everything_up_to_its_last_id() {
        let reply = Value::Array(vec![
            bulk("length"),
            Value::Int(2),
            bulk("last-generated-id"),
            bulk("7-1"),
            bulk("max-deleted-entry-id"),
            bulk("0-0"),
            bulk("entries-added"),
            Value::Int(2),
            bulk("first-entry"),
            entry("7-0"),
        ]);
        let info = StreamInfo::parse(reply).unwrap();
        assert_eq!(info.last_generated, StreamId::new(7, 1));
        assert_eq!(info.max_removed, StreamId::ZERO);
    }

    #[test]
    fn a_trimmed_stream_has_lost_everything_before_its_first_entry() {
        let trimmed = |first: Value, deleted: &str| {
            StreamInfo::parse(Value::Array(vec![
                bulk("length"),
                Value::Int(100),
                bulk("last-generated-id"),
                bulk("9-9"),
                bulk("max-deleted-entry-id"),
                bulk(deleted),
                bulk("entries-added"),
                Value::Int(300),
                bulk("first-entry"),
                first,
            ]))
            .unwrap()
            .max_removed
        };
        assert_eq!(trimmed(entry("4-2"), "0-0"), StreamId::new(4, 1));
        assert_eq!(trimmed(entry("4-0"), "0-0"), StreamId::new(3, u64::MAX));
        assert_eq!(trimmed(entry("4-0"), "8-0"), StreamId::new(8, 0));
        assert_eq!(trimmed(Value::Nil, "0-0"), StreamId::new(9, 9));
        // Before Redis 7 (no entries-added): cautious, from the first entry.
        let old = Value::Array(vec![
            bulk("last-generated-id"),
            bulk("7-1"),
            bulk("first-entry"),
            entry("7-0"),
        ]);
        assert_eq!(
            StreamInfo::parse(old).unwrap().max_removed,
            StreamId::new(6, u64::MAX)
        );
    }

    #[test]
    fn a_malformed_xinfo_reply_is_an_error() {
        assert!(StreamInfo::parse(Value::Int(1)).is_err());
        assert!(
            StreamInfo::parse(Value::Array(vec![bulk("last-generated-id"), bulk("x")])).is_err()
        );
    }
}
