//! [`MultiSubscription`]: many topics of a hub as one stream with one cursor.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_core::Stream;
use futures_util::stream::StreamExt;
use tokio::time::{Instant, Sleep};

use super::audience::{includes, Tag};
use super::checkpoint::{Snapshot, StoreFuture};
use super::cursor::{self, Cursor};
use super::item::{MultiEvent, Named, Written};
use super::multiplexer::Multiplexer;
use super::pool::RunPool;
use super::position::Position;
use super::ready::ReadySet;
use super::steps::Steps;
use crate::channel::header::{scan, Header};
use crate::channel::Delivery;
use crate::event::EncodedEvent;
use crate::Subscription;

const GAP_LINE: &[u8] = b"event: sse-gap\n";
const TYPE_PREFIX: &[u8] = b"event: ";
/// How much buffer the per-event stream takes at a time for the events it
/// writes: one allocation for a few dozen events.
const EVENT_BUFFER: usize = 4096;
/// What an event takes after its type line: `id: `, a cursor, two line ends.
const TAIL_CURSOR: usize = 4 + super::cursor::MAX_CURSOR_LEN + 2;
/// The retry hint sent when a checkpoint cannot be saved.
const SAVE_FAILED_RETRY: &[u8] = b"retry: 2000\n";

/// How a topic's first event from the hub is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// Already positioned: every event is forwarded.
    Resolved,
    /// Started live: the hub's gap event only says where it starts.
    Swallow,
    /// Its position was lost: the hub's gap event is announced with this reason.
    Announce(&'static str),
}

/// One topic of the subscription.
pub(crate) struct TopicState {
    /// `event: <name>\n`, which holds the name too (one allocation per
    /// topic, not two).
    type_line: Box<[u8]>,
    /// The id of the last event delivered (or skipped); empty when unknown.
    position: Position,
    /// Its position in the current checkpoint.
    checkpoint: Position,
    pub(crate) start: Start,
}

impl TopicState {
    /// The topic's name.
    pub(crate) fn name(&self) -> &[u8] {
        let line = &self.type_line;
        line.get(TYPE_PREFIX.len()..line.len().saturating_sub(1))
            .unwrap_or_default()
    }

    pub(crate) fn new(name: &str, position: Bytes, start: Start) -> Self {
        let type_line = [TYPE_PREFIX, name.as_bytes(), b"\n"]
            .concat()
            .into_boxed_slice();
        let position = Position::from_bytes(position);
        Self {
            type_line,
            checkpoint: position.clone(),
            position,
            start,
        }
    }
}

/// One hub subscription, tagged with its topic's index; yields `(index,
/// None)` once when it ends.
pub(crate) struct Tagged {
    index: u8,
    inner: Option<Subscription>,
}

impl Tagged {
    pub(crate) fn new(index: u8, inner: Subscription) -> Self {
        Self {
            index,
            inner: Some(inner),
        }
    }
}

impl Stream for Tagged {
    /// The event, with its header when the hub read it already.
    type Item = (u8, Option<(EncodedEvent, Option<Header>)>);

    #[inline]
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let item = ready!(inner.poll_next_with_header(cx));
        if item.is_none() {
            self.inner = None;
        }
        Poll::Ready(Some((self.index, item)))
    }
}

/// An event waiting to be given its cursor.
struct Pending {
    /// The topic it belongs to.
    topic: usize,
    /// Where it moves the topic.
    position: Option<Position>,
    /// The bytes `body` is a range of.
    bytes: Bytes,
    body: std::ops::Range<usize>,
    /// A gap event (named apart from its type), or one of the topic's.
    gap: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the hub to say where each live-started topic starts.
    Starting,
    Running,
    Done,
}

