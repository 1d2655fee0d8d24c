//! How an [`Event`] is stored in a Redis stream entry and read back.
//!
//! An entry holds the event's fields, not its encoded bytes: `v` (format
//! version, always present so that an entry is never empty), `d` data, `e`
//! event type, `r` retry in milliseconds, `c` comments joined by LF (a comment
//! cannot contain LF), `x` the topic's [`Epoch`] when the entry was stored
//! and `n` its number within that epoch (1, 2, 3, …; both written by the
//! publish script, so a reader notices a rewound or recreated stream even
//! when its connection never broke). The event's own id is not stored: the entry's Redis id
//! becomes the SSE id. Each server encodes an entry exactly once, when its
//! reader receives it, and fans the shared [`EncodedEvent`] out to all of its
//! subscribers; so encoding stays once per server per event. Reading goes
//! through the validated [`Event`] setters, so a foreign or corrupted entry is
//! skipped instead of breaking the wire format of every subscriber.

use std::collections::HashMap;
use std::time::Duration;

use crate::event::{EncodedEvent, Event};
use crate::field::{EventId, EventType};

use super::StreamId;
use crate::engine::{Epoch, Offset, Position, Record};

const VERSION: &str = "v";
const DATA: &str = "d";
const EVENT: &str = "e";
const RETRY: &str = "r";
const COMMENTS: &str = "c";
/// The epoch the entry was stored in; written by the publish script.
const EPOCH: &str = "x";
/// The entry's number in its epoch (1, 2, 3, …); written by the publish script.
const SEQ: &str = "n";

/// One event read back from Redis: its stream id, epoch and encoding, made
/// once and shared by every local subscriber. Its SSE id is its position
/// `<epoch>.<ms>-<seq>` (see [`Position`]); an entry written without an
/// epoch (by an older version of this backend) keeps the bare stream id.
///
/// ```no_run
/// # async fn run() -> Result<(), tower_sse::Error> {
/// use tower_sse::{redis::{RedisConfig, RedisStreams, StreamId}, Event};
///
/// let streams = RedisStreams::connect(RedisConfig::new("redis://127.0.0.1/")?).await?;
/// let id = streams.publish("news", &Event::new().data("hi")).await?;
/// let replay = streams.replay("news", StreamId::ZERO).await?;
/// let stored = replay.events().last().unwrap();
/// assert_eq!(stored.id(), id);
/// let epoch = stored.epoch().unwrap();
/// assert_eq!(stored.event_id().as_str(), format!("{epoch}.{id}"));
/// assert!(stored.encoded().as_bytes().starts_with(format!("id: {epoch}.{id}\n").as_bytes()));
/// let (_id, _encoded) = stored.clone().into_parts();
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    id: StreamId,
    epoch: Option<Epoch>,
    seq: Option<u64>,
    record: Record,
}

impl StoredEvent {
    /// The stream id of the entry.
    #[must_use]
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// The epoch the entry was stored in (`None` for an entry written
    /// without one, by an older version of this backend).
    #[must_use]
    pub fn epoch(&self) -> Option<Epoch> {
        self.epoch
    }

    /// The entry's number within its epoch, when the script wrote one.
    pub(crate) fn seq(&self) -> Option<u64> {
        self.seq
    }

    /// The encoded event, `id:` line included.
    #[must_use]
    pub fn encoded(&self) -> &EncodedEvent {
        self.record.encoded()
    }

    /// The event's SSE id: `<epoch>.<ms>-<seq>`.
    #[must_use]
    pub fn event_id(&self) -> &EventId {
        self.record.id()
    }

    /// The stored event as an engine [`Record`] (offset = stream id).
    pub(crate) fn into_record(self) -> Record {
        self.record
    }

    /// The id and the encoded event.
    #[must_use]
    pub fn into_parts(self) -> (StreamId, EncodedEvent) {
        (self.id, self.record.into_encoded())
    }
}

/// The field/value pairs `XADD` stores for `event`.
pub(crate) fn to_fields(event: &Event) -> Vec<(&'static str, Vec<u8>)> {
    let mut fields = vec![(VERSION, b"1".to_vec())];
    if let Some(data) = event.data_str() {
        fields.push((DATA, data.as_bytes().to_vec()));
    }
    if let Some(event_type) = event.event_type() {
        fields.push((EVENT, event_type.as_str().as_bytes().to_vec()));
    }
    if let Some(retry) = event.retry_duration() {
        let millis = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
        fields.push((RETRY, millis.to_string().into_bytes()));
    }
    if !event.comments().is_empty() {
        fields.push((COMMENTS, event.comments().join("\n").into_bytes()));
    }
    fields
}

