//! [`RedisStreams`]: publishing to and replaying from one Redis stream per topic.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::RedisError;

use crate::error::{Error, ErrorKind};
use crate::event::Event;

use super::entry::{self, StoredEvent};
use super::{RedisConfig, StreamId};

/// One stream entry as Redis returns it: id and field/value pairs.
pub(crate) type RawEntry = (String, HashMap<String, Vec<u8>>);

/// Topics stored as Redis streams: `XADD` to publish, `XRANGE` to replay.
///
/// Publishing and replaying share one multiplexed [`ConnectionManager`];
/// blocking reads never use it (see [`RedisStreams::spawn_reader`]). The
/// manager reconnects by itself; while Redis is unreachable every call fails
/// promptly (connection refused, or the configured connect/response timeouts)
/// with an error of kind [`ErrorKind::Backend`]; nothing is queued or dropped
/// silently. Cloning is cheap and clones share the connection.
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
    manager: ConnectionManager,
}

impl std::fmt::Debug for RedisStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStreams")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The result of [`RedisStreams::replay`]: the events after the requested id,
/// and whether Redis still held all of them.
#[derive(Debug, Clone)]
pub struct Replay {
    events: Vec<StoredEvent>,
    complete: bool,
    /// The newest id the stream ever issued, as seen by this replay.
    newest: StreamId,
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

    /// `false` when events after the requested id were trimmed (or Redis lost
    /// the stream): the client missed events that cannot be replayed and should
    /// be told so with a gap event.
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

    /// The newest id the stream had issued when the replay was read (at
    /// least the last replayed event's), [`StreamId::ZERO`] for no stream.
    pub(crate) fn newest(&self) -> StreamId {
        self.newest
    }
}

impl RedisStreams {
    /// Connects to Redis (one multiplexed connection for publishing and replay).
    ///
    /// # Errors
    ///
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
        // Failed reconnects are not retried inside the manager: a call made
        // while Redis is down must fail now, not after a hidden retry loop.
        let manager_config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.response_timeout));
        // RESP3 lets the manager hear that its connection dropped (say, Redis
        // restarted) and reconnect before the next command, instead of
        // failing that command on the dead connection.
        let info = config.client.get_connection_info().clone();
        let resp3 = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(resp3)).map_err(backend)?;
        let manager = with_deadline(
            &config,
            ConnectionManager::new_with_config(client, manager_config),
        )
        .await?;
        Ok(Self {
            config: Arc::new(config),
            manager,
        })
    }

    /// The configuration these streams were connected with.
    ///
    /// ```no_run
    /// # async fn run(streams: tower_sse::redis::RedisStreams) {
    /// assert_eq!(streams.config().stream_key("news"), "sse:news");
    /// # }
    /// ```
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// Appends `event` to the topic's stream (`XADD <prefix><topic> MAXLEN ~ <history> *`)
    /// and returns the id Redis gave it, which becomes the event's SSE id (an
    /// id set on `event` is ignored).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Backend`] when Redis is unreachable or fails; the event was
    /// then not published (or, if the connection broke after Redis received
    /// the command, may have been: Redis cannot tell).
    ///
    /// ```no_run
    /// # async fn run(streams: tower_sse::redis::RedisStreams) -> Result<(), tower_sse::Error> {
    /// use tower_sse::Event;
    /// let id = streams.publish("news", &Event::new().try_event("headline")?.data("hi")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn publish(&self, topic: &str, event: &Event) -> Result<StreamId, Error> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(self.config.stream_key(topic))
            .arg("MAXLEN")
            .arg("~")
            .arg(self.config.history)
            .arg("*");
        for (field, value) in entry::to_fields(event) {
            cmd.arg(field).arg(value);
        }
        let id: String = self.query(&cmd).await?;
        id.parse()
            .map_err(|e| Error::with_source(ErrorKind::Backend, e))
    }

    /// The events published on `topic` after `after` (`XRANGE key (<after> +`),
    /// and whether that is all of them (see [`Replay::is_complete`]). With
    /// [`StreamId::ZERO`] it returns the whole retained history.
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
        let key = self.config.stream_key(topic);
        let mut range = redis::cmd("XRANGE");
        range.arg(&key).arg(format!("({after}")).arg("+");
        let raw: Vec<RawEntry> = self.query(&range).await?;
        // Read the trim state after the range: anything trimmed before the
        // XRANGE is then visible, so a gap is never missed (a trim that
        // happened in between can only cause a cautious false gap).
        let info = self.query_info(&key).await?;
        let events: Vec<StoredEvent> = raw
            .into_iter()
            .filter_map(|(id, fields)| entry::decode(&key, &id, fields))
            .collect();
        let newest = info
            .as_ref()
            .map_or(StreamId::ZERO, |i| i.last_generated)
            .max(events.last().map_or(StreamId::ZERO, StoredEvent::id));
        Ok(Replay {
            events,
            complete: covers(info.as_ref(), after),
            newest,
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
        let info = self.query_info(&self.config.stream_key(topic)).await?;
        Ok(info.map_or(StreamId::ZERO, |i| i.last_generated))
    }

    async fn query_info(&self, key: &str) -> Result<Option<StreamInfo>, Error> {
        let mut cmd = redis::cmd("XINFO");
        cmd.arg("STREAM").arg(key);
        match self.query::<redis::Value>(&cmd).await {
            Ok(value) => Ok(Some(StreamInfo::parse(value)?)),
            Err(e) if is_no_such_key(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Runs `cmd` on the shared connection within the configured deadline. A
    /// call that finds the connection refused is tried once more: the
    /// manager reconnects after a refusal, and the command was never sent.
    async fn query<T>(&self, cmd: &redis::Cmd) -> Result<T, Error>
    where
        T: redis::FromRedisValue,
    {
        let mut conn = self.manager.clone();
        with_deadline(&self.config, async {
            match cmd.query_async(&mut conn).await {
                Err(e) if e.is_connection_refusal() => cmd.query_async(&mut conn).await,
                other => other,
            }
        })
        .await
    }
}

/// Awaits `fut` for at most the connect plus the response timeout.
async fn with_deadline<T, F>(config: &RedisConfig, fut: F) -> Result<T, Error>
where
    F: Future<Output = Result<T, RedisError>>,
{
    let deadline = config.connect_timeout + config.response_timeout;
    match tokio::time::timeout(deadline, fut).await {
        Ok(result) => result.map_err(backend),
        Err(elapsed) => Err(Error::with_source(ErrorKind::Backend, elapsed)),
    }
}

pub(crate) fn backend(e: RedisError) -> Error {
    Error::with_source(ErrorKind::Backend, e)
}

pub(crate) fn is_no_such_key(e: &Error) -> bool {
    std::error::Error::source(e).is_some_and(|s| s.to_string().contains("no such key"))
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