/// A stream of the events of many topics, from
/// [`Multiplexer::subscribe`](super::Multiplexer::subscribe): put it into an
/// [`EventStream`](crate::EventStream).
///
/// It yields [`MultiEvent`]s: first a priming event (an id and no data, so
/// that a reconnect resumes from here even if nothing was published), then
/// every event of every topic exactly once and in order per topic, each
/// carrying its topic as the event type and the cursor as its id. A topic
/// whose history no longer covers its position gets its own
/// [gap event](crate::GAP_EVENT_TYPE) with data
/// `{"topic":"<name>","reason":"<reason>"}`; the others resume exactly.
///
/// The stream ends (cleanly; the browser reconnects and resumes) when a topic
/// subscription ends (its subscriber fell behind under
/// [`SlowConsumer::Disconnect`](crate::SlowConsumer::Disconnect), or the
/// topic or hub was closed), when a checkpoint cannot be saved (with a
/// `retry:` hint), and at the subscriber's expiry (with an `sse-expired` event
/// and a `retry:` hint).
///
/// Put it into a response with `EventStream::from(subscription)`: the events
/// are then written in runs straight into the frames (see
/// [`MultiFrames`](super::MultiFrames)). `EventStream::new` works too, and
/// so does reading it as a stream of [`MultiEvent`]s, at the cost of one
/// buffer slice per event.
///
/// Only topics with something to deliver are polled: one event among 64
/// topics costs one topic's poll and a cursor: the subscription keeps its
/// cursor's bytes and text, so a topic that moves again costs a `SipHash`
/// finished over its own delta and the text of that delta and the tag; and
/// a subscription in the same state as another (same subscriber, topics and
/// positions) copies the step the other took (see the [module](super) docs).
// `repr(C)` keeps the fields in this order: those every delivery reads
// first, so that they take a few cache lines and not most of the ~1.2 KB
// (each of hundreds of streams is cold by the time its next event comes).
#[repr(C)]
pub struct MultiSubscription {
    phase: Phase,
    /// The last run ended with nothing else ready and the parent registered
    /// to be woken: a poll right after it would find nothing.
    ran_dry: bool,
    /// The run being written may start with a step's whole event, shared
    /// (see [`Self::poll_run`]).
    sharing: bool,
    /// The timers changed and must be polled (to register their waker).
    timers_dirty: bool,
    saving: Option<StoreFuture<()>>,
    queue: VecDeque<Pending>,
    live: ReadySet<Tagged>,
    topics: Box<[TopicState]>,
    /// The multiplexer's step table (`multi.steps`), here beside the rest
    /// a delivery reads.
    steps: Arc<Steps>,
    subscriber: u64,
    audience: Option<Tag>,
    /// That event, while nothing follows it in the run.
    first: Option<Bytes>,
    /// The cursor, kept current as the topics move (what a step reads and
    /// writes first in it).
    cursor: Cursor,
    // The rest.
    multi: Multiplexer,
    starting: Vec<Tagged>,
    checkpoint_id: u64,
    /// An event written while its checkpoint is being saved: sent once saved.
    held: Option<(BytesMut, Written)>,
    /// Where the per-event stream writes its events.
    events: BytesMut,
    refreshing: Option<StoreFuture<()>>,
    refresh: Pin<Box<Sleep>>,
    expiry: Option<Pin<Box<Sleep>>>,
}

/// `now + duration`, saturating at about 30 years.
pub(crate) fn deadline(duration: Duration) -> Instant {
    let max = Duration::from_secs(30 * 365 * 24 * 3600);
    let now = Instant::now();
    now.checked_add(duration.min(max)).unwrap_or(now)
}

impl MultiSubscription {
    pub(crate) fn new(
        multi: Multiplexer,
        topics: Vec<TopicState>,
        children: Vec<Tagged>,
        subscriber: u64,
        audience: Option<Tag>,
        expiry: Option<Duration>,
    ) -> Self {
        let mut starting = Vec::new();
        let mut live = ReadySet::new();
        for child in children {
            if topics[usize::from(child.index)].start == Start::Resolved {
                live.push(child);
            } else {
                starting.push(child);
            }
        }
        Self {
            topics: topics.into_boxed_slice(),
            starting,
            live,
            timers_dirty: true,
            queue: VecDeque::new(),
            checkpoint_id: 0,
            cursor: Cursor::new(&multi.key, subscriber, 0),
            saving: None,
            held: None,
            events: BytesMut::new(),
            refreshing: None,
            refresh: Box::pin(tokio::time::sleep_until(deadline(multi.refresh_every))),
            expiry: expiry.map(|e| Box::pin(tokio::time::sleep_until(deadline(e)))),
            steps: Arc::clone(&multi.steps),
            multi,
            ran_dry: false,
            sharing: false,
            first: None,
            subscriber,
            audience,
            phase: Phase::Starting,
        }
    }

