//! Checkpoints: server-side snapshots of every topic's position, which a
//! cursor names by id, and [`CheckpointStore`], where they are kept.
//!
//! A checkpoint is written before the first event whose cursor names it is
//! sent, so any server that can read the store can resume the stream. It holds
//! `(topic, position)` pairs, at most [`MAX_TOPICS`](super::Multiplexer::MAX_TOPICS)
//! of them, each name and position at most 255 bytes: at most 130 KB, usually
//! a few KB.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::time::Instant;

use crate::error::BoxError;

/// The future a [`CheckpointStore`] returns.
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send + 'static>>;

/// Where a [`Multiplexer`](super::Multiplexer) keeps its checkpoints: the
/// snapshots of every topic's position that cursors name by id.
///
/// Shipped: [`MemoryCheckpoints`] (one process) and, with the `redis` feature,
/// `RedisCheckpoints` (every server of a cluster
/// reads what any server wrote). A store of your own must be bounded: drop
/// what you must; a checkpoint that is gone costs its subscribers one
/// [gap](crate::GAP_EVENT_TYPE) per topic, never a wrong event.
///
/// ```
/// use bytes::Bytes;
/// use tower_sse::multi::{CheckpointStore, MemoryCheckpoints};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower_sse::BoxError> {
/// let store = MemoryCheckpoints::new();
/// store.save(7, Bytes::from_static(b"snapshot")).await?;
/// assert_eq!(store.load(7).await?.as_deref(), Some(&b"snapshot"[..]));
/// assert_eq!(store.load(8).await?, None);
/// # Ok(()) }
/// ```
pub trait CheckpointStore: Send + Sync + 'static {
    /// Stores `checkpoint` under `id`. An id is the low 40 bits of a keyed
    /// hash of the checkpoint, so a save of an id already stored saves the
    /// same bytes again (subscriptions in the same state all save theirs):
    /// overwrite, and count the time to live from the last save. (Should two
    /// checkpoints' ids collide, the one saved over no longer verifies the
    /// cursors that name it: their topics get gaps, never wrong positions.)
    fn save(&self, id: u64, checkpoint: Bytes) -> StoreFuture<()>;
    /// The checkpoint stored under `id`, if it is still there.
    fn load(&self, id: u64) -> StoreFuture<Option<Bytes>>;
}

/// An in-memory [`CheckpointStore`], bounded by total bytes and by age.
///
/// Eviction: when a save would take the total over
/// [`MemoryCheckpoints::max_bytes`] (default 64 MiB), the oldest checkpoints go
/// first; a checkpoint older than [`MemoryCheckpoints::ttl`] (default 24 h) is
/// gone. Open subscriptions re-save their checkpoint every half TTL, so an idle
/// but connected client never loses it by age.
///
/// ```
/// use std::time::Duration;
/// use tower_sse::multi::MemoryCheckpoints;
///
/// let store = MemoryCheckpoints::new().max_bytes(1 << 20).ttl(Duration::from_secs(600));
/// assert_eq!(store.len(), 0);
/// ```
#[derive(Clone)]
pub struct MemoryCheckpoints {
    inner: Arc<Mutex<Memory>>,
    max_bytes: usize,
    ttl: Duration,
}

#[derive(Default)]
struct Memory {
    /// Checkpoint, when saved, and the save's number.
    map: HashMap<u64, (Bytes, Instant, u64)>,
    /// Saves in order, for eviction; entries of re-saved ids are skipped.
    order: VecDeque<(u64, Instant, u64)>,
    bytes: usize,
    saves: u64,
}

/// The bookkeeping cost of one entry, so that empty checkpoints count too.
const ENTRY_OVERHEAD: usize = 64;

impl MemoryCheckpoints {
    /// The default [`MemoryCheckpoints::max_bytes`]: 64 MiB.
    pub const DEFAULT_MAX_BYTES: usize = 64 << 20;
    /// The default [`MemoryCheckpoints::ttl`]: 24 hours.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

    /// An empty store with the defaults.
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Arc::default(),
            max_bytes: Self::DEFAULT_MAX_BYTES,
            ttl: Self::DEFAULT_TTL,
        }
    }

    /// The most bytes the store keeps (checkpoints plus 64 bytes each).
    #[must_use]
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// How long a checkpoint is kept after it was (last) saved; saturates at
    /// ten years.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.min(Duration::from_secs(10 * 365 * 24 * 3600));
        self
    }

    /// The configured TTL.
    #[must_use]
    pub fn ttl_duration(&self) -> Duration {
        self.ttl
    }

    /// How many checkpoints are stored.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether the store is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes held, as counted against [`MemoryCheckpoints::max_bytes`].
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn save_now(&self, id: u64, checkpoint: Bytes) {
        let now = Instant::now();
        let cost = checkpoint.len() + ENTRY_OVERHEAD;
        let mut memory = self.lock();
        let memory = &mut *memory;
        if let Some((old, _, _)) = memory.map.remove(&id) {
            memory.bytes -= old.len() + ENTRY_OVERHEAD;
        }
        if cost > self.max_bytes {
            // It can never fit: keep the others.
            return;
        }
        // Oldest first, until the new one fits; also drop the expired.
        while let Some(&(old_id, saved, number)) = memory.order.front() {
            let expired = now.saturating_duration_since(saved) > self.ttl;
            if !expired && memory.bytes + cost <= self.max_bytes {
                break;
            }
            memory.order.pop_front();
            if memory
                .map
                .get(&old_id)
                .is_some_and(|entry| entry.2 == number)
            {
                if let Some((old, _, _)) = memory.map.remove(&old_id) {
                    memory.bytes -= old.len() + ENTRY_OVERHEAD;
                }
            }
        }
        memory.saves += 1;
        let number = memory.saves;
        memory.bytes += cost;
        memory.map.insert(id, (checkpoint, now, number));
        memory.order.push_back((id, now, number));
        // Entries of re-saved ids are bounded by the live entries.
        if memory.order.len() > 2 * memory.map.len() + 16 {
            let map = &memory.map;
            memory
                .order
                .retain(|(id, _, number)| map.get(id).is_some_and(|entry| entry.2 == *number));
        }
    }

    fn load_now(&self, id: u64) -> Option<Bytes> {
        let memory = self.lock();
        let (checkpoint, saved, _) = memory.map.get(&id)?;
        (Instant::now().saturating_duration_since(*saved) <= self.ttl).then(|| checkpoint.clone())
    }
}

