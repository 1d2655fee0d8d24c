//! [`ReadySet`]: polls only the topic subscriptions that were woken, with one
//! waker per topic made once, so a delivery costs no allocation (unlike
//! `SelectAll`, which re-boxes a stream after every item).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_core::Stream;
use futures_util::task::AtomicWaker;

/// How many items in a row one stream may yield before the others get a turn.
const TURN: usize = 32;
/// How many streams a set holds at most (a multi-topic subscription has at
/// most [`Multiplexer::MAX_TOPICS`](super::Multiplexer::MAX_TOPICS)).
pub(crate) const CAPACITY: usize = 256;
const WORDS: usize = CAPACITY / 64;

/// The woken streams, shared with their wakers: one bit per stream, so a
/// wake costs no lock and no queue (and a delivery touches one small
/// allocation instead of a queue and its buffer). Its 64 bytes are one
/// cache line: a wake reads the marks and wakes the parent in one.
#[repr(C, align(64))]
struct Shared {
    /// Bit `i`: stream `i` was woken and is to be polled.
    ready: [AtomicU64; WORDS],
    /// A timer (or other side future) polled with [`ReadySet::side_waker`] woke.
    side: AtomicBool,
    parent: AtomicWaker,
}

impl Shared {
    /// Marks stream `index` as woken; `true` when it was not already.
    fn mark(&self, index: usize) -> bool {
        let (word, bit) = (&self.ready[index / 64], 1 << (index % 64));
        // Read before writing: a stream woken twice costs one atomic write.
        word.load(Ordering::Acquire) & bit == 0 && word.fetch_or(bit, Ordering::AcqRel) & bit == 0
    }

    fn is_marked(&self, index: usize) -> bool {
        self.ready[index / 64].load(Ordering::Acquire) & (1 << (index % 64)) != 0
    }

    /// Wakes from now on mark stream `index` again.
    fn unmark(&self, index: usize) {
        let (word, bit) = (&self.ready[index / 64], 1_u64 << (index % 64));
        if word.load(Ordering::Acquire) & bit != 0 {
            word.fetch_and(!bit, Ordering::AcqRel);
        }
    }

    /// The first woken stream at or after `from` (cyclically) among the
    /// first `len`.
    fn first_marked(&self, from: usize, len: usize) -> Option<usize> {
        let words = len.div_ceil(64).min(WORDS);
        let from = if from < len { from } else { 0 };
        // The word of `from` from its bit on, the other words, then the
        // word of `from` below its bit.
        let start = from / 64;
        for step in 0..=words {
            // `start + step` is under `2 * words`.
            let w = if start + step >= words {
                start + step - words
            } else {
                start + step
            };
            let mut bits = self.ready.get(w)?.load(Ordering::Acquire);
            if step == 0 {
                bits &= u64::MAX << (from % 64);
            } else if step == words {
                bits &= !(u64::MAX << (from % 64));
            }
            if bits != 0 {
                return Some(w * 64 + bits.trailing_zeros() as usize);
            }
        }
        None
    }

    /// Whether any stream but `index` is woken.
    fn others_marked(&self, index: usize) -> bool {
        self.ready.iter().enumerate().any(|(w, word)| {
            let mut bits = word.load(Ordering::Acquire);
            if w == index / 64 {
                bits &= !(1 << (index % 64));
            }
            bits != 0
        })
    }
}

/// Wakes the parent for a side future: sets the flag, marks no stream.
struct SideWaker(Arc<Shared>);

impl Wake for SideWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.side.store(true, Ordering::Release);
        self.0.parent.wake();
    }
}

struct ChildWaker {
    index: usize,
    shared: Arc<Shared>,
}

impl ChildWaker {
    fn enqueue(&self) {
        if self.shared.mark(self.index) {
            self.shared.parent.wake();
        }
    }
}

impl Wake for ChildWaker {
    fn wake(self: Arc<Self>) {
        self.enqueue();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.enqueue();
    }
}

/// A set of streams polled as one, yielding `(index, item)`; a stream that
/// ends yields nothing more and is dropped. Woken streams are polled in turn
/// by index, from the one after the last polled.
pub(crate) struct ReadySet<S> {
    /// Each stream with the waker it is polled with.
    slots: Vec<Option<(S, Waker)>>,
    shared: Arc<Shared>,
    side: Waker,
    /// The stream being drained, and how many items it yielded in a row.
    current: Option<(usize, usize)>,
    /// Where the look for the next woken stream starts.
    next: usize,
    live: usize,
}