    /// The topics, in the order they were requested.
    ///
    /// ```
    /// use tower_sse::{multi::{MultiRequest, Multiplexer}, Hub};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::multi::Refusal> {
    /// let multi = Multiplexer::new(Hub::new());
    /// let stream = multi.subscribe(MultiRequest::new(["a", "b"])).await?;
    /// assert_eq!(stream.topics().collect::<Vec<_>>(), ["a", "b"]);
    /// # Ok(()) }
    /// ```
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.topics
            .iter()
            .map(|t| std::str::from_utf8(t.name()).unwrap_or(""))
    }

    /// Appends one event to `out`: `body` (lines of a hub event, or the
    /// stream's own), `line` (its type), the `id:` line with the current
    /// cursor (unless `with_cursor` is false) and the blank line.
    #[inline]
    fn write(
        &mut self,
        body: &[u8],
        line: Line,
        with_cursor: bool,
        named: Named,
        out: &mut BytesMut,
    ) -> Written {
        let (topic, line) = match line {
            #[allow(clippy::cast_possible_truncation)]
            Line::Topic(i) => (Some(i as u8), &self.topics[i].type_line[..]),
            Line::Static(line) => (None, line),
        };
        let start = out.len();
        out.reserve(body.len() + line.len() + TAIL_CURSOR);
        out.extend_from_slice(body);
        let lines = out.len() - start;
        let mut cursor = (0, 0);
        if with_cursor {
            let (from, len) = self.cursor.write_tail(topic, line, out);
            cursor = (lines + from, lines + from + len);
        } else {
            out.extend_from_slice(line);
            out.extend_from_slice(b"\n");
        }
        Written {
            lines,
            cursor,
            named,
        }
    }

    fn snapshot(&self) -> Bytes {
        Snapshot::encode(
            self.topics
                .iter()
                .map(|t| (t.name(), t.checkpoint.as_slice())),
        )
    }

    /// Starts a new checkpoint of every topic's current position.
    ///
    /// Its id is a keyed hash of what it holds, so that subscriptions to the
    /// same topics at the same positions name the same checkpoint and take
    /// the same cursor steps (see [`Steps`](super::steps::Steps)).
    fn checkpoint(&mut self) {
        for topic in &mut *self.topics {
            topic.checkpoint = topic.position.clone();
        }
        let snapshot = self.snapshot();
        let hash = cursor::checkpoint_hash(&self.multi.key, &snapshot);
        self.checkpoint_id = cursor::checkpoint_id(hash);
        self.cursor = Cursor::new(&self.multi.key, self.subscriber, hash);
        self.saving = Some(self.multi.store.save(self.checkpoint_id, snapshot));
        self.refresh
            .as_mut()
            .reset(deadline(self.multi.refresh_every));
        self.timers_dirty = true;
    }

    /// Moves topic `i` to `position`. Returns `false` when the delta does not
    /// fit the cursor: the caller checkpoints (or, with `optional`, nothing
    /// changed).
    #[inline]
    fn set_position(
        &mut self,
        i: usize,
        position: &[u8],
        within: Option<&Bytes>,
        optional: bool,
    ) -> bool {
        let fits = self.move_cursor(i, position);
        if fits || !optional {
            self.topics[i].position.set(position, within);
        }
        fits
    }

    /// Moves topic `i`'s delta in the cursor to `position` (not the topic's
    /// own position); `false` when it does not fit, and nothing changed.
    #[inline]
    fn move_cursor(&mut self, i: usize, position: &[u8]) -> bool {
        let checkpoint = self.topics[i].checkpoint.as_slice();
        #[allow(clippy::cast_possible_truncation)]
        let index = i as u8;
        let prefix = cursor::common_prefix(checkpoint, position);
        if prefix == position.len() && prefix == checkpoint.len() {
            // Back at its checkpointed position: no delta.
            self.cursor.remove(index);
            true
        } else {
            self.cursor.set(index, prefix, &position[prefix..])
        }
    }

    /// Gives `pending` its cursor and writes it into `out`; `None` when it
    /// is held until a checkpoint is saved.
    #[inline]
    fn stage(&mut self, pending: Pending, out: &mut BytesMut) -> Option<Written> {
        let i = pending.topic;
        if let Some(position) = pending.position {
            if !self.set_position(i, position.as_slice(), position.shared(), false) {
                self.checkpoint();
            }
        }
        let (line, named) = if pending.gap {
            (Line::Static(GAP_LINE), Named::Topic(i))
        } else {
            (Line::Topic(i), Named::TypeLine)
        };
        let body = pending.bytes.get(pending.body).unwrap_or_default();
        self.emit(body, line, named, out)
    }

    /// Writes an event with the current cursor into `out`, or holds it while
    /// the checkpoint its cursor names is being saved (`None`).
    #[inline]
    fn emit(
        &mut self,
        body: &[u8],
        line: Line,
        named: Named,
        out: &mut BytesMut,
    ) -> Option<Written> {
        if self.saving.is_none() {
            return Some(self.write(body, line, true, named, out));
        }
        let mut held = BytesMut::new();
        let written = self.write(body, line, true, named, &mut held);
        self.held = Some((held, written));
        None
    }

    fn gap(&self, i: usize, reason: &[u8], position: Option<Position>) -> Pending {
        let name = self.topics[i].name();
        let mut body = BytesMut::with_capacity(name.len() + reason.len() + 32);
        body.put_slice(b"data: {\"topic\":");
        json_string(&mut body, name);
        body.put_slice(b",\"reason\":");
        json_string(&mut body, reason);
        body.put_slice(b"}\n");
        Pending {
            topic: i,
            position,
            body: 0..body.len(),
            bytes: body.freeze(),
            gap: true,
        }
    }

    /// Delivers one event of topic `i` from the hub into `out`: the path of
    /// nearly every event (a resolved topic, no gap), without a copy of its
    /// position or a [`Pending`]; the others go through [`Self::accept`].
    #[inline]
    fn deliver(
        &mut self,
        i: usize,
        event: EncodedEvent,
        header: Option<Header>,
        out: &mut BytesMut,
    ) -> Option<Written> {
        let bytes = event.as_bytes();
        let header = header.unwrap_or_else(|| scan(bytes));
        if header.gap || self.topics[i].start != Start::Resolved {
            let pending = self.accept(i, event)?;
            return self.stage(pending, out);
        }
        // A position a cursor cannot hold (an app id over 255 bytes) is kept
        // as unknown: a resume then announces an `unknown-id` gap.
        let position = header.id().map(|id| {
            bytes
                .get(id)
                .filter(|id| id.len() <= usize::from(u8::MAX))
                .unwrap_or_default()
        });
        if let Some(audience) = header.audience() {
            if !includes(&bytes[audience], self.audience.as_ref()) {
                // Not for this subscriber: move past it when that is free.
                if let Some(position) = position {
                    self.set_position(i, position, Some(bytes), true);
                }
                return None;
            }
        }
        let body = bytes.get(header.payload()).unwrap_or_default();
        let Some(position) = position else {
            return self.emit(body, Line::Topic(i), Named::TypeLine, out);
        };
        // While a checkpoint is saved the event is held, not written; a
        // cursor that moved since it was last written has no step to share.
        #[allow(clippy::cast_possible_truncation)]
        let index = i as u8;
        let key = if self.saving.is_none() {
            let steps = &self.steps;
            let step = (index, position, header.id_count());
            steps.key(self.subscriber, &self.cursor, step)
        } else {
            None
        };
        let Some(key) = key else {
            if !self.set_position(i, position, Some(bytes), false) {
                self.checkpoint();
            }
            return self.emit(body, Line::Topic(i), Named::TypeLine, out);
        };
        // The topic moves whether the step is taken or computed (and before
        // a checkpoint, which reads it).
        self.topics[i].position.set(position, Some(bytes));
        let start = out.len();
        let lines = body.len();
        // Another subscription in the same state may have taken this step;
        // a run's first event is then sent as it left it, when it kept it.
        if self.sharing && out.is_empty() && self.first.is_none() {
            if let Some((whole, at)) = self.steps.take_whole(&key, &mut self.cursor, body) {
                self.first = Some(whole);
                return Some(Written {
                    lines,
                    cursor: (lines + at.0, lines + at.0 + at.1),
                    named: Named::TypeLine,
                });
            }
        }
        let at = if let Some(at) = self.steps.take(&key, &mut self.cursor, body, out) {
            at
        } else {
            out.reserve(body.len() + TAIL_CURSOR + self.topics[i].type_line.len());
            out.extend_from_slice(body);
            if !self.move_cursor(i, position) {
                out.truncate(start);
                self.checkpoint();
                return self.emit(body, Line::Topic(i), Named::TypeLine, out);
            }
            let at = self
                .cursor
                .write_tail(Some(index), &self.topics[i].type_line, out);
            let tail = &out[start + lines..];
            self.steps.leave(&key, &self.cursor, tail, at);
            at
        };
        Some(Written {
            lines,
            cursor: (lines + at.0, lines + at.0 + at.1),
            named: Named::TypeLine,
        })
    }

    /// Writes the current topic's next live events into `out`, while its
    /// turn and `budget` last and each is a step another subscription in the
    /// same state left (see [`Steps`](super::steps::Steps)): the path of
    /// every follower, read straight from the topic's hub subscription, with
    /// no poll and no move of the event through the layers between. Returns
    /// how many it wrote, and the event it read but left to
    /// [`Self::deliver`] (any other than such a step).
    #[inline]
    fn follow(&mut self, out: &mut BytesMut, budget: usize) -> (usize, Option<(usize, Delivery)>) {
        if self.saving.is_some() {
            return (0, None);
        }
        let Some((tagged, left)) = self.live.current() else {
            return (0, None);
        };
        let index = tagged.index;
        let i = usize::from(index);
        let (Some(hub), Some(topic)) = (tagged.inner.as_mut(), self.topics.get_mut(i)) else {
            return (0, None);
        };
        if topic.start != Start::Resolved {
            return (0, None);
        }
        let (steps, cursor, subscriber) = (&self.steps, &mut self.cursor, self.subscriber);
        let mut n = 0;
        let mut rest = None;
        while n < left && out.len() < budget {
            let Some(delivery) = hub.try_live() else {
                break;
            };
            // Something follows the run's first event: it is written too.
            unshare(&mut self.first, out);
            let (header, bytes) = (&delivery.header, delivery.event.as_bytes());
            // Any event but a plain one with a short id is `deliver`'s.
            let position = header
                .id()
                .filter(|_| !header.gap && header.audience().is_none())
                .and_then(|id| bytes.get(id));
            let taken = position.is_some_and(|position| {
                steps
                    .key(subscriber, cursor, (index, position, header.id_count()))
                    .and_then(|key| {
                        let body = bytes.get(header.payload()).unwrap_or_default();
                        steps.take(&key, cursor, body, out)
                    })
                    .is_some()
            });
            match position {
                Some(position) if taken => topic.position.set(position, Some(bytes)),
                _ => {
                    rest = Some((i, delivery));
                    break;
                }
            }
            n += 1;
        }
        self.live.took(n + usize::from(rest.is_some()));
        (n, rest)
    }

    /// Reads one event of topic `i` from the hub: what to send, if anything.
    fn accept(&mut self, i: usize, event: EncodedEvent) -> Option<Pending> {
        let bytes = event.into_bytes();
        let header = scan(&bytes);
        // A position a cursor cannot hold (an app id over 255 bytes) is kept
        // as unknown: a resume then announces an `unknown-id` gap.
        let position = header.id().map(|id| {
            if id.len() > usize::from(u8::MAX) {
                Position::empty()
            } else {
                Position::within(&bytes, id)
            }
        });
        let start = std::mem::replace(&mut self.topics[i].start, Start::Resolved);
        if header.gap {
            return match start {
                Start::Swallow => {
                    if let Some(position) = position {
                        self.topics[i].position = position.clone();
                        self.topics[i].checkpoint = position;
                    }
                    None
                }
                Start::Announce(reason) => Some(self.gap(i, reason.as_bytes(), position)),
                Start::Resolved => Some(self.gap(i, gap_reason(&bytes, &header), position)),
            };
        }
        if let Some(audience) = header.audience() {
            if !includes(&bytes[audience], self.audience.as_ref()) {
                // Not for this subscriber: move past it when that is free.
                if let Some(position) = position {
                    self.set_position(i, position.as_slice(), position.shared(), true);
                }
                return None;
            }
        }
        Some(Pending {
            topic: i,
            position,
            bytes,
            body: header.payload(),
            gap: false,
        })
    }

    /// Polls the live-started topics until each has said where it starts.
    fn poll_starting(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut n = 0;
        while n < self.starting.len() {
            match self.starting[n].poll_next_unpin(cx) {
                Poll::Ready(Some((i, Some((event, _))))) => {
                    let child = self.starting.swap_remove(n);
                    self.live.push(child);
                    let i = usize::from(i);
                    let start = self.topics[i].start;
                    let gap = scan(event.as_bytes()).gap;
                    if let Some(pending) = self.accept(i, event) {
                        if let (Start::Announce(reason), false) = (start, gap) {
                            // Not the expected gap: announce anyway, then deliver.
                            self.queue.push_back(self.gap(i, reason.as_bytes(), None));
                        }
                        self.queue.push_back(pending);
                    }
                }
                Poll::Ready(_) => {
                    self.finish();
                    return Poll::Ready(());
                }
                Poll::Pending => n += 1,
            }
        }
        if self.starting.is_empty() {
            // Let go of its room (a topic stream for every topic).
            self.starting = Vec::new();
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Every topic has a position (or is about to be announced): save the
    /// first checkpoint and prime the browser's id with it.
    fn begin(&mut self) {
        self.phase = Phase::Running;
        self.checkpoint();
        if self.queue.is_empty() {
            // Held: the checkpoint is being saved now.
            let _ = self.emit(b"", Line::Static(b""), Named::None, &mut BytesMut::new());
        }
    }

    fn poll_refresh(&mut self, cx: &mut Context<'_>) {
        if let Some(refreshing) = self.refreshing.as_mut() {
            if refreshing.as_mut().poll(cx).is_ready() {
                self.refreshing = None;
            }
        }
        if self.phase == Phase::Running && self.refresh.as_mut().poll(cx).is_ready() {
            // Re-save the same checkpoint, so an idle stream's id stays valid.
            let save = self.multi.store.save(self.checkpoint_id, self.snapshot());
            self.refreshing = Some(save);
            self.refresh
                .as_mut()
                .reset(deadline(self.multi.refresh_every));
            self.poll_refresh(cx);
        }
    }

    /// Polls the refresh and expiry timers; `true` when the expiry passed.
    fn poll_timers(&mut self) -> bool {
        let waker = self.live.side_waker().clone();
        let mut cx = Context::from_waker(&waker);
        self.poll_refresh(&mut cx);
        self.expiry
            .as_mut()
            .is_some_and(|expiry| expiry.as_mut().poll(&mut cx).is_ready())
    }

    fn expire(&mut self, out: &mut BytesMut) -> Written {
        let retry = self.multi.expiry_retry.as_millis();
        let body = format!("retry: {retry}\ndata: expired\n");
        let with_cursor = self.phase == Phase::Running;
        let line = Line::Static(b"event: sse-expired\n");
        let written = self.write(body.as_bytes(), line, with_cursor, Named::None, out);
        self.finish();
        written
    }

    fn finish(&mut self) {
        self.phase = Phase::Done;
        self.starting.clear();
        self.live.clear();
        self.queue.clear();
        self.saving = None;
        self.held = None;
    }
}

/// The type line of an event's tail.
#[derive(Clone, Copy)]
enum Line {
    /// The topic's own.
    Topic(usize),
    Static(&'static [u8]),
}

/// Puts a run's first event, if it was left whole (`first`), into `out`:
/// what follows it is written there.
#[inline]
fn unshare(first: &mut Option<Bytes>, out: &mut BytesMut) {
    if let Some(first) = first.take() {
        out.extend_from_slice(&first);
    }
}

/// The reason of a hub gap event: its first data line.
fn gap_reason<'a>(bytes: &'a [u8], header: &Header) -> &'a [u8] {
    let rest = bytes.get(header.body()).unwrap_or_default();
    rest.split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"data: "))
        .unwrap_or(b"unknown")
}

