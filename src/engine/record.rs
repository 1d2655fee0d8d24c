//! What flows through an [`Engine`](super::Engine): [`Append`] requests in,
//! [`Appended`] answers, stored [`Record`]s and [`Page`]s of them out.

use super::position::{Epoch, Offset, Position};
use crate::error::{Error, ErrorKind};
use crate::event::{EncodedEvent, Event};
use crate::field::EventId;

/// The longest [`IdempotencyKey`], in bytes.
const MAX_KEY_LEN: usize = 128;

/// A publisher's name for one logical publish, so that a retry of it is
/// recognised: 1 to 128 bytes of visible ASCII (`!` to `~`).
///
/// Engines remember a key for a bounded time and a bounded number of keys
/// (see [`HubConfig::idempotency_window`](crate::HubConfig::idempotency_window));
/// a retry within that window returns the original id and stores nothing.
///
/// ```
/// use tower_sse::engine::IdempotencyKey;
///
/// let key = IdempotencyKey::new("order-42:created")?;
/// assert_eq!(key.as_str(), "order-42:created");
/// assert!(IdempotencyKey::new("").is_err());
/// assert!(IdempotencyKey::new("a b").is_err());
/// assert!(IdempotencyKey::new("k".repeat(129)).is_err());
/// # Ok::<(), tower_sse::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(Box<str>);

impl IdempotencyKey {
    /// Validates a key.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidIdempotencyKey`] when `key` is empty, longer than
    /// 128 bytes, or holds anything but visible ASCII.
    pub fn new(key: impl Into<String>) -> Result<Self, Error> {
        let key = key.into();
        let valid = !key.is_empty()
            && key.len() <= MAX_KEY_LEN
            && key.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(Error::new(ErrorKind::InvalidIdempotencyKey));
        }
        Ok(Self(key.into_boxed_str()))
    }

    /// The key as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A request to store one event: what [`Engine::append`](super::Engine::append)
/// receives.
///
/// ```
/// use tower_sse::engine::{Append, IdempotencyKey};
/// use tower_sse::Event;
///
/// let append = Append::new(Event::new().data("hi"))
///     .idempotency_key(IdempotencyKey::new("k-1")?);
/// assert_eq!(append.key().map(IdempotencyKey::as_str), Some("k-1"));
/// let (event, key) = append.into_parts();
/// assert_eq!(event.data_str(), Some("hi"));
/// # Ok::<(), tower_sse::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Append {
    event: Event,
    key: Option<IdempotencyKey>,
}

impl Append {
    /// A request to store `event`, without an idempotency key.
    pub fn new(event: Event) -> Self {
        Self { event, key: None }
    }

    /// Makes the append idempotent under `key`.
    pub fn idempotency_key(mut self, key: IdempotencyKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The event.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The idempotency key, if any.
    #[must_use]
    pub fn key(&self) -> Option<&IdempotencyKey> {
        self.key.as_ref()
    }

    /// The event and the key.
    pub fn into_parts(self) -> (Event, Option<IdempotencyKey>) {
        (self.event, self.key)
    }
}

/// What [`Engine::append`](super::Engine::append) answers: where the event
/// was stored and its id.
///
/// ```
/// use tower_sse::engine::{Appended, Epoch, Offset, Position};
///
/// let position = Position::new(Epoch::new("e")?, Offset::from(1));
/// let appended = Appended::new(position, position.to_event_id());
/// assert!(!appended.is_duplicate());
/// assert!(appended.clone().duplicate().is_duplicate());
/// assert_eq!(appended.id(), "e.1");
/// # Ok::<(), tower_sse::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Appended {
    position: Position,
    id: EventId,
    duplicate: bool,
}

impl Appended {
    /// A fresh append stored at `position` with event id `id` (the position's
    /// text form, or an app-supplied id the engine kept).
    pub fn new(position: Position, id: EventId) -> Self {
        Self {
            position,
            id,
            duplicate: false,
        }
    }

    /// Marks this as the answer to a retry: the event was stored before under
    /// the same idempotency key and nothing new was stored.
    pub fn duplicate(mut self) -> Self {
        self.duplicate = true;
        self
    }

    /// Where the event is stored.
    #[must_use]
    pub fn position(&self) -> Position {
        self.position
    }

    /// The event id subscribers see.
    #[must_use]
    pub fn id(&self) -> &EventId {
        &self.id
    }

    /// Whether this answered a retry (see [`Appended::duplicate`]).
    #[must_use]
    pub fn is_duplicate(&self) -> bool {
        self.duplicate
    }

    /// The event id.
    #[must_use]
    pub fn into_id(self) -> EventId {
        self.id
    }
}

/// One stored event, encoded once: its offset, its id, its wire bytes.
/// Cloning it is two reference-count bumps.
///
/// [`Record::encode`] is the one place an event gets its id and its wire
/// form; every engine calls it once per event per process (the in-memory
/// engine when appending, Redis when its reader receives an entry), and the
/// hub hands the same bytes to every subscriber.
///
/// ```
/// use tower_sse::engine::{Epoch, Offset, Position, Record};
/// use tower_sse::Event;
///
/// let position = Position::new(Epoch::new("e")?, Offset::from(3));
/// let record = Record::encode(position, Event::new().data("hi"));
/// assert_eq!(record.offset(), Offset::from(3));
/// assert_eq!(record.id(), "e.3");
/// assert_eq!(record.encoded().as_bytes(), &b"id: e.3\ndata: hi\n\n"[..]);
///
/// // An app's own id is replaced, unless the engine keeps it:
/// let own = Event::new().try_id("m-9")?.data("b");
/// assert_eq!(Record::encode(position, own.clone()).id(), "e.3");
/// assert_eq!(Record::encode_keeping_id(position, own).id(), "m-9");
/// # Ok::<(), tower_sse::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    offset: Offset,
    id: EventId,
    encoded: EncodedEvent,
}