/// Rebuilds and encodes the event stored under `id`; `None` when the entry
/// was not written by this backend or does not hold valid fields.
pub(crate) fn from_fields(id: &str, mut fields: HashMap<String, Vec<u8>>) -> Option<StoredEvent> {
    let id: StreamId = id.parse().ok()?;
    if fields.get(VERSION).map(Vec::as_slice) != Some(b"1") {
        return None;
    }
    let epoch = fields
        .remove(EPOCH)
        .and_then(|e| Epoch::new(std::str::from_utf8(&e).ok()?).ok());
    let seq = fields
        .remove(SEQ)
        .and_then(|n| std::str::from_utf8(&n).ok()?.parse().ok());
    let mut event = Event::new();
    if let Some(comments) = fields.remove(COMMENTS) {
        for comment in String::from_utf8(comments).ok()?.split('\n') {
            event = event.try_comment(comment).ok()?;
        }
    }
    if let Some(event_type) = fields.remove(EVENT) {
        event = event.event(EventType::new(String::from_utf8(event_type).ok()?).ok()?);
    }
    if let Some(retry) = fields.remove(RETRY) {
        let millis = std::str::from_utf8(&retry).ok()?.parse().ok()?;
        event = event.retry(Duration::from_millis(millis));
    }
    if let Some(data) = fields.remove(DATA) {
        event = event.data(String::from_utf8(data).ok()?);
    }
    let record = match epoch {
        Some(epoch) => Record::encode(Position::new(epoch, Offset::from(id)), event),
        None => {
            let bare = id.to_event_id();
            Record::from_parts(Offset::from(id), bare.clone(), event.id(bare).encode())
        }
    };
    Some(StoredEvent {
        id,
        epoch,
        seq,
        record,
    })
}

/// Like [`from_fields`], logging skipped entries.
pub(crate) fn decode(key: &str, id: &str, fields: HashMap<String, Vec<u8>>) -> Option<StoredEvent> {
    let stored = from_fields(id, fields);
    if stored.is_none() {
        tracing::warn!(
            key,
            id,
            "skipping a stream entry that is not a tower-sse event"
        );
    }
    stored
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(event: &Event) -> StoredEvent {
        let fields = to_fields(event)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        from_fields("17-2", fields).expect("a stored event decodes")
    }

    #[test]
    fn the_redis_id_becomes_the_sse_id_and_every_field_survives() {
        let event = Event::new()
            .try_comment("one")
            .unwrap()
            .try_comment("")
            .unwrap()
            .try_event("chat")
            .unwrap()
            .id(99_u64)
            .retry(Duration::from_millis(1500))
            .data("a\nb\n");
        let stored = round_trip(&event);
        assert_eq!(stored.id(), StreamId::new(17, 2));
        assert_eq!(stored.epoch(), None);
        assert_eq!(
            stored.encoded().as_bytes(),
            &b": one\n:\nevent: chat\nid: 17-2\nretry: 1500\ndata: a\ndata: b\ndata: \n\n"[..]
        );
    }

    #[test]
    fn an_event_without_fields_is_stored_as_just_its_id() {
        assert_eq!(to_fields(&Event::new()).len(), 1);
        assert_eq!(
            round_trip(&Event::new()).encoded().as_bytes(),
            &b"id: 17-2\n\n"[..]
        );
        assert_eq!(
            round_trip(&Event::new().data("")).encoded().as_bytes(),
            &b"id: 17-2\ndata: \n\n"[..]
        );
    }

    #[test]
    fn the_epoch_written_by_the_script_is_read_back() {
        let mut fields: HashMap<String, Vec<u8>> = to_fields(&Event::new().data("x"))
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        fields.insert("x".into(), b"abc123".to_vec());
        fields.insert("n".into(), b"7".to_vec());
        let stored = from_fields("1-0", fields.clone()).unwrap();
        assert_eq!(stored.epoch(), Some(Epoch::new("abc123").unwrap()));
        assert_eq!(stored.seq(), Some(7));
        assert_eq!(
            stored.encoded().as_bytes(),
            &b"id: abc123.1-0\ndata: x\n\n"[..]
        );
        assert_eq!(stored.event_id().as_str(), "abc123.1-0");
        fields.insert("x".into(), b"not an epoch".to_vec());
        assert_eq!(from_fields("1-0", fields).unwrap().epoch(), None);
    }

    #[test]
    fn foreign_or_corrupt_entries_are_skipped() {
        let entry = |pairs: &[(&str, &[u8])]| -> HashMap<String, Vec<u8>> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.to_vec()))
                .collect()
        };
        assert!(from_fields("1-0", entry(&[("data", b"x")])).is_none());
        assert!(from_fields("1-0", entry(&[("v", b"1"), ("e", b"a\nb")])).is_none());
        assert!(from_fields("1-0", entry(&[("v", b"1"), ("d", b"\xff")])).is_none());
        assert!(from_fields("1-0", entry(&[("v", b"1"), ("r", b"-5")])).is_none());
        assert!(from_fields("1-0", entry(&[("v", b"1"), ("c", b"a\rb")])).is_none());
        assert!(from_fields("x", entry(&[("v", b"1")])).is_none());
    }
}