/// Writes `value` as a JSON string.
fn json_string(buf: &mut BytesMut, value: &[u8]) {
    buf.put_u8(b'"');
    for &b in String::from_utf8_lossy(value).as_bytes() {
        match b {
            b'"' => buf.put_slice(b"\\\""),
            b'\\' => buf.put_slice(b"\\\\"),
            0..=0x1f => {
                let hex = b"0123456789abcdef";
                buf.put_slice(b"\\u00");
                buf.put_u8(hex[usize::from(b >> 4)]);
                buf.put_u8(hex[usize::from(b & 0xf)]);
            }
            _ => buf.put_u8(b),
        }
    }
    buf.put_u8(b'"');
}

impl MultiSubscription {
    /// Appends the next event to `out`; `Ready(None)` once the stream ended.
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut BytesMut,
    ) -> Poll<Option<Written>> {
        loop {
            if self.phase == Phase::Done {
                return Poll::Ready(None);
            }
            if let Some(saving) = self.saving.as_mut() {
                let saved = ready!(saving.as_mut().poll(cx));
                self.saving = None;
                match saved {
                    Ok(()) => {
                        if let Some((held, written)) = self.held.take() {
                            out.extend_from_slice(&held);
                            return Poll::Ready(Some(written));
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "checkpoint not saved; ending the multi-topic stream");
                        self.finish();
                        let line = Line::Static(b"");
                        let written = self.write(SAVE_FAILED_RETRY, line, false, Named::None, out);
                        return Poll::Ready(Some(written));
                    }
                }
            }
            // Timers are polled with their own waker, only when they woke
            // (or were just armed): not on every delivery.
            // Outside the running phase the parent waker is registered here;
            // while running, by the ready set before it answers `Pending`.
            let register = self.phase != Phase::Running;
            let timers =
                self.live.take_side_wake(cx, register) | std::mem::take(&mut self.timers_dirty);
            if timers && self.poll_timers() {
                return Poll::Ready(Some(self.expire(out)));
            }
            match self.phase {
                Phase::Starting => {
                    ready!(self.poll_starting(cx));
                    if self.phase == Phase::Starting {
                        self.begin();
                    }
                }
                Phase::Running => {
                    if let Some(pending) = self.queue.pop_front() {
                        if let Some(written) = self.stage(pending, out) {
                            return Poll::Ready(Some(written));
                        }
                        continue;
                    }
                    let next = ready!(self.live.poll_next_item(cx)).map(|(_, item)| item);
                    match next {
                        Some((i, Some(event))) => {
                            let (event, header) = event;
                            let i = usize::from(i);
                            if let Some(written) = self.deliver(i, event, header, out) {
                                return Poll::Ready(Some(written));
                            }
                        }
                        Some((_, None)) | None => {
                            self.finish();
                            return Poll::Ready(None);
                        }
                    }
                }
                Phase::Done => return Poll::Ready(None),
            }
        }
    }

    /// Whether a poll now would find nothing: polled again right after a run
    /// (or for nothing), with no topic and no timer woken since, nothing
    /// else can have happened. `cx` is registered first, so a wake that
    /// comes after this answer is not lost.
    pub(crate) fn is_idle(&self, cx: &Context<'_>) -> bool {
        self.phase == Phase::Running
            && self.saving.is_none()
            && self.queue.is_empty()
            && !self.timers_dirty
            && self.live.is_idle(cx)
    }

    /// Appends the events that are ready to `out`, until it holds `budget`
    /// bytes: how many, `Ready(None)` once the stream ended (with nothing
    /// written), `Pending` when nothing was ready.
    ///
    /// While the topic that delivered the last event has more, its events are
    /// read straight from it (up to its turn), without the checks between
    /// events that [`Self::poll_write`] makes; those run again after it.
    /// The caller asks [`Self::is_idle`] first (before it prepares `out`).
    ///
    /// With `share`, a run of one event that another subscription in the
    /// same state left whole (see [`Steps`](super::steps::Steps)) is not
    /// written into `out`: it is then left empty, and
    /// [`Self::take_first`] gives the event's shared bytes.
    pub(crate) fn poll_run(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut BytesMut,
        budget: usize,
        share: bool,
    ) -> Poll<Option<u64>> {
        self.sharing = share && out.is_empty();
        let run = self.write_run(cx, out, budget);
        self.sharing = false;
        run
    }

    /// The run's event left whole, after a [`Self::poll_run`] that wrote
    /// nothing into its buffer.
    pub(crate) fn take_first(&mut self) -> Option<Bytes> {
        self.first.take()
    }

    fn write_run(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut BytesMut,
        budget: usize,
    ) -> Poll<Option<u64>> {
        let mut events = 0;
        self.ran_dry = false;
        while out.len() < budget {
            if events > 0
                && self.phase == Phase::Running
                && self.saving.is_none()
                && self.queue.is_empty()
            {
                let (n, rest) = self.follow(out, budget);
                events += n as u64;
                if let Some((i, delivery)) = rest {
                    let Delivery { event, header, .. } = delivery;
                    if self.deliver(i, event, Some(header), out).is_some() {
                        events += 1;
                    }
                    continue;
                }
                if out.len() >= budget {
                    break;
                }
                match self.live.poll_current() {
                    Some((_, (i, Some((event, header))))) => {
                        unshare(&mut self.first, out);
                        if self.deliver(usize::from(i), event, header, out).is_some() {
                            events += 1;
                        }
                        continue;
                    }
                    Some((_, (_, None))) => {
                        self.finish();
                        break;
                    }
                    None => {}
                }
                // That topic has nothing more: with nothing else woken the
                // run ends here, `cx` registered (what `poll_write` would
                // find, without its checks and a second look at the marks).
                if self.is_idle(cx) {
                    self.ran_dry = true;
                    break;
                }
            }
            unshare(&mut self.first, out);
            match self.poll_write(cx, out) {
                Poll::Ready(Some(_)) => events += 1,
                Poll::Ready(None) if events == 0 => return Poll::Ready(None),
                Poll::Pending if events == 0 => return Poll::Pending,
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
        Poll::Ready(Some(events))
    }

    /// Whether the last [`Self::poll_run`] ended with nothing else ready,
    /// `cx` registered: polled right after it, the stream would be
    /// [idle](Self::is_idle).
    pub(crate) fn ran_dry(&self) -> bool {
        self.ran_dry
    }

    /// The pool of its big runs' buffers (its multiplexer's).
    pub(crate) fn runs(&self) -> &Arc<RunPool> {
        &self.multi.runs
    }

    /// The name of topic `i`.
    pub(crate) fn name(&self, i: usize) -> &[u8] {
        self.topics[i].name()
    }
}

impl Stream for MultiSubscription {
    type Item = MultiEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<MultiEvent>> {
        let this = self.get_mut();
        let mut out = std::mem::take(&mut this.events);
        if !out.try_reclaim(EVENT_BUFFER) && out.capacity() < EVENT_BUFFER / 2 {
            out.reserve(EVENT_BUFFER);
        }
        let next = this.poll_write(cx, &mut out).map(|written| {
            written.map(|written| MultiEvent::new(out.split().freeze(), written, this))
        });
        this.events = out;
        next
    }
}

impl fmt::Debug for MultiSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiSubscription")
            .field("topics", &self.topics.len())
            .field("phase", &self.phase)
            .field("checkpoint", &self.checkpoint_id)
            .field("deltas", &self.cursor.deltas())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use crate::multi::{MultiRequest, Multiplexer};
    use crate::Hub;

    /// An idle stream keeps room for its topic streams once, not twice.
    #[tokio::test]
    async fn once_started_the_stream_keeps_no_room_for_starting_topics() {
        let multi = Multiplexer::new(Hub::new());
        let mut stream = multi
            .subscribe(MultiRequest::new(["a", "b", "c"]))
            .await
            .unwrap();
        assert_eq!(stream.starting.len(), 3);
        let priming = stream.next().await.unwrap();
        assert_eq!(priming.topic(), None);
        assert_eq!(stream.starting.capacity(), 0);
    }

    /// What a delivery reads of a subscription (its flags, ready set, topics,
    /// step table, then the cursor, whose own first bytes are what a step
    /// reads) comes first, not spread over its ~1.2 KB: hundreds of streams
    /// are cold by the time their next event comes, and each line is a
    /// cache miss.
    #[test]
    fn what_a_delivery_reads_comes_first() {
        use std::mem::{offset_of, size_of};

        use super::MultiSubscription;

        let cursor = offset_of!(MultiSubscription, cursor);
        assert!(cursor <= 256, "{cursor}");
        assert!(offset_of!(MultiSubscription, multi) > cursor);
        assert!(size_of::<MultiSubscription>() > 1024);
    }
}