impl Default for MemoryCheckpoints {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryCheckpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCheckpoints")
            .field("len", &self.len())
            .field("max_bytes", &self.max_bytes)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl CheckpointStore for MemoryCheckpoints {
    fn save(&self, id: u64, checkpoint: Bytes) -> StoreFuture<()> {
        self.save_now(id, checkpoint);
        Box::pin(std::future::ready(Ok(())))
    }

    fn load(&self, id: u64) -> StoreFuture<Option<Bytes>> {
        Box::pin(std::future::ready(Ok(self.load_now(id))))
    }
}

/// A snapshot of every topic's position: `(name, position)` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) entries: Vec<(Bytes, Bytes)>,
}

const FORMAT: u8 = 1;

impl Snapshot {
    /// `format | count | (name_len name pos_len pos)*`, lengths one byte each.
    /// Names and positions longer than 255 bytes are refused earlier.
    pub(crate) fn encode<'a, I>(entries: I) -> Bytes
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
    {
        let mut buf = BytesMut::with_capacity(256);
        buf.put_u8(FORMAT);
        buf.put_u8(0);
        let mut count = 0_u8;
        for (name, position) in entries {
            // Names are at most 255 bytes (checked at subscribe). A longer
            // position (an app's own id) is written as unknown, so that the
            // topic resumes with an `unknown-id` gap: never skipped, which
            // would move every later entry onto the wrong topic.
            let Ok(n) = u8::try_from(name.len()) else {
                continue;
            };
            let position = if position.len() > usize::from(u8::MAX) {
                &[][..]
            } else {
                position
            };
            let p = u8::try_from(position.len()).unwrap_or(0);
            buf.put_u8(n);
            buf.put_slice(name);
            buf.put_u8(p);
            buf.put_slice(position);
            count = count.saturating_add(1);
        }
        buf[1] = count;
        buf.freeze()
    }

    /// Parses what [`Snapshot::encode`] wrote; `None` for anything else.
    pub(crate) fn decode(bytes: &Bytes) -> Option<Self> {
        let (&format, rest) = bytes.split_first()?;
        let (&count, _) = rest.split_first()?;
        if format != FORMAT {
            return None;
        }
        let mut at = 2;
        let mut entries = Vec::with_capacity(usize::from(count));
        let field = |at: &mut usize| {
            let len = usize::from(*bytes.get(*at)?);
            let value = bytes.get(*at + 1..*at + 1 + len)?;
            let value = bytes.slice_ref(value);
            *at += 1 + len;
            Some(value)
        };
        for _ in 0..count {
            let name = field(&mut at)?;
            let position = field(&mut at)?;
            entries.push((name, position));
        }
        (at == bytes.len()).then_some(Self { entries })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_flood_of_checkpoints_stays_within_the_byte_bound() {
        let store = MemoryCheckpoints::new().max_bytes(10_000);
        for id in 0..10_000 {
            store.save(id, Bytes::from(vec![0; 100])).await.unwrap();
        }
        assert!(store.bytes() <= 10_000, "{}", store.bytes());
        assert_eq!(store.len(), 10_000 / 164);
        // The newest survive, the oldest were evicted.
        assert!(store.load(9_999).await.unwrap().is_some());
        assert!(store.load(0).await.unwrap().is_none());
        // One too large for the store is not kept, and evicts nothing it cannot replace.
        store.save(1, Bytes::from(vec![0; 20_000])).await.unwrap();
        assert!(store.load(1).await.unwrap().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn checkpoints_expire_after_the_ttl_and_a_resave_renews_them() {
        let store = MemoryCheckpoints::new().ttl(Duration::from_secs(10));
        store.save(1, Bytes::from_static(b"a")).await.unwrap();
        store.save(2, Bytes::from_static(b"b")).await.unwrap();
        tokio::time::advance(Duration::from_secs(6)).await;
        store.save(2, Bytes::from_static(b"b")).await.unwrap();
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(store.load(1).await.unwrap().is_none());
        assert!(store.load(2).await.unwrap().is_some());
        store.save(3, Bytes::from_static(b"c")).await.unwrap();
        assert_eq!(
            store.len(),
            2,
            "the expired one was dropped by the next save"
        );
    }

    #[test]
    fn a_snapshot_round_trips() {
        let snapshot = Snapshot::encode([(&b"room-1"[..], &b"9"[..]), (b"room-2", b"")]);
        let decoded = Snapshot::decode(&snapshot).unwrap();
        assert_eq!(decoded.entries.len(), 2);
        assert_eq!(&decoded.entries[0].0[..], b"room-1");
        assert_eq!(&decoded.entries[1].1[..], b"");
        assert!(Snapshot::decode(&Bytes::from_static(b"\x01\x01\x05ab")).is_none());
        assert!(Snapshot::decode(&Bytes::new()).is_none());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_snapshot_parser(
            bytes in proptest::collection::vec(any::<u8>(), 0..300)
        ) {
            let _ = Snapshot::decode(&Bytes::from(bytes));
        }
    }
}