impl Record {
    /// Gives `event` the id of `position` (replacing any id it has) and
    /// encodes it.
    pub fn encode(position: Position, event: Event) -> Self {
        let id = position.to_event_id();
        let encoded = event.id(id.clone()).encode();
        Self {
            offset: position.offset(),
            id,
            encoded,
        }
    }

    /// Like [`Record::encode`], but keeps a non-empty id the event already
    /// has (an app-supplied id); ordering still uses `position`.
    pub fn encode_keeping_id(position: Position, event: Event) -> Self {
        match event.event_id().filter(|id| !id.as_str().is_empty()) {
            Some(id) => Self {
                offset: position.offset(),
                id: id.clone(),
                encoded: event.encode(),
            },
            None => Self::encode(position, event),
        }
    }

    /// A record from parts an engine already holds; `encoded` must carry
    /// `id` as its `id:` field.
    #[must_use]
    pub fn from_parts(offset: Offset, id: EventId, encoded: EncodedEvent) -> Self {
        Self {
            offset,
            id,
            encoded,
        }
    }

    /// The offset within its epoch.
    #[must_use]
    pub fn offset(&self) -> Offset {
        self.offset
    }

    /// The event id.
    #[must_use]
    pub fn id(&self) -> &EventId {
        &self.id
    }

    /// The wire bytes, `id:` line included.
    #[must_use]
    pub fn encoded(&self) -> &EncodedEvent {
        &self.encoded
    }

    /// The wire bytes.
    #[must_use]
    pub fn into_encoded(self) -> EncodedEvent {
        self.encoded
    }
}

/// One answer of [`Engine::read`](super::Engine::read): stored records after
/// an offset (at most the requested limit), and what the engine knows about
/// the history they come from.
///
/// - [`Page::epoch`]: the topic's current epoch;
/// - [`Page::records`]: records with an offset greater than the requested one,
///   oldest first;
/// - [`Page::head`]: the newest offset this epoch has issued (stored or not;
///   [`Offset::ZERO`] when none), at least the last record's;
/// - [`Page::floor`]: the newest offset that is no longer stored (trimmed,
///   expired): a reader asking after an older offset has missed events.
///
/// ```
/// use tower_sse::engine::{Epoch, Offset, Page, Position, Record};
/// use tower_sse::Event;
///
/// let epoch = Epoch::new("e")?;
/// let record = Record::encode(Position::new(epoch, Offset::from(5)), Event::new().data("x"));
/// let page = Page::new(epoch, vec![record]).with_floor(Offset::from(2));
/// assert_eq!(page.head(), Offset::from(5));
/// assert_eq!(page.floor(), Offset::from(2));
/// assert!(page.covers(Offset::from(2)));
/// assert!(!page.covers(Offset::from(1)));
/// # Ok::<(), tower_sse::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Page {
    epoch: Epoch,
    records: Vec<Record>,
    head: Offset,
    head_id: Option<EventId>,
    floor: Offset,
}

impl Page {
    /// A page of `records` (oldest first) from the history named `epoch`;
    /// head defaults to the last record's offset, floor to [`Offset::ZERO`].
    pub fn new(epoch: Epoch, records: Vec<Record>) -> Self {
        let head = records.last().map_or(Offset::ZERO, Record::offset);
        Self {
            epoch,
            records,
            head,
            head_id: None,
            floor: Offset::ZERO,
        }
    }

    /// Sets the id subscribers saw on the head event, when it is not the
    /// position's text form (an app-supplied id the engine kept); gap events
    /// then carry it, so a client resumes with an id it has seen.
    pub fn with_head_id(mut self, id: EventId) -> Self {
        self.head_id = Some(id);
        self
    }

    /// The id of the head event: the one set with [`Page::with_head_id`], or
    /// `<epoch>.<head>`.
    ///
    /// ```
    /// use tower_sse::engine::{Epoch, Offset, Page};
    ///
    /// let page = Page::new(Epoch::new("e")?, Vec::new()).with_head(Offset::from(4));
    /// assert_eq!(page.head_id(), "e.4");
    /// # Ok::<(), tower_sse::Error>(())
    /// ```
    #[must_use]
    pub fn head_id(&self) -> EventId {
        self.head_id
            .clone()
            .unwrap_or_else(|| Position::new(self.epoch, self.head).to_event_id())
    }

    /// Sets the newest offset the epoch has issued (raised to the last
    /// record's offset if lower).
    pub fn with_head(mut self, head: Offset) -> Self {
        self.head = self.head.max(head);
        self
    }

    /// Sets the newest offset no longer stored.
    pub fn with_floor(mut self, floor: Offset) -> Self {
        self.floor = floor;
        self
    }

    /// The epoch of the history read.
    #[must_use]
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The records, oldest first.
    #[must_use]
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The records, oldest first.
    #[must_use]
    pub fn into_records(self) -> Vec<Record> {
        self.records
    }

    /// The newest offset issued in this epoch.
    #[must_use]
    pub fn head(&self) -> Offset {
        self.head
    }

    /// The newest offset no longer stored.
    #[must_use]
    pub fn floor(&self) -> Offset {
        self.floor
    }

    /// Whether reading after `after` missed nothing: `after` is at or past
    /// the floor.
    #[must_use]
    pub fn covers(&self, after: Offset) -> bool {
        after >= self.floor
    }
}
