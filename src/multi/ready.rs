//! [`ReadySet`]: polls only the topic subscriptions that were woken, with one
//! waker per topic made once, so a delivery costs no allocation (unlike
//! `SelectAll`, which re-boxes a stream after every item).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use futures_core::Stream;
use futures_util::task::AtomicWaker;

/// How many items in a row one stream may yield before the others get a turn.
const TURN: usize = 32;

/// The woken streams, shared with their wakers.
struct Shared {
    queue: Mutex<VecDeque<usize>>,
    parent: AtomicWaker,
    /// A timer (or other side future) polled with [`ReadySet::side_waker`] woke.
    side: AtomicBool,
}

/// Wakes the parent for a side future: sets the flag, queues nothing.
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
    queued: AtomicBool,
    shared: Arc<Shared>,
}

impl ChildWaker {
    fn enqueue(&self) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.shared
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push_back(self.index);
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
/// ends yields nothing more and is dropped.
pub(crate) struct ReadySet<S> {
    streams: Vec<Option<S>>,
    wakers: Vec<(Arc<ChildWaker>, Waker)>,
    shared: Arc<Shared>,
    side: Waker,
    /// The stream being drained, and how many items it yielded in a row.
    current: Option<(usize, usize)>,
    live: usize,
}

impl<S> ReadySet<S>
where
    S: Stream + Unpin,
{
    pub(crate) fn new() -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            parent: AtomicWaker::new(),
            side: AtomicBool::new(false),
        });
        Self {
            streams: Vec::new(),
            wakers: Vec::new(),
            side: Waker::from(Arc::new(SideWaker(Arc::clone(&shared)))),
            shared,
            current: None,
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

    /// Adds a stream under the next index (the number of pushes so far).
    pub(crate) fn push(&mut self, stream: S) {
        let index = self.streams.len();
        let child = Arc::new(ChildWaker {
            index,
            queued: AtomicBool::new(false),
            shared: Arc::clone(&self.shared),
        });
        let waker = Waker::from(Arc::clone(&child));
        child.enqueue();
        self.streams.push(Some(stream));
        self.wakers.push((child, waker));
        self.live += 1;
    }

    pub(crate) fn clear(&mut self) {
        self.streams.clear();
        self.live = 0;
        self.current = None;
    }

    fn next_index(&mut self) -> Option<(usize, usize)> {
        if let Some(current) = self.current.take() {
            return Some(current);
        }
        let index = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()?;
        Some((index, 0))
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
        let (child, waker) = &self.wakers[index];
        let stream = self.streams.get_mut(index)?.as_mut()?;
        child.queued.store(false, Ordering::Release);
        let mut child_cx = Context::from_waker(waker);
        match Pin::new(stream).poll_next(&mut child_cx) {
            Poll::Ready(Some(item)) => {
                // Woken meanwhile: it is queued, and is not polled twice.
                self.current = (!child.queued.load(Ordering::Acquire)).then_some((index, turn + 1));
                Some((index, item))
            }
            Poll::Ready(None) => {
                self.streams[index] = None;
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
    /// the queue is looked at again, so a wake in between is not lost): a
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
            let (child, waker) = &self.wakers[index];
            let Some(stream) = self.streams.get_mut(index).and_then(Option::as_mut) else {
                continue;
            };
            let turn = if turn < TURN {
                turn
            } else if self
                .shared
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
            {
                // Nobody else is waiting: no need to give up the turn.
                0
            } else {
                // Its turn is over: back of the queue, still ready.
                child.queued.store(false, Ordering::Release);
                child.enqueue();
                continue;
            };
            // Wakes from now on queue it again.
            child.queued.store(false, Ordering::Release);
            let mut child_cx = Context::from_waker(waker);
            match Pin::new(stream).poll_next(&mut child_cx) {
                Poll::Ready(Some(item)) => {
                    if !child.queued.load(Ordering::Acquire) {
                        self.current = Some((index, turn + 1));
                    }
                    return Poll::Ready(Some((index, item)));
                }
                Poll::Ready(None) => {
                    self.streams[index] = None;
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
}