impl<S> ReadySet<S>
where
    S: Stream + Unpin,
{
    pub(crate) fn new() -> Self {
        let shared = Arc::new(Shared {
            ready: Default::default(),
            side: AtomicBool::new(false),
            parent: AtomicWaker::new(),
        });
        Self {
            slots: Vec::new(),
            side: Waker::from(Arc::new(SideWaker(Arc::clone(&shared)))),
            shared,
            current: None,
            next: 0,
            live: 0,
        }
    }

    /// The waker to poll side futures (timers) with: their wake sets a flag
    /// that [`ReadySet::take_side_wake`] reads, so they are polled only when
    /// they woke, not on every delivery.
    pub(crate) fn side_waker(&self) -> &Waker {
        &self.side
    }

    /// Whether a side future woke since the last call; with `register`,
    /// registers `cx` as the parent to wake (otherwise
    /// [`ReadySet::poll_next_item`] does, before it answers `Pending`).
    pub(crate) fn take_side_wake(&self, cx: &Context<'_>, register: bool) -> bool {
        if register {
            self.shared.parent.register(cx.waker());
        }
        // Read before swapping: a delivery costs no atomic write here.
        self.shared.side.load(Ordering::Acquire) && self.shared.side.swap(false, Ordering::AcqRel)
    }

    /// Whether nothing is to be polled: no stream woke (and none is being
    /// drained) and no side future woke. Registers `cx` as the parent first,
    /// so a wake that comes after this answer is not lost.
    pub(crate) fn is_idle(&self, cx: &Context<'_>) -> bool {
        let quiet = || {
            !self.shared.side.load(Ordering::Acquire)
                && self
                    .shared
                    .ready
                    .iter()
                    .all(|word| word.load(Ordering::Acquire) == 0)
        };
        // With no stream left, the set has an end to answer. A busy set is
        // answered without a registration; a quiet one is looked at again
        // after it.
        if self.current.is_some() || self.live == 0 || !quiet() {
            return false;
        }
        self.shared.parent.register(cx.waker());
        quiet()
    }

    /// Adds a stream under the next index (the number of pushes so far). A
    /// set holds at most [`CAPACITY`] streams: one past that is dropped
    /// (ended at once).
    pub(crate) fn push(&mut self, stream: S) {
        let index = self.slots.len();
        if index >= CAPACITY {
            debug_assert!(index < CAPACITY, "a ready set holds {CAPACITY} streams");
            return;
        }
        let child = Arc::new(ChildWaker {
            index,
            shared: Arc::clone(&self.shared),
        });
        child.enqueue();
        self.slots.push(Some((stream, Waker::from(child))));
        self.live += 1;
    }

    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.live = 0;
        self.current = None;
    }

    fn next_index(&mut self) -> Option<(usize, usize)> {
        if let Some(current) = self.current.take() {
            return Some(current);
        }
        let index = self.shared.first_marked(self.next, self.slots.len())?;
        self.next = index + 1;
        Some((index, 0))
    }

    /// The stream that yielded the last item, while its turn lasts, and how
    /// many more items it may yield in that turn: for a caller that reads
    /// them from it without a poll (and so without a wake to miss), then
    /// says how many with [`ReadySet::took`].
    #[inline]
    pub(crate) fn current(&mut self) -> Option<(&mut S, usize)> {
        let (index, turn) = self.current?;
        let left = TURN.checked_sub(turn).filter(|left| *left > 0)?;
        let (stream, _) = self.slots.get_mut(index)?.as_mut()?;
        Some((stream, left))
    }

    /// Counts `n` items read from the [current](ReadySet::current) stream.
    #[inline]
    pub(crate) fn took(&mut self, n: usize) {
        if let Some((_, turn)) = self.current.as_mut() {
            *turn += n;
        }
    }

    /// The next item of the stream that yielded the last one, polled
    /// directly while its turn lasts: `None` when there is no such stream or
    /// it has nothing ready, and then [`ReadySet::poll_next_item`] takes over.
    #[inline]
    pub(crate) fn poll_current(&mut self) -> Option<(usize, S::Item)> {
        let (index, turn) = self.current?;
        if turn >= TURN {
            return None;
        }
        let (stream, waker) = self.slots.get_mut(index)?.as_mut()?;
        self.shared.unmark(index);
        let mut child_cx = Context::from_waker(waker);
        match Pin::new(stream).poll_next(&mut child_cx) {
            Poll::Ready(Some(item)) => {
                // Woken meanwhile: it is marked, and is not polled twice.
                self.current = (!self.shared.is_marked(index)).then_some((index, turn + 1));
                Some((index, item))
            }
            Poll::Ready(None) => {
                self.slots[index] = None;
                self.live -= 1;
                self.current = None;
                None
            }
            Poll::Pending => {
                self.current = None;
                None
            }
        }
    }

    /// The next item of any stream; `Ready(None)` once all of them ended.
    ///
    /// `cx` is registered as the parent only on the way to `Pending` (then
    /// the marks are looked at again, so a wake in between is not lost): a
    /// busy stream's items cost no registration. A side wake that came
    /// before the registration makes the parent poll again at once.
    #[inline]
    pub(crate) fn poll_next_item(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(usize, S::Item)>> {
        let mut registered = false;
        loop {
            if self.live == 0 {
                return Poll::Ready(None);
            }
            let Some((index, turn)) = self.next_index() else {
                if registered {
                    if self.shared.side.load(Ordering::Acquire) {
                        cx.waker().wake_by_ref();
                    }
                    return Poll::Pending;
                }
                self.shared.parent.register(cx.waker());
                registered = true;
                continue;
            };
            let Some((stream, waker)) = self.slots.get_mut(index).and_then(Option::as_mut) else {
                // Ended: its wakes mean nothing.
                self.shared.unmark(index);
                continue;
            };
            let turn = if turn < TURN {
                turn
            } else if self.shared.others_marked(index) {
                // Its turn is over: still ready, after the others.
                self.shared.mark(index);
                continue;
            } else {
                // Nobody else is waiting: no need to give up the turn.
                0
            };
            // Wakes from now on mark it again.
            self.shared.unmark(index);
            let mut child_cx = Context::from_waker(waker);
            match Pin::new(stream).poll_next(&mut child_cx) {
                Poll::Ready(Some(item)) => {
                    if !self.shared.is_marked(index) {
                        self.current = Some((index, turn + 1));
                    }
                    return Poll::Ready(Some((index, item)));
                }
                Poll::Ready(None) => {
                    self.slots[index] = None;
                    self.live -= 1;
                }
                Poll::Pending => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;
    use tokio_stream::wrappers::UnboundedReceiverStream;

    use super::*;

    #[test]
    fn the_shared_marks_and_parent_waker_are_one_cache_line() {
        assert_eq!(std::mem::size_of::<Shared>(), 64);
        assert_eq!(std::mem::align_of::<Shared>(), 64);
    }

    async fn next<S: Stream + Unpin>(set: &mut ReadySet<S>) -> Option<(usize, S::Item)> {
        futures_util::future::poll_fn(|cx| set.poll_next_item(cx)).await
    }

    #[tokio::test]
    async fn items_of_every_stream_arrive_and_the_set_ends_with_the_last() {
        let mut set = ReadySet::new();
        let mut senders = Vec::new();
        for _ in 0..3 {
            let (tx, rx) = mpsc::unbounded_channel::<u32>();
            senders.push(tx);
            set.push(UnboundedReceiverStream::new(rx));
        }
        senders[2].send(7).unwrap();
        assert_eq!(next(&mut set).await, Some((2, 7)));
        for n in 0..100 {
            senders[0].send(n).unwrap();
        }
        senders[1].send(1000).unwrap();
        let mut got = Vec::new();
        for _ in 0..101 {
            got.push(next(&mut set).await.unwrap());
        }
        // A busy stream yields its turn: stream 1 is not starved.
        let at = got.iter().position(|&(i, _)| i == 1).unwrap();
        assert!(at <= TURN, "{at}");
        senders.clear();
        assert_eq!(next(&mut set).await, None);
    }

    #[tokio::test]
    async fn woken_streams_take_turns_by_index_across_every_word_of_marks() {
        let mut set = ReadySet::new();
        let mut senders = Vec::new();
        for _ in 0..200 {
            let (tx, rx) = mpsc::unbounded_channel::<u32>();
            senders.push(tx);
            set.push(UnboundedReceiverStream::new(rx));
        }
        // Every stream was marked when pushed: nothing to read yet.
        let nothing = futures_util::future::poll_fn(|cx| Poll::Ready(set.poll_next_item(cx))).await;
        assert!(nothing.is_pending());
        for &i in &[199_usize, 3, 64, 130, 63] {
            senders[i].send(u32::try_from(i).unwrap()).unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(next(&mut set).await.unwrap().0);
        }
        // In index order: the look starts after the stream polled last.
        assert_eq!(got, [3, 63, 64, 130, 199]);
        senders[150].send(0).unwrap();
        senders[3].send(0).unwrap();
        senders[140].send(0).unwrap();
        assert_eq!(
            next(&mut set).await.unwrap().0,
            3,
            "wrapped around after 199"
        );
        assert_eq!(next(&mut set).await.unwrap().0, 140);
        senders[3].send(0).unwrap();
        assert_eq!(next(&mut set).await.unwrap().0, 150, "3 waits for its turn");
        assert_eq!(next(&mut set).await.unwrap().0, 3);
        senders.clear();
        assert_eq!(next(&mut set).await, None);
    }
}
